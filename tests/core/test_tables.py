"""Every list and report as a file (app.core.tables): `?format=csv` or `Accept: text/csv` gives UTF-8
CSV with a BOM, `?format=xlsx` a workbook; the header is the JSON field names (nested objects
flattened with a prefix), the rows are every matching item (unpaged) with the same filters, and the
files say what the JSON says. Read back with the csv module and openpyxl, compared with the JSON."""

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.tables import columns, csv_cell, flat_rows
from app.core.text import has_control
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import ObservationRevision
from app.targets.models import Target, TargetRevision
from tests.helpers import Tokens, bom_stripped, problem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OBS_CELL = "/api/v1/observations/disputes-mediated/zone/2021"
TARGET_CELL = "/api/v1/targets/disputes-mediated/zone/2021"

Rows = Callable[[dict[str, Any]], list[dict[str, Any]]]


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["items"])


def _points(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**{k: v for k, v in s.items() if k != "points"}, **p} for s in body["series"] for p in s["points"]
    ]


# name: (path and query, the rows of its JSON answer, whether the JSON comes in pages)
ROUTES: dict[str, tuple[str, Rows, bool]] = {
    "departments": ("/api/v1/departments", _items, True),
    "indicators": ("/api/v1/indicators?section=functions", _items, True),
    "targets": ("/api/v1/targets?year=2021&department=zone", _items, True),
    "observation history": (f"{OBS_CELL}/history", _items, True),
    "target history": (f"{TARGET_CELL}/history", _items, True),
    "series": ("/api/v1/series?indicator=disputes-mediated&indicator=free-seals", _points, False),
    "comparison": (
        "/api/v1/comparison?indicator=business-environment-rank&year=2021&base_year=2020",
        lambda body: list(body["rows"]),
        False,
    ),
    "compliance": ("/api/v1/compliance?year=2021&lang=en", _items, True),
    "compliance trend": (
        "/api/v1/compliance?year_from=2020&year_to=2021",
        lambda body: list(body["years"]),
        False,
    ),
}


@pytest.fixture
def history(session_client: TestClient, auth: Tokens, reopened_2021: None) -> None:
    """Versions in the histories of one figure and one target (the seed has one of each)."""
    for value, note in ((250, "第一次更正"), (251, None)):
        body = {"value": value, "note": note}
        r = session_client.put(OBS_CELL, json=body, headers=auth["commission"])
        assert r.status_code in (200, 201), r.text
    for value in (240, 245):
        body = {"operator": "at_least", "value": value, "note": "目标"}
        r = session_client.put(TARGET_CELL, json=body, headers=auth["commission"])
        assert r.status_code in (200, 201), r.text


def _flat(item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON item as the files have it: nested objects' fields prefixed, lists joined with ';'."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}_"))
        elif isinstance(value, list):
            out[prefix + key] = ";".join(map(str, value))
        else:
            out[prefix + key] = value
    return out


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _same_cell(cell: Any, value: Any) -> bool:
    """An xlsx cell against a JSON value: numbers as numbers, exactly; text as text."""
    if value is None or isinstance(value, bool | str):
        return cell == value and type(cell) is type(value)
    return isinstance(cell, int | float) and not isinstance(cell, bool) and Decimal(repr(cell)) == value


def _json_rows(client: TestClient, auth: Tokens, path: str, rows: Rows) -> list[dict[str, Any]]:
    r = client.get(_with(path, "limit=1000" if _paged(path) else ""), headers=auth["viewer"])
    assert r.status_code == 200, r.text
    return [_flat(row) for row in rows(r.json(parse_float=Decimal))]


def _with(path: str, query: str) -> str:
    if not query:
        return path
    return f"{path}{'&' if '?' in path else '?'}{query}"


def _paged(path: str) -> bool:
    return next(paged for p, _, paged in ROUTES.values() if p == path)


def _file(client: TestClient, auth: Tokens, path: str, fmt: str, *, accept: bool = False) -> httpx.Response:
    """The file of a route; for a paged list with limit=2, which a file ignores."""
    limit = "limit=2" if _paged(path) else ""
    r: httpx.Response
    if accept:  # the header alone, no format parameter
        r = client.get(_with(path, limit), headers={**auth["viewer"], "Accept": "text/csv"})
    else:
        r = client.get(_with(_with(path, f"format={fmt}"), limit), headers=auth["viewer"])
    assert r.status_code == 200, r.text
    return r


def read_csv(response: httpx.Response) -> list[list[str]]:
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(bom_stripped(response), newline="")))


