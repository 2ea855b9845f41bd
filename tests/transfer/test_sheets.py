"""Batches as clerks fill them in: rows as a spreadsheet numbers them, blank values skipped, names for
codes, cells read as they show (percentages, binary floats, formulas)."""

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from app.transfer.formats import XLSX
from tests.helpers import Tokens, problem, stored

URL = "/api/v1/observations"
ZH = "指标,部门,年度,数值,限定,备注,来源"


def send_csv(client: TestClient, headers: dict[str, str], lines: list[str], query: str = "") -> Any:
    body = ("\r\n".join(lines) + "\r\n").encode("gbk")  # what a spreadsheet program in Chinese saves
    return client.post(f"{URL}{query}", content=body, headers={**headers, "content-type": "text/csv"})


def book(rows: list[list[Any]], formats: dict[str, str] | None = None) -> Workbook:
    made = Workbook()
    sheet = made.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for coordinate, number_format in (formats or {}).items():
        sheet[coordinate].number_format = number_format
    return made


def saved(made: Workbook, results: dict[str, str] | None = None) -> bytes:
    """The workbook's bytes; `results` gives formulas the result a spreadsheet program stores beside
    them (openpyxl itself stores none)."""
    out = io.BytesIO()
    made.save(out)
    if not results:
        return out.getvalue()
    source, patched = zipfile.ZipFile(io.BytesIO(out.getvalue())), io.BytesIO()
    with zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                for formula, result in results.items():
                    # An empty value as openpyxl writes it: `<v />` by the standard library's XML
                    # writer, `<v/>` or `<v></v>` through lxml when that is installed.
                    data = re.sub(
                        rb"<f>"
                        + re.escape(formula.encode())
                        + rb"</f><v\s*/>|<f>"
                        + re.escape(formula.encode())
                        + rb"</f><v></v>",
                        f"<f>{formula}</f><v>{result}</v>".encode(),
                        data,
                    )
            target.writestr(item, data)
    return patched.getvalue()


def send_xlsx(client: TestClient, headers: dict[str, str], body: bytes, query: str = "") -> Any:
    return client.post(f"{URL}{query}", content=body, headers={**headers, "content-type": XLSX})


def test_csv_rows_are_numbered_as_a_spreadsheet_shows_them_and_errors_name_the_row(
    session_client: TestClient, auth: Tokens
) -> None:
    lines = [
        ZH,
        "legal-lectures,zone,2022,7,,,",
        '"legal-consultations",zone,2022,5,,"两行\n备注",',  # a quoted line break: still one row, row 3
        "法制讲座,zone,2023,七,,,",
        "",
        "nowhere,no-such-place,二〇二二,1,,,",
    ]
    r = send_csv(session_client, auth["clerk-zone"], lines, "?atomic=false")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["rejected"]) == (2, 2)
    named = [(e["row"], e["indicator"], e["department"], e["year"], e["loc"]) for e in body["errors"]]
    assert named == [
        (4, "法制讲座", "zone", 2023, ["value"]),
        (6, "nowhere", "no-such-place", "二〇二二", ["indicator"]),
        (6, "nowhere", "no-such-place", "二〇二二", ["department"]),
        (6, "nowhere", "no-such-place", "二〇二二", ["year"]),
    ]


def test_workbook_rows_keep_the_numbers_the_sheet_shows(session_client: TestClient, auth: Tokens) -> None:
    made = book([["indicator", "department", "year", "value"], ["legal-lectures", "zone", 2022, 7]])
    sheet = made.active
    assert sheet is not None
    sheet["A5"], sheet["B5"], sheet["C5"], sheet["D5"] = "legal-lectures", "zone", 2023, -1  # rows 3, 4 empty
    body = problem(send_xlsx(session_client, auth["clerk-zone"], saved(made)), 422)
    [error] = body["errors"]
    assert (error["row"], error["indicator"], error["department"], error["year"]) == (
        5,
        "legal-lectures",
        "zone",
        2023,
    )


