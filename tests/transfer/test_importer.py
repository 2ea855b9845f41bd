"""`indicators import FILE`: the same batches, streamed from disk straight into the database."""

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import get_settings
from app.core.db import engine as database
from app.core.db import migrate
from app.core.db import session as session_module
from app.observations.models import Observation, ObservationRevision
from app.transfer import importer
from seed.loader import load
from tests.databases import fresh_database, url_of
from tests.helpers import Tokens, revisions, stored

runner = CliRunner()


def _clear_caches() -> None:
    get_settings.cache_clear()
    database.get_engine.cache_clear()
    session_module.sessionmaker_for_requests.cache_clear()


@pytest.fixture(scope="module")
def cli_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated, seeded database for this module's tests, each writing cells of its own."""
    with fresh_database(backend, tmp_path_factory.mktemp(f"cli-{backend}")) as engine:
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            load(session)
        yield engine


@pytest.fixture
def db(cli_database: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The database the command line writes to (INDICATORS_DATABASE_URL)."""
    monkeypatch.setenv("INDICATORS_DATABASE_URL", url_of(cli_database))
    _clear_caches()
    yield cli_database
    database.get_engine().dispose()
    _clear_caches()


def run(*args: str) -> tuple[int, Any]:
    result = runner.invoke(cli, ["import", *args])
    out = result.stdout.strip()
    return result.exit_code, json.loads(out) if out.startswith("{") else result.output


def totals(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Observation)) or 0,
            session.scalar(select(func.count()).select_from(ObservationRevision)) or 0,
        )


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def good(indicator: str) -> list[str]:
    """Ten new figures of one indicator for the zone, 2000-2009 (each test takes its own indicator)."""
    return [f"{indicator},zone,{year},{year - 1990},,第{year}年," for year in range(2000, 2010)]


GOOD = good("legal-lectures")


def test_import_a_gbk_csv_with_the_chinese_header(db: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "figures.csv", ["指标,部门,年度,数值,限定,备注,来源", *GOOD], "gbk")
    code, summary = run(str(path), "--as", "clerk-li")
    assert code == 0, summary
    assert summary == {
        "created": 10,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 0,
        "dry_run": False,
        "errors": [],
        "error_count": 0,
        "warnings": [],
    }
    with Session(db) as session:
        row = stored(session, "legal-lectures", "zone", 2005)
        assert row is not None and (row.value, row.note, row.updated_by) == (
            Decimal(15),
            "第2005年",
            "clerk-li",
        )
        [version] = revisions(session, "legal-lectures", "zone", 2005)
        assert (version.action, version.changed_by) == ("create", "clerk-li")
    assert run(str(path))[1]["unchanged"] == 10


def test_an_atomic_import_with_a_bad_row_in_a_later_chunk_writes_nothing(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 3)  # chunks are written as they come: this one must not stay
    lines = [
        "indicator,department,year,value",
        *[line.split(",,")[0] for line in good("legal-consultations")],
        "legal-consultations,zone,2010,-5",
    ]
    path = write_csv(tmp_path / "figures.csv", lines)
    before = totals(db)
    code, summary = run(str(path))
    assert code == 1
    # the bad row is the twelfth line: the header is row 1
    assert (summary["created"], summary["rejected"], summary["errors"][0]["row"]) == (0, 1, 12)
    assert totals(db) == before
    code, summary = run(str(path), "--no-atomic")
    assert (code, summary["created"], summary["rejected"]) == (1, 10, 1)
    assert totals(db) == (before[0] + 10, before[1] + 10)


def test_duplicates_are_found_across_chunks(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 4)
    lines = [
        "indicator,department,year,value",
        *[g.split(",,")[0] for g in good("legal-opinions")],
        "legal-opinions,zone,2001,1",
    ]
    code, summary = run(str(write_csv(tmp_path / "d.csv", lines)), "--no-atomic")
    assert code == 1 and summary["created"] == 10
    assert summary["errors"][0]["type"] == "duplicate" and "row 3" in summary["errors"][0]["msg"]


def test_a_dry_run_writes_nothing(db: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "figures.csv",
        ["indicator,department,year,value,qualifier,note,source", *good("training-sessions")],
    )
    before = totals(db)
    code, summary = run(str(path), "--dry-run")
    assert (code, summary["created"], summary["dry_run"]) == (0, 10, True)
    assert totals(db) == before


def test_import_a_workbook_and_a_json_batch(db: Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["indicator", "department", "year", "value"])
    sheet.append(["disputes-mediated", "urban-management", 2022, 40])
    book.save(tmp_path / "figures.xlsx")
    assert run(str(tmp_path / "figures.xlsx"))[1]["created"] == 1
    document = {
        "observations": [{"indicator": "disputes-mediated", "department": "zone", "year": 2022, "value": 3}]
    }
    (tmp_path / "figures.json").write_text(json.dumps(document))
    assert run(str(tmp_path / "figures.json"))[1]["created"] == 1
    with Session(db) as session:
        assert stored(session, "disputes-mediated", "urban-management", 2022) is not None
        assert stored(session, "disputes-mediated", "zone", 2022) is not None


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("figures.csv", b"foo,bar\n1,2\n", "unknown column 'foo'"),
        ("figures.pdf", b"%PDF", "ends in .csv, .xlsx or .json"),
        ("figures.xlsx", b"indicator,department,year,value\n", "not a zip file"),
        ("figures.csv", b"indicator,department,year,value\n\xff\xff\xff\n", "neither UTF-8 nor GB 18030"),
    ],
)
def test_a_file_that_cannot_be_read_exits_2(
    db: Engine, tmp_path: Path, name: str, content: bytes, words: str
) -> None:
    (tmp_path / name).write_bytes(content)
    before = totals(db)
    result = runner.invoke(cli, ["import", str(tmp_path / name)])
    assert result.exit_code == 2
    assert words in result.output
    assert totals(db) == before


# One rule for a batch's options, over HTTP and on the command line alike: a dry run asked for by the
# options or by the JSON body is a dry run, and the body's own `atomic`, where it says one, wins.
OPTION_CASES = [
    # a year of its own; body's dry_run, body's atomic; option dry_run, option atomic -> dry run, atomic
    pytest.param(1950, False, None, True, True, True, True, id="the option's dry run wins over the body's"),
    pytest.param(1951, True, None, False, True, True, True, id="the body's dry run wins over the option's"),
    pytest.param(1952, None, False, False, True, False, False, id="the body's atomic false wins"),
    pytest.param(1953, None, True, False, False, False, True, id="the body's atomic true wins"),
]


@pytest.mark.parametrize(
    ("year", "body_dry_run", "body_atomic", "dry_run", "atomic", "expect_dry_run", "expect_atomic"),
    OPTION_CASES,
)
def test_http_and_the_command_line_combine_a_batch_s_options_by_one_rule(
    db: Engine,
    session_client: TestClient,
    auth: Tokens,
    session: Session,
    tmp_path: Path,
    year: int,
    body_dry_run: bool | None,
    body_atomic: bool | None,
    dry_run: bool,
    atomic: bool,
    expect_dry_run: bool,
    expect_atomic: bool,
) -> None:
    document: dict[str, Any] = {
        "observations": [
            {"indicator": "legal-lectures", "department": "zone", "year": year, "value": 5},
            {"indicator": "legal-lectures", "department": "zone", "year": year + 20, "value": -1},
        ]
    }
    if body_dry_run is not None:
        document["dry_run"] = body_dry_run
    if body_atomic is not None:
        document["atomic"] = body_atomic
    written = not expect_dry_run and not expect_atomic  # the good row lands only then

    query = f"?dry_run={str(dry_run).lower()}&atomic={str(atomic).lower()}"
    answer = session_client.post(f"/api/v1/observations{query}", json=document, headers=auth["commission"])
    assert answer.status_code == (422 if expect_atomic else 200), answer.text
    assert answer.json()["dry_run"] is expect_dry_run
    assert (stored(session, "legal-lectures", "zone", year) is not None) is written

    path = tmp_path / "batch.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, summary = run(
        str(path), *(["--dry-run"] if dry_run else []), "--atomic" if atomic else "--no-atomic"
    )
    assert code == 1, summary
    assert summary["dry_run"] is expect_dry_run
    with Session(db) as check:
        assert (stored(check, "legal-lectures", "zone", year) is not None) is written


def test_import_refuses_rows_after_the_current_year(db: Engine, tmp_path: Path) -> None:
    now = get_settings().today().year
    lines = [f"legal-lectures,zone,{now},1,,,", f"legal-lectures,zone,{now + 1},1,,,"]
    path = write_csv(
        tmp_path / "future.csv", ["indicator,department,year,value,qualifier,note,source", *lines]
    )
    code, summary = run(str(path), "--as", "clerk-li", "--no-atomic")
    assert (summary["created"], summary["rejected"]) == (1, 1), (code, summary)
    assert summary["errors"][0]["row"] == 3 and summary["errors"][0]["loc"] == ["year"], (
        summary
    )  # as a sheet shows it
    with Session(db) as session:
        assert stored(session, "legal-lectures", "zone", now + 1) is None