def read_xlsx(response: httpx.Response) -> list[list[Any]]:
    assert response.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


@pytest.mark.parametrize("name", list(ROUTES))
def test_csv_says_what_the_json_says(
    session_client: TestClient, auth: Tokens, history: None, name: str
) -> None:
    path, rows, paged = ROUTES[name]
    expected = _json_rows(session_client, auth, path, rows)
    assert expected, "the route must have rows to compare"
    if paged and len(expected) > 2:
        first = session_client.get(_with(path, "limit=2"), headers=auth["viewer"])
        assert first.json()["next_cursor"] is not None  # so the files below are unpaged
    for accept in (False, True):
        header, *lines = read_csv(_file(session_client, auth, path, "csv", accept=accept))
        assert header == list(expected[0])
        assert [dict(zip(header, line, strict=True)) for line in lines] == [
            {k: _csv_text(v) for k, v in row.items()} for row in expected
        ]


@pytest.mark.parametrize("name", list(ROUTES))
def test_xlsx_says_what_the_json_says(
    session_client: TestClient, auth: Tokens, history: None, name: str
) -> None:
    path, rows, _ = ROUTES[name]
    expected = _json_rows(session_client, auth, path, rows)
    r = _file(session_client, auth, path, "xlsx")
    assert r.headers["content-disposition"].endswith('.xlsx"')
    header, *lines = read_xlsx(r)
    assert header == list(expected[0])
    assert len(lines) == len(expected)
    for line, row in zip(lines, expected, strict=True):
        for column, cell in zip(header, line, strict=True):
            assert _same_cell(cell, row[column]), (column, cell, row[column])


def test_headers_flatten_and_name_the_json_fields(session_client: TestClient, auth: Tokens) -> None:
    expected = {
        "/api/v1/compliance?year=2021": [
            "indicator", "department", "year", "target_operator", "target_value", "target_upper",
            "actual", "qualifier", "status", "gap", "reason",
        ],
        "/api/v1/series?indicator=free-seals": [
            "indicator", "department", "unit", "indicator_name", "department_name",
            "year", "value", "qualifier",
        ],
        "/api/v1/departments": ["code", "name", "name_en", "parent"],
        "/api/v1/compliance?year_from=2021&year_to=2021": [
            "year", "targets", "met", "not_met", "indeterminate", "no_data", "rate", "reported_rate",
        ],
    }  # fmt: skip
    for path, header in expected.items():
        r = session_client.get(path, headers={**auth["viewer"], "Accept": "text/csv"})
        assert read_csv(r)[0] == header


