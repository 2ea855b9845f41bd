"""Engine, SQLite pragmas, and the per-request unit of work."""

import fcntl
import os
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import (
    Engine,
    MetaData,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from app import admission, resilience
from app.config import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_setup(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up front;
    # we emit BEGIN ourselves so that writes start with BEGIN IMMEDIATE and never deadlock on upgrade.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        # Straight to the driver: every request begins a transaction, and SQLAlchemy's statement
        # machinery costs more than the BEGIN itself. (A busy database raises sqlite3's own
        # OperationalError here, which app.resilience recognises as well as SQLAlchemy's.)
        driver = connection.connection.driver_connection
        if connection.get_execution_options().get("sqlite_wait", True):
            driver.execute(f"BEGIN {mode}")
            return
        # Asked by the event loop (take_write_lock): fail at once rather than wait for the lock.
        driver.execute("PRAGMA busy_timeout=0")
        try:
            driver.execute(f"BEGIN {mode}")
        finally:
            driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    settings = get_settings()
    url = url or settings.database_url
    if make_url(url).database not in (None, "", ":memory:"):  # an in-memory SQLite has no queue pool
        kwargs.setdefault("pool_size", settings.db_pool_size)
        kwargs.setdefault("max_overflow", settings.db_max_overflow)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        _sqlite_setup(engine)
        return engine
    # No ping at each checkout (a round trip per request): a connection the server has closed fails
    # at its request's first statement, SQLAlchemy then drops every connection of the pool made
    # before it, and app.resilience runs the request again on a new one (test_faults kills the
    # server's backends under load and drops the database: nothing is lost, no 500).
    kwargs.setdefault("pool_pre_ping", False)
    # A server that does not answer costs a request seconds to find out, not the OS's minutes: reads
    # talk to the database on the event loop (app.auth.dependencies, get_session, GET one observation),
    # so a connection must not hang there. connect_timeout bounds connecting; tcp_user_timeout (ms)
    # bounds a query sent to a server that has vanished from the network.
    kwargs.setdefault("connect_args", {"connect_timeout": 5, "tcp_user_timeout": 10_000})
    return create_engine(url, **kwargs)


@lru_cache
def get_engine() -> Engine:
    return make_engine()


@lru_cache
def _sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False, autoflush=False)


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
def _autocommit(engine: Engine) -> Engine:
    """The engine whose statements each commit on their own: no BEGIN, no COMMIT (see one_statement)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


E = TypeVar("E", bound=Callable[..., Any])
_ONE_STATEMENT = "indicators_one_statement"


def one_statement(endpoint: E) -> E:
    """Mark a read route whose work is one statement, its token checked in it (GET one observation,
    app.auth.dependencies.read_token): on PostgreSQL its session sends it without BEGIN and COMMIT
    (`bench.inproc get --backend postgresql`, when the token was a statement of its own: 643-653 ->
    537-589 µs of CPU, 906-961 -> 702-795 µs). A statement in autocommit sees the database as it
    is when it runs; a read of one statement needs no more."""
    setattr(endpoint, _ONE_STATEMENT, True)
    return endpoint


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


async def _in_thread(finish: Callable[[Session], None], session: Session) -> None:
    # Shielded, and with a limiter of its own (as FastAPI ends sync generators): the connection goes
    # back to the pool even when the request is cancelled or every worker thread waits for one.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(finish, session, limiter=anyio.CapacityLimiter(1))


# Session.info keys of a request's unit of work.
_SQLITE_WRITE = "indicators.sqlite_write"  # get_session's write on SQLite: its transaction is BEGIN IMMEDIATE
_LOCKED = "indicators.write_lock"  # SQLite: this session holds the write lock; nothing it runs waits
_INLINE = "indicators.inline"  # its work ran on the event loop, so does its COMMIT
_COMMITTED = "indicators.committed"  # run_write committed it already
_WRITERS = "indicators.writers"  # SQLite: the open writers' file, locked while this unit writes

T = TypeVar("T")


def _begin(session: Session) -> None:
    session.connection()


def holds_write_lock(session: Session) -> bool:
    return bool(session.info.get(_LOCKED))


def _writers_path(session: Session) -> str | None:
    """The file beside a SQLite database that the service's writers lock in turn; None in memory."""
    database = session.get_bind().engine.url.database
    return None if database in (None, "", ":memory:") else f"{database}.writers"


def _wait_for_writers(session: Session) -> None:
    fcntl.flock(session.info[_WRITERS], fcntl.LOCK_EX)


def _release_writers(session: Session) -> None:
    descriptor = session.info.pop(_WRITERS, None)
    if descriptor is not None:
        os.close(descriptor)  # which unlocks it


async def take_write_lock(session: Session) -> None:
    """SQLite: begin get_session's write (BEGIN IMMEDIATE) now, on the event loop when the lock is
    free, else waiting for it in a worker thread; a no-op for any other session, or when done.

    Writers of this process queue in app.admission; those of other worker processes queue on a lock
    file beside the database (flock), which wakes the next one the moment it is released, where
    SQLite's busy handler sleeps in steps of up to 100 ms (PUT p99 at 2 workers, 8 connections:
    100 ms with it). SQLite's own lock is then free unless another program (`indicators import`)
    holds it. Once the lock is held, no statement of the unit waits for anything: its token lookup
    and run_write's work then run on the loop. get_session releases the file when the unit ends.
    """
    if session.info.get(_LOCKED) or not session.info.get(_SQLITE_WRITE):
        return
    path = _writers_path(session)
    try:
        descriptor = None if path is None else os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        descriptor = None  # a folder that is not there or not writable: SQLite will say what is wrong
    if descriptor is not None:
        session.info[_WRITERS] = descriptor
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await _in_thread(_wait_for_writers, session)
    try:
        session.connection(execution_options={"sqlite_wait": False})
    except Exception as exc:
        if resilience.classify(exc) != "retry":  # not SQLITE_BUSY: a real failure
            raise
        session.close()  # nothing began; the next connection() checks out a connection again
        await _in_thread(_begin, session)
    session.info[_LOCKED] = True


async def run_write(session: Session, work: Callable[[], T]) -> T:
    """A short write's work (one cell), where it costs least, before the answer is made.

    On SQLite with the write lock held (take_write_lock), on the event loop, as is its COMMIT
    (get_session's, when the route returns): its statements cannot wait, and a trip to a worker
    thread costs more than the work (PUT one observation, `bench.inproc put`: three trips 1,465 µs
    CPU, none 1,050). The one longer step is the checkpoint SQLite runs at a COMMIT once its WAL
    holds 1,000 pages, every 200 or so PUTs: a few milliseconds. Otherwise in one worker thread,
    COMMIT included: PostgreSQL may wait for a row lock, or for the disk at COMMIT (three trips
    2,145 µs, one 1,909).
    """
    if holds_write_lock(session):
        session.info[_INLINE] = True
        return work()

    def work_and_commit() -> T:
        result = work()
        resilience.commit(session)
        session.info[_COMMITTED] = True
        return result

    return await run_in_threadpool(work_and_commit)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request: commit on success, roll back on any error.

    Async, so that FastAPI opens it without a trip through the thread pool: a new Session does no
    I/O (it connects at its first query, with BEGIN IMMEDIATE on SQLite for a write). Committing and
    rolling back do: in a worker thread, except where they wait on nothing (a read's COMMIT, a
    write run on the loop by run_write).

    At most INDICATORS_DB_CONCURRENCY requests per worker have a session at once, and on SQLite one
    writer: the others wait their turn in the event loop (app.admission).

    A unit of work that failed for a passing reason (a busy SQLite, a PostgreSQL serialization failure,
    a dropped connection) is run again whole by app.resilience.DatabaseRetry."""
    maker = _sessionmaker()
    engine = maker.kw["bind"]
    dialect = engine.dialect.name
    reading = request.method in READ_METHODS
    write = request.method in WRITE_METHODS and dialect == "sqlite"
    await admission.enter(request.scope, limit=get_settings().db_concurrency, sqlite_writer=write)
    try:
        bind = engine
        if write:
            bind = _immediate(engine)
        elif reading and dialect == "postgresql":
            alone = getattr(request.scope.get("endpoint"), _ONE_STATEMENT, False)
            bind = _autocommit(engine) if alone else _snapshot(engine)
        session = maker(bind=bind, info={_SQLITE_WRITE: write})
        try:
            try:
                yield session
            except BaseException:
                if session.info.get(_INLINE):
                    _roll_back(session)
                else:
                    await _in_thread(_roll_back, session)
                raise
            if session.info.get(_COMMITTED):
                session.close()  # nothing left to send: the connection goes back to the pool
            elif reading or session.info.get(_INLINE):
                _commit(session)  # waits on no lock: no trip to a thread
            else:
                await _in_thread(_commit, session)
        finally:
            _release_writers(session)
    finally:
        admission.leave(request.scope)
