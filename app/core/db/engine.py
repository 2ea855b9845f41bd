"""The engine: one per process, SQLite with its pragmas and its own BEGIN, PostgreSQL through psycopg 3."""

from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url

from app.core.config import get_settings

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
        # OperationalError here, which app.core.db.retry recognises as well as SQLAlchemy's.)
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
    # before it, and app.core.db.retry runs the request again on a new one (test_faults kills the
    # server's backends under load and drops the database: nothing is lost, no 500).
    kwargs.setdefault("pool_pre_ping", False)
    # A server that does not answer costs a request seconds to find out, not the OS's minutes: reads
    # talk to the database on the event loop (app.auth.dependencies, get_session, GET one observation),
    # so a connection must not hang there. connect_timeout bounds connecting; tcp_user_timeout (ms)
    # bounds a query sent to a server that has vanished from the network.
    connect_args: dict[str, Any] = {"connect_timeout": 5, "tcp_user_timeout": 10_000}
    # None: psycopg never prepares a statement on the server (behind a transaction-mode pooler).
    connect_args["prepare_threshold"] = settings.db_prepare_threshold
    kwargs.setdefault("connect_args", connect_args)
    return create_engine(url, **kwargs)


@lru_cache
def get_engine() -> Engine:
    return make_engine()
