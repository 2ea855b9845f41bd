"""INDICATORS_CORS_ORIGINS: browser pages on those origins may call the API; by default none may."""

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.main import create_app
from tests.conftest import client_in_session
from tests.helpers import Tokens, problem

DASHBOARD = "https://dash.example"
CELL = "/api/v1/observations/free-seals/zone/2021"


def preflight(
    client: TestClient, origin: str, method: str = "PUT", headers: str = "authorization"
) -> httpx.Response:
    response: httpx.Response = client.options(
        CELL,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )
    return response


@pytest.fixture
def cors_client(
    session: Session, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("INDICATORS_CORS_ORIGINS", f"{DASHBOARD}, http://127.0.0.1:8080/")
    get_settings.cache_clear()
    try:
        app = create_app()
    finally:
        monkeypatch.delenv("INDICATORS_CORS_ORIGINS")
        get_settings.cache_clear()
    with client_in_session(app, session, engine, settings) as client:
        yield client


def test_a_configured_origin_gets_its_preflight_and_reads_the_etag(
    cors_client: TestClient, auth: Tokens
) -> None:
    r = preflight(cors_client, DASHBOARD, headers="authorization, content-type, if-match")
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == DASHBOARD
    allowed = r.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "if-match", "if-none-match"} <= set(
        allowed.replace(" ", "").split(",")
    )
    assert "PUT" in r.headers["access-control-allow-methods"]
    assert preflight(cors_client, "http://127.0.0.1:8080").status_code == 200

    r = cors_client.get(CELL, headers={"Origin": DASHBOARD, **auth["viewer"]})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == DASHBOARD
    assert "etag" in r.headers["access-control-expose-headers"].lower()
    assert r.headers["etag"]
    # a refusal carries it too, so that the page can read the problem
    r = cors_client.get(CELL, headers={"Origin": DASHBOARD})
    problem(r, 401)
    assert r.headers["access-control-allow-origin"] == DASHBOARD


def test_another_origin_gets_no_cors_header_and_a_problem_for_its_preflight(
    cors_client: TestClient, auth: Tokens
) -> None:
    r = cors_client.get(CELL, headers={"Origin": "https://evil.example", **auth["viewer"]})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    body = problem(preflight(cors_client, "https://evil.example"), 400)
    assert "origin" in body["detail"]
    body = problem(preflight(cors_client, DASHBOARD, headers="x-secret"), 400)
    assert "headers" in body["detail"]


def test_without_origins_configured_there_is_no_cors(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(CELL, headers={"Origin": DASHBOARD, **auth["viewer"]})
    assert r.status_code == 200
    assert not [h for h in r.headers if h.startswith("access-control-")]
    r = preflight(session_client, DASHBOARD)
    problem(r, 405)
    assert not [h for h in r.headers if h.startswith("access-control-")]


@pytest.mark.parametrize("origins", ["dash.example", "https://dash.example/path", "ftp://x"])
def test_an_origin_that_is_not_one_is_refused_at_start(origins: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        Settings(cors_origins=origins)