def test_files_keep_the_filters(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get("/api/v1/targets?format=csv&department=urban-management", headers=auth["viewer"])
    assert {line[1] for line in read_csv(r)[1:]} == {"urban-management"}
    r = session_client.get("/api/v1/compliance?year=2021&status=no_data&format=xlsx", headers=auth["viewer"])
    assert [line[8] for line in read_xlsx(r)[1:]] == ["no_data"] * 3
    r = session_client.get("/api/v1/indicators?q=seal&format=csv", headers=auth["viewer"])
    header, *lines = read_csv(r)
    codes = sorted(line[header.index("code")] for line in lines)
    assert codes == ["free-seals", "new-firms-sealed", "seals-per-new-firm"]  # the last one derived


def test_the_observations_export_starts_with_a_bom(session_client: TestClient, auth: Tokens) -> None:
    for headers, query in (({"Accept": "text/csv"}, ""), ({}, "&format=csv")):
        r = session_client.get(
            f"/api/v1/observations?department=zone{query}", headers={**auth["viewer"], **headers}
        )
        assert r.status_code == 200, r.text
        rows = read_csv(r)
        assert rows[0] == ["indicator", "department", "year", "value", "qualifier", "note", "source"]
        assert rows[[line[0] for line in rows].index("free-seals")][:5] == [
            "free-seals",
            "zone",
            "2021",
            "1584",
            "exact",
        ]


@pytest.mark.parametrize("name", [*ROUTES, "observations"])
def test_an_unknown_format_is_406(session_client: TestClient, auth: Tokens, name: str) -> None:
    path = ROUTES[name][0] if name in ROUTES else "/api/v1/observations"
    r = session_client.get(_with(path, "format=pdf"), headers=auth["viewer"])
    assert "'pdf'" in problem(r, 406)["detail"]


FILE_PATHS = [
    "/api/v1/departments",
    "/api/v1/indicators",
    "/api/v1/targets",
    "/api/v1/observations",
    "/api/v1/observations/{indicator}/{department}/{year}/history",
    "/api/v1/targets/{indicator}/{department}/{year}/history",
    "/api/v1/series",
    "/api/v1/comparison",
    "/api/v1/compliance",
]


def test_the_openapi_lists_the_formats(session_client: TestClient) -> None:
    paths = session_client.get("/openapi.json").json()["paths"]
    for path in FILE_PATHS:
        get = paths[path]["get"]
        assert {"application/json", "text/csv", XLSX} <= set(get["responses"]["200"]["content"]), path
        (param,) = [p for p in get["parameters"] if p["name"] == "format"]
        assert param["in"] == "query"
        assert param["schema"]["enum"] == ["json", "csv", "xlsx"], path


@pytest.fixture
def controlled(session: Session, history: None) -> None:
    """Names and notes stored with control characters, below the API (which refuses them now)."""
    session.execute(update(Department).where(Department.code == "zone").values(name="高新\x07区"))
    session.execute(update(Indicator).where(Indicator.code == "free-seals").values(name="印章\x1b数"))
    session.execute(update(Target).values(note="备\x01注"))
    session.execute(update(TargetRevision).values(note="备\x01注"))
    session.execute(update(ObservationRevision).values(note="说\x0b明"))
    session.commit()


CONTROLLED = {
    "/api/v1/departments": "高新\ufffd区",
    "/api/v1/indicators?section=functions": "印章\ufffd数",
    "/api/v1/targets?year=2021": "备\ufffd注",
    f"{TARGET_CELL}/history": "备\ufffd注",
    f"{OBS_CELL}/history": "说\ufffd明",
    "/api/v1/series?indicator=free-seals": "印章\ufffd数",
    "/api/v1/series?indicator=free-seals&department=zone": "高新\ufffd区",
}


@pytest.mark.parametrize("path", list(CONTROLLED))
def test_stored_control_characters_come_out_as_replacement_characters(
    session_client: TestClient, auth: Tokens, controlled: None, path: str
) -> None:
    text = CONTROLLED[path]
    r = session_client.get(_with(path, "format=csv"), headers=auth["viewer"])
    assert r.status_code == 200, r.text
    cells = [cell for line in read_csv(r) for cell in line]
    assert text in cells
    r = session_client.get(_with(path, "format=xlsx"), headers=auth["viewer"])
    assert r.status_code == 200, r.text
    cells = [cell for line in read_xlsx(r) for cell in line]
    assert text in cells
    assert not any(isinstance(c, str) and has_control(c) for c in cells)


def test_nested_objects_are_prefixed_and_lists_joined() -> None:
    class Inner(BaseModel):
        operator: str
        upper: Decimal | None

    class Outer(BaseModel):
        code: str
        target: Inner
        maybe: Inner | None
        tags: list[str]
        when: dt.datetime

    assert columns(Outer) == (
        "code", "target_operator", "target_upper", "maybe_operator", "maybe_upper", "tags", "when"
    )  # fmt: skip
    item = Outer(
        code="a",
        target=Inner(operator="at_least", upper=None),
        maybe=None,
        tags=["x", "y\x07"],
        when=dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC),
    )
    (row,) = flat_rows(Outer, [item])
    assert row[:6] == ["a", "at_least", None, None, None, "x;y\ufffd"]
    assert csv_cell(row[6]) == "2026-12-05T09:30:00Z"
