"""Every limit is a clear 4xx problem+json that names what was too much, and writes nothing:
body size, rows per batch, page size, year span, JSON depth; also bodies that are not JSON and query
parameters an operation does not take."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.db.engine import get_engine
from app.core.db.session import get_session
from app.main import create_app
from tests.helpers import Tokens, problem, revisions, stored

RANGED = [
    "/api/v1/observations",
    "/api/v1/targets",
    "/api/v1/series?indicator=deadline-compression",
    "/api/v1/compliance",
]
PAGED = [
    "/api/v1/departments",
    "/api/v1/indicators",
    "/api/v1/observations",
    "/api/v1/targets",
    "/api/v1/observations/deadline-compression/zone/2021/history",
    "/api/v1/targets/deadline-compression/zone/2021/history",
]
CELL = "/api/v1/observations/legal-lectures/zone/2022"


def _join(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.fixture
def span_of_ten(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("INDICATORS_MAX_YEAR_SPAN", "10")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize("url", RANGED)
def test_a_year_range_wider_than_the_limit_is_422_naming_both_parameters(
    session_client: TestClient, auth: Tokens, span_of_ten: None, url: str
) -> None:
    assert (
        session_client.get(_join(url, "year_from=2000&year_to=2009"), headers=auth["viewer"]).status_code
        == 200
    )
    body = problem(session_client.get(_join(url, "year_from=2000&year_to=2010"), headers=auth["viewer"]), 422)
    assert sorted(e["loc"][1] for e in body["errors"]) == ["year_from", "year_to"]
    assert "INDICATORS_MAX_YEAR_SPAN" in body["detail"]


@pytest.mark.parametrize("url", RANGED)
def test_a_year_range_that_runs_backwards_is_422(session_client: TestClient, auth: Tokens, url: str) -> None:
    body = problem(session_client.get(_join(url, "year_from=2022&year_to=2020"), headers=auth["viewer"]), 422)
    assert {e["loc"][1] for e in body["errors"]} == {"year_from", "year_to"}


@pytest.mark.parametrize("url", PAGED)
def test_page_size_is_1_to_1000(session_client: TestClient, auth: Tokens, url: str) -> None:
    assert session_client.get(_join(url, "limit=1000"), headers=auth["viewer"]).status_code == 200
    for limit in ("0", "1001", "-1", "many"):
        body = problem(session_client.get(_join(url, f"limit={limit}"), headers=auth["viewer"]), 422)
        assert body["errors"][0]["loc"] == ["query", "limit"]


def _nested(depth: int) -> bytes:
    return b'{"value": 1, "note": ' + b"[" * depth + b"]" * depth + b"}"


def test_json_nested_beyond_the_limit_is_422_before_anything_is_parsed(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    headers = {**auth["commission"], "content-type": "application/json"}
    within = problem(session_client.put(CELL, content=_nested(31), headers=headers), 422)
    assert within["errors"][0]["loc"] == ["body", "note"]  # parsed; the note is just not text
    beyond = problem(session_client.put(CELL, content=_nested(40), headers=headers), 422)
    assert beyond["errors"][0]["type"] == "json_invalid"
    assert "deeper than 32" in beyond["errors"][0]["msg"]
    # Far beyond any recursion limit: still a 422, for single writes, catalogue writes and batches.
    deep = b"[" * 200_000 + b"]" * 200_000
    for method, url in (
        ("PUT", CELL),
        ("POST", "/api/v1/departments"),
        ("POST", "/api/v1/observations"),
    ):
        response = session_client.request(
            method, url, content=deep, headers={**auth["admin"], "content-type": "application/json"}
        )
        problem(response, 422)
    assert stored(session, "legal-lectures", "zone", 2022) is None


def test_a_body_that_is_not_json_is_415(session_client: TestClient, auth: Tokens, session: Session) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**auth["commission"], **({"content-type": content_type} if content_type else {})}
        body = problem(session_client.put(CELL, content=b'{"value": 7}', headers=headers), 415)
        assert "application/json" in body["detail"]
    assert stored(session, "legal-lectures", "zone", 2022) is None


def test_a_query_parameter_the_operation_does_not_take_is_422(
    session_client: TestClient, auth: Tokens
) -> None:
    body = problem(session_client.get("/api/v1/observations?yaer=2021", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == ["query", "yaer"]
    assert "year" in body["errors"][0]["msg"]  # it says what the operation does take


def test_more_rows_than_a_batch_may_hold_is_413_and_writes_nothing(
    session_client: TestClient, auth: Tokens, session: Session, settings: Settings
) -> None:
    settings.max_batch_rows = 3
    rows = [
        {"indicator": "legal-lectures", "department": "zone", "year": y, "value": 1}
        for y in range(2010, 2014)
    ]
    body = problem(
        session_client.post("/api/v1/observations", json={"observations": rows}, headers=auth["commission"]),
        413,
    )
    assert "INDICATORS_MAX_BATCH_ROWS" in body["detail"]
    csv = "indicator,department,year,value\n" + "".join(
        f"legal-lectures,zone,{y},1\n" for y in range(2010, 2014)
    )
    headers = {**auth["commission"], "content-type": "text/csv"}
    problem(session_client.post("/api/v1/observations", content=csv.encode(), headers=headers), 413)
    assert all(not revisions(session, "legal-lectures", "zone", y) for y in range(2010, 2014))
    assert (
        session_client.post(
            "/api/v1/observations", json={"observations": rows[:3]}, headers=auth["commission"]
        ).status_code
        == 200
    )


@pytest.fixture
def small_bodies(monkeypatch: pytest.MonkeyPatch, session: Session, engine: Engine) -> Iterator[TestClient]:
    """The app with INDICATORS_MAX_UPLOAD_MB of 16 KiB, on this test's session."""
    monkeypatch.setenv("INDICATORS_MAX_UPLOAD_MB", str(16 / 1024))
    get_settings.cache_clear()
    app: FastAPI = create_app()
    monkeypatch.undo()
    get_settings.cache_clear()

    def use_test_session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = use_test_session
    app.dependency_overrides[get_engine] = lambda: engine
    with TestClient(app, raise_server_exceptions=False) as session_client:
        yield session_client


def test_a_body_over_the_limit_is_413_declared_or_streamed(
    small_bodies: TestClient, auth: Tokens, session: Session
) -> None:
    big = b'{"value": 7, "note": "' + b"x" * 20_000 + b'"}'
    headers = {**auth["commission"], "content-type": "application/json"}
    declared = problem(small_bodies.put(CELL, content=big, headers=headers), 413)
    assert "INDICATORS_MAX_UPLOAD_MB" in declared["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    problem(small_bodies.put(CELL, content=chunks(), headers=headers), 413)
    csv = b"indicator,department,year,value\n" + b"legal-lectures,zone,2022,7\n" * 1000
    batch_headers = {**auth["commission"], "content-type": "text/csv"}
    problem(small_bodies.post("/api/v1/observations", content=csv, headers=batch_headers), 413)
    assert stored(session, "legal-lectures", "zone", 2022) is None
    assert small_bodies.put(CELL, json={"value": 7}, headers=auth["commission"]).status_code == 201
