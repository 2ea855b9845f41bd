"""A small per-process memo of read answers, keyed by what was asked and the data's generation.

A report that reads the whole year (compliance, completeness) is memoized under (its normalized
parameters, the generation its domain reads from the database in one cheap query on every request).
Each worker asks the database each time, so a write through any worker or process changes the
generation the next reader sees, and the memo is never consulted for the old one. Bounded: the least
recently used answer goes first.
"""

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Engine, Integer, String, cast, func, literal_column, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.core.db.rows import DriverQuery
from app.core.db.session import one_statement_now, snapshot_again
from app.core.threads import in_thread

T = TypeVar("T")


def committed_only(session: Session) -> bool:
    """Whether what `session` reads is committed data only, as far as the memo can tell: not inside
    a savepoint, whose outer transaction may hold writes that can still be rolled back. A session
    bound to an engine that has begun nothing read on its own (app.core.db.session.lend)."""
    if isinstance(session.bind, Engine) and not session.in_transaction():
        return True
    return not session.connection().in_nested_transaction()


class Memo(Generic[T]):
    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, T] = OrderedDict()
        # The answers being computed now, by key (answer_by_generation, on the event loop): done when
        # the computation ends, kept or not.
        self._flights: dict[Hashable, asyncio.Future[None]] = {}

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def answer(self, key: Hashable, compute: Callable[[], T], *, store: bool = True) -> T:
        """The memoized answer under `key`, else `compute()`, kept when `store`."""
        found = self.get(key)
        if found is not None:
            return found
        value = compute()
        if store:
            self.put(key, value)
        return value

    async def answer_by_generation(
        self, session: Session, key: Callable[[], tuple[Hashable, bool]], compute: Callable[[], T]
    ) -> T:
        """The answer under the key `key()` reads (with its generation, by one statement, on the event
        loop), kept, or else computed in a worker thread; `key()` also says whether it may be kept.
        A kept answer costs no trip to a worker thread.

        The key's statement is sent on its own, without BEGIN and COMMIT, on a connection the pool
        lends it (app.core.db.session.lend): a kept answer costs one round trip on PostgreSQL, and
        no Session's transaction. An answer not kept is computed in the read's snapshot:
        the key is read again there, first, so that the answer is kept under the generation it
        was computed from.

        An answer that may be kept and that another request of this worker is computing already is
        waited for, not computed again beside it: after a write, a dashboard's requests all miss at
        once, and their computations competed for the one interpreter (each took many times as
        long); one computes, the others take its answer (or compute their own if it kept none)."""
        alone = one_statement_now(session)
        found_key, keep = key()
        found = self.get(found_key)
        if found is not None:
            return found
        if keep and (found := await self._after_flight(found_key)) is not None:
            return found
        if alone:
            snapshot_again(session)
            found_key, keep = key()
        if not keep:
            return await in_thread(self.answer, found_key, compute, store=False)
        flight = asyncio.get_running_loop().create_future()
        self._flights.setdefault(found_key, flight)
        try:
            return await in_thread(self.answer, found_key, compute, store=True)
        finally:
            if self._flights.get(found_key) is flight:
                del self._flights[found_key]
            flight.set_result(None)

    async def _after_flight(self, key: Hashable) -> T | None:
        """The answer under `key` once the computation of it under way on this event loop ends; None
        when there is none, or it kept no answer."""
        flight = self._flights.get(key)
        if flight is None or flight.get_loop() is not asyncio.get_running_loop():
            return None
        await asyncio.shield(flight)  # a waiter cancelled leaves the computation to the others
        return self.get(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def instants(column: ColumnElement[Any] | InstrumentedAttribute[Any], dialect: str) -> ColumnElement[Any]:
    """The sum of a timestamp column's values in microseconds: it moves whenever a row is stamped
    anew (an update sets `updated_at` to now), whatever order writers committed in, where the
    maximum would not."""
    if dialect == "postgresql":
        return func.sum(cast(func.extract("epoch", column) * 1_000_000, BigInteger))
    seconds = cast(func.strftime("%s", column), Integer) * 1_000_000
    return func.sum(seconds + cast(func.substr(column, 21, 6), Integer))


# No transaction that was running at the statement's snapshot (its xip) is this database's, as far
# as the sessions seen now tell: one not seen (finished since, or another role's) is counted as ours.
_QUIET = (
    "(NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) AS running(xid)"
    " WHERE running.xid::xid NOT IN (SELECT backend_xid FROM pg_stat_activity"
    " WHERE datname <> current_database() AND backend_xid IS NOT NULL)))"
)


def fingerprint(*aggregates: ColumnElement[Any]) -> ColumnElement[Any]:
    """Aggregates of one table as one text value, so that one scan reads them all."""
    parts: list[ColumnElement[Any]] = [func.coalesce(cast(a, String), "-") for a in aggregates]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.concat(":").concat(part)
    return joined


def query(markers: Sequence[ColumnElement[Any]], dialect: str) -> DriverQuery:
    """The statement reading `markers` (and, on PostgreSQL, whether it is quiet): built once by its
    caller and kept, since building a statement of a few scalar subqueries and making its cache key
    cost more than running it (completeness: 2.1 ms of CPU a request, 0.3 ms of them running it);
    run straight on the driver, as every read of a kept answer runs it."""
    columns = list(markers)
    if dialect == "postgresql":
        columns.append(literal_column(_QUIET))
    return DriverQuery(select(*columns))


def generation(
    session: Session,
    markers: Sequence[ColumnElement[Any]] | DriverQuery,
    params: dict[str, Any] | None = None,
) -> tuple[tuple[Any, ...], bool]:
    """The markers' values read in one statement, and whether an answer read now may be kept.

    `markers` is the markers, or the statement query() built of them (with `params` for its bound
    parameters).

    On PostgreSQL a writer's ids and stamps are taken before it commits: one still running could
    commit below a marker already seen. So an answer is kept only when every transaction that wrote
    and was running at the markers' snapshot is one of a session on another database (a cluster is
    shared); one that has finished since, or whose session cannot be seen, counts as running here.
    Answers already kept are still served. SQLite has one writer at a time: what it takes, it commits
    in that order."""
    dialect = session.get_bind().dialect.name
    statement = markers if isinstance(markers, DriverQuery) else query(markers, dialect)
    row = tuple(statement.rows(session, params or {})[0])
    if dialect == "postgresql":
        return row[:-1], bool(row[-1])
    return row, True
