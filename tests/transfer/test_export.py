"""Exports (CSV and .xlsx) that import back changing exactly what was edited, and fill-in templates."""

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.fields import YEAR_MAX
from app.departments.models import Department
from app.observations.models import Observation
from app.transfer.formats import XLSX
from tests.helpers import Tokens, problem, revisions, stored

URL = "/api/v1/observations"


@pytest.fixture(autouse=True)
def _every_year_open(settings: Settings) -> None:
    """These tests write a figure for each of 150 years, up to 2099: open them all."""
    settings.open_future_years = YEAR_MAX - settings.today().year


HEADER = ["indicator", "department", "year", "value", "qualifier", "note", "source"]


def add_rows(session_client: TestClient, auth: Tokens) -> None:
    """150 more figures for the zone (more than one page), with notes that need quoting, and decimals."""
    session_client.post(
        "/api/v1/indicators",
        json={"code": "budget", "name": "预算", "value_type": "amount", "unit": "元"},
        headers=auth["admin"],
    )
    rows: list[dict[str, Any]] = [
        {"indicator": "legal-lectures", "department": "zone", "year": 1950 + i, "value": i}
        for i in range(150)
    ]
    rows += [
        {
            "indicator": "budget",
            "department": "zone",
            "year": 2020,
            "value": Decimal("0.1"),
            "note": 'a, "b"\nc',
        },
        {"indicator": "budget", "department": "zone", "year": 2021, "value": Decimal("123456789012.345678")},
        {"indicator": "budget", "department": "zone", "year": 2022, "value": Decimal("-1234567.891")},
    ]
    body = '{"observations": [' + ",".join(_json(r) for r in rows) + "]}"
    r = session_client.post(
        URL, content=body, headers={**auth["commission"], "content-type": "application/json"}
    )
    assert r.status_code == 200, r.text


def _json(row: dict[str, Any]) -> str:
    import json

    value = row.pop("value")
    text = json.dumps(row, ensure_ascii=False)
    return text[:-1] + f', "value": {value}}}'


