"""Batches as files: CSV in UTF-8, with a BOM, in GBK/GB 18030; Chinese headers; .xlsx; bad files."""

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.db.engine import get_engine
from app.core.db.session import get_session
from app.main import create_app
from app.observations.models import Observation, ObservationRevision
from app.transfer.formats import XLSX
from tests.helpers import Tokens, problem, revisions, stored

URL = "/api/v1/observations"
HEADER = "indicator,department,year,value,qualifier,note,source"
LINES = [
    "legal-lectures,zone,2022,7,,七场讲座,报告 2022",
    "deadline-compression,zone,2022,80.5,at_least,,",
    "disputes-mediated,emergency-management,2022,12,,,",
]


def send(
    session_client: TestClient, headers: dict[str, str], body: bytes, media: str, query: str = ""
) -> Any:
    return session_client.post(f"{URL}{query}", content=body, headers={**headers, "content-type": media})


def csv_body(header: str = HEADER, lines: list[str] = LINES, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode(encoding)


def workbook(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def everything(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Observation)) or 0,
        session.scalar(select(func.count()).select_from(ObservationRevision)) or 0,
    )


def created_three(session: Session) -> None:
    lectures = stored(session, "legal-lectures", "zone", 2022)
    assert lectures is not None
    assert (lectures.value, lectures.note, lectures.source) == (Decimal(7), "七场讲座", "报告 2022")
    compression = stored(session, "deadline-compression", "zone", 2022)
    assert compression is not None and compression.value == Decimal("80.5")
    assert compression.qualifier == "at_least" and compression.note is None
    assert len(revisions(session, "disputes-mediated", "emergency-management", 2022)) == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_encoding_offices_write(
    session_client: TestClient, auth: Tokens, session: Session, encoding: str
) -> None:
    r = send(session_client, auth["clerk-zone"], csv_body(encoding=encoding), "text/csv")
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["rejected"]) == (3, 0)
    created_three(session)


