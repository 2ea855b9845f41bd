"""Two `indicators serve` instances on two ports against one PostgreSQL through PgBouncer in
transaction pooling mode: writers spread over both lose nothing and see no 5xx; one instance killed
mid-load, the other carries on and every write it accepted is kept. And why the setting
INDICATORS_DB_PREPARE_THRESHOLD=none is needed there.

PostgreSQL only: the pooler is PostgreSQL's. STRESS_WRITERS and STRESS_WRITES scale it (`make fuzz`).
"""

import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.db.engine import make_engine
from tests.databases import empty_database, require_postgres
from tests.helpers import revisions, stored
from tests.pooler import pgbouncer, pgbouncer_version
from tests.servers import Server, prepare, start

WRITERS = int(os.environ.get("STRESS_WRITERS", "8"))
WRITES = int(os.environ.get("STRESS_WRITES", "25"))
INDICATOR = "pooled-amount"
BASE = f"/api/v1/observations/{INDICATOR}"
BEHIND_POOLER = {"INDICATORS_DB_PREPARE_THRESHOLD": "none", "INDICATORS_DB_POOL_SIZE": "4"}


@dataclass
class Pooled:
    direct: Engine  # straight to PostgreSQL, for checking what is stored
    url: str  # through PgBouncer
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def pooled() -> Iterator[Pooled]:
    require_postgres()
    with empty_database("postgresql", prefix="indicators_pool") as url:
        direct = make_engine(url)
        try:
            headers = prepare(direct)
            with pgbouncer(direct.url.database or "") as through:
                yield Pooled(direct, through, headers)
        finally:
            direct.dispose()


def _engine_through(url: str, threshold: str | None, monkeypatch: pytest.MonkeyPatch) -> Engine:
    if threshold is None:
        monkeypatch.delenv("INDICATORS_DB_PREPARE_THRESHOLD", raising=False)
    else:
        monkeypatch.setenv("INDICATORS_DB_PREPARE_THRESHOLD", threshold)
    get_settings.cache_clear()
    try:
        return make_engine(url, pool_size=4, max_overflow=0)
    finally:
        get_settings.cache_clear()


def _repeated_statements(engine: Engine, rounds: int = 3) -> list[str]:
    """One connection runs a statement often enough for psycopg to prepare it (on the server
    connection PgBouncer lent it), then, while another holds that server connection in a
    transaction (PgBouncer lends the connection used last first), runs it again: the errors met."""
    errors: list[str] = []
    statement = text("SELECT count(*) + :i FROM department")
    with engine.connect() as first, engine.connect() as second:
        for _ in range(rounds):
            for i in range(8):
                with first.begin():
                    first.execute(statement, {"i": i})
            with second.begin():
                second.execute(text("SELECT 1"))
                try:
                    with first.begin():
                        first.execute(statement, {"i": 0})
                except DBAPIError as exc:
                    errors.append(str(exc.orig))
    return errors


def test_prepared_statements_are_safe_behind_pgbouncer_with_the_setting(
    pooled: Pooled, monkeypatch: pytest.MonkeyPatch
) -> None:
    safe = _engine_through(pooled.url, "none", monkeypatch)
    try:
        with safe.connect() as connection:
            assert connection.connection.driver_connection.prepare_threshold is None  # type: ignore[union-attr]
        assert _repeated_statements(safe) == []
    finally:
        safe.dispose()
    default = _engine_through(pooled.url, None, monkeypatch)
    try:
        with default.connect() as connection:
            assert connection.connection.driver_connection.prepare_threshold == 5  # type: ignore[union-attr]
        errors = _repeated_statements(default)
    finally:
        default.dispose()
    if pgbouncer_version() < (1, 21):
        # What the setting is for: psycopg's server-side prepared statements, made on one server
        # connection, are missing (or already there) on the next one PgBouncer hands out.
        assert errors and all("prepared statement" in e for e in errors), errors


def _put(client: httpx.Client, cell: str, value: Decimal) -> httpx.Response:
    return client.put(cell, content=f'{{"value": {value}}}', headers={"content-type": "application/json"})


def test_two_instances_behind_pgbouncer_lose_nothing_and_survive_one_killed(pooled: Pooled) -> None:
    servers: list[Server] = [start(pooled.url, env=BEHIND_POOLER) for _ in range(2)]
    try:
        with servers[0].client(headers=pooled.headers["admin"]) as admin:
            indicator = {"code": INDICATOR, "name": "连接池测试", "value_type": "amount", "unit": "元"}
            assert admin.post("/api/v1/indicators", json=indicator).status_code == 201
        _both_instances_lose_nothing(pooled, servers)
        _one_instance_killed_mid_load(pooled, servers)
    finally:
        for server in servers:
            server.kill()
            server.log.unlink(missing_ok=True)


