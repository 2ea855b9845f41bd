"""Tokens that expire, GET /api/v1/whoami, and "last used" recorded at most once an hour."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import ApiToken
from app.core.config import Settings
from app.core.db.types import utcnow
from tests.helpers import Tokens, problem

WHOAMI = "/api/v1/whoami"
CELL = "/api/v1/observations/free-seals/zone/2021"
# One request of each way a token is checked: the role dependency (require), a read whose query
# checks the token (read_token), a one-cell write whose query checks it (write_token), and whoami.
CHECKS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/departments", None),
    ("GET", CELL, None),
    ("PUT", "/api/v1/observations/disputes-mediated/zone/2019", {"value": 3}),
    ("GET", WHOAMI, None),
]


def _token(session: Session, name: str) -> ApiToken:
    session.expire_all()
    token = session.scalar(select(ApiToken).where(ApiToken.name == name, ApiToken.live()))
    assert token is not None
    return token


def _set(session: Session, name: str, **values: Any) -> None:
    session.execute(update(ApiToken).where(ApiToken.name == name).values(**values))
    session.commit()


def test_whoami_names_the_token(session_client: TestClient, auth: Tokens, session: Session) -> None:
    r = session_client.get(WHOAMI, headers=auth["clerk-zone"])
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "clerk-zone", "role": "clerk", "department": "zone", "expires_at": None}
    assert r.headers["cache-control"] == "no-store"
    assert session_client.get(WHOAMI, headers=auth["admin"]).json()["role"] == "admin"

    created = session_client.post(
        "/api/v1/tokens", json={"name": "brief", "role": "viewer", "expires_in": "12h"}, headers=auth["admin"]
    ).json()
    expires = dt.datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (utcnow() + dt.timedelta(hours=12))) < dt.timedelta(minutes=1)
    mine = session_client.get(WHOAMI, headers={"Authorization": f"Bearer {created['token']}"}).json()
    assert mine["name"] == "brief" and dt.datetime.fromisoformat(mine["expires_at"]) == expires
    stored = _token(session, "brief").expires_at
    assert stored is not None and stored == expires


def test_whoami_without_a_token_is_401_even_under_public_read(
    session_client: TestClient, auth: Tokens, settings: Settings
) -> None:
    settings.public_read = True
    assert session_client.get("/api/v1/departments").status_code == 200
    r = session_client.get(WHOAMI)
    body = problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    assert "token" in body["detail"]
    problem(session_client.get(WHOAMI, headers={"Authorization": "Bearer nope"}), 401)


@pytest.mark.parametrize("expires_in", ["0d", "90", "1w", "-1d", "1.5h", "", "9999999d"])
def test_a_bad_expiry_is_refused(session_client: TestClient, auth: Tokens, expires_in: str) -> None:
    body = problem(
        session_client.post(
            "/api/v1/tokens",
            json={"name": "x", "role": "viewer", "expires_in": expires_in},
            headers=auth["admin"],
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "expires_in"]


@pytest.mark.parametrize(("method", "path", "body"), CHECKS)
def test_an_expired_token_is_refused_as_a_revoked_one(
    session_client: TestClient,
    auth: Tokens,
    session: Session,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    headers = auth["clerk-zone"]
    _set(session, "clerk-zone", expires_at=utcnow() + dt.timedelta(minutes=5))
    assert session_client.request(method, path, json=body, headers=headers).status_code in (200, 201)

    _set(session, "clerk-zone", expires_at=utcnow() - dt.timedelta(seconds=5))
    r = session_client.request(method, path, json=body, headers=headers)
    answer = problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    assert "expired" in answer["detail"]
    # a revoked one says so differently
    _set(session, "clerk-zone", revoked_at=utcnow())
    assert (
        "expired"
        not in problem(session_client.request(method, path, json=body, headers=headers), 401)["detail"]
    )


@pytest.fixture
def token_writes(session: Session) -> Iterator[list[str]]:
    """The UPDATE statements of api_token the test's connection runs."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKEN"):
            seen.append(statement)

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", count)
    yield seen
    event.remove(connection, "before_cursor_execute", count)


@pytest.mark.parametrize(("method", "path", "body"), CHECKS)
def test_last_use_is_recorded_at_most_once_an_hour(
    session_client: TestClient,
    auth: Tokens,
    session: Session,
    token_writes: list[str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    assert _token(session, "commission").last_used_at is None
    before = utcnow()
    for _ in range(5):
        r = session_client.request(method, path, json=body, headers=auth["commission"])
        assert r.status_code in (200, 201), r.text
    assert len(token_writes) == 1, "one write for five requests in the same hour"
    used = _token(session, "commission").last_used_at
    assert used is not None and before <= used <= utcnow()

    _set(session, "commission", last_used_at=utcnow() - tokens.USE_RECORDED_EVERY - dt.timedelta(seconds=1))
    token_writes.clear()
    session_client.request(method, path, json=body, headers=auth["commission"])
    session_client.request(method, path, json=body, headers=auth["commission"])
    assert len(token_writes) == 1
    used = _token(session, "commission").last_used_at
    assert used is not None and used >= before
    assert _token(session, "viewer").last_used_at is None  # another token's is untouched


def test_the_token_list_shows_expiry_and_last_use(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    session_client.get(WHOAMI, headers=auth["viewer"])
    listed = {
        t["name"]: t for t in session_client.get("/api/v1/tokens", headers=auth["admin"]).json()["items"]
    }
    assert listed["viewer"]["last_used_at"] is not None
    assert listed["clerk-em"]["last_used_at"] is None
    assert listed["clerk-em"]["expires_at"] is None


@pytest.mark.parametrize(
    ("text", "delta"),
    [("30m", dt.timedelta(minutes=30)), ("12h", dt.timedelta(hours=12)), ("90d", dt.timedelta(days=90))],
)
def test_durations(text: str, delta: dt.timedelta) -> None:
    assert tokens.duration(text) == delta
    with pytest.raises(ValueError, match="30m, 12h, 90d"):
        tokens.duration(text + "s")


def test_the_statements_that_check_a_token_are_compiled_once() -> None:
    """SQLAlchemy caches a statement's SQL only when each of its parts has a cache key: a part
    without one would have every GET of one observation compile its query again (3x the cost)."""
    from app.cells.http import _for_write
    from app.observations.router import HELD
    from app.observations.service import _CURRENT_FOR_TOKEN, STORE

    written = _for_write(STORE, HELD).statement
    for statement in (
        _CURRENT_FOR_TOKEN.statement,
        tokens._AUTHENTICATE,
        _for_write(STORE).statement,
        written,
    ):
        assert statement._generate_cache_key() is not None
