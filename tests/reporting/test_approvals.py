"""Approval: draft -> submitted -> approved, return and reopen with reasons, and the locks they set."""

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import Tokens, problem, stored

URL = "/api/v1/approvals"
OBS = "/api/v1/observations"
REASON = {"reason": "更正"}


def act(
    client: TestClient, auth: Tokens, who: str, department: str, year: int, action: str, body: object = None
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"{URL}/{department}/{year}/{action}", json=body, headers=auth[who]
    )
    return response


def test_the_seed_approved_2021_children_first(session_client: TestClient, auth: Tokens) -> None:
    for department in ("zone", "emergency-management", "urban-management"):
        got = session_client.get(f"{URL}/{department}/2021", headers=auth["viewer"]).json()
        assert got["state"] == "approved" and got["approved_by"] == "seed"
        assert [(h["action"], h["by"], h["reason"]) for h in got["history"]] == [
            ("approve", "seed", "published in report-2021")
        ]
    zone = session_client.get(f"{URL}/zone/2021", headers=auth["viewer"]).json()["history"][0]["at"]
    em = session_client.get(f"{URL}/emergency-management/2021", headers=auth["viewer"]).json()["history"][0][
        "at"
    ]
    assert em <= zone
    page = session_client.get(URL, params={"year": 2021, "state": "approved"}, headers=auth["viewer"]).json()
    assert sorted(a["department"] for a in page["items"]) == [
        "emergency-management",
        "urban-management",
        "zone",
    ]
    assert session_client.get(f"{URL}/zone/2022", headers=auth["viewer"]).json()["state"] == "draft"


def test_approved_figures_are_locked_for_everybody(
    session_client: TestClient, session: Session, auth: Tokens
) -> None:
    for who in ("clerk-zone", "commission", "admin"):
        body = problem(
            session_client.put(f"{OBS}/free-seals/zone/2021", json={"value": 1}, headers=auth[who]), 409
        )
        assert (
            body["type"].endswith("/locked") and body["state"] == "approved" and body["approved_by"] == "seed"
        )
        assert "seed" in body["detail"]
        problem(session_client.delete(f"{OBS}/free-seals/zone/2021", headers=auth[who]), 409)
    batch = {
        "observations": [
            {"indicator": "free-seals", "department": "zone", "year": 2022, "value": 1},
            {"indicator": "free-seals", "department": "zone", "year": 2021, "value": 2},
        ]
    }
    body = problem(session_client.post(OBS, json=batch, headers=auth["commission"]), 422)
    assert [(e["row"], e["type"]) for e in body["errors"]] == [(2, "locked")]
    assert stored(session, "free-seals", "zone", 2022) is None
    r = session_client.post(OBS, json={**batch, "atomic": False}, headers=auth["commission"])
    assert r.status_code == 200 and r.json()["created"] == 1 and r.json()["rejected"] == 1, r.text
    observation = stored(session, "free-seals", "zone", 2021)
    assert observation is not None and observation.value == 1584


