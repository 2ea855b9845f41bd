"""Periods: outside them a clerk's write is 409 period-closed; the commission may write; exceptions."""

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from tests.helpers import Tokens, problem, stored

OBS = "/api/v1/observations"
CELL = f"{OBS}/expert-inspections/emergency-management/2022"


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> list[dt.date]:
    """The day the service thinks it is (in INDICATORS_TIMEZONE): set day[0]."""
    day = [dt.date(2023, 1, 15)]
    monkeypatch.setattr(Settings, "today", lambda self: day[0])
    return day


def test_no_period_is_open_and_get_is_404(
    session_client: TestClient, auth: Tokens, today: list[dt.date]
) -> None:
    problem(session_client.get("/api/v1/periods/2022", headers=auth["viewer"]), 404)
    assert session_client.put(CELL, json={"value": 1}, headers=auth["clerk-em"]).status_code == 201


def test_a_clerk_writes_only_within_the_period(
    session_client: TestClient, session: Session, auth: Tokens, today: list[dt.date]
) -> None:
    r = session_client.put(
        "/api/v1/periods/2022",
        json={"opens": "2023-01-01", "closes": "2023-01-31"},
        headers=auth["commission"],
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"year": 2022, "opens": "2023-01-01", "closes": "2023-01-31", "exceptions": []}
    assert (
        session_client.put(CELL, json={"value": 1}, headers=auth["clerk-em"]).status_code == 201
    )  # the 15th
    today[0] = dt.date(2023, 1, 31)  # the last day of entry
    assert session_client.put(CELL, json={"value": 2}, headers=auth["clerk-em"]).status_code == 200
    today[0] = dt.date(2023, 2, 1)
    body = problem(session_client.put(CELL, json={"value": 3}, headers=auth["clerk-em"]), 409)
    assert body["type"].endswith("/period-closed") and "2023-01-31" in body["detail"]
    problem(session_client.delete(CELL, headers=auth["clerk-em"]), 409)
    batch = {
        "observations": [
            {
                "indicator": "expert-inspections",
                "department": "emergency-management",
                "year": 2022,
                "value": 4,
            }
        ]
    }
    body = problem(session_client.post(OBS, json=batch, headers=auth["clerk-zone"]), 422)
    assert body["errors"][0]["type"] == "period-closed"
    observation = stored(session, "expert-inspections", "emergency-management", 2022)
    assert observation is not None and observation.value == 2
    # The commission and admin still write.
    assert session_client.put(CELL, json={"value": 5}, headers=auth["commission"]).status_code == 200
    # An exception reopens entry for one department's clerks until its day.
    exception = {"until": "2023-02-15", "reason": "系统故障"}
    r = session_client.put(
        "/api/v1/periods/2022/exceptions/emergency-management", json=exception, headers=auth["commission"]
    )
    assert r.status_code == 201 and r.json()["exceptions"] == [
        {"department": "emergency-management", **exception}
    ]
    assert session_client.put(CELL, json={"value": 6}, headers=auth["clerk-em"]).status_code == 200
    other = f"{OBS}/free-seals/zone/2022"
    problem(session_client.put(other, json={"value": 6}, headers=auth["clerk-zone"]), 409)
    today[0] = dt.date(2023, 2, 16)
    body = problem(session_client.put(CELL, json={"value": 7}, headers=auth["clerk-em"]), 409)
    assert "2023-02-15" in body["detail"]
    # Before it opens, too.
    today[0] = dt.date(2022, 12, 31)
    body = problem(session_client.put(CELL, json={"value": 7}, headers=auth["clerk-em"]), 409)
    assert "2023-01-01" in body["detail"]
    assert (
        session_client.delete(
            "/api/v1/periods/2022/exceptions/emergency-management", headers=auth["commission"]
        ).status_code
        == 204
    )
    assert session_client.delete("/api/v1/periods/2022", headers=auth["commission"]).status_code == 204
    assert session_client.put(CELL, json={"value": 7}, headers=auth["clerk-em"]).status_code == 200


def test_bad_periods_are_422(session_client: TestClient, auth: Tokens) -> None:
    url = "/api/v1/periods/2022"
    problem(
        session_client.put(
            url, json={"opens": "2023-02-01", "closes": "2023-01-31"}, headers=auth["commission"]
        ),
        422,
    )
    problem(
        session_client.put(
            url, json={"opens": "2023-02-30", "closes": "2023-03-01"}, headers=auth["commission"]
        ),
        422,
    )
    problem(
        session_client.put(
            url + "/exceptions/zone", json={"until": "2023-02-01", "reason": "x"}, headers=auth["commission"]
        ),
        404,
    )
    session_client.put(url, json={"opens": "2023-01-01", "closes": "2023-01-31"}, headers=auth["commission"])
    problem(
        session_client.put(
            url + "/exceptions/zone",
            json={"until": "2023-02-01", "reason": "a\x01b"},
            headers=auth["commission"],
        ),
        422,
    )
    problem(
        session_client.put(
            url + "/exceptions/zone", json={"until": "2023-02-01"}, headers=auth["commission"]
        ),
        422,
    )
    problem(session_client.get("/api/v1/periods/1800", headers=auth["viewer"]), 422)
