"""app.core.db.retry: which database failures are run again, and how the retry middleware behaves."""

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa
from starlette.responses import Response, StreamingResponse

from app.core import problems
from app.core.db.retry import ATTEMPTS, DatabaseRetry, classify, commit_outcome_unknown
from tests.helpers import problem


def sqlite_busy(tmp_path: Path) -> sqlite3.OperationalError:
    """A real 'database is locked': a second writer while the first holds the write lock."""
    path = tmp_path / "busy.db"
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None, timeout=0)
    first.execute("BEGIN IMMEDIATE")
    try:
        second.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        first.close()
        second.close()
    raise AssertionError("the second writer was not refused")


def wrapped(orig: BaseException, cls: type[sa.DBAPIError] = sa.OperationalError) -> sa.DBAPIError:
    return cls("UPDATE observation ...", {}, orig)


def test_passing_failures_are_retried(tmp_path: Path) -> None:
    assert classify(wrapped(sqlite_busy(tmp_path))) == "retry"
    assert classify(wrapped(psycopg.errors.SerializationFailure())) == "retry"
    assert classify(wrapped(psycopg.errors.DeadlockDetected())) == "retry"
    assert classify(wrapped(psycopg.errors.AdminShutdown())) == "retry"  # pg_terminate_backend
    assert classify(wrapped(psycopg.OperationalError("server closed the connection unexpectedly"))) == "retry"
    # Raised by raw driver code (COPY), not wrapped by SQLAlchemy: a writer that raced another.
    assert classify(psycopg.errors.UniqueViolation()) == "retry"


def test_a_database_that_is_not_there_is_unavailable() -> None:
    assert classify(wrapped(psycopg.errors.InvalidCatalogName())) == "unavailable"
    assert classify(sa.TimeoutError("QueuePool limit reached")) == "unavailable"


def test_real_errors_are_not_retried(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "x.db")
    connection.execute("CREATE TABLE t (k INTEGER UNIQUE)")
    connection.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as unique:
        connection.execute("INSERT INTO t VALUES (1)")
    connection.close()
    assert classify(wrapped(unique.value, sa.IntegrityError)) is None
    assert classify(wrapped(psycopg.errors.CheckViolation(), sa.IntegrityError)) is None
    assert classify(wrapped(psycopg.errors.UndefinedTable(), sa.ProgrammingError)) is None
    assert classify(ValueError("not a database error")) is None


def test_only_a_silent_break_during_commit_leaves_the_outcome_unknown() -> None:
    assert commit_outcome_unknown(wrapped(psycopg.OperationalError("server closed the connection")))
    # The server said why: it aborted the transaction, so the work may run again.
    assert not commit_outcome_unknown(wrapped(psycopg.errors.AdminShutdown()))
    assert not commit_outcome_unknown(wrapped(psycopg.errors.SerializationFailure()))


def flaky_app(failures: int, error: BaseException) -> tuple[FastAPI, list[bytes]]:
    """An app whose endpoint reads the body, then fails `failures` times before it echoes it."""
    app = FastAPI()
    problems.install(app)
    seen: list[bytes] = []

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        body = await request.body()
        seen.append(body)
        if len(seen) <= failures:
            raise error
        return Response(body, media_type="application/octet-stream")

    @app.get("/stream")
    async def stream() -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            seen.append(b"stream")
            yield b"first"
            raise error

        return StreamingResponse(chunks())

    app.add_middleware(DatabaseRetry)
    return app, seen


def test_a_failed_unit_of_work_runs_again_with_the_same_body() -> None:
    app, seen = flaky_app(3, wrapped(psycopg.errors.SerializationFailure()))
    body = b"x" * 100_000
    with TestClient(app) as client:
        response = client.post("/echo", content=body)
    assert response.status_code == 200
    assert response.content == body
    assert seen == [body] * 4


def test_retries_are_bounded_and_end_in_503_problem() -> None:
    app, seen = flaky_app(1000, wrapped(psycopg.errors.DeadlockDetected()))
    with TestClient(app) as client:
        response = client.post("/echo", content=b"{}")
    body = problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert "nothing was written" in body["detail"]
    assert len(seen) == ATTEMPTS


def test_a_database_that_is_gone_is_503_at_once() -> None:
    app, seen = flaky_app(1000, wrapped(psycopg.errors.InvalidCatalogName()))
    with TestClient(app) as client:
        problem(client.post("/echo", content=b"{}"), 503)
    assert len(seen) == 1


def test_other_errors_are_not_retried_and_stay_500() -> None:
    app, seen = flaky_app(1000, wrapped(psycopg.errors.CheckViolation(), sa.IntegrityError))
    with TestClient(app, raise_server_exceptions=False) as client:
        problem(client.post("/echo", content=b"{}"), 500)
    assert len(seen) == 1


def test_nothing_is_run_again_once_the_answer_has_started() -> None:
    app, seen = flaky_app(1000, wrapped(psycopg.errors.SerializationFailure()))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/stream")
    assert response.content.startswith(b"first")
    assert seen == [b"stream"]
