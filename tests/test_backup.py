"""`indicators dump` / `indicators restore`: everything in one file, and back, across databases.

A database with a history (corrections, deletions, a re-created figure, targets, a revoked token, a
department moved below one made after it) goes SQLite -> PostgreSQL -> SQLite and the other way; the
dumps are the same bytes at every step, and the restored service works: same answers, same tokens,
new writes.
"""

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app import backup
from app.auth import tokens
from app.auth.models import ApiToken, Role
from app.auth.schemas import TokenCreate
from app.core.db import migrate
from app.core.db.engine import get_engine
from app.core.db.session import get_session
from app.main import create_app
from app.models import metadata
from tests.databases import fresh_database, url_of
from tests.servers import ROOT, prepare

NOTE = '他说 "好"\n第二行 \\ tab\there'
REASON = '审计后更正 "quoted"'


@pytest.fixture(scope="module")
def app_factory() -> Iterator[Any]:
    """A client for the app on a given engine, with a real unit of work per request."""
    apps = []

    def client_for(engine: Engine) -> TestClient:
        app = create_app()
        maker = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)

        def session() -> Iterator[Session]:
            with maker() as s:
                try:
                    yield s
                    s.commit()
                except BaseException:
                    s.rollback()
                    raise

        app.dependency_overrides[get_session] = session
        app.dependency_overrides[get_engine] = lambda: engine
        client = TestClient(app, raise_server_exceptions=True)
        apps.append(client)
        return client

    yield client_for
    for client in apps:
        client.close()