def test_the_whole_cycle_with_its_history_and_its_locks(
    session_client: TestClient, session: Session, auth: Tokens
) -> None:
    year = 2022
    # Submit refused while assigned figures are missing, listed in code order.
    body = problem(act(session_client, auth, "clerk-em", "emergency-management", year, "submit"), 409)
    assert body["missing"] == sorted(body["missing"]) and "expert-inspections" in body["missing"]
    problem(
        act(
            session_client, auth, "clerk-em", "emergency-management", year, "submit", {"allow_missing": True}
        ),
        422,
    )
    problem(
        act(session_client, auth, "clerk-em", "zone", year, "submit", {"allow_missing": True, "reason": "x"}),
        403,
    )
    r = act(
        session_client,
        auth,
        "clerk-em",
        "emergency-management",
        year,
        "submit",
        {"allow_missing": True, "reason": "部分数据待核"},
    )
    assert (
        r.status_code == 200 and r.json()["state"] == "submitted" and r.json()["submitted_by"] == "clerk-em"
    ), r.text
    # Submitted: clerks locked out, the commission may still correct.
    cell = f"{OBS}/expert-inspections/emergency-management/{year}"
    body = problem(session_client.put(cell, json={"value": 5}, headers=auth["clerk-em"]), 409)
    assert body["type"].endswith("/locked") and body["state"] == "submitted"
    assert stored(session, "expert-inspections", "emergency-management", year) is None
    assert session_client.put(cell, json={"value": 5}, headers=auth["commission"]).status_code == 201
    # A wrong transition names the current state; return needs a reason.
    body = problem(
        act(
            session_client,
            auth,
            "commission",
            "emergency-management",
            year,
            "submit",
            {"allow_missing": True, "reason": "x"},
        ),
        409,
    )
    assert body["state"] == "submitted" and "submitted" in body["detail"]
    problem(act(session_client, auth, "commission", "emergency-management", year, "return"), 422)
    problem(act(session_client, auth, "clerk-zone", "emergency-management", year, "return", REASON), 403)
    r = act(
        session_client, auth, "commission", "emergency-management", year, "return", {"reason": "数据有误"}
    )
    assert r.json()["state"] == "draft"
    assert session_client.put(cell, json={"value": 6}, headers=auth["clerk-em"]).status_code == 200
    # The parent waits for every department below it.
    body = problem(
        act(
            session_client,
            auth,
            "commission",
            "zone",
            year,
            "approve",
            {"allow_missing": True, "reason": "x"},
        ),
        409,
    )
    assert body["departments"] == ["emergency-management", "urban-management"]
    for department in ("emergency-management", "urban-management"):
        r = act(
            session_client,
            auth,
            "commission",
            department,
            year,
            "approve",
            {"allow_missing": True, "reason": "尚缺"},
        )
        assert r.json()["state"] == "approved" and r.json()["approved_by"] == "commission"
    assert (
        act(
            session_client,
            auth,
            "commission",
            "zone",
            year,
            "approve",
            {"allow_missing": True, "reason": "x"},
        ).status_code
        == 200
    )
    problem(session_client.put(cell, json={"value": 7}, headers=auth["admin"]), 409)
    # Reopen: the parent first, with a reason.
    problem(act(session_client, auth, "commission", "emergency-management", year, "reopen", REASON), 409)
    problem(act(session_client, auth, "commission", "zone", year, "reopen"), 422)
    assert act(session_client, auth, "commission", "zone", year, "reopen", REASON).json()["state"] == "draft"
    got = act(
        session_client, auth, "commission", "emergency-management", year, "reopen", {"reason": "补报"}
    ).json()
    assert got["state"] == "draft" and got["approved_by"] is None
    assert [(h["action"], h["by"], h["reason"]) for h in got["history"]] == [
        ("submit", "clerk-em", "部分数据待核"),
        ("return", "commission", "数据有误"),
        ("approve", "commission", "尚缺"),
        ("reopen", "commission", "补报"),
    ]
    assert session_client.put(cell, json={"value": 7}, headers=auth["clerk-em"]).status_code == 200
    observation = stored(session, "expert-inspections", "emergency-management", year)
    assert observation is not None and observation.value == 7


def test_approve_without_missing_figures_needs_no_reason(session_client: TestClient, auth: Tokens) -> None:
    year = 2020
    body = problem(act(session_client, auth, "commission", "zone", year, "approve"), 409)
    assert body["departments"] == ["emergency-management", "urban-management"]
    for department in ("emergency-management", "urban-management"):  # nothing assigned for 2020
        assert act(session_client, auth, "commission", department, year, "approve").status_code == 200
    assert (
        act(session_client, auth, "commission", "zone", year, "approve").status_code == 200
    )  # the rank is there
    problem(act(session_client, auth, "viewer", "zone", year, "reopen", REASON), 403)
    problem(act(session_client, auth, "commission", "zone", year, "launch", REASON), 422)


def test_approval_lists_answer_csv(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(URL, params={"format": "csv"}, headers=auth["viewer"])
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert (
        lines[0] == "department,year,state,submitted_at,submitted_by,approved_at,approved_by"
        and len(lines) == 4
    )
    r = session_client.get(URL, params={"format": "xlsx"}, headers=auth["viewer"])
    assert r.status_code == 200 and r.content.startswith(b"PK")
