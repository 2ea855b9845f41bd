import logging
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import ApiToken, Role
from app.core.config import Settings
from tests.helpers import Tokens, problem, revisions, stored

URL = "/api/v1/tokens"


def test_token_lifecycle_over_http(session_client: TestClient, auth: Tokens, session: Session) -> None:
    r = session_client.post(
        URL,
        json={"name": "clerk-2", "role": "clerk", "department": "urban-management"},
        headers=auth["admin"],
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    created = r.json()
    secret = created.pop("token")
    assert created["name"] == "clerk-2"
    assert created["department"] == "urban-management"
    assert created["created_by"] == "admin"
    assert created["revoked_at"] is None
    mine = {"Authorization": f"Bearer {secret}"}

    r = session_client.put(
        "/api/v1/observations/service-work-share/urban-management/2022", json={"value": 70}, headers=mine
    )
    assert r.status_code == 201
    assert r.json()["updated_by"] == "clerk-2"
    history = revisions(session, "service-work-share", "urban-management", 2022)
    assert [h.changed_by for h in history] == ["clerk-2"]

    listed = session_client.get(URL, headers=auth["admin"]).json()["items"]
    assert "clerk-2" in [t["name"] for t in listed]
    assert all("token" not in t for t in listed)
    assert secret not in session_client.get(URL, headers=auth["admin"]).text

    assert session_client.delete(f"{URL}/clerk-2", headers=auth["admin"]).status_code == 204
    r = session_client.get("/api/v1/departments", headers=mine)
    problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    problem(session_client.delete(f"{URL}/clerk-2", headers=auth["admin"]), 404)
    revoked = session_client.get(URL, params={"include_revoked": True}, headers=auth["admin"]).json()["items"]
    assert any(t["name"] == "clerk-2" and t["revoked_at"] for t in revoked)
    # the name can be given out again once the old token is revoked
    assert (
        session_client.post(
            URL, json={"name": "clerk-2", "role": "viewer"}, headers=auth["admin"]
        ).status_code
        == 201
    )


def test_only_a_hash_is_stored_and_nothing_logs_the_secret(
    session_client: TestClient, auth: Tokens, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = session_client.post(URL, json={"name": "v2", "role": "viewer"}, headers=auth["admin"]).json()[
        "token"
    ]
    assert len(secret) >= 40
    session_client.get("/api/v1/departments", headers={"Authorization": f"Bearer {secret}"})
    row = session.scalar(select(ApiToken).where(ApiToken.name == "v2"))
    assert row is not None
    assert secret not in (row.token_hash, row.name)
    assert len(row.token_hash) == 64
    assert secret not in caplog.text


def test_token_creation_errors(session_client: TestClient, auth: Tokens, session: Session) -> None:
    body = problem(session_client.post(URL, json={"name": "c", "role": "clerk"}, headers=auth["admin"]), 422)
    assert body["errors"][0]["loc"] == ["body", "department"]
    body = problem(
        session_client.post(
            URL, json={"name": "c", "role": "clerk", "department": "nope"}, headers=auth["admin"]
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "department"]
    body = problem(session_client.post(URL, json={"name": "c", "role": "root"}, headers=auth["admin"]), 422)
    assert body["errors"][0]["loc"] == ["body", "role"]
    problem(session_client.post(URL, json={"name": "viewer", "role": "viewer"}, headers=auth["admin"]), 409)
    assert session.scalar(select(ApiToken).where(ApiToken.name == "c")) is None


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "bearer nope", "Token abc"],
)
def test_malformed_or_unknown_credentials_are_401(session_client: TestClient, header: str) -> None:
    r = session_client.get("/api/v1/departments", headers={"Authorization": header})
    problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_body_cannot_set_attribution_version_or_department(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """OWASP API3: properties a clerk must not control are refused, not silently used."""
    cell = "/api/v1/observations/expert-inspections/emergency-management/2021"
    for extra in ({"updated_by": "admin"}, {"version": 99}, {"department": "zone"}, {"year": 2020}):
        body = problem(session_client.put(cell, json={"value": 31, **extra}, headers=auth["clerk-em"]), 422)
        assert body["errors"][0]["loc"] == ["body", next(iter(extra))]
    row = stored(session, "expert-inspections", "emergency-management", 2021)
    assert row is not None
    assert (row.value, row.version, row.updated_by) == (Decimal(27), 1, "seed")
    # the clerk may not reach another department through the path either
    problem(
        session_client.put(
            "/api/v1/observations/free-seals/zone/2021", json={"value": 1}, headers=auth["clerk-em"]
        ),
        403,
    )


def test_public_read_lets_anonymous_read_but_never_write(
    session_client: TestClient, auth: Tokens, settings: Settings, session: Session
) -> None:
    problem(session_client.get("/api/v1/observations/free-seals/zone/2021"), 401)
    settings.public_read = True
    assert session_client.get("/api/v1/observations/free-seals/zone/2021").status_code == 200
    assert session_client.get("/api/v1/indicators").status_code == 200
    problem(session_client.put("/api/v1/observations/free-seals/zone/2021", json={"value": 1}), 401)
    problem(session_client.get("/api/v1/tokens"), 401)
    # a bad token is still refused, public read or not
    problem(session_client.get("/api/v1/indicators", headers={"Authorization": "Bearer wrong"}), 401)
    row = stored(session, "free-seals", "zone", 2021)
    assert row is not None and row.value == 1584


OBS_CELL = "/api/v1/observations/free-seals/zone/2021"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", OBS_CELL, {"value": "many"}),  # the body is invalid
        ("PUT", "/api/v1/observations/free-seals/zone/1066", {"value": 1}),  # the year is
        ("DELETE", "/api/v1/observations/free-seals/zone/1066", None),
        ("PUT", "/api/v1/targets/free-seals/zone/2021", {"operator": "near", "value": 1}),
        ("DELETE", "/api/v1/targets/free-seals/zone/1066", None),
        ("GET", "/api/v1/observations/free-seals/zone/1066", None),
    ],
)
def test_who_may_not_call_a_route_learns_that_before_what_is_wrong_with_the_request(
    session_client: TestClient, auth: Tokens, session: Session, method: str, path: str, body: object
) -> None:
    """The cell routes check the token in their own first query, which an invalid request never
    reaches: the 401 or 403 still comes before the 422, as from every other route, and nothing is
    written."""
    seals = stored(session, "free-seals", "zone", 2021)
    assert seals is not None
    before = (seals.value, seals.version)
    r = session_client.post(URL, json={"name": "gone", "role": "commission"}, headers=auth["admin"])
    revoked = {"Authorization": f"Bearer {r.json()['token']}"}
    assert session_client.delete(f"{URL}/gone", headers=auth["admin"]).status_code == 204
    unknown = {"Authorization": "Bearer ind_" + "x" * 43}
    for headers in (revoked, unknown):
        refused = session_client.request(method, path, json=body, headers=headers)
        assert problem(refused, 401)["detail"] == "The token is unknown or revoked"
        assert refused.headers["www-authenticate"] == "Bearer"
    if method != "GET":  # a role too low: the viewer for observations, a clerk for targets
        too_low = auth["clerk-zone"] if "/targets/" in path else auth["viewer"]
        assert (
            "role" in problem(session_client.request(method, path, json=body, headers=too_low), 403)["detail"]
        )
    answer = problem(session_client.request(method, path, json=body, headers=auth["commission"]), 422)
    assert answer["errors"], answer
    seals = stored(session, "free-seals", "zone", 2021)
    assert seals is not None and (seals.value, seals.version) == before


def test_a_clerk_without_a_department_writes_nowhere(session_client: TestClient, session: Session) -> None:
    """The API never makes one (a clerk's token needs its department, which cannot then be
    deleted); if one existed all the same, its writes are refused, not let through everywhere."""
    secret = "ind_" + "c" * 43
    session.add(
        ApiToken(name="stray", role=Role.clerk, token_hash=tokens.hash_secret(secret), created_by="test")
    )
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    answer = problem(session_client.put(OBS_CELL, json={"value": 1}, headers=headers), 403)
    assert "no department" in answer["detail"]
    assert session_client.get(OBS_CELL, headers=headers).status_code == 200  # it still reads
