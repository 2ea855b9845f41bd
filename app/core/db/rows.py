"""A query's rows as the driver gives them: tuples, values untyped (text for a decimal on SQLite,
Decimal on PostgreSQL), without SQLAlchemy's Row and result processing, which cost a read of
100,000 rows more than the database does."""

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, CursorResult, Dialect, Executable
from sqlalchemy.orm import Session

from app.core.db.session import Lent, give_back, lend

CHUNK = 50_000


def driver_rows(session: Session, query: Executable, chunk: int = CHUNK) -> Iterator[Sequence[Any]]:
    """The rows of `query` in chunks of `chunk` fetched at a time (each chunk's tuples freed before
    the next arrives)."""
    result = cast(CursorResult[Any], session.execute(query))
    try:
        while rows := result.cursor.fetchmany(chunk):
            yield from rows
    finally:
        result.close()


class _Compiled(NamedTuple):
    sql: str
    order: tuple[str, ...] | None  # the parameters' names in their order (qmark), or None (named)
    defaults: dict[str, Any]  # the values the statement itself binds (its literals)
    # The parameters whose type turns a value into what the driver takes (a Decimal into text on
    # SQLite, an aware datetime into UTC, an enum member into its name), with how: as SQLAlchemy would.
    converters: dict[str, Callable[[Any], Any]]


_Processors = list[tuple[int, Callable[[Any], Any]]]


class DriverQuery:
    """A statement built once, run straight on the driver: its SQL compiled once per dialect, its
    parameters turned by their types into what the driver takes, a SELECT's rows' values turned by
    each column's own type into what SQLAlchemy would give (a Decimal, an enum member, an aware
    datetime).

    For the reads a dashboard repeats most and the statements of a one-cell write, where
    SQLAlchemy's execution of a cached statement (its cache key, its execution context, its Row
    objects) costs more than the database's indexed work. A failure of the driver is its own
    exception, which app.core.db.retry classifies as it does SQLAlchemy's; a connection it finds
    broken is invalidated, as SQLAlchemy would, so that it is not used again. Listeners of the
    engine's before_cursor_execute see its statement (without a cursor or an execution context), so
    that what a request sends can be counted as SQLAlchemy's own are."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        # By dialect and the driver's types of the columns: the columns to convert, with how.
        self._processors: dict[tuple[str, tuple[Any, ...]], _Processors] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        defaults: dict[str, Any] = {}
        converters: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                converters[name] = convert
            defaults[name] = bind.effective_value
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = self._compiled[dialect.name] = _Compiled(str(compiled), order, defaults, converters)
        return found

    def _processors_for(self, dialect: Dialect, cursor: Any) -> _Processors:
        result = getattr(cursor, "pgresult", None)
        if result is not None:  # psycopg: the types' oids, without the Column objects of its description
            kinds = tuple(map(result.ftype, range(result.nfields)))
        else:
            kinds = tuple(column[1] for column in cursor.description)
        found = self._processors.get((dialect.name, kinds))
        if found is None:
            processors = (
                column.type.dialect_impl(dialect).result_processor(dialect, kind)
                for column, kind in zip(self.statement.selected_columns, kinds, strict=True)
            )
            found = [(i, convert) for i, convert in enumerate(processors) if convert is not None]
            self._processors[dialect.name, kinds] = found
        return found

    def rows(self, session: Session, params: dict[str, Any]) -> list[Sequence[Any]]:
        """Every row of the statement with `params`, in the session's transaction; or, when the
        session sends its statements alone (app.core.db.session.lend), on a connection lent by the
        pool for this statement only."""
        lent = lend(session)
        if lent is None:
            return self._rows(session.connection(), params)
        try:
            return self._rows(lent, params)
        finally:
            give_back(lent)

    def execute(self, connection: Connection, params: dict[str, Any]) -> None:
        """The statement (one that returns no rows: an INSERT, UPDATE or DELETE) with `params`, in
        the transaction of `connection`."""
        self._send(connection, params)

    def _rows(self, connection: Connection | Lent, params: dict[str, Any]) -> list[Sequence[Any]]:
        cursor, rows = self._send(connection, params, fetch=True)
        processors = self._processors_for(connection.dialect, cursor)
        if not processors:
            return rows
        converted: list[Sequence[Any]] = []
        for row in rows:
            cells = list(row)
            for i, convert in processors:
                cells[i] = convert(cells[i])
            converted.append(cells)
        return converted

    def _send(
        self, connection: Connection | Lent, params: dict[str, Any], fetch: bool = False
    ) -> tuple[Any, list[Sequence[Any]]]:
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values = {**compiled.defaults, **params} if compiled.defaults else params
        if compiled.converters:
            values = dict(values)
            for name, convert in compiled.converters.items():
                if name in values:
                    values[name] = convert(values[name])
        driver: Any = connection.connection.driver_connection
        sent = values if compiled.order is None else tuple(values[n] for n in compiled.order)
        listeners = connection.dispatch.before_cursor_execute
        if listeners:
            for listener in listeners:
                listener(connection, None, compiled.sql, sent, None, False)
        try:
            cursor = driver.execute(compiled.sql, sent)
            rows: list[Sequence[Any]] = cursor.fetchall() if fetch else []
        except Exception:
            if getattr(driver, "broken", False) or getattr(driver, "closed", False):
                connection.invalidate()
            raise
        return cursor, rows