def populate(client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    admin, commission = headers["admin"], headers["commission"]

    def ok(response: Any) -> None:
        assert response.status_code < 300, response.text

    ok(
        client.post(
            "/api/v1/departments",
            json={"code": "district-b", "name": "乙区", "parent": "zone"},
            headers=admin,
        )
    )
    ok(
        client.post(
            "/api/v1/departments",
            json={"code": "district-a", "name": "甲区", "parent": "zone"},
            headers=admin,
        )
    )
    # The older department now sits below the newer one: parents are not in id order.
    ok(client.patch("/api/v1/departments/district-b", json={"parent": "district-a"}, headers=admin))
    budget = {"code": "budget", "name": "预算", "value_type": "amount", "unit": "元", "description": NOTE}
    ok(client.post("/api/v1/indicators", json=budget, headers=admin))
    cell = "/api/v1/observations/budget/district-b/2021"
    for value in ("123456789012.345678", "0.1", "-42.5"):
        body = f'{{"value": {value}, "note": {json.dumps(NOTE)}, "source": "report §二"}}'
        ok(client.put(cell, content=body, headers={**commission, "content-type": "application/json"}))
    ok(client.delete(f"{cell}?reason=重复填报", headers=commission))
    ok(
        client.put(
            cell, json={"value": 7, "qualifier": "approximately", "reason": REASON}, headers=commission
        )
    )
    for department in ("zone", "emergency-management", "urban-management"):  # 2021 is approved
        reopen = {"reason": "更正 disputes-mediated"}
        ok(client.post(f"/api/v1/approvals/{department}/2021/reopen", json=reopen, headers=commission))
    ok(
        client.put(
            "/api/v1/observations/disputes-mediated/zone/2021", json={"value": 247}, headers=commission
        )
    )
    ok(
        client.put(
            "/api/v1/periods/2022", json={"opens": "2023-01-01", "closes": "2023-01-31"}, headers=commission
        )
    )
    exception = {"until": "2023-02-15", "reason": "系统故障"}
    ok(client.put("/api/v1/periods/2022/exceptions/district-b", json=exception, headers=commission))
    ok(client.put("/api/v1/assignments/budget/district-b", json={"from_year": 2021}, headers=commission))
    target = "/api/v1/targets/budget/district-b/2022"
    ok(client.put(target, json={"operator": "between", "value": 1, "upper": 10}, headers=commission))
    ok(client.put(target, json={"operator": "between", "value": 2, "upper": 10.5}, headers=commission))
    ok(client.delete(target, headers=commission))
    ok(client.put(target, json={"operator": "at_least", "value": 3}, headers=commission))
    ok(client.patch(target, json={"value": 4, "reason": REASON}, headers=commission))
    ok(client.post("/api/v1/tokens", json={"name": "leaver", "role": "viewer"}, headers=admin))
    ok(client.delete("/api/v1/tokens/leaver", headers=admin))


def history(client: TestClient, headers: dict[str, str]) -> list[Any]:
    return [
        client.get("/api/v1/observations/budget/district-b/2021/history", headers=headers).json(),
        client.get("/api/v1/targets/budget/district-b/2022/history", headers=headers).json(),
        client.get("/api/v1/departments", headers=headers).json(),
        client.get("/api/v1/tokens?include_revoked=true", headers=headers).json(),
        client.get("/api/v1/observations?limit=1000", headers=headers).json(),
        client.get("/api/v1/assignments?limit=1000", headers=headers).json(),
        client.get("/api/v1/approvals?limit=1000", headers=headers).json(),
        client.get("/api/v1/periods/2022", headers=headers).json(),
        client.get("/api/v1/completeness?year=2021", headers=headers).json(),
    ]


def _round_trip(first: str, second: str, tmp_path: Path, app_factory: Any) -> None:
    with fresh_database(first, tmp_path) as source:
        headers = prepare(source)
        client = app_factory(source)
        populate(client, headers)
        before = history(client, headers["admin"])
        one, two, three = tmp_path / "1.jsonl.gz", tmp_path / "2.jsonl.gz", tmp_path / "3.jsonl.gz"
        counts = backup.dump(source, one)
        assert counts.tables["observation_revision"] > counts.tables["observation"]
        assert counts.tables["target_revision"] == 5 + 10
        assert REASON in [item["reason"] for item in before[0]["items"]]
        assert REASON in [item["reason"] for item in before[1]["items"]]
        assert counts.tables["assignment"] == 35 + 1 and counts.tables["approval_action"] == 3 + 3
        assert counts.tables["period"] == 1 and counts.tables["period_exception"] == 1
    with fresh_database(second, tmp_path) as middle:
        assert backup.restore(middle, one).tables == counts.tables
        backup.dump(middle, two)
        client = app_factory(middle)
        # The same service: the same answers, the same tokens, and new writes take fresh ids.
        assert history(client, headers["admin"]) == before
        r = client.post(
            "/api/v1/departments", json={"code": "district-c", "name": "丙区"}, headers=headers["admin"]
        )
        assert r.status_code == 201, r.text
        r = client.put(
            "/api/v1/observations/budget/district-c/2021", json={"value": 1}, headers=headers["commission"]
        )
        assert r.status_code == 201, r.text
        assert client.get("/api/v1/tokens", headers=headers["admin"]).status_code == 200
    with fresh_database(first, tmp_path) as back:
        backup.restore(back, two)
        backup.dump(back, three)
    assert one.read_bytes() == two.read_bytes() == three.read_bytes()


def test_sqlite_to_postgresql_and_back_gives_the_same_dump(tmp_path: Path, app_factory: Any) -> None:
    _round_trip("sqlite", "postgresql", tmp_path, app_factory)


def test_postgresql_to_sqlite_and_back_gives_the_same_dump(tmp_path: Path, app_factory: Any) -> None:
    _round_trip("postgresql", "sqlite", tmp_path, app_factory)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            t.name: int(connection.scalar(select(func.count()).select_from(t)) or 0)
            for t in metadata.sorted_tables
        }