def test_json_rows_are_numbered_by_position_and_name_their_cell(
    session_client: TestClient, auth: Tokens
) -> None:
    rows: list[Any] = [
        {"indicator": "legal-lectures", "department": "zone", "year": 2022, "value": 7},
        [1, 2],
        {"indicator": "legal-lectures", "department": "zone", "year": 2023, "value": -1},
    ]
    body = problem(session_client.post(URL, json={"observations": rows}, headers=auth["clerk-zone"]), 422)
    assert [(e["row"], e["indicator"], e["year"]) for e in body["errors"]] == [
        (2, None, None),
        (3, "legal-lectures", 2023),
    ]


def test_rows_without_a_value_are_skipped_not_refused(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    lines = [
        ZH,
        "legal-lectures,zone,2022,,,,",
        "legal-consultations,zone,2022,   ,至少,,",
        "legal-opinions,zone,2022,4,,,",
        "合计,,,,,,",  # a total row left blank: no value, so not a row to check
    ]
    r = send_csv(session_client, auth["clerk-zone"], lines)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["skipped"], r.json()["rejected"]) == (1, 3, 0)
    assert stored(session, "legal-lectures", "zone", 2022) is None
    again = send_xlsx(
        session_client,
        auth["clerk-zone"],
        saved(
            book(
                [
                    ["指标", "部门", "年度", "数值"],
                    ["legal-lectures", "zone", 2022, None],
                    ["legal-opinions", "zone", 2022, 4],
                ]
            )
        ),
    )
    assert (again.json()["unchanged"], again.json()["skipped"]) == (1, 1)
    # JSON is no file filled by hand: a value left out there is still required
    body = problem(
        session_client.post(
            URL,
            json={"observations": [{"indicator": "legal-lectures", "department": "zone", "year": 2022}]},
            headers=auth["clerk-zone"],
        ),
        422,
    )
    assert (body["skipped"], body["errors"][0]["msg"]) == (0, "required")


