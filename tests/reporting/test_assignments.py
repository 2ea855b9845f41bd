"""Assignments: what each department reports, from which year; the seed's 35; templates list them."""

import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.reporting.models import Assignment
from seed.loader import load
from tests.helpers import Tokens, bom_stripped, problem

URL = "/api/v1/assignments"


def _count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Assignment)) or 0)


def test_the_seed_assigns_35_and_a_second_seed_changes_nothing(
    session_client: TestClient, session: Session, auth: Tokens
) -> None:
    assert _count(session) == 35
    r = session_client.get(URL, params={"year": 2021, "limit": 1000}, headers=auth["viewer"])
    items = r.json()["items"]
    assert len(items) == 35
    shares = sorted(i["indicator"] for i in items if i["department"] == "urban-management")
    assert shares == ["enforcement-work-share", "management-work-share", "service-work-share"]
    rank = session_client.get(f"{URL}/business-environment-rank/zone", headers=auth["viewer"]).json()
    assert rank == {
        "indicator": "business-environment-rank",
        "department": "zone",
        "from_year": 2020,
        "to_year": None,
    }
    counts = load(session)
    assert counts.created.get("assignments", 0) == 0 and counts.created.get("approvals", 0) == 0
    assert _count(session) == 35


def test_put_get_delete_and_the_year_filter(
    session_client: TestClient, session: Session, auth: Tokens
) -> None:
    pair = f"{URL}/free-seals/urban-management"
    r = session_client.put(pair, json={"from_year": 2022, "to_year": 2023}, headers=auth["commission"])
    assert r.status_code == 201, r.text
    assert (
        session_client.put(
            pair, json={"from_year": 2022, "to_year": 2024}, headers=auth["commission"]
        ).status_code
        == 200
    )
    assert session_client.get(pair, headers=auth["viewer"]).json()["to_year"] == 2024

    def listed(year: int) -> list[str]:
        params = {"department": "urban-management", "year": year}
        return [
            i["indicator"]
            for i in session_client.get(URL, params=params, headers=auth["viewer"]).json()["items"]
        ]

    assert (
        "free-seals" in listed(2024) and "free-seals" not in listed(2025) and "free-seals" not in listed(2021)
    )
    assert session_client.delete(pair, headers=auth["commission"]).status_code == 204
    problem(session_client.get(pair, headers=auth["viewer"]), 404)
    assert _count(session) == 35


def test_bad_assignments_are_422_and_write_nothing(
    session_client: TestClient, session: Session, auth: Tokens
) -> None:
    pair = f"{URL}/free-seals/urban-management"
    body = problem(
        session_client.put(pair, json={"from_year": 2023, "to_year": 2022}, headers=auth["commission"]), 422
    )
    assert "to_year" in r_text(body)
    problem(session_client.put(pair, json={"from_year": 1800}, headers=auth["commission"]), 422)
    problem(session_client.put(f"{URL}/nope/zone", json={"from_year": 2022}, headers=auth["commission"]), 404)
    problem(session_client.put(pair, json={"from_year": 2022}, headers=auth["clerk-zone"]), 403)
    problem(session_client.get(URL, params={"department": "nope"}, headers=auth["viewer"]), 422)
    assert _count(session) == 35


def r_text(body: object) -> str:
    return str(body)


def test_a_batch_with_dry_run_and_atomic(session_client: TestClient, session: Session, auth: Tokens) -> None:
    rows = [
        {"indicator": "free-seals", "department": "urban-management", "from_year": 2022},
        {"indicator": "free-seals", "department": "zone", "from_year": 2021},  # as the seed has it
        {"indicator": "no-such", "department": "zone", "from_year": 2022},
    ]
    body = problem(session_client.post(URL, json={"assignments": rows}, headers=auth["commission"]), 422)
    assert (
        body["rejected"] == 1 and body["errors"][0]["row"] == 3 and body["errors"][0]["loc"] == ["indicator"]
    )
    assert _count(session) == 35
    r = session_client.post(
        URL, json={"assignments": rows, "atomic": False, "dry_run": True}, headers=auth["commission"]
    )
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["unchanged"], r.json()["rejected"], r.json()["dry_run"]) == (
        1,
        1,
        1,
        True,
    )
    assert _count(session) == 35
    r = session_client.post(URL, json={"assignments": rows, "atomic": False}, headers=auth["commission"])
    assert (r.json()["created"], r.json()["unchanged"], r.json()["rejected"]) == (1, 1, 1)
    assert _count(session) == 36
    r = session_client.post(URL, json={"assignments": rows[:2]}, headers=auth["commission"])
    assert (r.json()["created"], r.json()["unchanged"]) == (0, 2)


def test_lists_page_and_answer_csv_and_xlsx(session_client: TestClient, auth: Tokens) -> None:
    first = session_client.get(URL, params={"limit": 20}, headers=auth["viewer"]).json()
    assert len(first["items"]) == 20 and first["next_cursor"]
    rest = session_client.get(
        URL, params={"limit": 20, "cursor": first["next_cursor"]}, headers=auth["viewer"]
    ).json()
    assert len(rest["items"]) == 15 and rest["next_cursor"] is None
    r = session_client.get(URL, params={"format": "csv", "limit": 1000}, headers=auth["viewer"])
    assert r.content.startswith(b"\xef\xbb\xbf")
    lines = bom_stripped(r).splitlines()
    assert lines[0] == "indicator,department,from_year,to_year" and len(lines) == 36
    r = session_client.get(URL, params={"format": "xlsx", "limit": 1000}, headers=auth["viewer"])
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert sheet.max_row == 36


def test_a_template_lists_the_assignments_of_its_year(session_client: TestClient, auth: Tokens) -> None:
    def codes(department: str, year: int) -> list[str]:
        r = session_client.get(
            f"/api/v1/templates/{department}.xlsx", params={"year": year}, headers=auth["viewer"]
        )
        assert r.status_code == 200, r.text
        sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
        return [str(row[0].value) for row in sheet.iter_rows(min_row=2)]

    assert codes("urban-management", 2021) == [
        "enforcement-work-share",
        "management-work-share",
        "service-work-share",
    ]
    assert codes("urban-management", 2020) == []
    assert "business-environment-rank" in codes("zone", 2020) and "free-seals" not in codes("zone", 2020)
    r = session_client.put(
        f"{URL}/free-seals/urban-management", json={"from_year": 2022}, headers=auth["commission"]
    )
    assert r.status_code == 201
    assert "free-seals" in codes("urban-management", 2022)


def test_a_year_written_with_a_zero_fraction_is_that_year_and_no_other_number_is(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """JSON Schema's `integer` admits 2022.0, so a client generated from the document may send it:
    it is 2022. 2022.5, true and "2022" are not years (422 naming the field, nothing written)."""
    path = "/api/v1/assignments/free-seals/urban-management"
    for bad in ("2022.5", "true", '"2022"', "2022e400"):
        r = session_client.put(
            path,
            content=f'{{"from_year": {bad}}}',
            headers={**auth["commission"], "content-type": "application/json"},
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["loc"][-1] == "from_year", r.text
    assert session_client.get(path, headers=auth["viewer"]).status_code == 404
    r = session_client.put(
        path,
        content='{"from_year": 2022.0, "to_year": 2.03e3}',
        headers={**auth["commission"], "content-type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["from_year"], r.json()["to_year"]) == (2022, 2030)
