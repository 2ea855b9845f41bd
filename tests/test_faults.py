"""Faults injected into real servers: the database unreachable, dropped and back, its connections
killed under load; a batch whose process is killed (-9) mid-way. Answers stay 503 problem+json (never
500), the service recovers by itself, and nothing is lost or half-written.

The shared PostgreSQL server is never stopped: each test makes its own database and breaks that.
"""

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, make_url, select, text
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import ApiToken
from app.core.db import migrate
from app.core.db.engine import make_engine
from app.indicators.models import Aggregation, Direction, Indicator, ValueType
from app.observations.models import Observation, ObservationRevision
from seed.loader import load
from tests.databases import POSTGRES_URL, fresh_database, require_postgres, url_of
from tests.helpers import TOKEN_SPECS, problem, revisions, stored
from tests.servers import ROOT, free_port, prepare, serving

WRITERS = int(os.environ.get("STRESS_WRITERS", "8"))
WRITES = int(os.environ.get("STRESS_WRITES", "25"))
# Large enough that writing it takes a good while on any machine, so the kill lands mid-way.
KILLED_BATCH_ROWS = int(os.environ.get("KILLED_BATCH_ROWS", "150000"))
MARK = "killed-batch"
KILL_EVERY = float(os.environ.get("KILL_EVERY", "0.2"))  # seconds between rounds of pg_terminate_backend


def wait_for(condition: Callable[[], bool], timeout: float = 30, every: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            lambda: f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/indicators", id="postgresql"
        ),
        pytest.param(lambda: "sqlite:////nonexistent-directory/indicators.db", id="sqlite"),
    ],
)
def test_an_unreachable_database_answers_503_problem_not_500(url: Callable[[], str]) -> None:
    """A server whose database is not there (a port where nothing listens, a file that cannot be
    opened): the process is up, the database is not."""
    with serving(url()) as server, server.client() as client:
        assert client.get("/healthz").status_code == 200
        problem(client.get("/readyz"), 503)
        headers = {"Authorization": "Bearer ind_whatever"}
        for response in (
            client.get("/api/v1/departments", headers=headers),
            client.put("/api/v1/observations/a/b/2021", json={"value": 1}, headers=headers),
            client.post("/api/v1/observations", json={"observations": []}, headers=headers),
        ):
            problem(response, 503)
            assert response.headers["retry-after"] == "1"
        assert "Traceback" not in server.output()


def _admin_engine() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def _restore_tokens(engine: Engine, headers: dict[str, dict[str, str]]) -> None:
    """The same tokens again (by their hashes) in a database made anew."""
    with Session(engine) as session, session.begin():
        for name, (role, _department) in TOKEN_SPECS.items():
            if role.value in ("admin", "commission", "viewer"):
                secret = headers[name]["Authorization"].removeprefix("Bearer ")
                session.add(
                    ApiToken(name=name, role=role, token_hash=tokens.hash_secret(secret), created_by="test")
                )


def test_a_dropped_database_is_503_and_the_service_recovers_when_it_is_back(tmp_path: Path) -> None:
    require_postgres()
    name = f"indicators_test_{uuid.uuid4().hex[:12]}"
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(url)
        headers = prepare(engine)
        engine.dispose()
        cell = "/api/v1/observations/disputes-mediated/zone/2020"
        with serving(url, workers=2) as server, server.client() as client:
            assert client.get("/readyz").status_code == 200
            assert client.get("/api/v1/departments", headers=headers["viewer"]).status_code == 200

            with admin.connect() as connection:  # the database goes away under the running server
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            problem(client.get("/readyz"), 503)
            for _ in range(4):  # both workers, whatever connections their pools held
                problem(client.get("/api/v1/departments", headers=headers["viewer"]), 503)
                problem(client.put(cell, json={"value": 230}, headers=headers["commission"]), 503)

            with admin.connect() as connection:  # and comes back, empty: migrated and loaded anew
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            engine = make_engine(url)
            migrate.upgrade(engine)
            with Session(engine) as session, session.begin():
                load(session)
            _restore_tokens(engine, headers)

            # No restart: the same server answers again.
            assert wait_for(lambda: client.get("/readyz").status_code == 200, timeout=10)
            for _ in range(4):
                assert client.get("/api/v1/departments", headers=headers["viewer"]).status_code == 200
            assert client.put(cell, json={"value": 230}, headers=headers["commission"]).status_code == 201
            with Session(engine) as session:
                row = stored(session, "disputes-mediated", "zone", 2020)
                assert row is not None and row.value == 230
            engine.dispose()
            assert "Traceback" not in server.output()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_requests_after_every_pooled_connection_was_killed_are_answered(tmp_path: Path) -> None:
    """Pooled connections are not pinged: one the server closed fails its request's first statement,
    and that request (or /readyz) goes on with a new one. No 503, no 500."""
    require_postgres()
    with fresh_database("postgresql", tmp_path) as engine:
        headers = prepare(engine)
        database = engine.url.database
        cell = "/api/v1/observations/business-environment-rank/zone/2020"  # 2021 is approved: locked
        with serving(url_of(engine), workers=2) as server, server.client() as client:
            for _ in range(8):  # connections into both workers' pools
                assert client.get(cell, headers=headers["viewer"]).status_code == 200
            with _admin_engine().connect() as connection:
                killed = connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                ).scalar_one()
            assert killed >= 2
            for value in range(4):  # each worker, whatever its pool held
                assert client.get("/readyz").status_code == 200
                assert client.get(cell, headers=headers["viewer"]).status_code == 200
                series = client.get(
                    "/api/v1/series", params={"indicator": "disputes-mediated"}, headers=headers["viewer"]
                )
                assert series.status_code == 200, series.text
                put = client.put(cell, json={"value": 300 + value}, headers=headers["commission"])
                assert put.status_code == 200, put.text
            assert "Traceback" not in server.output()


