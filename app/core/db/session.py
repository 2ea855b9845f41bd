"""The per-request unit of work: one session, committed on success, rolled back on an error."""

import fcntl
import os
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import get_settings
from app.core.db import gate as admission
from app.core.db import retry as resilience
from app.core.db.engine import get_engine
from app.core.threads import in_thread

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD"})


def begin_for_write(session: Session) -> None:
    """Take the write lock at the start on SQLite, so concurrent writers queue instead of failing."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


@lru_cache(maxsize=4)
def _immediate(engine: Engine) -> Engine:
    """The engine whose transactions begin with BEGIN IMMEDIATE on SQLite (see _sqlite_setup)."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


@lru_cache(maxsize=4)
def _snapshot(engine: Engine) -> Engine:
    """The engine whose transactions see one snapshot throughout (REPEATABLE READ), for reads on
    PostgreSQL: a read of several statements (compliance's summary and its page) sees the database
    as of its first statement, as SQLite's WAL readers always do. A read-only transaction at this
    level never fails to serialize, and psycopg asks for it in its BEGIN: no extra round trip."""
    return engine.execution_options(isolation_level="REPEATABLE READ")


@lru_cache(maxsize=4)
def _alone(engine: Engine) -> Engine:
    """The engine of reads whose statements each go alone, no BEGIN, no COMMIT (see one_statement):
    in autocommit on PostgreSQL. On SQLite the same engine under a name of its own: lend() knows a
    session sending its statements alone by it (any statement the Session itself sends still
    begins, app.core.db.engine)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(indicators_alone=True)


E = TypeVar("E", bound=Callable[..., Any])
U = TypeVar("U", bound=Session)
_ONE_STATEMENT = "indicators_one_statement"


def one_statement(endpoint: E) -> E:
    """Mark a read route whose work is one statement, its token checked in it (GET one observation,
    app.auth.dependencies.read_token): its session sends it without BEGIN and COMMIT, on a connection
    the pool lends it (lend). A statement in autocommit sees the database as it is when it runs; a
    read of one statement needs no more."""
    setattr(endpoint, _ONE_STATEMENT, True)
    return endpoint


def one_statement_now(session: Session) -> bool:
    """As one_statement, for a read that knows only once its parameters are read that its work is one
    statement (a series of a few cells): said before its first statement, which the session then
    sends without BEGIN and COMMIT. A session that has begun, or not a read's, is left as it is.
    True when the session now sends its statements on their own (snapshot_again undoes it)."""
    if isinstance(session, UnitOfWork) and session.alone is not None and not session.in_transaction():
        session.snapshot = session.bind
        session.bind = session.alone
        return True
    return False


def snapshot_again(session: Session) -> None:
    """Undo one_statement_now once its read found it needs more than one statement: what ran so far
    is committed (a token's use recorded: on its own on PostgreSQL, in the transaction the Session
    began for it on SQLite); the session's next statements run in one snapshot, as a read's do."""
    assert isinstance(session, UnitOfWork) and session.snapshot is not None
    if session.in_transaction():
        _commit(session)  # and closed: the connection back to the pool
    else:
        session.close()
    session.bind, session.snapshot = session.snapshot, None


class Lent(NamedTuple):
    """A pooled connection lent to one statement of a session that sends its statements alone
    (lend); what before_cursor_execute's listeners are given for it, in place of SQLAlchemy's
    Connection: the pool's DBAPI connection, the engine's dispatch and its dialect."""

    connection: Any  # the pool's DBAPI connection (its driver_connection: psycopg's or sqlite3's)
    dispatch: Any
    dialect: Dialect

    def invalidate(self) -> None:
        self.connection.invalidate()


def lend(session: Session) -> Lent | None:
    """A connection of the pool for one statement that `session` would send alone (one_statement,
    one_statement_now: no BEGIN, no COMMIT; in autocommit on PostgreSQL, outside a transaction on
    SQLite, whose connections pysqlite leaves to us, app.core.db.engine), without the Session's
    transaction and SQLAlchemy's Connection around it, which cost a read of one statement more CPU
    than the statement (BENCHMARKS.md); None when the session sends its statements in a
    transaction, or has begun. give_back() returns it."""
    if not isinstance(session, UnitOfWork) or session.alone is None or session.bind is not session.alone:
        return None
    if session.in_transaction():
        return None
    engine = session.alone
    connection: Any = engine.raw_connection()
    if engine.dialect.name == "postgresql":
        try:
            connection.driver_connection.autocommit = True
        except BaseException:
            connection.invalidate()
            raise
    return Lent(connection, engine.dispatch, engine.dialect)


def give_back(lent: Lent) -> None:
    """A lent connection back to the pool, as it was lent: out of autocommit, or invalidated when
    it cannot be (the server closed it, or a statement is still running on it)."""
    driver = lent.connection.driver_connection
    try:
        if driver is not None and lent.dialect.name == "postgresql":
            driver.autocommit = False
    except Exception:
        lent.connection.invalidate()
    finally:
        lent.connection.close()


def _commit(session: Session) -> None:
    try:
        resilience.commit(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _roll_back(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def _in_thread_of_its_own(finish: Callable[[U], None], session: U) -> None:
    # Shielded, and with a limiter of its own (as FastAPI ends sync generators): the connection goes
    # back to the pool even when the request is cancelled or every worker thread waits for one. Not
    # app.core.threads.in_thread, whose trips wait for a thread once MAX_THREADS are busy.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(finish, session, limiter=anyio.CapacityLimiter(1))


class UnitOfWork(Session):
    """A request's session, and what its unit of work knows of itself as it runs."""

    # SQLite: the unit writes, so its transaction begins with BEGIN IMMEDIATE (take_write_lock).
    sqlite_write = False
    # SQLite: it holds the write lock, so nothing it runs waits.
    write_locked = False
    # Its work ran on the event loop (run_write), so does its COMMIT.
    inline = False
    # run_write committed it already.
    committed = False
    # SQLite: the open file of writers beside the database, locked while this unit writes.
    writers: int | None = None
    # A read: the engine of one_statement's reads (one_statement_now).
    alone: Engine | None = None
    # The engine of its snapshot while one_statement_now has it send statements alone.
    snapshot: Engine | Connection | None = None


