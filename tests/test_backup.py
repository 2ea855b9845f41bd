"""`indicators dump` / `indicators restore`: everything in one file, and back, across databases.

A database with a history (corrections, deletions, a re-created figure, targets, a revoked token, a
department moved below one made after it) goes SQLite -> PostgreSQL -> SQLite and the other way; the
dumps are the same bytes at every step, and the restored service works: same answers, same tokens,
new writes.
"""

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app import backup
from app.core.db.engine import get_engine
from app.core.db.session import get_session
from app.main import create_app
from app.models import metadata
from tests.databases import fresh_database, url_of
from tests.servers import ROOT, prepare

NOTE = '他说 "好"\n第二行 \\ tab\there'


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
    ok(client.delete(cell, headers=commission))
    ok(client.put(cell, json={"value": 7, "qualifier": "approximately"}, headers=commission))
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
        assert counts.tables["target_revision"] == 4 + 10
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


NEW_IN_0009 = {"assignment", "period", "period_exception", "approval", "approval_action"}


def test_a_dump_made_before_the_reporting_tables_still_restores(
    engine: Engine, fresh: Engine, tmp_path: Path
) -> None:
    """A dump of schema 0006 (before migration 0009) holds none of the reporting tables: it restores
    into its own schema, then migrates to the latest, every figure kept and nothing assigned."""
    whole = tmp_path / "now.jsonl.gz"
    backup.dump(engine, whole)
    lines = [json.loads(line) for line in gzip.decompress(whole.read_bytes()).splitlines()]
    header, body = lines[0], lines[1:-1]
    assert set(header["tables"]) >= NEW_IN_0009
    old: list[Any] = [
        {**header, "schema": "0006", "tables": [t for t in header["tables"] if t not in NEW_IN_0009]}
    ]
    keep = True
    for item in body:
        if isinstance(item, dict) and "table" in item:
            keep = item["table"] not in NEW_IN_0009
        if keep:
            old.append(item)
    rows = sum(1 for item in old[1:] if isinstance(item, list))
    old.append({"end": True, "rows": rows})
    path = tmp_path / "old.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(json.dumps(i, ensure_ascii=False).encode() + b"\n" for i in old)))

    counts = backup.restore(fresh, path)
    assert not NEW_IN_0009 & set(counts.tables)
    restored = _counts(fresh)
    assert restored["observation"] == _counts(engine)["observation"] > 0
    assert all(restored[name] == 0 for name in NEW_IN_0009)
    with fresh.connect() as connection:
        assert backup.schema_revision(connection) == "0009"