def test_connections_killed_under_load_lose_no_accepted_write(tmp_path: Path) -> None:
    """pg_terminate_backend on every connection of the database, again and again, while writers run."""
    require_postgres()
    with fresh_database("postgresql", tmp_path) as engine:
        headers = prepare(engine)
        database = engine.url.database
        with serving(url_of(engine), workers=2) as server:
            with server.client(headers=headers["admin"]) as admin:
                new = {"code": "fault-amount", "name": "故障", "value_type": "amount"}
                assert admin.post("/api/v1/indicators", json=new).status_code == 201
            statuses: Counter[int] = Counter()
            accepted: dict[str, list[tuple[int, Decimal]]] = {}
            lock = threading.Lock()
            done = threading.Event()
            killed = 0

            def writer(n: int) -> None:
                cell = "zone/2010" if n % 2 == 0 else f"zone/{1950 + n}"
                with server.client(headers=headers["commission"]) as client:
                    for i in range(WRITES):
                        value = Decimal(f"{n * 100_000 + i}.5")
                        r = client.put(
                            f"/api/v1/observations/fault-amount/{cell}",
                            content=f'{{"value": {value}}}',
                            headers={"content-type": "application/json"},
                        )
                        with lock:
                            statuses[r.status_code] += 1
                            if r.status_code in (200, 201):
                                accepted.setdefault(cell, []).append((r.json()["version"], value))

            def killer() -> None:
                nonlocal killed
                with _admin_engine().connect() as connection:
                    while not done.is_set():
                        killed += int(
                            connection.execute(
                                text(
                                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                                ),
                                {"db": database},
                            ).scalar_one()
                        )
                        time.sleep(KILL_EVERY)

            kill_thread = threading.Thread(target=killer)
            kill_thread.start()
            try:
                with ThreadPoolExecutor(WRITERS) as pool:
                    list(pool.map(writer, range(WRITERS)))
            finally:
                done.set()
                kill_thread.join()

            print(f"\nconnections killed: {killed}; answers: {dict(statuses)}")
            print("\n".join(line for line in server.output().splitlines() if "unavailable" in line))
            assert killed > 0
            # A killed connection is replaced and the unit of work run again; a write still refused
            # after eight tries, or whose COMMIT was cut off, is a 503 the client may retry. Never a 500.
            assert set(statuses) <= {200, 201, 503}, statuses
            assert statuses[200] + statuses[201] >= WRITERS * WRITES / 2, statuses
            with server.client() as client:
                assert client.get("/readyz").status_code == 200
            engine.dispose()  # the killer ended this test's own pooled connections too
            with Session(engine) as session:
                for cell, writes in accepted.items():
                    department, year = cell.split("/")
                    history = revisions(session, "fault-amount", department, int(year))
                    kept = {(r.version, r.value_after) for r in history}
                    assert set(writes) <= kept, cell  # every accepted write is a version
                    assert [r.version for r in history] == list(range(1, len(history) + 1)), cell
                    for before, after in itertools.pairwise(history):
                        assert after.value_before == before.value_after, cell
                    row = stored(session, "fault-amount", department, int(year))
                    assert row is not None and row.version == history[-1].version
            assert "Traceback" not in server.output(), server.output()
            accepted_writes = sum(len(w) for w in accepted.values())
            print(
                f"connections killed: {killed}; {accepted_writes} writes accepted, lost: 0; "
                f"503 (may be retried): {statuses[503]}, 500: 0"
            )


