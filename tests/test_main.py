from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from app.main import TAGS
from tests.helpers import Tokens, problem


def test_health_and_readiness(session_client: TestClient) -> None:
    assert session_client.get("/healthz").json() == {"status": "ok"}
    r = session_client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


def test_readiness_fails_when_the_database_does_not_answer(session_client: TestClient) -> None:
    from app.core.db.engine import get_engine

    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    session_client.app.dependency_overrides[get_engine] = lambda: dead  # type: ignore[attr-defined]
    body = problem(session_client.get("/readyz"), 503)
    assert "database" in body["detail"]


def test_docs_are_served_without_outside_network(session_client: TestClient) -> None:
    html = session_client.get("/docs").text
    assert "/docs-static/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert session_client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    assert session_client.get("/docs-static/swagger-ui.css").status_code == 200
    spec = session_client.get("/openapi.json").json()
    assert "/api/v1/observations/{indicator}/{department}/{year}" in spec["paths"]
    # The documentation's groups in the catalogue's order, though observations' routes come first.
    used = {tag for operations in spec["paths"].values() for op in operations.values() for tag in op["tags"]}
    assert [tag["name"] for tag in spec["tags"]] == list(TAGS)
    assert set(TAGS) == used


def test_every_error_is_problem_json(session_client: TestClient, auth: Tokens) -> None:
    problem(session_client.get("/nowhere"), 404)
    problem(session_client.get("/api/v1/nowhere", headers=auth["viewer"]), 404)
    problem(session_client.post("/healthz"), 405)
    problem(session_client.put("/api/v1/departments", headers=auth["admin"]), 405)
    body = problem(
        session_client.post(
            "/api/v1/departments",
            content=b'{"code": "x", "name": ',
            headers={**auth["admin"], "content-type": "application/json"},
        ),
        422,
    )
    assert body["errors"][0]["loc"][0] == "body"
    problem(session_client.get("/api/v1/observations", params={"year": "abc"}, headers=auth["viewer"]), 422)


def test_json_depth_and_numbers_outside_json(session_client: TestClient, auth: Tokens) -> None:
    deep = b'{"value": 1, "note": ' + b"[" * 100 + b"]" * 100 + b"}"
    body = problem(
        session_client.put(
            "/api/v1/observations/free-seals/zone/2021",
            content=deep,
            headers={**auth["admin"], "content-type": "application/json"},
        ),
        422,
    )
    assert "deeper" in body["errors"][0]["msg"]
