"""Completeness: what was assigned, what was reported, what is missing, where approval stands."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.core.config import Settings
from tests.helpers import Tokens, bom_stripped, problem

URL = "/api/v1/completeness"


def test_the_seed_2021_is_31_of_35_approved_3(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(URL, params={"year": 2021}, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    body = r.json(parse_float=Decimal)
    assert body["summary"] == {
        "departments": 3,
        "expected": 35,
        "reported": 31,
        "missing": 4,
        "rate": Decimal("0.885714"),
        "draft": 0,
        "submitted": 0,
        "approved": 3,
        "late": 0,
    }
    items = {i["department"]: i for i in body["items"]}
    assert list(items) == ["emergency-management", "urban-management", "zone"]
    urban = items["urban-management"]
    assert urban["missing"] == ["enforcement-work-share", "management-work-share", "service-work-share"]
    assert (urban["expected"], urban["reported"], urban["rate"], urban["state"]) == (3, 0, 0, "approved")
    assert urban["approved_at"] is not None and urban["submitted_at"] is None and urban["late"] is False
    assert items["zone"]["missing"] == ["business-environment-rank"]
    assert items["emergency-management"]["rate"] == 1


def test_department_includes_those_below_and_section_narrows(
    session_client: TestClient, auth: Tokens
) -> None:
    def summary(**params: object) -> dict[str, object]:
        r = session_client.get(URL, params={"year": 2021, **params}, headers=auth["viewer"])
        assert r.status_code == 200, r.text
        result: dict[str, object] = r.json()["summary"]
        return result

    assert summary(department="zone")["expected"] == 35
    assert summary(department="urban-management")["expected"] == 3
    enforcement = summary(section="enforcement")
    assert 3 <= int(str(enforcement["expected"])) < 35
    problem(session_client.get(URL, params={"year": 2021, "department": "nope"}, headers=auth["viewer"]), 422)
    problem(session_client.get(URL, headers=auth["viewer"]), 422)


def test_a_figure_entered_counts_and_late_follows_the_period(
    session_client: TestClient, auth: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Settings, "today", lambda self: dt.date(2023, 2, 10))
    r = session_client.put(
        "/api/v1/periods/2022",
        json={"opens": "2023-01-01", "closes": "2023-01-31"},
        headers=auth["commission"],
    )
    assert r.status_code == 201
    cell = "/api/v1/observations/enforcement-work-share/urban-management/2022"
    assert session_client.put(cell, json={"value": 30}, headers=auth["commission"]).status_code == 201
    body = session_client.get(
        URL, params={"year": 2022, "department": "urban-management"}, headers=auth["viewer"]
    ).json()
    (item,) = body["items"]
    assert (item["expected"], item["reported"], item["state"], item["late"]) == (3, 1, "draft", True)
    assert item["missing"] == ["management-work-share", "service-work-share"] and item["rate"] == 0.333333
    assert body["summary"]["late"] == 1


def test_csv_and_xlsx(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(URL, params={"year": 2021, "format": "csv"}, headers=auth["viewer"])
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    lines = bom_stripped(r).splitlines()
    assert lines[0] == "department,expected,reported,missing,rate,state,submitted_at,approved_at,late"
    assert lines[2].startswith(
        "urban-management,3,0,enforcement-work-share management-work-share service-work-share,0,approved,,"
    )
    r = session_client.get(URL, params={"year": 2021, "format": "xlsx"}, headers=auth["viewer"])
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert [c.value for c in sheet[1]][:3] == ["department", "expected", "reported"] and sheet.max_row == 4


def test_missing_lists_every_indicator_in_code_order_whatever_the_ids(
    session_client: TestClient, auth: Tokens
) -> None:
    """Indicators made in reverse code order, assigned, some reported: `missing` lists the others by
    code, for each department, and the counts match what is stored."""
    codes = [f"order-{n:02d}" for n in range(12, 0, -1)]  # ids rise as codes fall
    for code in codes:
        body = {
            "code": code,
            "name": code,
            "section": "order-test",
            "value_type": "count",
            "aggregation": "sum",
            "direction": "higher",
        }
        r = session_client.post("/api/v1/indicators", json=body, headers=auth["admin"])
        assert r.status_code == 201, r.text
    departments = ("emergency-management", "urban-management")
    rows = [
        {"indicator": code, "department": department, "from_year": 2025, "to_year": None}
        for code in codes
        for department in departments
    ]
    r = session_client.post("/api/v1/assignments", json={"assignments": rows}, headers=auth["admin"])
    assert r.status_code == 200, r.text
    reported = {"emergency-management": codes[::3], "urban-management": codes[1::2]}
    for department, done in reported.items():
        for code in done:
            cell = f"/api/v1/observations/{code}/{department}/2025"
            r = session_client.put(cell, json={"value": 1}, headers=auth["commission"])
            assert r.status_code == 201, r.text
    r = session_client.get(URL, params={"year": 2025, "section": "order-test"}, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    items = {item["department"]: item for item in r.json()["items"]}
    assert set(items) == set(departments)
    for department, done in reported.items():
        item = items[department]
        assert item["missing"] == sorted(set(codes) - set(done))
        assert (item["expected"], item["reported"]) == (len(codes), len(done))
    listed = session_client.get(
        "/api/v1/observations", params={"year": 2025, "limit": 1000}, headers=auth["viewer"]
    ).json()["items"]
    assert len(listed) == sum(len(done) for done in reported.values())
