import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.indicators.models import Indicator
from tests.helpers import Tokens, problem

URL = "/api/v1/indicators"
NEW = {
    "code": "hotline-calls",
    "name": "市长热线来电",
    "name_en": "Mayor's hotline calls",
    "section": "oversight",
    "unit": "件",
    "value_type": "count",
    "direction": "none",
    "aggregation": "sum",
    "description": None,
    "formula": None,
    "expected_min": None,
    "expected_max": None,
}


def _row(session: Session, code: str) -> Indicator | None:
    session.expire_all()
    return session.scalar(select(Indicator).where(Indicator.code == code))


def test_seeded_indicator_matches_the_contract(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(f"{URL}/deadline-compression", headers=auth["viewer"])
    assert r.json() == {
        "code": "deadline-compression",
        "name": "法定办结时限平均压缩比例",
        "name_en": "Average compression of statutory processing time limits",
        "section": "functions",
        "unit": "%",
        "value_type": "percent",
        "direction": "higher",
        "aggregation": "mean",
        "description": None,
        "formula": None,
        "expected_min": None,
        "expected_max": None,
    }


def test_list_by_section_and_query(session_client: TestClient, auth: Tokens) -> None:
    oversight = session_client.get(
        URL, params={"section": "oversight", "limit": 1000}, headers=auth["viewer"]
    ).json()
    assert len(oversight["items"]) == 8
    assert {i["section"] for i in oversight["items"]} == {"oversight"}
    by_zh = session_client.get(URL, params={"q": "印章"}, headers=auth["viewer"]).json()["items"]
    assert {i["code"] for i in by_zh} == {"new-firms-sealed", "free-seals"}
    by_en = session_client.get(URL, params={"q": "SATISFACTION"}, headers=auth["viewer"]).json()["items"]
    assert [i["code"] for i in by_en] == ["request-satisfaction-rate"]
    by_code = session_client.get(URL, params={"q": "peer-assist"}, headers=auth["viewer"]).json()["items"]
    assert len(by_code) == 3
    every: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = session_client.get(URL, params=params, headers=auth["viewer"]).json()
        every += [i["code"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(every) == len(set(every)) == 36  # 35 stored and the derived seals-per-new-firm
    assert every == sorted(every)


def test_create_and_update(session_client: TestClient, auth: Tokens, session: Session) -> None:
    r = session_client.post(URL, json=NEW, headers=auth["admin"])
    assert r.status_code == 201, r.text
    assert r.json() == NEW
    r = session_client.patch(
        f"{URL}/hotline-calls",
        json={"direction": "higher", "description": "含人大建议"},
        headers=auth["admin"],
    )
    assert r.status_code == 200
    assert r.json()["direction"] == "higher"
    assert r.json()["value_type"] == "count"
    row = _row(session, "hotline-calls")
    assert row is not None and row.description == "含人大建议"
    # no observations yet: the type may still change
    r = session_client.patch(f"{URL}/hotline-calls", json={"value_type": "amount"}, headers=auth["admin"])
    assert r.status_code == 200


def test_value_type_is_fixed_once_observed(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    problem(
        session_client.patch(f"{URL}/free-seals", json={"value_type": "amount"}, headers=auth["admin"]), 409
    )
    row = _row(session, "free-seals")
    assert row is not None and row.value_type == "count"
    assert (
        session_client.patch(
            f"{URL}/free-seals", json={"value_type": "count"}, headers=auth["admin"]
        ).status_code
        == 200
    )


def test_bad_input(session_client: TestClient, auth: Tokens, session: Session) -> None:
    problem(session_client.post(URL, json={**NEW, "code": "free-seals"}, headers=auth["admin"]), 409)
    for field, value in [
        ("value_type", "money"),
        ("direction", "up"),
        ("aggregation", "median"),
        ("code", "X"),
    ]:
        body = problem(session_client.post(URL, json={**NEW, field: value}, headers=auth["admin"]), 422)
        assert body["errors"][0]["loc"] == ["body", field]
    body = problem(
        session_client.patch(f"{URL}/free-seals", json={"aggregation": None}, headers=auth["admin"]), 422
    )
    assert body["errors"][0]["loc"] == ["body", "aggregation"]
    assert _row(session, "hotline-calls") is None
    problem(session_client.get(f"{URL}/nope", headers=auth["viewer"]), 404)


def test_delete(session_client: TestClient, auth: Tokens, session: Session) -> None:
    problem(session_client.delete(f"{URL}/free-seals", headers=auth["admin"]), 409)
    session_client.post(URL, json=NEW, headers=auth["admin"])
    assert session_client.delete(f"{URL}/hotline-calls", headers=auth["admin"]).status_code == 204
    assert _row(session, "hotline-calls") is None


@pytest.mark.usefixtures("reopened_2021")
def test_delete_refused_while_only_history_refers_to_it(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """A figure written and deleted leaves only history, which has no foreign key: still 409."""
    session_client.post(URL, json=NEW, headers=auth["admin"])
    cell = "/api/v1/observations/hotline-calls/zone/2021"
    assert session_client.put(cell, json={"value": 5}, headers=auth["commission"]).status_code == 201
    assert session_client.delete(cell, headers=auth["commission"]).status_code == 204
    body = problem(session_client.delete(f"{URL}/hotline-calls", headers=auth["admin"]), 409)
    assert "history" in body["detail"]
    assert _row(session, "hotline-calls") is not None