def test_csv_with_the_chinese_header_in_gbk(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    body = csv_body("指标,部门,年度,数值,限定,备注,来源", encoding="gbk")
    r = send(session_client, auth["clerk-zone"], body, "text/csv; charset=gbk")
    assert r.status_code == 200, r.text
    created_three(session)


def test_csv_columns_in_any_order_optional_ones_left_out(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    body = csv_body(" Value ,Year,Department,Indicator", ["3,2022,zone,legal-lectures"])
    assert send(session_client, auth["clerk-zone"], body, "text/csv").json()["created"] == 1
    row = stored(session, "legal-lectures", "zone", 2022)
    assert row is not None and (row.value, row.qualifier) == (Decimal(3), "exact")


def test_csv_rows_count_data_lines_and_blank_lines_are_skipped(
    session_client: TestClient, auth: Tokens
) -> None:
    lines = ["legal-lectures,zone,2022,7", "", ",,,", "legal-lectures,zone,2023,seven"]
    body = problem(
        send(
            session_client, auth["clerk-zone"], csv_body("indicator,department,year,value", lines), "text/csv"
        ),
        422,
    )
    assert body["rejected"] == 1
    # the header is row 1, so the fourth data line is row 5; the error names the row as written
    assert body["errors"] == [
        {
            "row": 5,
            "indicator": "legal-lectures",
            "department": "zone",
            "year": 2023,
            "loc": ["value"],
            "msg": "must be a number, got 'seven'",
            "type": "number",
        }
    ]


@pytest.mark.parametrize(
    ("line", "loc", "words"),
    [
        ("legal-lectures,zone,twenty,7", ["year"], "whole number"),
        ("legal-lectures,zone,,7", ["year"], "required"),
        ("legal-lectures,,2022,7", ["department"], "required"),
        ("deadline-compression,zone,2022,120%", ["value"], "must be a number"),
        ("deadline-compression,zone,2022,120", ["value"], "between 0 and 100"),
        ("legal-lectures,zone,2022,7,about", ["qualifier"], "must be one of"),
        ("Legal-Lectures,zone,2022,7", ["indicator"], "unknown indicator"),
    ],
)
def test_csv_row_errors_name_the_field(
    session_client: TestClient, auth: Tokens, line: str, loc: list[str], words: str
) -> None:
    body = csv_body("indicator,department,year,value,qualifier", [line])
    [error] = problem(send(session_client, auth["clerk-zone"], body, "text/csv"), 422)["errors"]
    assert error["row"] == 2 and error["loc"] == loc and words in error["msg"]
    written = line.split(",")
    assert (error["indicator"], error["department"]) == (written[0] or None, written[1] or None)


def test_csv_options_in_the_query(session_client: TestClient, auth: Tokens, session: Session) -> None:
    body = csv_body(lines=[*LINES, "legal-lectures,zone,1800,7,,,"])
    dry = send(session_client, auth["clerk-zone"], body, "text/csv", "?dry_run=true&atomic=false")
    assert dry.status_code == 200, dry.text
    assert (dry.json()["created"], dry.json()["rejected"], dry.json()["dry_run"]) == (3, 1, True)
    assert stored(session, "legal-lectures", "zone", 2022) is None
    real = send(session_client, auth["clerk-zone"], body, "text/csv", "?atomic=false")
    assert (real.json()["created"], real.json()["rejected"]) == (3, 1)
    created_three(session)
    again = send(session_client, auth["clerk-zone"], body, "text/csv", "?atomic=false")
    assert (again.json()["unchanged"], again.json()["rejected"]) == (3, 1)


def test_xlsx_first_sheet(session_client: TestClient, auth: Tokens, session: Session) -> None:
    rows: list[list[Any]] = [
        ["indicator", "department", "year", "value", "qualifier", "note", "source"],
        ["legal-lectures", "zone", 2022, 7, None, "七场讲座", "报告 2022"],
        ["deadline-compression", "zone", 2022.0, 80.5, "at_least", None, None],
        [None, None, None, None, None, None, None],
        ["disputes-mediated", "emergency-management", "2022", "12", None, None, None],
    ]
    r = send(session_client, auth["clerk-zone"], workbook(rows), XLSX)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["rejected"]) == (3, 0)
    created_three(session)


def test_xlsx_with_the_chinese_header_and_errors_by_row(session_client: TestClient, auth: Tokens) -> None:
    rows: list[list[Any]] = [
        ["指标", "部门", "年度", "数值"],
        ["legal-lectures", "zone", 2022, 7],
        ["legal-lectures", "zone", 2023, True],
    ]
    body = problem(send(session_client, auth["clerk-zone"], workbook(rows), XLSX), 422)
    assert [(e["row"], e["loc"], e["year"]) for e in body["errors"]] == [(3, ["value"], 2023)]


@pytest.mark.parametrize(
    ("header", "locs", "words"),
    [
        ("indicator,department,year", [["header", "value"]], "required column 'value'"),
        ("indicator,department,year,value,sorce", [["header", 5]], "unknown column 'sorce'"),
        ("indicator,department,year,value,value", [["header", 5]], "appears twice"),
    ],
)
def test_a_header_without_the_columns_is_422(
    session_client: TestClient, auth: Tokens, session: Session, header: str, locs: list[Any], words: str
) -> None:
    before = everything(session)
    body = problem(
        send(
            session_client, auth["clerk-zone"], csv_body(header, ["legal-lectures,zone,2022,7"]), "text/csv"
        ),
        422,
    )
    assert [e["loc"] for e in body["errors"]] == locs
    assert words in body["errors"][0]["msg"]
    assert everything(session) == before


def test_header_only_is_an_empty_batch_and_an_empty_file_is_422(
    session_client: TestClient, auth: Tokens
) -> None:
    r = send(session_client, auth["clerk-zone"], HEADER.encode(), "text/csv")
    assert r.status_code == 200 and r.json()["created"] == 0
    assert "header" in problem(send(session_client, auth["clerk-zone"], b"", "text/csv"), 422)["detail"]


ZIP = workbook([["indicator", "department", "year", "value"], ["legal-lectures", "zone", 2022, 7]])
BAD_BODIES: list[tuple[bytes, str, int, str]] = [
    (csv_body(), "text/plain", 415, "not text/plain"),
    (csv_body(), "application/xml", 415, "not application/xml"),
    (ZIP, "text/csv", 415, "zip file"),
    (csv_body(), XLSX, 415, "not a zip file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, XLSX, 415, ".xls"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "text/csv", 415, ".xls"),
    (b'{"observations": []}', "text/csv", 415, "JSON"),
    (ZIP[:200], XLSX, 422, "cannot be read"),
    (b"PK\x03\x04" + b"garbage" * 50, XLSX, 422, "cannot be read"),
    (csv_body() + b"\0\0", "text/csv", 415, "NUL"),
    (csv_body() + b"\xff\xff\xff", "text/csv", 422, "neither UTF-8 nor GB 18030"),
    (csv_body(), "application/json", 422, "not valid JSON"),
]


@pytest.mark.parametrize(("body", "media", "status", "words"), BAD_BODIES, ids=[b[3] for b in BAD_BODIES])
def test_a_file_that_is_not_what_it_says_or_broken_writes_nothing(
    session_client: TestClient,
    auth: Tokens,
    session: Session,
    body: bytes,
    media: str,
    status: int,
    words: str,
) -> None:
    before = everything(session)
    assert words in problem(send(session_client, auth["clerk-zone"], body, media), status)["detail"]
    assert everything(session) == before


def test_no_content_type_is_415(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.post(URL, content=csv_body(), headers={**auth["clerk-zone"], "content-type": ""})
    problem(r, 415)


@pytest.fixture
def small_upload_app(monkeypatch: pytest.MonkeyPatch, session: Session, engine: Engine) -> FastAPI:
    """The app as built with INDICATORS_MAX_UPLOAD_MB=0.01 (10 KiB)."""
    monkeypatch.setenv("INDICATORS_MAX_UPLOAD_MB", "0.01")
    get_settings.cache_clear()
    app = create_app()
    get_settings.cache_clear()

    def use_test_session() -> Iterator[Session]:
        yield session
        session.commit()

    app.dependency_overrides[get_session] = use_test_session
    app.dependency_overrides[get_engine] = lambda: engine
    return app


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_upload_limit_is_413(
    small_upload_app: FastAPI, auth: Tokens, session: Session, chunked: bool
) -> None:
    lines = [f"legal-lectures,zone,{1900 + i % 200},{i}" for i in range(1000)]
    body = csv_body("indicator,department,year,value", lines)
    assert len(body) > 10 * 1024
    before = everything(session)
    with TestClient(small_upload_app, raise_server_exceptions=False) as session_client:
        content: Any = iter([body[:5000], body[5000:]]) if chunked else body
        r = session_client.post(
            URL, content=content, headers={**auth["clerk-zone"], "content-type": "text/csv"}
        )
        assert "larger than" in problem(r, 413)["detail"]
        small = send(session_client, auth["clerk-zone"], csv_body(lines=LINES[:1]), "text/csv")
        assert small.status_code == 200, small.text
    assert everything(session)[0] == before[0] + 1
