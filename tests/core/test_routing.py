"""Input the schema lets through but the database cannot take, found by fuzzing: a NUL character
(PostgreSQL text cannot hold one) and forged cursors. Each is a 4xx naming what is wrong, on both
databases, and writes nothing; before, PostgreSQL answered them with 500."""

import base64
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import Tokens, problem, revisions, stored

CELL = "/api/v1/observations/legal-lectures/zone/2022"


def test_a_nul_in_a_json_body_is_422_naming_the_field(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    body = problem(
        session_client.put(CELL, json={"value": 7, "note": "a\x00b"}, headers=auth["commission"]), 422
    )
    assert body["errors"] == [
        {"loc": ["body", "note"], "msg": "must not hold a NUL character", "type": "string_nul"}
    ]
    department = {"code": "nul-office", "name": "x", "name_en": "a\x00"}
    body = problem(session_client.post("/api/v1/departments", json=department, headers=auth["admin"]), 422)
    assert body["errors"][0]["loc"] == ["body", "name_en"]
    assert stored(session, "legal-lectures", "zone", 2022) is None
    # An escaped backslash before u0000 is plain text, not a NUL.
    text = b'{"value": 7, "note": "C:\\\\u0000"}'
    r = session_client.put(
        CELL, content=text, headers={**auth["commission"], "content-type": "application/json"}
    )
    assert r.status_code == 201 and r.json()["note"] == "C:\\u0000"


def test_a_nul_in_a_batch_row_rejects_that_row(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    rows = [
        {"indicator": "legal-lectures", "department": "zone", "year": 2010, "value": 1, "source": "ok"},
        {"indicator": "legal-lectures", "department": "zone", "year": 2011, "value": 1, "note": "a\x00b"},
    ]
    body = problem(
        session_client.post("/api/v1/observations", json={"observations": rows}, headers=auth["commission"]),
        422,
    )
    assert body["errors"] == [
        {
            "row": 2,
            "indicator": "legal-lectures",
            "department": "zone",
            "year": 2011,
            "loc": ["note"],
            "msg": "must not hold a NUL character (\\u0000)",
            "type": "string_nul",
        }
    ]
    assert not revisions(session, "legal-lectures", "zone", 2010)
    r = session_client.post(
        "/api/v1/observations", json={"observations": rows, "atomic": False}, headers=auth["commission"]
    )
    assert r.status_code == 200 and (r.json()["created"], r.json()["rejected"]) == (1, 1)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/indicators?q=%00",
        "/api/v1/observations?indicator=a%00",
        "/api/v1/tokens/a%00b",
    ],
)
def test_a_nul_in_a_parameter_is_422_naming_it(session_client: TestClient, auth: Tokens, url: str) -> None:
    method = "DELETE" if "tokens" in url else "GET"
    body = problem(session_client.request(method, url, headers=auth["admin"]), 422)
    assert body["errors"][0]["type"] in ("string_nul", "string_pattern_mismatch")


def _cursor(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


FORGED = [[1], {"a": 1}, 1.5, True, -1, 10**30, "\x00"]
BY_CODE = ["/api/v1/departments", "/api/v1/indicators"]
BY_ID = [
    "/api/v1/observations",
    "/api/v1/targets",
    "/api/v1/observations/deadline-compression/zone/2021/history",
    "/api/v1/targets/deadline-compression/zone/2021/history",
]


@pytest.mark.parametrize(
    ("url", "key"),
    [(url, key) for url in BY_CODE for key in [1, *FORGED]]
    + [(url, key) for url in BY_ID for key in ["abc", *FORGED]],
)
def test_a_forged_cursor_is_400(session_client: TestClient, auth: Tokens, url: str, key: object) -> None:
    problem(session_client.get(f"{url}?cursor={_cursor(key)}", headers=auth["viewer"]), 400)


def test_cursors_given_out_still_page(session_client: TestClient, auth: Tokens) -> None:
    for url in ("/api/v1/departments", "/api/v1/indicators", "/api/v1/observations", "/api/v1/targets"):
        first = session_client.get(f"{url}?limit=2", headers=auth["viewer"]).json()
        second = session_client.get(f"{url}?limit=2&cursor={first['next_cursor']}", headers=auth["viewer"])
        assert second.status_code == 200 and second.json()["items"] != first["items"], url


def test_a_single_value_parameter_given_twice_is_422(session_client: TestClient, auth: Tokens) -> None:
    """`?year=2020&year=2021` must not quietly answer for 2021 alone."""
    body = problem(
        session_client.get("/api/v1/observations?year=2020&year=2021", headers=auth["viewer"]), 422
    )
    assert body["errors"][0]["loc"] == ["query", "year"]
    assert body["errors"][0]["type"] == "repeated"
    # Parameters that take a list still do.
    r = session_client.get(
        "/api/v1/series?indicator=deadline-compression&indicator=legal-lectures", headers=auth["viewer"]
    )
    assert r.status_code == 200, r.text


def test_a_nul_in_a_json_text_is_named_by_its_field_not_its_position(
    session_client: TestClient, auth: Tokens, session: Session, reopened_2021: None
) -> None:
    """Found by tests/test_text_formats.py: the 422 named the NUL's position in the body (`["body",
    19]`), not its field."""
    r = session_client.put(
        "/api/v1/observations/legal-lectures/zone/2011",
        content=b'{"value": 1, "note": "a\\u0000b"}',
        headers={**auth["commission"], "content-type": "application/json"},
    )
    assert problem(r, 422)["errors"] == [
        {"loc": ["body", "note"], "msg": "must not hold a NUL character", "type": "string_nul"}
    ]
    assert not revisions(session, "legal-lectures", "zone", 2011)
    r = session_client.post(
        "/api/v1/assignments",
        content=b'{"assignments": [{"indicator": "x", "department": "zone\\u0000", "from_year": 2021}]}',
        headers={**auth["commission"], "content-type": "application/json"},
    )
    assert problem(r, 422)["errors"][0]["loc"] == ["body", "assignments", 0, "department"]