def _load_indicators(engine: Engine, count: int) -> list[str]:
    codes = [f"load-{k:04d}" for k in range(count)]
    with Session(engine) as session, session.begin():
        session.add_all(
            Indicator(
                code=c,
                name=c,
                value_type=ValueType.amount,
                direction=Direction.higher,
                aggregation=Aggregation.sum,
                updated_by="test",
            )
            for c in codes
        )
    return codes


def _big_csv(engine: Engine, rows: int) -> bytes:
    departments = ["zone", "emergency-management", "urban-management"]
    years = range(1900, 2021)  # past years only (later ones are refused); the seed approves 2021
    per_indicator = len(departments) * len(years)
    codes = _load_indicators(engine, -(-rows // per_indicator))
    cells = itertools.product(codes, departments, years)
    lines = ["indicator,department,year,value,qualifier,note,source"]
    lines += [f"{i},{d},{y},{n}.25,exact,,{MARK}" for n, (i, d, y) in zip(range(rows), cells, strict=False)]
    return ("\n".join(lines) + "\n").encode()


def _written(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        current = session.scalar(select(func.count()).where(Observation.source == MARK))
        versions = session.scalar(select(func.count()).where(ObservationRevision.source == MARK))
    return int(current or 0), int(versions or 0)


def _writing(engine: Engine, backend: str, wal: Path | None) -> Callable[[], bool]:
    """Whether the batch's transaction has written rows it has not committed yet."""
    if backend == "postgresql":

        def postgres() -> bool:
            # A transaction gets an id at its first write.
            with engine.connect() as monitor:
                return bool(
                    monitor.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                        )
                    ).scalar_one()
                )

        return postgres
    assert wal is not None
    # Pages the transaction could not keep in memory spill into the write-ahead log before COMMIT.
    return lambda: wal.exists() and wal.stat().st_size > 4 * 1024 * 1024


@pytest.fixture
def loaded(
    backend: str, tmp_path: Path
) -> Iterator[tuple[Engine, dict[str, dict[str, str]], bytes, Path | None]]:
    with fresh_database(backend, tmp_path) as engine:
        headers = prepare(engine)
        body = _big_csv(engine, KILLED_BATCH_ROWS)
        wal = None
        if backend == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            wal = Path(str(engine.url.database) + "-wal")
        yield engine, headers, body, wal


def _intact(engine: Engine, backend: str) -> None:
    if backend == "sqlite":
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"


def test_a_server_killed_mid_batch_leaves_nothing_of_it(
    backend: str, loaded: tuple[Engine, dict[str, dict[str, str]], bytes, Path | None]
) -> None:
    engine, headers, body, wal = loaded
    answer: list[object] = []
    with serving(url_of(engine)) as server:

        def send() -> None:
            try:
                with server.client(headers={**headers["commission"], "content-type": "text/csv"}) as client:
                    answer.append(client.post("/api/v1/observations", content=body))
            except httpx.TransportError as exc:
                answer.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        assert wait_for(_writing(engine, backend, wal), timeout=60), "the batch never started writing"
        server.kill(signal.SIGKILL)
        sender.join()
    assert isinstance(answer[0], httpx.TransportError), f"the batch ended before the kill: {answer[0]}"
    engine.dispose()
    _intact(engine, backend)
    assert _written(engine) == (0, 0)
    # The database is whole: a new server on it takes a batch and single writes as usual.
    with serving(url_of(engine)) as server, server.client(headers=headers["commission"]) as client:
        assert client.get("/readyz").status_code == 200
        small = (
            f"indicator,department,year,value,qualifier,note,source\nload-0000,zone,2020,1,exact,,{MARK}\n"
        )
        r = client.post("/api/v1/observations", content=small.encode(), headers={"content-type": "text/csv"})
        assert r.status_code == 200 and r.json()["created"] == 1, r.text
    assert _written(engine) == (1, 1)


def test_an_import_killed_mid_way_leaves_nothing_of_it(
    backend: str, loaded: tuple[Engine, dict[str, dict[str, str]], bytes, Path | None], tmp_path: Path
) -> None:
    engine, _, body, wal = loaded
    path = tmp_path / "big.csv"
    path.write_bytes(body)
    env = {**os.environ, "INDICATORS_DATABASE_URL": url_of(engine)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "import", str(path), "--as", "importer"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        writing = wait_for(_writing(engine, backend, wal), timeout=60)
        still_running = process.poll() is None
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert writing, "the import never started writing"
    assert still_running, (
        f"the import ended before the kill: {process.stdout.read() if process.stdout else ''!r}"
    )
    engine.dispose()
    _intact(engine, backend)
    assert _written(engine) == (0, 0)
