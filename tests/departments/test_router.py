from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.departments.models import Department
from tests.helpers import Tokens, problem

URL = "/api/v1/departments"


def _row(session: Session, code: str) -> Department | None:
    session.expire_all()
    return session.scalar(select(Department).where(Department.code == code))


def test_seeded_tree(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(URL, headers=auth["viewer"])
    assert r.status_code == 200
    items = {d["code"]: d for d in r.json()["items"]}
    assert items["zone"]["parent"] is None
    assert items["emergency-management"] == {
        "code": "emergency-management",
        "name": "区应急管理局",
        "name_en": "Emergency Management Bureau",
        "parent": "zone",
    }
    assert r.json()["next_cursor"] is None


def test_create_get_update(session_client: TestClient, auth: Tokens, session: Session) -> None:
    body = {
        "code": "fire-brigade",
        "name": "消防大队",
        "name_en": "Fire Brigade",
        "parent": "emergency-management",
    }
    r = session_client.post(URL, json=body, headers=auth["admin"])
    assert r.status_code == 201, r.text
    assert r.json() == body
    assert r.headers["location"] == f"{URL}/fire-brigade"
    row = _row(session, "fire-brigade")
    assert row is not None and row.updated_by == "admin"

    r = session_client.get(f"{URL}/fire-brigade", headers=auth["viewer"])
    assert r.json() == body
    assert (
        session_client.get(
            f"{URL}/fire-brigade", headers={**auth["viewer"], "If-None-Match": r.headers["etag"]}
        ).status_code
        == 304
    )

    r = session_client.patch(
        f"{URL}/fire-brigade", json={"name_en": "Fire and Rescue", "parent": "zone"}, headers=auth["admin"]
    )
    assert r.status_code == 200
    assert r.json()["name_en"] == "Fire and Rescue"
    assert r.json()["parent"] == "zone"
    assert r.json()["name"] == "消防大队"


def test_pagination_by_code(session_client: TestClient, auth: Tokens) -> None:
    first = session_client.get(URL, params={"limit": 2}, headers=auth["viewer"]).json()
    assert [d["code"] for d in first["items"]] == ["emergency-management", "urban-management"]
    second = session_client.get(
        URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth["viewer"]
    ).json()
    assert [d["code"] for d in second["items"]] == ["zone"]
    assert second["next_cursor"] is None


def test_cycles_are_rejected(session_client: TestClient, auth: Tokens, session: Session) -> None:
    body = problem(
        session_client.patch(f"{URL}/zone", json={"parent": "emergency-management"}, headers=auth["admin"]),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "parent"]
    body = problem(session_client.patch(f"{URL}/zone", json={"parent": "zone"}, headers=auth["admin"]), 422)
    assert "cycle" in body["errors"][0]["msg"]
    row = _row(session, "zone")
    assert row is not None and row.parent_id is None


def test_bad_input(session_client: TestClient, auth: Tokens, session: Session) -> None:
    problem(session_client.post(URL, json={"code": "zone", "name": "x"}, headers=auth["admin"]), 409)
    body = problem(
        session_client.post(URL, json={"code": "Bad Code", "name": "x"}, headers=auth["admin"]), 422
    )
    assert body["errors"][0]["loc"] == ["body", "code"]
    body = problem(
        session_client.post(URL, json={"code": "ok", "name": "x", "parent": "nope"}, headers=auth["admin"]),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "parent"]
    body = problem(session_client.post(URL, json={"code": "ok2"}, headers=auth["admin"]), 422)
    assert body["errors"][0]["loc"] == ["body", "name"]
    body = problem(session_client.patch(f"{URL}/zone", json={"name": None}, headers=auth["admin"]), 422)
    assert body["errors"][0]["loc"] == ["body", "name"]
    assert _row(session, "ok") is None and _row(session, "ok2") is None
    problem(session_client.get(f"{URL}/nope", headers=auth["viewer"]), 404)


def test_delete_only_when_nothing_refers_to_it(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    problem(session_client.delete(f"{URL}/emergency-management", headers=auth["admin"]), 409)
    problem(session_client.delete(f"{URL}/zone", headers=auth["admin"]), 409)
    assert _row(session, "emergency-management") is not None
    session_client.post(URL, json={"code": "temp", "name": "临时"}, headers=auth["admin"])
    assert session_client.delete(f"{URL}/temp", headers=auth["admin"]).status_code == 204
    assert _row(session, "temp") is None


def test_delete_refused_while_only_history_refers_to_it(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """A figure written and deleted leaves only history, which has no foreign key: still 409."""
    session_client.post(URL, json={"code": "temp", "name": "临时", "parent": "zone"}, headers=auth["admin"])
    cell = "/api/v1/observations/free-seals/temp/2021"
    assert session_client.put(cell, json={"value": 5}, headers=auth["commission"]).status_code == 201
    assert session_client.delete(cell, headers=auth["commission"]).status_code == 204
    body = problem(session_client.delete(f"{URL}/temp", headers=auth["admin"]), 409)
    assert "history" in body["detail"]
    assert _row(session, "temp") is not None
