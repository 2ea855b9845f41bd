"""Fill-in templates: downloaded, partly filled in a spreadsheet (openpyxl), uploaded as they are."""

import io
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation
from app.targets.models import Target
from app.transfer import templates
from app.transfer.formats import XLSX
from tests.helpers import Tokens, problem, stored

URL = "/api/v1/observations"
HEADERS = {
    "zh": ["指标", "部门", "年度", "数值", "限定", "备注", "来源", "指标名称", "单位", "上年数值"],
    "en": [
        "indicator",
        "department",
        "year",
        "value",
        "qualifier",
        "note",
        "source",
        "indicator_name",
        "unit",
        "previous_value",
    ],
}
QUALIFIER_LISTS = {"zh": '"精确,至少,超过,约"', "en": '"exact,at_least,more_than,approximately"'}


def reported(session: Session, department: str) -> set[str]:
    dep = select(Department.id).where(Department.code == department).scalar_subquery()
    ids = set(session.scalars(select(Observation.indicator_id).where(Observation.department_id == dep)))
    ids |= set(session.scalars(select(Target.indicator_id).where(Target.department_id == dep)))
    return set(session.scalars(select(Indicator.code).where(Indicator.id.in_(ids))))


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("department", ["zone", "emergency-management"])
def test_a_template_partly_filled_uploads_as_it_is(
    session_client: TestClient, auth: Tokens, session: Session, department: str, lang: str
) -> None:
    query = "" if lang == "zh" else "&lang=en"  # Chinese is the default
    r = session_client.get(f"/api/v1/templates/{department}.xlsx?year=2022{query}", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS[lang]
    codes = [row[0] for row in rows[1:]]
    assert set(codes) == reported(session, department) and codes
    catalogue = {i.code: i for i in session.scalars(select(Indicator))}
    for row in rows[1:]:
        indicator = catalogue[str(row[0])]
        assert row[1:7] == (department, 2022, None, None, None, None)
        assert row[7] == (indicator.name if lang == "zh" else indicator.name_en or indicator.name)
        assert row[8] == indicator.unit
        before = stored(session, indicator.code, department, 2021)
        assert row[9] == (None if before is None else before.value)  # last year's figure, for reference
    [drop_down] = sheet.data_validations.dataValidation
    assert drop_down.formula1 == QUALIFIER_LISTS[lang]
    assert str(drop_down.sqref) == f"E2:E{len(rows)}"

    # A clerk fills in every other row (a qualifier from the list in the first), and uploads it.
    filled = list(sheet.iter_rows(min_row=2))[::2]
    for cells in filled:
        cells[3].value = 1  # fits every value_type
    filled[0][4].value = "至少" if lang == "zh" else "at_least"
    filled[-1][6].value = "填表人 张三"
    out = io.BytesIO()
    book.save(out)
    up = session_client.post(
        URL, content=out.getvalue(), headers={**auth["clerk-zone"], "content-type": XLSX}
    )
    assert up.status_code == 200, up.text
    assert (up.json()["created"], up.json()["skipped"], up.json()["rejected"]) == (
        len(filled),
        len(codes) - len(filled),
        0,
    )
    first = stored(session, str(filled[0][0].value), department, 2022)
    assert first is not None and (first.value, first.qualifier) == (Decimal(1), "at_least")
    last = stored(session, str(filled[-1][0].value), department, 2022)
    assert last is not None and last.source == "填表人 张三"
    if len(codes) > 1:
        assert stored(session, str(codes[1]), department, 2022) is None  # left blank, skipped


def test_the_indicators_a_template_lists_are_chosen_in_one_place(
    session_client: TestClient, auth: Tokens, monkeypatch: pytest.MonkeyPatch, session: Session
) -> None:
    """The reporting cycle will make templates from assignments by replacing one function."""
    chosen = list(
        session.scalars(select(Indicator).where(Indicator.code.in_(["free-seals", "legal-lectures"])))
    )
    monkeypatch.setattr(templates, "template_indicators", lambda session, department, year: chosen)
    r = session_client.get(
        "/api/v1/templates/urban-management.xlsx?year=2030&lang=en", headers=auth["viewer"]
    )
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert [row[:3] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        (i.code, "urban-management", 2030) for i in chosen
    ]


def test_a_template_of_an_unknown_language_is_422(session_client: TestClient, auth: Tokens) -> None:
    body = problem(
        session_client.get("/api/v1/templates/zone.xlsx?year=2022&lang=fr", headers=auth["viewer"]), 422
    )
    assert body["errors"][0]["loc"][-1] == "lang"


def test_template_text_is_written_as_text(session_client: TestClient, auth: Tokens) -> None:
    body: dict[str, Any] = {
        "code": "formula-like-en",
        "name": "公式",
        "name_en": "=2+2",
        "value_type": "count",
    }
    assert session_client.post("/api/v1/indicators", json=body, headers=auth["admin"]).status_code == 201
    assignment = {"from_year": 2022, "to_year": None}
    r = session_client.put(
        "/api/v1/assignments/formula-like-en/zone", json=assignment, headers=auth["commission"]
    )
    assert r.status_code in (200, 201), r.text
    r = session_client.get("/api/v1/templates/zone.xlsx?year=2022&lang=en", headers=auth["viewer"])
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    (row,) = [cells for cells in sheet.iter_rows(min_row=2) if cells[0].value == "formula-like-en"]
    assert (row[7].value, row[7].data_type) == ("=2+2", "s")