def test_restore_refuses_a_database_with_data(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "seeded.jsonl.gz"
    backup.dump(engine, path)
    before = _counts(engine)
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(engine, path)
    assert _counts(engine) == before


def test_a_file_cut_short_or_broken_loads_nothing(engine: Engine, fresh: Engine, tmp_path: Path) -> None:
    whole = tmp_path / "whole.jsonl.gz"
    backup.dump(engine, whole)
    lines = gzip.decompress(whole.read_bytes()).splitlines(keepends=True)
    short = tmp_path / "short.jsonl.gz"
    short.write_bytes(gzip.compress(b"".join(lines[:-3])))  # the last rows and the end line are gone
    with pytest.raises(backup.BackupError, match="cut short"):
        backup.restore(fresh, short)
    assert set(_counts(fresh).values()) == {0}
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])  # a copy that stopped half-way
    with pytest.raises(backup.BackupError, match=r"gzip|JSON|cut short"):
        backup.restore(fresh, broken)
    assert set(_counts(fresh).values()) == {0}
    other = tmp_path / "other.jsonl.gz"
    other.write_bytes(gzip.compress(b'{"hello": "world"}\n'))
    with pytest.raises(backup.BackupError, match="not a dump"):
        backup.restore(fresh, other)


def _indicators(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INDICATORS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_office_moves_from_sqlite_to_postgresql_with_two_commands(tmp_path: Path) -> None:
    """The README's move: `indicators dump` on the old database, `indicators restore` on the new."""
    with fresh_database("sqlite", tmp_path) as old, fresh_database("postgresql", tmp_path) as new:
        prepare(old)
        moved, again = tmp_path / "office.jsonl.gz", tmp_path / "again.jsonl.gz"
        dumped = _indicators(url_of(old), "dump", str(moved))
        assert dumped.returncode == 0, dumped.stderr
        restored = _indicators(url_of(new), "restore", str(moved))
        assert restored.returncode == 0, restored.stderr
        assert "restored" in restored.stderr
        refused = _indicators(url_of(new), "restore", str(moved))
        assert refused.returncode == 1 and "not empty" in refused.stderr
        backup.dump(new, again)
        assert moved.read_bytes() == again.read_bytes()
        assert not list(tmp_path.glob("*.partial"))
        assert _counts(new) == _counts(old)
        with new.connect() as connection:
            assert backup.schema_revision(connection) is not None


def test_dumping_a_database_without_a_schema_says_so(fresh: Engine, tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="no schema"):
        backup.dump(fresh, tmp_path / "nothing.jsonl.gz")


def _tokens(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        query = select(ApiToken.name, ApiToken.token_hash, ApiToken.expires_at, ApiToken.last_used_at)
        return [tuple(row) for row in connection.execute(query.order_by(ApiToken.name))]


def test_tokens_expiry_and_last_use_are_carried_and_an_older_dump_restores(
    fresh: Engine, backend: str, tmp_path: Path
) -> None:
    migrate.upgrade(fresh)
    expires, used = (
        dt.datetime(2027, 3, 5, 8, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC),
    )
    with Session(fresh) as session, session.begin():
        token, _ = tokens.create(session, data=TokenCreate(name="brief", role=Role.viewer), actor="t")
        token.expires_at, token.last_used_at = expires, used
        tokens.create(session, data=TokenCreate(name="forever", role=Role.admin), actor="t")
    dumped = tmp_path / "new.jsonl.gz"
    backup.dump(fresh, dumped)
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    with fresh_database(backend, tmp_path / "b") as second:
        backup.restore(second, dumped)
        assert _tokens(second) == _tokens(fresh)
        assert _tokens(second)[0][2:] == (expires, used)

    # The same file as a version without these columns wrote it: they are NULL once restored.
    before = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0008").down_revision
    lines = [json.loads(line) for line in gzip.decompress(dumped.read_bytes()).splitlines()]
    lines[0]["schema"] = before
    gone: list[int] = []
    for number, line in enumerate(lines):
        if isinstance(line, dict) and line.get("table") == "api_token":
            gone = [line["columns"].index("expires_at"), line["columns"].index("last_used_at")]
            line["columns"] = [c for i, c in enumerate(line["columns"]) if i not in gone]
        elif isinstance(line, dict):
            gone = []
        elif gone:
            lines[number] = [v for i, v in enumerate(line) if i not in gone]
    older = tmp_path / "old.jsonl.gz"
    older.write_bytes(gzip.compress(b"".join(json.dumps(line).encode() + b"\n" for line in lines)))
    with fresh_database(backend, tmp_path / "c") as third:
        backup.restore(third, older)
        assert [row[:2] for row in _tokens(third)] == [row[:2] for row in _tokens(fresh)]
        assert all(row[2:] == (None, None) for row in _tokens(third))
        with third.connect() as connection:
            assert (
                backup.schema_revision(connection)
                == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
            )


# The tables added since 0006 (the reporting cycle in 0009, rules in 0011, the audit log in 0012).
NEW_IN_0009 = {"assignment", "period", "period_exception", "approval", "approval_action"}
NEW_IN_0011 = {"validation_rule", "validation_rule_operand"}
NEW_IN_0012 = {"audit_event"}
NEW_TABLES = NEW_IN_0009 | NEW_IN_0011 | NEW_IN_0012  # the tables a dump of schema 0006 lacks
# The columns migrations 0007 (reasons) and 0008 (token expiry and last use) added.
NEW_COLUMNS = {
    "observation_revision": {"reason"},
    "target_revision": {"reason"},
    "api_token": {"expires_at", "last_used_at"},
    "indicator": {"formula", "expected_min", "expected_max"},
}


def _as_0006(dump: Path, out: Path) -> None:
    """The dump as a version of schema 0006 made it: none of the reporting tables, none of the
    columns added since. The seed gives no reasons and its tokens never expire: nothing is lost."""
    lines = [json.loads(line) for line in gzip.decompress(dump.read_bytes()).splitlines()]
    header, body = lines[0], lines[1:-1]
    assert set(header["tables"]) >= NEW_TABLES
    kept: list[Any] = [
        {**header, "schema": "0006", "tables": [t for t in header["tables"] if t not in NEW_TABLES]}
    ]
    keep, drop = True, []
    current, columns = "", []
    table: dict[str, Any] = {}
    for item in body:
        if isinstance(item, dict) and "table" in item:
            keep = item["table"] not in NEW_TABLES
            current, columns = item["table"], item["columns"]
            gone = NEW_COLUMNS.get(item["table"], set())
            drop = [n for n, c in enumerate(item["columns"]) if c in gone]
            item = table = {**item, "columns": [c for c in item["columns"] if c not in gone]}
        elif isinstance(item, list) and drop:
            if current == "indicator" and item[columns.index("formula")] is not None:
                table["rows"] -= 1
                continue  # a derived indicator: none before 0010
            assert all(item[n] is None for n in drop)
            item = [v for n, v in enumerate(item) if n not in drop]
        if keep:
            kept.append(item)
    kept.append({"end": True, "rows": sum(1 for item in kept[1:] if isinstance(item, list))})
    out.write_bytes(gzip.compress(b"".join(json.dumps(i, ensure_ascii=False).encode() + b"\n" for i in kept)))


def test_a_dump_made_before_reasons_and_the_reporting_tables_still_restores(
    engine: Engine, fresh: Engine, tmp_path: Path
) -> None:
    """A dump of schema 0006 restores into its own schema, then migrates to the latest: every figure
    and revision kept, no reason, nothing assigned or approved."""
    now, old = tmp_path / "now.jsonl.gz", tmp_path / "0006.jsonl.gz"
    counts = backup.dump(engine, now)
    assert counts.tables["observation_revision"] > 0
    _as_0006(now, old)
    assert b'"reason"' not in gzip.decompress(old.read_bytes())
    restored = backup.restore(fresh, old).tables
    derived = 1  # the seed's seals-per-new-firm: no derived indicator before 0010
    assert restored == {
        t: n - (derived if t == "indicator" else 0) for t, n in counts.tables.items() if t not in NEW_TABLES
    }
    after, before = _counts(fresh), _counts(engine)
    assert {t: n for t, n in after.items() if t not in NEW_TABLES} == {
        t: n - (derived if t == "indicator" else 0) for t, n in before.items() if t not in NEW_TABLES
    }
    assert all(after[name] == 0 for name in NEW_TABLES)
    with fresh.connect() as connection:
        assert backup.schema_revision(connection) == backup.read_header(now)["schema"]  # migrated after
        assert (
            connection.scalar(text("SELECT count(*) FROM observation_revision WHERE reason IS NOT NULL")) == 0
        )


V1_DUMP = Path(__file__).resolve().parent / "data" / "v1-dump.jsonl.gz"


def _tables(path: Path) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """A dump's tables: their columns and rows, as the file holds them."""
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {}
    current = ""
    for line in gzip.decompress(path.read_bytes()).splitlines()[1:]:
        item = json.loads(line)
        if isinstance(item, dict) and "table" in item:
            current = item["table"]
            tables[current] = (item["columns"], [])
        elif isinstance(item, list):
            tables[current][1].append(item)
    return tables


def test_a_dump_made_by_version_1_restores_into_version_2_with_everything_in_it(
    fresh: Engine, tmp_path: Path
) -> None:
    """tests/data/v1-dump.jsonl.gz, made by the version-1 code (tests/data/README.md), restores into
    the current schema: every row of every table it holds is there, column for column (dumped again,
    the new columns aside); the new columns and tables are empty; and the API serves its figures,
    versions, targets and tokens."""
    assert backup.read_header(V1_DUMP)["schema"] == "0006"
    old = _tables(V1_DUMP)
    backup.restore(fresh, V1_DUMP)
    again = tmp_path / "again.jsonl.gz"
    backup.dump(fresh, again)
    new = _tables(again)
    for table, (columns, rows) in old.items():
        new_columns, new_rows = new[table]
        positions = [new_columns.index(c) for c in columns]
        assert [[row[i] for i in positions] for row in new_rows] == rows, table
        added = [i for i, c in enumerate(new_columns) if c not in columns]
        assert all(row[i] is None for row in new_rows for i in added), table
    assert all(not new[t][1] for t in NEW_TABLES if t in new)
    with fresh.connect() as connection:
        assert (
            backup.schema_revision(connection)
            == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
        )
    with Session(fresh) as session, session.begin():
        assert [
            (t.name, t.revoked_at is not None)
            for t in session.scalars(select(ApiToken).order_by(ApiToken.name))
        ] == [
            ("clerk-zone", False),
            ("office-admin", False),
            ("retired", True),
        ]
        _, secret = tokens.create(session, data=TokenCreate(name="v2", role=Role.admin), actor="test")
    app = create_app()
    app.dependency_overrides[get_engine] = lambda: fresh
    app.dependency_overrides[get_session] = _session_on(fresh)
    try:
        with TestClient(app) as client:
            h = {"Authorization": f"Bearer {secret}"}
            figure = client.get("/api/v1/observations/free-seals/zone/2020", headers=h).json()
            assert (figure["value"], figure["qualifier"], figure["version"]) == (7, "at_least", 5)
            history = client.get("/api/v1/observations/free-seals/zone/2020/history", headers=h).json()[
                "items"
            ]
            assert [v["value_after"] for v in history] == [1584, 1590, 123456789012345678, None, 7]
            target = client.get("/api/v1/targets/free-seals/zone/2022", headers=h).json()
            assert (target["operator"], target["value"], target["version"]) == ("at_least", 12, 2)
            seeded = client.get("/api/v1/observations/deadline-compression/zone/2021", headers=h).json()
            assert (seeded["value"], seeded["qualifier"]) == (75, "at_least")
    finally:
        app.dependency_overrides.clear()


def _session_on(engine: Engine) -> Any:
    factory = sessionmaker(engine, expire_on_commit=False)

    def session() -> Iterator[Session]:
        with factory() as s, s.begin():
            yield s

    return session