def sessionmaker_for(engine: Engine) -> "sessionmaker[UnitOfWork]":
    """Sessions of requests' units of work on `engine`."""
    return sessionmaker(bind=engine, class_=UnitOfWork, expire_on_commit=False, autoflush=False)


@lru_cache
def sessionmaker_for_requests() -> "sessionmaker[UnitOfWork]":
    return sessionmaker_for(get_engine())


T = TypeVar("T")


def _begin(session: Session) -> None:
    session.connection()


def holds_write_lock(session: Session) -> bool:
    return isinstance(session, UnitOfWork) and session.write_locked


def _writers_path(session: Session) -> str | None:
    """The file beside a SQLite database that the service's writers lock in turn; None in memory."""
    database = session.get_bind().engine.url.database
    return None if database in (None, "", ":memory:") else f"{database}.writers"


def _wait_for_writers(session: UnitOfWork) -> None:
    assert session.writers is not None
    fcntl.flock(session.writers, fcntl.LOCK_EX)


def _release_writers(session: UnitOfWork) -> None:
    descriptor, session.writers = session.writers, None
    if descriptor is not None:
        os.close(descriptor)  # which unlocks it


async def take_write_lock(session: Session) -> None:
    """SQLite: begin get_session's write (BEGIN IMMEDIATE) now, on the event loop when the lock is
    free, else waiting for it in a worker thread; a no-op for any other session, or when done.

    Writers of this process queue in app.core.db.gate; those of other worker processes queue on a lock
    file beside the database (flock), which wakes the next one the moment it is released, where
    SQLite's busy handler sleeps in steps of up to 100 ms (PUT p99 at 2 workers, 8 connections:
    100 ms with it). SQLite's own lock is then free unless another program (`indicators import`)
    holds it. Once the lock is held, no statement of the unit waits for anything: its token lookup
    and run_write's work then run on the loop. get_session releases the file when the unit ends.
    """
    if not isinstance(session, UnitOfWork) or session.write_locked or not session.sqlite_write:
        return
    path = _writers_path(session)
    try:
        descriptor = None if path is None else os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        descriptor = None  # a folder that is not there or not writable: SQLite will say what is wrong
    if descriptor is not None:
        session.writers = descriptor
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await _in_thread_of_its_own(_wait_for_writers, session)
    try:
        session.connection(execution_options={"sqlite_wait": False})
    except Exception as exc:
        if resilience.classify(exc) != "retry":  # not SQLITE_BUSY: a real failure
            raise
        session.close()  # nothing began; the next connection() checks out a connection again
        await _in_thread_of_its_own(_begin, session)
    session.write_locked = True


