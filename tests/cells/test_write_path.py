"""Where a one-cell write runs: the real unit of work (app.core.db.session.get_session), not the tests' one.

On SQLite the write lock is taken first, on the event loop when it is free, else waited for in a
worker thread; the work and its COMMIT then run on the loop. On PostgreSQL the work and its COMMIT
run in one worker thread. Either way the answer is sent after the change is committed. A read of
one statement runs without a transaction on PostgreSQL.
"""

import asyncio
import fcntl
import os
import sqlite3
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.orm import Session

from app.analytics.router import COMPARISONS, COMPLETENESS
from app.auth import tokens
from app.auth.models import ApiToken, Role
from app.auth.schemas import TokenCreate
from app.core.config import get_settings
from app.core.db import engine as engines
from app.core.db import migrate
from app.core.db import session as database
from app.core.db.types import utcnow
from app.core.memo import Memo
from app.departments.models import Department
from app.main import create_app
from app.reporting.models import Approval, State
from app.targets.compliance import router as compliance_router
from seed.loader import load
from tests.helpers import reopen_2021, revisions, stored, thread_trips

CELL = "/api/v1/observations/service-items-on-time/zone/2021"
KEY = ("service-items-on-time", "zone", 2021)


@pytest.fixture
def served(fresh: Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[Engine, str]:
    """The fresh database migrated and seeded, the app's unit of work bound to it; an admin's token."""
    migrate.upgrade(fresh)
    with Session(fresh) as session, session.begin():
        load(session)
        reopen_2021(session)  # the seed approves 2021: these tests write its figures
        _, secret = tokens.create(session, data=TokenCreate(name="writer", role=Role.admin), actor="test")
    maker = database.sessionmaker_for(fresh)
    monkeypatch.setattr(database, "sessionmaker_for_requests", lambda: maker)
    return fresh, secret


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://test")


def test_a_put_takes_no_trip_to_a_thread_on_sqlite_and_one_on_postgresql(
    served: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, secret = served
    trips = thread_trips(monkeypatch)

    async def scenario() -> httpx.Response:
        async with _client() as client:
            return await client.put(
                CELL, json={"value": 1234, "source": "test"}, headers={"Authorization": f"Bearer {secret}"}
            )

    response = asyncio.run(scenario())
    assert response.status_code == 200, response.text
    assert response.json()["value"] == 1234
    assert len(trips) == (0 if engine.dialect.name == "sqlite" else 1)
    with Session(engine) as session:  # committed before the answer was sent
        observation = stored(session, *KEY)
        assert observation is not None and observation.value == 1234
        assert revisions(session, *KEY)[-1].value_after == 1234


class _SqliteWriter:
    """Another program writing the database (`indicators import`): it holds SQLite's write lock."""

    def __init__(self, database: str) -> None:
        self.connection = sqlite3.connect(database, isolation_level=None)
        self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.connection.close()  # which rolls back and unlocks; again, a no-op


class _OtherWorker:
    """Another worker of the service in the middle of a write: it holds the writers' file."""

    def __init__(self, database: str) -> None:
        self.file = open(f"{database}.writers", "a")  # noqa: SIM115 (held until release)
        fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        self.file.close()  # which unlocks; again, a no-op


def _writers_file_is_free(database: str) -> bool:
    descriptor = os.open(f"{database}.writers", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


@pytest.mark.parametrize("holder", [_SqliteWriter, _OtherWorker])
def test_a_put_waiting_for_another_writer_leaves_the_event_loop_free(
    served: tuple[Engine, str], backend: str, monkeypatch: pytest.MonkeyPatch, holder: Any
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's write lock")
    engine, secret = served
    database_file = engine.url.database or ""
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 3000)  # a wait on the loop fails fast
    engine.dispose()  # connections made from here on have it
    headers = {"Authorization": f"Bearer {secret}"}
    other = holder(database_file)

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with _client() as client:
            started = time.monotonic()
            put = asyncio.create_task(client.put(CELL, json={"value": 4321}, headers=headers))
            await asyncio.sleep(0.2)
            # The loop answers a read while the PUT waits for the lock in a worker thread (waiting
            # on the loop, SQLite's busy handler would hold it for the busy timeout).
            read = await client.get(CELL, headers=headers)
            assert time.monotonic() - started < 1.5
            assert not put.done()  # it waits for the other writer
            other.release()
            return read, await asyncio.wait_for(put, 10)

    try:
        read, written = asyncio.run(scenario())
    finally:
        other.release()
    assert read.status_code == 200 and read.json()["value"] == 1007
    assert written.status_code == 200, written.text
    with Session(engine) as session:
        observation = stored(session, *KEY)
        assert observation is not None and observation.value == 4321 and observation.version == 2
    assert _writers_file_is_free(database_file)  # released with the unit


def test_the_writers_file_is_released_when_a_write_fails(served: tuple[Engine, str], backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's writers' file")
    engine, secret = served

    async def scenario() -> httpx.Response:
        async with _client() as client:
            return await client.put(
                CELL, json={"value": -1}, headers={"Authorization": f"Bearer {secret}"}
            )  # a count below zero: 422, rolled back

    assert asyncio.run(scenario()).status_code == 422
    assert _writers_file_is_free(engine.url.database or "")


def test_a_clerks_put_below_its_department_sends_one_statement_per_step(
    served: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One query checks the token, resolves the path, checks the clerk's scope and reads the current
    row, locked (on PostgreSQL it also takes the department-year's shared advisory lock:
    app.reporting.locks.HELD); one, after it, reads the department-year's approval state and period
    with the cell's other years, the indicator's bounds and whether a rule reads it (for the
    warnings, app.quality.warnings); then the revision and the update. On PostgreSQL those last
    three are one statement (app.cells.store.CellStore.put, `along`). Then expert-hazards-found, an
    operand of a seed rule, has it judged by four more (the rules, the department's code, their
    operands, the figures). Each statement is seen by the listeners, those
    the driver sends itself (app.core.db.rows.DriverQuery) included."""
    engine, _ = served
    with Session(engine) as session, session.begin():
        data = TokenCreate(name="zone-clerk", role=Role.clerk, department="zone")
        token, clerk = tokens.create(session, data=data, actor="test")
        token.last_used_at = utcnow()  # in use this hour: its use is not recorded again (test_expiry)
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(" ".join(args[2].split())))

    async def put(department: str) -> httpx.Response:
        async with _client() as client:
            return await client.put(
                f"/api/v1/observations/expert-hazards-found/{department}/2021",
                json={"value": 400, "source": "test"},
                headers={"Authorization": f"Bearer {clerk}"},
            )

    response = asyncio.run(put("emergency-management"))  # below the clerk's zone
    assert response.status_code == 200, response.text
    steps = [
        # the token, the path, whether it lies within the clerk's department, the current row
        "WITH RECURSIVE chain",
        *(
            [
                # the cell's other years, bounds and rules, with the department-year's state
                "SELECT indicator.expected_min",
                "INSERT INTO observation_revision",
                "UPDATE observation",
            ]
            if engine.dialect.name == "sqlite"
            else ["WITH revision AS (INSERT INTO observation_revision"]  # all three at once
        ),
        # the seed rule reading expert-hazards-found judged
        "SELECT validation_rule.",
        "SELECT department.id, department.code",
        "SELECT indicator.id, indicator.code",
        "SELECT observation.department_id",
    ]
    assert len(sent) == len(steps), sent
    assert all(statement.startswith(step) for statement, step in zip(sent, steps, strict=True)), sent
    assert "FROM api_token" in sent[0] and "FROM observation" in sent[0]
    assert "FROM approval" in sent[1] and "FROM period_exception" in sent[1]
    assert "FROM indicator LEFT OUTER JOIN observation" in sent[1]
    if engine.dialect.name == "postgresql":
        assert "changed AS (UPDATE observation SET" in sent[1]
    if engine.dialect.name == "postgresql":
        assert "FOR UPDATE" in sent[0] and "pg_advisory_xact_lock_shared(department.id" in sent[0]
    else:
        assert "pg_advisory" not in " ".join(sent)
    with Session(engine) as session:
        assert revisions(session, "expert-hazards-found", "emergency-management", 2021)[-1].value_after == 400

    with Session(engine) as session, session.begin():
        data = TokenCreate(name="em-clerk", role=Role.clerk, department="emergency-management")
        token, clerk = tokens.create(session, data=data, actor="test")
        token.last_used_at = utcnow()
    sent.clear()  # out of scope: refused by that same first query, nothing written
    response = asyncio.run(put("urban-management"))
    assert response.status_code == 403, response.text
    assert len(sent) == 1 and sent[0].startswith("WITH RECURSIVE chain"), sent


def test_a_put_refused_by_its_department_years_state_writes_nothing(served: tuple[Engine, str]) -> None:
    """On PostgreSQL the department-year's state is read by the statement that writes the change
    (app.observations.service.put), and a refusal rolls that change back; on SQLite it is read
    first. Either way: 409, the figure and its history as they were, and a stale If-Match on the
    locked cell answers 409 too (a refusal comes before a failed precondition, RFC 9110 13.2.1).
    Once the year is open again, the same stale If-Match is 412, and nothing is written either."""
    engine, secret = served
    headers = {"Authorization": f"Bearer {secret}"}
    with Session(engine) as session, session.begin():
        before = stored(session, *KEY)
        assert before is not None
        value, version, history = before.value, before.version, len(revisions(session, *KEY))
        zone = session.scalar(select(Department.id).where(Department.code == "zone"))
        session.execute(delete(Approval).where(Approval.department_id == zone, Approval.year == 2021))
        session.add(Approval(department_id=zone, year=2021, state=State.approved, approved_by="test"))

    async def put(extra: dict[str, str]) -> httpx.Response:
        async with _client() as client:
            return await client.put(CELL, json={"value": 4321}, headers={**headers, **extra})

    def unchanged() -> None:
        with Session(engine) as session:
            now = stored(session, *KEY)
            assert now is not None and (now.value, now.version) == (value, version)
            assert len(revisions(session, *KEY)) == history

    for extra in ({}, {"If-Match": f'"{version}"'}, {"If-Match": '"999"'}):
        response = asyncio.run(put(extra))
        assert response.status_code == 409, response.text
        assert response.json()["type"].endswith("/locked") and response.json()["approved_by"] == "test"
        unchanged()
    with Session(engine) as session, session.begin():
        session.execute(delete(Approval).where(Approval.department_id == zone, Approval.year == 2021))
    response = asyncio.run(put({"If-Match": '"999"'}))
    assert response.status_code == 412, response.text
    unchanged()
    response = asyncio.run(put({"If-Match": f'"{version}"'}))
    assert response.status_code == 200 and response.json()["version"] == version + 1, response.text


def test_a_read_of_one_statement_sends_no_begin_or_commit_on_postgresql(served: tuple[Engine, str]) -> None:
    """GET one observation and a series of a few cells run in autocommit on PostgreSQL; a read of
    several statements (a rolled-up series) keeps one snapshot, in a transaction."""
    engine, secret = served
    modes: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if engine.dialect.name == "postgresql":
            modes.append((statement.split()[0], conn.connection.driver_connection.autocommit))

    event.listen(engine, "before_cursor_execute", record)
    headers = {"Authorization": f"Bearer {secret}"}

    async def read(path: str) -> httpx.Response:
        async with _client() as client:
            return await client.get(path, headers=headers)

    for path in (CELL, "/api/v1/series?indicator=service-items-on-time&department=zone"):
        modes.clear()
        response = asyncio.run(read(path))
        assert response.status_code == 200, response.text
        assert "1007" in response.text
        if engine.dialect.name == "postgresql":
            assert modes and all(autocommit for _, autocommit in modes), (path, modes)
    modes.clear()
    response = asyncio.run(read("/api/v1/series?indicator=service-items-on-time&rollup=true"))
    assert response.status_code == 200, response.text
    if engine.dialect.name == "postgresql":
        assert len(modes) > 1 and not any(autocommit for _, autocommit in modes), modes


KEPT = (
    "/api/v1/comparison?indicator=service-items-on-time&year=2021&base_year=2020",
    "/api/v1/compliance?year=2021",
    "/api/v1/completeness?year=2021",
)


@pytest.fixture
def nothing_kept() -> None:
    """No answer kept by an earlier test (the memos are the process's): the first read computes."""
    for memo in (COMPARISONS, COMPLETENESS, compliance_router.MEMO):
        memo.clear()


@pytest.mark.parametrize("path", KEPT)
@pytest.mark.usefixtures("nothing_kept")
def test_a_kept_answer_is_found_by_one_statement_sent_alone_on_postgresql(
    served: tuple[Engine, str], path: str
) -> None:
    """A comparison, compliance or completeness answer kept (app.core.memo) is found by the one
    statement of its generation, without BEGIN and COMMIT on PostgreSQL. One not kept is computed in
    a snapshot, which reads the generation again first: the answer is kept under the generation of
    the data it was computed from."""
    engine, secret = served
    sent: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append((statement, getattr(conn.connection.driver_connection, "autocommit", None) is True))

    headers = {"Authorization": f"Bearer {secret}"}

    async def read(url: str) -> httpx.Response:
        async with _client() as client:
            return await client.get(url, headers=headers)

    asyncio.run(read(CELL))  # the token's use in this hour is recorded (tests/auth/test_expiry)
    event.listen(engine, "before_cursor_execute", record)
    first = asyncio.run(read(path))
    assert first.status_code == 200, first.text
    computed = list(sent)
    sent.clear()
    again = asyncio.run(read(path))
    assert (again.status_code, again.content) == (200, first.content)
    assert len(sent) == 1, sent
    generation = sent[0][0]
    if engine.dialect.name != "postgresql":
        return
    assert sent[0][1], "a kept answer's statement runs in autocommit"
    # The answer not kept: the generation alone, then again in the snapshot its answer was read in.
    assert computed[0] == (generation, True), computed[:2]
    assert computed[1] == (generation, False), computed[:2]
    assert len(computed) > 2 and not any(alone for _, alone in computed[1:]), computed


@pytest.mark.parametrize("path", KEPT)
@pytest.mark.usefixtures("nothing_kept")
def test_requests_missing_the_same_answer_at_once_compute_it_once(
    served: tuple[Engine, str], path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six requests for an answer no worker keeps yet, at once (a dashboard after a write): one
    computes it, the other five wait for it and send the same bytes (app.core.memo)."""
    _, secret = served
    computed: list[object] = []
    answer = Memo.answer

    def slow(self: Memo[Any], key: object, compute: Any, *, store: bool = True) -> Any:
        def counted() -> Any:
            computed.append(key)
            time.sleep(0.3)  # every other request arrives while it runs
            return compute()

        return answer(self, key, counted, store=store)

    monkeypatch.setattr(Memo, "answer", slow)
    headers = {"Authorization": f"Bearer {secret}"}

    async def burst() -> list[httpx.Response]:
        async with _client() as client:
            assert (await client.get(CELL, headers=headers)).status_code == 200  # the token's use recorded
            return list(await asyncio.gather(*(client.get(path, headers=headers) for _ in range(6))))

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 6, responses[0].text
    assert len({r.content for r in responses}) == 1
    assert len(computed) == 1, computed


@pytest.mark.parametrize("path", KEPT)
@pytest.mark.usefixtures("nothing_kept")
def test_a_tokens_first_read_of_an_answer_not_kept_records_its_use(
    served: tuple[Engine, str], path: str
) -> None:
    """The generation's statement, sent alone, checks the token and records its use; the answer not
    kept is then computed in a snapshot, and the use stays recorded (tests/auth/test_expiry)."""
    engine, secret = served

    async def read() -> httpx.Response:
        async with _client() as client:
            return await client.get(path, headers={"Authorization": f"Bearer {secret}"})

    with Session(engine) as session:
        assert session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "writer")) is None
    response = asyncio.run(read())
    assert response.status_code == 200, response.text
    with Session(engine) as session:
        assert session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "writer")) is not None


def test_an_authenticated_read_of_one_cell_checks_its_token_in_its_one_query(
    served: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, secret = served
    with Session(engine) as session, session.begin():
        _, revoked = tokens.create(session, data=TokenCreate(name="gone", role=Role.viewer), actor="test")
        tokens.revoke(session, name="gone")
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    missing = "/api/v1/observations/service-items-on-time/zone/2019"

    async def read(path: str, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with _client() as client:
            return await client.get(path, headers=headers)

    asyncio.run(read(CELL, secret))  # the token's use in this hour is recorded (tests/auth/test_expiry)
    sent.clear()
    response = asyncio.run(read(CELL, secret))
    assert response.status_code == 200 and response.json()["value"] == 1007, response.text
    assert len(sent) == 1 and "api_token" in sent[0], sent  # no lookup of its own
    for token in (revoked, "ind_" + "x" * 43):  # revoked, unknown: 401 whether the cell exists or not
        for path in (CELL, missing):
            response = asyncio.run(read(path, token))
            assert response.status_code == 401, (path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["detail"] == "The token is unknown or revoked"
    assert asyncio.run(read(missing, secret)).status_code == 404
    assert asyncio.run(read(CELL, None)).status_code == 401  # public read is off
    monkeypatch.setenv("INDICATORS_PUBLIC_READ", "true")
    get_settings.cache_clear()
    try:
        assert asyncio.run(read(CELL, None)).status_code == 200
        assert asyncio.run(read(CELL, "ind_" + "x" * 43)).status_code == 401  # a token sent is checked
    finally:
        monkeypatch.delenv("INDICATORS_PUBLIC_READ")
        get_settings.cache_clear()


def test_an_invalid_write_with_a_bad_token_is_401_in_the_real_unit_of_work(
    served: tuple[Engine, str],
) -> None:
    """The write's token is checked by its own first query, which an invalid request never reaches;
    the 401 still comes first, asked of the request's session once its unit of work has ended, and
    on SQLite that check leaves no lock behind."""
    engine, secret = served
    with Session(engine) as session, session.begin():
        _, viewer = tokens.create(session, data=TokenCreate(name="reader", role=Role.viewer), actor="test")

    async def scenario() -> list[httpx.Response]:
        async with _client() as client:
            bad = {"value": "lots"}
            return [
                await client.put(CELL, json=bad, headers={"Authorization": "Bearer ind_" + "y" * 43}),
                await client.put(CELL, json=bad, headers={"Authorization": f"Bearer {viewer}"}),
                await client.put(CELL, json=bad, headers={"Authorization": f"Bearer {secret}"}),
                await client.put(CELL, json={"value": 4321}, headers={"Authorization": f"Bearer {secret}"}),
            ]

    unknown, too_low, invalid, written = asyncio.run(scenario())
    assert (unknown.status_code, too_low.status_code, invalid.status_code) == (401, 403, 422)
    assert written.status_code == 200, written.text  # nothing held the write lock
    if engine.dialect.name == "sqlite":
        assert _writers_file_is_free(engine.url.database or "")
    with Session(engine) as session:
        observation = stored(session, *KEY)
        assert observation is not None and observation.value == 4321 and observation.version == 2
