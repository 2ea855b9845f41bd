"""Any text the API accepts in a field comes back unchanged from every format that carries it, and
any text it refuses is a 422 naming the field, with nothing written (a property test: Hypothesis).

The formats are lists of exporters, one line each: a new format that carries a field is one more
line in its list (SDMX's COMMENT and DHIS2's comment go in OBSERVATION_EXPORTERS).

TEXT_EXAMPLES examples a field (8 here, and the hard cases of KEY; `make fuzz` runs FUZZ_EXAMPLES, 500).
"""

import csv
import io
import itertools
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from app.core.text import has_control
from tests.helpers import Tokens, bom_stripped

EXAMPLES = int(os.environ.get("TEXT_EXAMPLES", os.environ.get("FUZZ_EXAMPLES", "8")))
INDICATOR, DEPARTMENT, YEAR = "text-prop", "zone", 2020
CELL = f"/api/v1/observations/{INDICATOR}/{DEPARTMENT}/{YEAR}"

# What a field is read back as, in one format: (client, headers, column) -> the text, None for none.
Exporter = Callable[[TestClient, dict[str, str], str], str | None]


def _csv_row(response: httpx.Response, key: str, value: str) -> dict[str, str]:
    assert response.status_code == 200, response.text
    rows = csv.DictReader(io.StringIO(bom_stripped(response), newline=""))
    return next(row for row in rows if row[key] == value)