async def run_write(session: Session, work: Callable[[], T]) -> T:
    """A short write's work (one cell), where it costs least, before the answer is made.

    On SQLite with the write lock held (take_write_lock), on the event loop, as is its COMMIT
    (get_session's, when the route returns): its statements cannot wait, and a trip to a worker
    thread costs more than the work. The one longer step is the checkpoint SQLite runs at a COMMIT
    once its WAL holds 1,000 pages, every 200 or so PUTs: a few milliseconds. Otherwise in one worker
    thread, COMMIT included: PostgreSQL may wait for a row lock, or for the disk at COMMIT.
    """
    if isinstance(session, UnitOfWork) and session.write_locked:
        session.inline = True
        return work()

    def work_and_commit() -> T:
        result = work()
        resilience.commit(session)
        if isinstance(session, UnitOfWork):
            session.committed = True
        return result

    return await in_thread(work_and_commit)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request: commit on success, roll back on any error.

    Async, so that FastAPI opens it without a trip through the thread pool: a new Session does no
    I/O (it connects at its first query, with BEGIN IMMEDIATE on SQLite for a write). Committing and
    rolling back do: in a worker thread, except where they wait on nothing (a read's COMMIT, a
    write run on the loop by run_write).

    At most INDICATORS_DB_CONCURRENCY requests per worker have a session at once, and on SQLite one
    writer: the others wait their turn in the event loop (app.core.db.gate).

    A unit of work that failed for a passing reason (a busy SQLite, a PostgreSQL serialization failure,
    a dropped connection) is run again whole by app.core.db.retry.DatabaseRetry."""
    maker = sessionmaker_for_requests()
    engine = maker.kw["bind"]
    dialect = engine.dialect.name
    reading = request.method in READ_METHODS
    write = request.method in WRITE_METHODS and dialect == "sqlite"
    await admission.enter(request.scope, limit=get_settings().db_concurrency, sqlite_writer=write)
    try:
        bind = engine
        if write:
            bind = _immediate(engine)
        elif reading:
            alone = getattr(request.scope.get("endpoint"), _ONE_STATEMENT, False)
            if alone:
                bind = _alone(engine)
            elif dialect == "postgresql":
                bind = _snapshot(engine)
        session = maker(bind=bind)
        session.sqlite_write = write
        if reading:
            session.alone = _alone(engine)
        try:
            try:
                yield session
            except BaseException:
                if session.inline:
                    _roll_back(session)
                else:
                    await _in_thread_of_its_own(_roll_back, session)
                raise
            if session.committed:
                session.close()  # nothing left to send: the connection goes back to the pool
            elif reading and not session.in_transaction():
                session.close()  # its statements went alone on lent connections (lend), or none ran
            elif reading or session.inline:
                _commit(session)  # waits on no lock: no trip to a thread
            else:
                await _in_thread_of_its_own(_commit, session)
        finally:
            _release_writers(session)
    finally:
        admission.leave(request.scope)