def count(session: Session, department: str | None = None) -> int:
    query = select(func.count()).select_from(Observation)
    if department:
        query = query.join(Department, Department.id == Observation.department_id).where(
            Department.code == department
        )
    return session.scalar(query) or 0


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.mark.usefixtures("reopened_2021")
@pytest.mark.parametrize("how", ["accept", "format"])
def test_csv_export_has_every_matching_row(
    session_client: TestClient, auth: Tokens, session: Session, how: str
) -> None:
    add_rows(session_client, auth)
    if how == "accept":
        r = session_client.get(f"{URL}?department=zone", headers={**auth["viewer"], "accept": "text/csv"})
    else:
        r = session_client.get(f"{URL}?department=zone&format=csv&limit=5", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    table = read_csv(r.content)
    assert table[0] == HEADER
    # every stored figure, then the derived one computed from two of them (free-seals / new-firms-sealed)
    assert len(table) - 1 == count(session, "zone") + 1 > 150
    assert table[-1] == ["seals-per-new-firm", "zone", "2021", "3", "exact", "", ""]
    assert {row[1] for row in table[1:]} == {"zone"}
    assert ["budget", "zone", "2021", "123456789012.345678", "exact", "", ""] in table
    assert ["budget", "zone", "2020", "0.1", "exact", 'a, "b"\nc', ""] in table
    assert ["deadline-compression", "zone", "2021", "75", "at_least", "", "report-2021 §一(二)"] in table


def test_csv_export_filters_by_year(session_client: TestClient, auth: Tokens, session: Session) -> None:
    r = session_client.get(f"{URL}?year=2021&format=csv", headers=auth["viewer"])
    table = read_csv(r.content)
    stored = session.scalar(select(func.count()).select_from(Observation).where(Observation.year == 2021))
    assert len(table) - 1 == (stored or 0) + 1  # and the derived seals-per-new-firm
    assert {row[2] for row in table[1:]} == {"2021"}


def test_unknown_format_is_406(session_client: TestClient, auth: Tokens) -> None:
    problem(session_client.get(f"{URL}?format=pdf", headers=auth["viewer"]), 406)


@pytest.mark.usefixtures("reopened_2021")
def test_csv_round_trip_changes_exactly_what_was_edited(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    add_rows(session_client, auth)
    exported = session_client.get(f"{URL}?department=zone&format=csv", headers=auth["viewer"]).content
    table = read_csv(exported)
    edited = 0
    for row in table[1:]:
        if row[:3] == ["legal-lectures", "zone", "1960"]:
            row[3] = "999"
            edited += 1
        if row[:3] == ["budget", "zone", "2020"]:
            row[5] = "改过的备注"
            edited += 1
    assert edited == 2
    out = io.StringIO()
    csv.writer(out).writerows(table)
    r = session_client.post(
        URL, content=out.getvalue().encode("gbk"), headers={**auth["clerk-zone"], "content-type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"], r.json()["rejected"]) == (0, 2, 0)
    assert r.json()["unchanged"] == len(table) - 1 - 2
    lectures = stored(session, "legal-lectures", "zone", 1960)
    assert lectures is not None and lectures.value == 999 and lectures.version == 2
    budget = stored(session, "budget", "zone", 2020)
    assert budget is not None and budget.note == "改过的备注" and budget.value == Decimal("0.1")
    assert len(revisions(session, "legal-lectures", "zone", 1961)) == 1


@pytest.mark.usefixtures("reopened_2021")
def test_xlsx_round_trip_changes_exactly_what_was_edited(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    add_rows(session_client, auth)
    r = session_client.get(f"{URL}?department=zone&format=xlsx", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) - 1 == count(session, "zone") + 1  # the derived seals-per-new-firm, computed
    assert rows[-1][:5] == ("seals-per-new-firm", "zone", 2021, 3, "exact")
    edited = 0
    for cells in sheet.iter_rows(min_row=2):
        if (cells[0].value, cells[2].value) == ("legal-lectures", 1975):
            cells[3].value = 1234
            edited += 1
    assert edited == 1
    out = io.BytesIO()
    book.save(out)
    r = session_client.post(URL, content=out.getvalue(), headers={**auth["clerk-zone"], "content-type": XLSX})
    assert r.status_code == 200, r.text
    assert (r.json()["updated"], r.json()["created"], r.json()["rejected"]) == (1, 0, 0)
    assert r.json()["unchanged"] == len(rows) - 2
    row = stored(session, "legal-lectures", "zone", 1975)
    assert row is not None and row.value == 1234
    long = stored(session, "budget", "zone", 2021)
    assert long is not None and long.value == Decimal("123456789012.345678") and long.version == 1


def test_accept_xlsx_gives_a_workbook(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(f"{URL}?indicator=free-seals", headers={**auth["viewer"], "accept": XLSX})
    rows = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[1:] == [("free-seals", "zone", 2021, 1584, "exact", None, "report-2021 §一(二)")]


def test_template_of_an_unknown_department_is_404_and_year_is_required(
    session_client: TestClient, auth: Tokens
) -> None:
    problem(session_client.get("/api/v1/templates/nowhere.xlsx?year=2022", headers=auth["viewer"]), 404)
    problem(session_client.get("/api/v1/templates/zone.xlsx", headers=auth["viewer"]), 422)
    problem(session_client.get("/api/v1/templates/zone.xlsx?year=2022"), 401)


@pytest.mark.usefixtures("reopened_2021")
def test_xlsx_export_keeps_text_that_looks_like_a_formula_as_text(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """A note or source starting with = is a clerk's text: in the workbook it is a string that a
    spreadsheet shows and does not run, and it imports back unchanged (a formula cell has no value
    until a spreadsheet computes it, so the import read it as empty and cleared the note)."""
    body = {"value": 5, "note": '=HYPERLINK("http://example.invalid","x")', "source": "=1+1"}
    r = session_client.put(f"{URL}/legal-lectures/zone/1975", json=body, headers=auth["clerk-zone"])
    assert r.status_code in (200, 201), r.text
    r = session_client.get(
        f"{URL}?department=zone&indicator=legal-lectures&format=xlsx", headers=auth["viewer"]
    )
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    (row,) = [cells for cells in sheet.iter_rows(min_row=2) if cells[2].value == 1975]
    assert [(c.value, c.data_type) for c in row[5:7]] == [(body["note"], "s"), (body["source"], "s")]
    version = stored(session, "legal-lectures", "zone", 1975)
    assert version is not None
    r = session_client.post(URL, content=r.content, headers={**auth["clerk-zone"], "content-type": XLSX})
    assert r.status_code == 200, r.text
    assert (r.json()["updated"], r.json()["created"], r.json()["rejected"]) == (0, 0, 0), r.json()
    again = stored(session, "legal-lectures", "zone", 1975)
    assert again is not None and (again.note, again.source) == (body["note"], body["source"])


def test_a_template_keeps_an_indicator_name_that_looks_like_a_formula_as_text(
    session_client: TestClient, auth: Tokens
) -> None:
    body = {"code": "formula-like", "name": "=1+1", "unit": "=A1", "value_type": "count"}
    assert session_client.post("/api/v1/indicators", json=body, headers=auth["admin"]).status_code == 201
    r = session_client.put(
        "/api/v1/assignments/formula-like/zone", json={"from_year": 2022}, headers=auth["commission"]
    )
    assert r.status_code == 201, r.text
    r = session_client.get("/api/v1/templates/zone.xlsx?year=2022", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    (row,) = [cells for cells in sheet.iter_rows(min_row=2) if cells[0].value == "formula-like"]
    assert [(c.value, c.data_type) for c in row[7:9]] == [("=1+1", "s"), ("=A1", "s")]