def _sheet_row(response: httpx.Response, key: str, value: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    header, *rows = sheet.iter_rows(values_only=True)
    names = [str(name) for name in header]
    return next(dict(zip(names, row, strict=False)) for row in rows if row[names.index(key)] == value)


# Observations: note, source.
def observation_json(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get(CELL, headers=h)
    assert r.status_code == 200, r.text
    value: str | None = r.json()[column]
    return value


def observation_csv(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get("/api/v1/observations", params={"indicator": INDICATOR, "format": "csv"}, headers=h)
    return _csv_row(r, "year", str(YEAR))[column]


def observation_xlsx(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get("/api/v1/observations", params={"indicator": INDICATOR, "format": "xlsx"}, headers=h)
    value: str | None = _sheet_row(r, "indicator", INDICATOR)[column]
    return value


# Indicators: name, name_en, unit, description.
def indicator_json(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get(f"/api/v1/indicators/{INDICATOR}", headers=h)
    assert r.status_code == 200, r.text
    value: str | None = r.json()[column]
    return value


def indicator_csv(c: TestClient, h: dict[str, str], column: str) -> str | None:
    return _csv_row(c.get("/api/v1/indicators?format=csv", headers=h), "code", INDICATOR)[column]


def indicator_xlsx(c: TestClient, h: dict[str, str], column: str) -> str | None:
    value: str | None = _sheet_row(c.get("/api/v1/indicators?format=xlsx", headers=h), "code", INDICATOR)[
        column
    ]
    return value


def template(c: TestClient, h: dict[str, str], column: str) -> str | None:
    """The department's template of the year after the figure: the indicator's name and unit beside
    each row (in English, name_en where there is one)."""
    lang, shown = {"name": ("zh", "指标名称"), "unit": ("zh", "单位"), "name_en": ("en", "indicator_name")}[
        column
    ]
    r = c.get(f"/api/v1/templates/{DEPARTMENT}.xlsx", params={"year": YEAR + 1, "lang": lang}, headers=h)
    code_column = "指标" if lang == "zh" else "indicator"
    value: str | None = _sheet_row(r, code_column, INDICATOR)[shown]
    return value


# Departments: name, name_en.
def department_json(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get(f"/api/v1/departments/{DEPARTMENT}", headers=h)
    assert r.status_code == 200, r.text
    value: str | None = r.json()[column]
    return value


def department_csv(c: TestClient, h: dict[str, str], column: str) -> str | None:
    return _csv_row(c.get("/api/v1/departments?format=csv", headers=h), "code", DEPARTMENT)[column]


def department_xlsx(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get("/api/v1/departments?format=xlsx", headers=h)
    value: str | None = _sheet_row(r, "code", DEPARTMENT)[column]
    return value


# Targets: note, source.
TARGET = f"/api/v1/targets/{INDICATOR}/{DEPARTMENT}/{YEAR}"


def target_json(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get(TARGET, headers=h)
    assert r.status_code == 200, r.text
    value: str | None = r.json()[column]
    return value


def target_csv(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get("/api/v1/targets", params={"indicator": INDICATOR, "format": "csv"}, headers=h)
    return _csv_row(r, "year", str(YEAR))[column]


def target_xlsx(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get("/api/v1/targets", params={"indicator": INDICATOR, "format": "xlsx"}, headers=h)
    value: str | None = _sheet_row(r, "indicator", INDICATOR)[column]
    return value


# A figure's history: the reason of its latest version.
def history_json(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get(f"{CELL}/history", params={"limit": 1000}, headers=h)
    assert r.status_code == 200, r.text
    value: str | None = r.json()["items"][-1][column]
    return value


def history_csv(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get(f"{CELL}/history", params={"format": "csv"}, headers=h)
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(bom_stripped(r), newline="")))
    return rows[-1][column]


def history_xlsx(c: TestClient, h: dict[str, str], column: str) -> str | None:
    r = c.get(f"{CELL}/history", params={"format": "xlsx"}, headers=h)
    assert r.status_code == 200, r.text
    header, *rows = load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True)
    value: str | None = rows[-1][[str(name) for name in header].index(column)]  # type: ignore[assignment]
    return value


# The exchange formats carry a figure's note only: SDMX's COMMENT, DHIS2's comment.
def sdmx_csv(c: TestClient, h: dict[str, str], column: str) -> str | None:
    assert column == "note"
    r = c.get("/api/v1/exchange/sdmx", params={"indicator": INDICATOR}, headers=h)
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8"), newline="")))
    (row,) = [row for row in rows if row["DEPARTMENT"] == DEPARTMENT and row["TIME_PERIOD"] == str(YEAR)]
    return row["COMMENT"]


def dhis2_json(c: TestClient, h: dict[str, str], column: str) -> str | None:
    assert column == "note"
    r = c.get("/api/v1/exchange/dhis2/dataValueSets", params={"dataElement": INDICATOR}, headers=h)
    assert r.status_code == 200, r.text
    (value,) = [v for v in r.json()["dataValues"] if v["orgUnit"] == DEPARTMENT and v["period"] == str(YEAR)]
    comment: str | None = value.get("comment")
    return comment


def dhis2_csv(c: TestClient, h: dict[str, str], column: str) -> str | None:
    assert column == "note"
    params = {"dataElement": INDICATOR, "format": "csv"}
    r = c.get("/api/v1/exchange/dhis2/dataValueSets", params=params, headers=h)
    assert r.status_code == 200, r.text
    rows = list(
        csv.DictReader(io.StringIO(r.content.decode("utf-8"), newline=""))
    )  # a machine format: no BOM
    (row,) = [row for row in rows if row["orgunit"] == DEPARTMENT and row["period"] == str(YEAR)]
    return row["comment"]


OBSERVATION_EXPORTERS: list[Exporter] = [observation_json, observation_csv, observation_xlsx]
NOTE_EXPORTERS: list[Exporter] = [*OBSERVATION_EXPORTERS, sdmx_csv, dhis2_json, dhis2_csv]
INDICATOR_EXPORTERS: list[Exporter] = [indicator_json, indicator_csv, indicator_xlsx]
DEPARTMENT_EXPORTERS: list[Exporter] = [department_json, department_csv, department_xlsx]
TARGET_EXPORTERS: list[Exporter] = [target_json, target_csv, target_xlsx]
HISTORY_EXPORTERS: list[Exporter] = [history_json, history_csv, history_xlsx]


@dataclass(frozen=True)
class TextField:
    column: str
    max_length: int
    min_length: int
    write: Callable[[TestClient, Tokens, str], httpx.Response]
    exporters: list[Exporter]

    def __str__(self) -> str:
        return f"{self.write.__name__}.{self.column}"


def _put_figure(column: str) -> Callable[[TestClient, Tokens, str], httpx.Response]:
    def figure(c: TestClient, auth: Tokens, text: str) -> httpx.Response:
        body = {"value": 1, "note": "n", "source": "s", column: text}
        response: httpx.Response = c.put(CELL, json=body, headers=auth["commission"])
        return response

    return figure


def _put_target(column: str) -> Callable[[TestClient, Tokens, str], httpx.Response]:
    def target(c: TestClient, auth: Tokens, text: str) -> httpx.Response:
        body = {"operator": "at_least", "value": 1, "note": "n", "source": "s", column: text}
        response: httpx.Response = c.put(TARGET, json=body, headers=auth["commission"])
        return response

    return target


_VERSIONS = itertools.count()


def _reason(c: TestClient, auth: Tokens, text: str) -> httpx.Response:
    response: httpx.Response = c.patch(
        CELL,
        json={"note": f"版本 {next(_VERSIONS)}", "reason": text},  # a new version each time
        headers={**auth["commission"], "content-type": "application/merge-patch+json"},
    )
    return response


def _patch(path: str, column: str) -> Callable[[TestClient, Tokens, str], httpx.Response]:
    def patch(c: TestClient, auth: Tokens, text: str) -> httpx.Response:
        response: httpx.Response = c.patch(path, json={column: text}, headers=auth["admin"])
        return response

    patch.__name__ = path.rsplit("/", 2)[-2]
    return patch


FIELDS = [
    TextField("note", 2000, 0, _put_figure("note"), NOTE_EXPORTERS),
    TextField("source", 500, 0, _put_figure("source"), OBSERVATION_EXPORTERS),
    TextField(
        "name", 200, 1, _patch(f"/api/v1/indicators/{INDICATOR}", "name"), [*INDICATOR_EXPORTERS, template]
    ),
    TextField(
        "name_en",
        200,
        0,
        _patch(f"/api/v1/indicators/{INDICATOR}", "name_en"),
        [*INDICATOR_EXPORTERS, template],
    ),
    TextField(
        "unit", 32, 0, _patch(f"/api/v1/indicators/{INDICATOR}", "unit"), [*INDICATOR_EXPORTERS, template]
    ),
    TextField(
        "description", 4000, 0, _patch(f"/api/v1/indicators/{INDICATOR}", "description"), INDICATOR_EXPORTERS
    ),
    TextField("note", 2000, 0, _put_target("note"), TARGET_EXPORTERS),
    TextField("source", 500, 0, _put_target("source"), TARGET_EXPORTERS),
    TextField("reason", 500, 0, _reason, HISTORY_EXPORTERS),
    TextField("name", 200, 1, _patch(f"/api/v1/departments/{DEPARTMENT}", "name"), DEPARTMENT_EXPORTERS),
    TextField(
        "name_en", 200, 0, _patch(f"/api/v1/departments/{DEPARTMENT}", "name_en"), DEPARTMENT_EXPORTERS
    ),
]

# What spreadsheets and CSV make hard: formulas, line breaks of each kind, quotes, separators, spaces
# at the ends, numbers and dates as text, Chinese, emoji, and the control characters refused.
TRICKY = [
    "=1+1",
    '=HYPERLINK("http://x")',
    "+86 10",
    "-5",
    "@sum",
    "'quoted",
    "a\r\nb",
    "a\rb",
    "a\nb",
    "\tlead",
    "trail ",
    " ",
    "",
    '"',
    'say "hi", ok',
    "a,b;c",
    "0012",
    "1e5",
    "2021-01-01",
    "TRUE",
    "null",
    "≥ 75",
    "达到75%以上",
    "𠀀𝄞😀",
    "\u200b",
    "\ufeffbom",
    "a\x00b",
    "bell\x07",
    "\x1b[31m",
    "\x7f",
    "\x85next",
    "\ufffd",
]
# Run in every run, beside the generated examples.
KEY = ["a\r\nb", "x\ry", "=1+1", "bell\x07", "trail ", ""]
TEXTS = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=300),
)


def _accepted(field: TextField, text: str) -> bool:
    return not has_control(text) and field.min_length <= len(text) <= field.max_length


@pytest.fixture
def text_cell(session_client: TestClient, auth: Tokens) -> None:
    """An indicator of its own, assigned to the zone, with one figure and one target."""
    body = {"code": INDICATOR, "name": "文本", "value_type": "amount"}
    assert session_client.post("/api/v1/indicators", json=body, headers=auth["admin"]).status_code == 201
    assignment = {"from_year": YEAR}
    r = session_client.put(
        f"/api/v1/assignments/{INDICATOR}/{DEPARTMENT}", json=assignment, headers=auth["admin"]
    )
    assert r.status_code == 201, r.text
    assert session_client.put(CELL, json={"value": 1}, headers=auth["commission"]).status_code == 201
    target = {"operator": "at_least", "value": 1}
    assert session_client.put(TARGET, json=target, headers=auth["commission"]).status_code == 201


@pytest.mark.parametrize("field", FIELDS, ids=str)
def test_text_comes_back_unchanged_from_every_format_or_is_refused_naming_its_field(
    session_client: TestClient, auth: Tokens, text_cell: None, field: TextField
) -> None:
    viewer = auth["viewer"]

    @given(text=TEXTS)
    @example(text=KEY[0])
    @example(text=KEY[1])
    @example(text=KEY[2])
    @example(text=KEY[3])
    @example(text=KEY[4])
    @example(text=KEY[5])
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize="FUZZ_EXAMPLES" not in os.environ,
    )
    def round_trip(text: str) -> None:
        tried[_accepted(field, text)] += 1
        before = [export(session_client, viewer, field.column) for export in field.exporters]
        r = field.write(session_client, auth, text)
        assert r.status_code < 500, r.text
        if not _accepted(field, text):
            assert r.status_code == 422, (text, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert [e["loc"][-1] for e in r.json()["errors"]] == [field.column], r.text
            after = [export(session_client, viewer, field.column) for export in field.exporters]
            assert after == before, "a refused write changed what is stored"
            return
        assert r.status_code in (200, 201), (text, r.text)
        for export in field.exporters:
            if export is template and field.column == "name_en" and not text:
                continue  # an English template shows the Chinese name where there is no English one
            got = export(session_client, viewer, field.column)
            # CSV and a workbook have no null: an empty cell is both "" and none.
            assert (got or "") == text, (export.__name__, text, got)

    tried: Counter[bool] = Counter()
    round_trip()
    print(f"\n{field}: {tried[True]} texts accepted and read back, {tried[False]} refused naming the field")