def test_indicators_and_departments_by_name_and_qualifiers_in_chinese(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    lines = [
        ZH,
        " 法制讲座 ,平顶山高新技术产业开发区,2022,7,约,,",
        "Legal lectures held,Emergency Management Bureau,2022,3,精确,,",
        "deadline-compression, 区应急管理局 ,2022,80,至少,,",
        "legal-opinions,zone,2022,2,超过,,",
    ]
    r = send_csv(session_client, auth["clerk-zone"], lines)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 4
    written = {
        (i, d): stored(session, i, d, 2022)
        for i, d in [
            ("legal-lectures", "zone"),
            ("legal-lectures", "emergency-management"),
            ("deadline-compression", "emergency-management"),
            ("legal-opinions", "zone"),
        ]
    }
    assert [(row.value, row.qualifier) for row in written.values() if row is not None] == [
        (Decimal(7), "approximately"),
        (Decimal(3), "exact"),
        (Decimal(80), "at_least"),
        (Decimal(2), "more_than"),
    ]


def test_a_name_two_indicators_share_names_neither(session_client: TestClient, auth: Tokens) -> None:
    for code in ("talks-a", "talks-b"):
        r = session_client.post(
            "/api/v1/indicators",
            json={"code": code, "name": "普法讲座", "value_type": "count"},
            headers=auth["admin"],
        )
        assert r.status_code == 201, r.text
    body = problem(send_csv(session_client, auth["commission"], [ZH, "普法讲座,zone,2022,1,,,"]), 422)
    [error] = body["errors"]
    assert (error["type"], error["loc"]) == ("ambiguous", ["indicator"])
    assert "write its code" in error["msg"]
    ok = send_csv(session_client, auth["commission"], [ZH, "talks-a,zone,2022,1,,,"])
    assert ok.status_code == 200, ok.text


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_names_are_resolved_in_bulk_not_row_by_row(
    session_client: TestClient, auth: Tokens, engine: Engine
) -> None:
    def lines(years: range) -> list[str]:
        return [ZH, *(f"法制讲座,平顶山高新技术产业开发区,{y},1,约,," for y in years)]

    # The token's first use this hour is recorded once (an UPDATE): make it before counting.
    send_csv(session_client, auth["clerk-zone"], lines(range(2000, 2001)), "?dry_run=true")
    with statements(engine) as few:
        assert (
            send_csv(
                session_client, auth["clerk-zone"], lines(range(2000, 2003)), "?dry_run=true"
            ).status_code
            == 200
        )
    with statements(engine) as many:
        assert (
            send_csv(
                session_client, auth["clerk-zone"], lines(range(1950, 2010)), "?dry_run=true"
            ).status_code
            == 200
        )
    assert len(many) == len(few)


def test_a_percent_cell_holds_what_it_shows(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    rows: list[list[Any]] = [
        ["indicator", "department", "year", "value"],
        ["deadline-compression", "zone", 2022, 0.78],
        ["deadline-compression", "zone", 2023, 0.785],
        ["deadline-compression", "zone", 2024, 1],
        ["legal-lectures", "zone", 2022, 7],
    ]
    made = book(rows, {"D2": "0%", "D3": "0.0%", "D4": "0%"})
    r = send_xlsx(session_client, auth["clerk-zone"], saved(made))
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == []
    values = [stored(session, "deadline-compression", "zone", y) for y in (2022, 2023, 2024)]
    assert [v.value for v in values if v is not None] == [Decimal(78), Decimal("78.5"), Decimal(100)]
    lectures = stored(session, "legal-lectures", "zone", 2022)
    assert lectures is not None and lectures.value == 7  # a plain number stays what it is


def test_a_workbook_float_is_rounded_to_6_decimals_with_a_warning(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    rows: list[list[Any]] = [
        ["indicator", "department", "year", "value"],
        ["deadline-compression", "zone", 2022, "=200/3"],
        ["deadline-compression", "zone", 2023, 2 / 3],  # stored as 0.6666666666666666
        ["deadline-compression", "zone", 2024, 12.5],
    ]
    body = saved(book(rows), {"200/3": "66.666666666666671"})
    r = send_xlsx(session_client, auth["clerk-zone"], body)
    assert r.status_code == 200, r.text
    stored_values = [stored(session, "deadline-compression", "zone", y) for y in (2022, 2023, 2024)]
    assert [v.value for v in stored_values if v is not None] == [
        Decimal("66.666667"),
        Decimal("0.666667"),
        Decimal("12.5"),
    ]
    warnings = r.json()["warnings"]
    assert [(w["row"], w["indicator"], w["year"], w["loc"], w["type"]) for w in warnings] == [
        (2, "deadline-compression", 2022, ["value"], "rounded"),
        (3, "deadline-compression", 2023, ["value"], "rounded"),
    ]
    assert "66.6666666666666" in warnings[0]["msg"] and "66.666667" in warnings[0]["msg"]


def test_a_formula_without_its_result_is_an_error_saying_so(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    rows: list[list[Any]] = [
        ["indicator", "department", "year", "value"],
        ["legal-lectures", "zone", 2022, "=3+4"],
    ]
    body = problem(send_xlsx(session_client, auth["clerk-zone"], saved(book(rows))), 422)
    [error] = body["errors"]
    assert (error["row"], error["loc"], error["type"]) == (2, ["value"], "formula_without_result")
    assert "formula" in error["msg"] and body["skipped"] == 0
    assert stored(session, "legal-lectures", "zone", 2022) is None


@pytest.mark.parametrize("value", ["66.6666667", "1.0000001"])
def test_csv_values_stay_exact_text_under_the_6_decimal_rule(
    session_client: TestClient, auth: Tokens, value: str
) -> None:
    body = problem(
        send_csv(session_client, auth["clerk-zone"], [ZH, f"deadline-compression,zone,2022,{value},,,"]), 422
    )
    assert "6 digits after" in body["errors"][0]["msg"] and body["warnings"] == []


@pytest.mark.parametrize("year", [-9223372036854775809, 10**30])
def test_an_error_names_a_year_of_any_size(session_client: TestClient, auth: Tokens, year: int) -> None:
    row = {"indicator": "legal-lectures", "department": "zone", "year": year, "value": 1}
    body = problem(session_client.post(URL, json={"observations": [row]}, headers=auth["clerk-zone"]), 422)
    assert body["errors"][0]["year"] == str(year)  # as written, though no JSON number holds it