def _check_history(
    pooled: Pooled, accepted: dict[str, list[tuple[int, Decimal]]], *, unanswered: int = 0
) -> int:
    """Every accepted write is one version of its cell, numbered without gaps, each following the one
    before; versions nobody was told about number at most `unanswered` (cut off mid-request). The
    versions stored."""
    total = 0
    with Session(pooled.direct) as session:
        for cell, writes in accepted.items():
            _, _, _, department, year = cell.rsplit("/", 4)
            history = revisions(session, INDICATOR, department, int(year))
            total += len(history)
            assert [r.version for r in history] == list(range(1, len(history) + 1)), cell
            assert set(writes) <= {(r.version, r.value_after) for r in history}, cell
            for before, after in itertools.pairwise(history):
                assert after.value_before == before.value_after, (cell, after.version)
            row = stored(session, INDICATOR, department, int(year))
            assert row is not None and (row.version, row.value) == (
                history[-1].version,
                history[-1].value_after,
            )
            unanswered -= len(history) - len(writes)
    assert unanswered >= 0, "versions were stored that no request accounts for"
    return total


def _both_instances_lose_nothing(pooled: Pooled, servers: list[Server]) -> None:
    shared = f"{BASE}/zone/2015"
    accepted: dict[str, list[tuple[int, Decimal]]] = {}
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def writer(n: int) -> None:
        cell = shared if n % 2 == 0 else f"{BASE}/zone/{1900 + n}"
        clients = [s.client(headers=pooled.headers["commission"]) for s in servers]
        try:
            for i in range(WRITES):
                value = Decimal(f"{n * 100_000 + i}.5")
                response = _put(clients[(n + i) % 2], cell, value)  # each writer alternates instances
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code in (200, 201):
                        accepted.setdefault(cell, []).append((response.json()["version"], value))
        finally:
            for client in clients:
                client.close()

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(writer, range(WRITERS)))
    assert set(statuses) <= {200, 201}, statuses
    assert sum(len(w) for w in accepted.values()) == WRITERS * WRITES
    assert _check_history(pooled, accepted) == WRITERS * WRITES
    print(f"\npooler: {WRITERS * WRITES} writes over 2 instances through PgBouncer, lost: 0, 5xx: 0")


def _one_instance_killed_mid_load(pooled: Pooled, servers: list[Server]) -> None:
    """Writers alternate instances as a load balancer would; the first is killed (SIGKILL) part-way
    through and each writer then sends to the other, which keeps answering."""
    accepted: dict[str, list[tuple[int, Decimal]]] = {}
    statuses: Counter[int | str] = Counter()
    lock = threading.Lock()
    killed = threading.Event()
    half = WRITERS * WRITES // 2
    done = [0]

    def writer(n: int) -> None:
        cell = f"{BASE}/emergency-management/{1900 + n % 4}"
        clients = [s.client(headers=pooled.headers["commission"]) for s in servers]
        try:
            for i in range(WRITES):
                value = Decimal(f"{n * 100_000 + i}.25")
                target = (n + i) % 2
                try:
                    response = _put(clients[target], cell, value)
                except httpx.TransportError:
                    with lock:
                        statuses["cut"] += 1  # the killed instance: sent again to the other
                    response = _put(clients[1], cell, value)
                with lock:
                    statuses[response.status_code] += 1
                    done[0] += 1
                    if response.status_code in (200, 201):
                        accepted.setdefault(cell, []).append((response.json()["version"], value))
        finally:
            for client in clients:
                client.close()

    def killer() -> None:
        while done[0] < half:
            time.sleep(0.01)
        servers[0].kill()
        killed.set()

    with ThreadPoolExecutor(WRITERS + 1) as pool:
        futures = [pool.submit(writer, n) for n in range(WRITERS)] + [pool.submit(killer)]
        for future in futures:
            future.result()
    assert killed.is_set()
    assert {k for k in statuses if isinstance(k, int)} <= {200, 201}, statuses
    assert sum(len(w) for w in accepted.values()) == WRITERS * WRITES
    # A request cut off by the kill may have committed before its answer was lost: at most that many
    # versions no answer names.
    stored_versions = _check_history(pooled, accepted, unanswered=statuses["cut"])
    with servers[1].client(headers=pooled.headers["viewer"]) as client:
        assert client.get("/readyz").status_code == 200
    print(
        f"pooler: instance killed after {half} of {WRITERS * WRITES} writes; requests cut: "
        f"{statuses['cut']}; accepted: {WRITERS * WRITES}, stored versions: {stored_versions}, lost: 0"
    )
