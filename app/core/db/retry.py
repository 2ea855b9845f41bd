"""A unit of work the database refused for a passing reason is run again; a database that is gone is a 503.

Each request is one transaction (app.core.db.session.get_session), rolled back whole when anything fails, so
running the request again from the start is safe as long as nothing of the answer has been sent. What
is passing: PostgreSQL's serialization failures, deadlocks and unique violations between racing
writers, a lock that could not be had, a connection the server closed (a restart,
pg_terminate_backend) or one that could not be opened, and SQLite's "database is locked". What is
not: everything else (a check constraint, a bad query) goes on to the 500 handler as before.

A connection lost while COMMIT was in flight, with no word from the server, leaves the outcome unknown:
that request is answered 503 without a retry (get_session raises CommitOutcomeUnknown), since running
it again could apply it twice.
"""

import asyncio
import logging
import random
import sqlite3
from collections.abc import Iterator

import psycopg
from sqlalchemy import exc as sa
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.problems import ServiceUnavailable, problem_response

log = logging.getLogger("indicators.resilience")

ATTEMPTS = 8  # at most about 1.6 s of waiting in all (see delays)
FIRST_DELAY = 0.02  # seconds; doubled each time, with jitter, so racing writers spread out
MAX_DELAY = 0.5
# A body is kept for a second run up to this size. A larger one (a big batch) is run once: were it
# refused for a passing reason, the answer is 503 and the client sends it again.
MAX_REPLAY_BYTES = 8 * 1024 * 1024

# SQLSTATE classes and codes that say "try again": serialization failure, deadlock, lock not
# available, the server shutting down or starting, too many connections, connection failures, and
# a unique violation. Services look before they insert (409 for what exists), and every version of
# a cell is a revision row unique by (cell, version), so on PostgreSQL a unique violation that gets
# this far means another transaction committed between our look and our write: a write computed
# from what it read is refused rather than lost, and the run again sees the other's row.
_RETRY_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "23505"}
# The database named by the URL does not exist (dropped, or not yet created): unavailable.
_UNAVAILABLE_SQLSTATES = {"3D000"}
_SQLITE_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class CommitOutcomeUnknown(ServiceUnavailable):
    """The connection broke during COMMIT: the write may or may not have been stored."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _driver_errors(exc: BaseException) -> Iterator[tuple[BaseException, bool]]:
    """The driver's errors behind an exception, wrapped by SQLAlchemy or raised by raw driver code
    (COPY), with whether SQLAlchemy found the connection broken."""
    for error in _chain(exc):
        if isinstance(error, sa.DBAPIError) and isinstance(error.orig, BaseException):
            yield error.orig, error.connection_invalidated
        elif isinstance(error, psycopg.Error | sqlite3.Error):
            yield error, False


def _connection_failed(error: psycopg.Error, invalidated: bool) -> bool:
    sqlstate = error.sqlstate or ""
    # psycopg's errors without a SQLSTATE are the connection's own: refused, reset, closed.
    lost = not sqlstate and isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
    return invalidated or lost or sqlstate[:2] == "08" or sqlstate[:3] == "57P"


def classify(exc: BaseException) -> str | None:
    """'retry' for a passing failure, 'unavailable' for a database that cannot be reached, else None."""
    if any(isinstance(error, sa.TimeoutError) for error in _chain(exc)):
        return "unavailable"  # the pool waited its whole timeout for a connection
    for error, invalidated in _driver_errors(exc):
        if isinstance(error, sqlite3.Error):
            code = getattr(error, "sqlite_errorcode", None)
            if code in _SQLITE_BUSY or "database is locked" in str(error):
                return "retry"
            if isinstance(error, sqlite3.OperationalError) and "unable to open" in str(error):
                return "unavailable"
            return None
        if isinstance(error, psycopg.Error):
            if error.sqlstate in _UNAVAILABLE_SQLSTATES:
                return "unavailable"
            if error.sqlstate in _RETRY_SQLSTATES or _connection_failed(error, invalidated):
                return "retry"
            return None
    return None


def commit_outcome_unknown(exc: BaseException) -> bool:
    """The connection broke without the server saying why: a COMMIT in flight may have been stored.

    When the server answers with an error of its own (57P01 from pg_terminate_backend, say), it
    aborted the transaction before committing it, and running the work again is safe.
    """
    for error, invalidated in _driver_errors(exc):
        if isinstance(error, psycopg.Error) and not error.sqlstate:
            return invalidated or isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
    return False


def commit(session: Session) -> None:
    """Commit; a connection lost during COMMIT becomes CommitOutcomeUnknown (503, never retried)."""
    try:
        session.commit()
    except sa.DBAPIError as exc:
        if commit_outcome_unknown(exc):
            raise CommitOutcomeUnknown(
                "The connection to the database broke while the change was being committed; it may or "
                "may not have been stored. Read it back before sending it again."
            ) from exc
        raise


def delays(attempts: int = ATTEMPTS) -> Iterator[float]:
    """Exponential backoff with full jitter, one delay before each new attempt."""
    for n in range(attempts - 1):
        yield random.uniform(0, min(MAX_DELAY, FIRST_DELAY * 2**n))


class DatabaseRetry:
    """ASGI middleware: run the request again when its unit of work failed for a passing reason;
    answer 503 problem+json when the database is down or keeps refusing."""

    def __init__(self, app: ASGIApp, attempts: int = ATTEMPTS) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorded: list[Message] = []
        recorded_bytes = 0
        replayable = True
        started = False

        async def recording_receive() -> Message:
            nonlocal recorded_bytes, replayable
            message = await receive()
            if message["type"] == "http.request" and replayable:
                recorded_bytes += len(message.get("body", b""))
                if recorded_bytes > MAX_REPLAY_BYTES:
                    replayable = False
                    recorded.clear()
                else:
                    recorded.append(message)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        pristine = dict(scope)  # the app below writes into the scope (route, path params)
        backoff: Iterator[float] | None = None
        attempt = 0
        while True:
            attempt += 1
            if attempt == 1:
                attempt_scope, attempt_receive = scope, recording_receive
            else:
                attempt_scope, replay = dict(pristine), iter(list(recorded))

                async def attempt_receive(replay: Iterator[Message] = replay) -> Message:
                    for message in replay:
                        return message
                    return await recording_receive()

            try:
                await self.app(attempt_scope, attempt_receive, tracking_send)
                return
            except Exception as exc:
                kind = classify(exc)
                if kind is None or started:
                    raise
                if backoff is None:
                    backoff = delays(self.attempts)
                delay = next(backoff, None) if kind == "retry" and replayable else None
                if delay is not None:
                    log.info(
                        "%s %s: %s, running it again (attempt %d)",
                        scope.get("method"),
                        scope.get("path"),
                        _describe(exc),
                        attempt + 1,
                    )
                    await asyncio.sleep(delay)
                    continue
                log.warning(
                    "%s %s: database unavailable: %s", scope.get("method"), scope.get("path"), _describe(exc)
                )
                response = problem_response(
                    503,
                    title="Service unavailable",
                    detail="The database does not answer or keeps refusing the work; nothing was written. "
                    "Retry later.",
                    slug="database-unavailable",
                    headers={"Retry-After": "1"},
                )
                await response(pristine, receive, send)
                return


def _describe(exc: BaseException) -> str:
    for error, _ in _driver_errors(exc):
        state = getattr(error, "sqlstate", None)
        text = str(error).strip()
        first = text.splitlines()[0] if text else ""
        return f"{type(error).__name__}{f' [{state}]' if state else ''}: {first}"
    return type(exc).__name__
