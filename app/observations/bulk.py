"""Many cells at once, the fastest way each database offers: what the batch writer stands on.

Lookups join the batch's keys as one parameter (SQLite `json_each`, PostgreSQL `unnest` of arrays)
instead of thousands of `OR`s. Writes skip the ORM: on SQLite one driver-level executemany per table
with the values already in their stored form; on PostgreSQL `COPY` for new rows and one
`UPDATE ... FROM unnest(...)` for changed ones. The rows written are exactly those of
app.cells.CellStore: the current row and one revision per version.
"""

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection

from app.observations.models import Observation

Key = tuple[int, int, int]  # indicator_id, department_id, year
Number = Decimal | int  # whole numbers stay ints: exact, and cheaper
LOOKUP_CHUNK = 10_000

CURRENT_COLUMNS = (
    "indicator_id, department_id, year, version, value, qualifier, note, source, updated_at, updated_by"
)
REVISION_COLUMNS = (
    "indicator_id, department_id, year, version, action, value_before, value_after, "
    "qualifier_before, qualifier_after, note, source, changed_at, changed_by"
)
# (indicator_id, department_id, year, version, value, qualifier, note, source)
NewRow = tuple[int, int, int, int, Number, str, str | None, str | None]
# (id, version, value, qualifier, note, source)
ChangedRow = tuple[int, int, Number, str, str | None, str | None]
# (indicator_id, department_id, year, version, action, value_before, value_after, qualifier_before,
#  qualifier_after, note, source)
RevisionRow = tuple[int, int, int, int, str, Number | None, Number, str | None, str, str | None, str | None]


class Current(NamedTuple):
    id: int
    version: int
    value: Decimal
    qualifier: str
    note: str | None
    source: str | None


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# One pass over the keys: the current row where there is one, and for the other keys the last
# version in the history (a cell deleted and written again continues its versions).
_LOOKUP = """
SELECT * FROM (
    SELECT k.i, k.d, k.y, o.id, o.version, o.value, o.qualifier, o.note, o.source,
        CASE WHEN o.id IS NULL THEN (
            SELECT max(r.version) FROM observation_revision AS r
            WHERE r.indicator_id = k.i AND r.department_id = k.d AND r.year = k.y
        ) END AS last
    FROM {keys}
    LEFT JOIN observation AS o ON o.indicator_id = k.i AND o.department_id = k.d AND o.year = k.y
) AS found
WHERE id IS NOT NULL OR last IS NOT NULL
"""
_KEYS_POSTGRES = "unnest(%(i)s::int[], %(d)s::int[], %(y)s::int[]) AS k(i, d, y)"
_KEYS_SQLITE = (
    "(SELECT json_extract(value, '$[0]') AS i, json_extract(value, '$[1]') AS d, "
    "json_extract(value, '$[2]') AS y FROM json_each(?)) AS k"
)


def lookup(conn: Connection, keys: Sequence[Key]) -> tuple[dict[Key, Current], dict[Key, int]]:
    """The current rows of the cells that exist, and the last version of those that once existed."""
    current: dict[Key, Current] = {}
    last: dict[Key, int] = {}
    postgres = _postgres(conn)
    sql = _LOOKUP.format(keys=_KEYS_POSTGRES if postgres else _KEYS_SQLITE)
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        if postgres:
            params: Any = {"i": [k[0] for k in chunk], "d": [k[1] for k in chunk], "y": [k[2] for k in chunk]}
        else:
            params = (_json(chunk),)
        for i, d, y, id_, version, value, q, n, s, gone in conn.exec_driver_sql(sql, params):
            if id_ is None:
                last[i, d, y] = gone
            else:
                exact = value if isinstance(value, Decimal) else Decimal(value)
                current[i, d, y] = Current(id_, version, exact, q, n, s)
    return current, last


@contextmanager
def roomy_cache(conn: Connection, mebibytes: int = 32) -> Iterator[None]:
    """A larger SQLite page cache for the length of a batch, then the connection's own again.

    A batch writes one transaction: with SQLite's default 2 MB cache, pages of the indexes it
    grows spill to the WAL and are read back over and over (a million-row import ran 2-3x slower).
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{mebibytes * 1024}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


def _processor(column: str, conn: Connection) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of that column before the driver sees it."""
    process = Observation.__table__.c[column].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process if process is not None else (lambda value: value)


def write(
    conn: Connection,
    *,
    new: list[NewRow],
    changed: list[ChangedRow],
    revisions: list[RevisionRow],
    at: dt.datetime,
    by: str,
) -> None:
    """Insert the new cells, update the changed ones, and add a revision for each."""
    if _postgres(conn):
        _write_postgres(conn, new, changed, revisions, at, by)
    else:
        _write_sqlite(conn, new, changed, revisions, at, by)


def _from_json(count: int) -> str:
    """The select list of `count` columns taken from a JSON array per row of `json_each(?)`."""
    return ", ".join(f"json_extract(value, '$[{k}]')" for k in range(count))


def _write_sqlite(
    conn: Connection,
    new: list[NewRow],
    changed: list[ChangedRow],
    revisions: list[RevisionRow],
    at: dt.datetime,
    by: str,
) -> None:
    # New rows go in by one INSERT ... SELECT over the rows as one JSON parameter: SQLite unpacks
    # them in C, faster than executemany binds them. Values are stored as app.database stores
    # them: decimals as their digits (JSON strings, so no float ever sees them), times as UTC text.
    when = _processor("updated_at", conn)(at)

    def text(value: Number | None) -> str | None:
        return None if value is None else str(value) if type(value) is int else format(value, "f")

    if new:
        conn.exec_driver_sql(
            f"INSERT INTO observation ({CURRENT_COLUMNS}) SELECT {_from_json(8)}, ?, ? FROM json_each(?)",
            (when, by, _json([(i, d, y, v, text(value), q, n, s) for i, d, y, v, value, q, n, s in new])),
        )
    if changed:
        conn.exec_driver_sql(
            "UPDATE observation SET version = ?, value = ?, qualifier = ?, note = ?, source = ?, "
            "updated_at = ?, updated_by = ? WHERE id = ?",
            [(v, text(value), q, n, s, when, by, id_) for id_, v, value, q, n, s in changed],
        )
    if revisions:
        rows = [
            (i, d, y, v, a, text(vb), text(va), qb, qa, n, s)
            for i, d, y, v, a, vb, va, qb, qa, n, s in revisions
        ]
        conn.exec_driver_sql(
            f"INSERT INTO observation_revision ({REVISION_COLUMNS}) "
            f"SELECT {_from_json(11)}, ?, ? FROM json_each(?)",
            (when, by, _json(rows)),
        )


def _json(rows: Sequence[tuple[Any, ...]]) -> str:
    return orjson.dumps(rows).decode()


def _write_postgres(
    conn: Connection,
    new: list[NewRow],
    changed: list[ChangedRow],
    revisions: list[RevisionRow],
    at: dt.datetime,
    by: str,
) -> None:
    driver: Any = conn.connection.driver_connection
    when = at.isoformat()  # COPY's text for timestamptz, made once rather than per row
    with driver.cursor() as cursor:
        if new:
            with cursor.copy(f"COPY observation ({CURRENT_COLUMNS}) FROM STDIN") as copy:
                for new_row in new:
                    copy.write_row((*new_row, when, by))
        if changed:
            cursor.execute(
                "UPDATE observation AS o SET version = u.version, value = u.value, "
                "qualifier = u.qualifier, note = u.note, source = u.source, "
                "updated_at = %(at)s, updated_by = %(by)s "
                "FROM unnest(%(id)s::int[], %(version)s::int[], %(value)s::numeric[], "
                "%(qualifier)s::text[], %(note)s::text[], %(source)s::text[]) "
                "AS u(id, version, value, qualifier, note, source) WHERE o.id = u.id",
                {
                    "id": [r[0] for r in changed],
                    "version": [r[1] for r in changed],
                    # An array has one element type: ints join the decimals.
                    "value": [Decimal(r[2]) if type(r[2]) is int else r[2] for r in changed],
                    "qualifier": [r[3] for r in changed],
                    "note": [r[4] for r in changed],
                    "source": [r[5] for r in changed],
                    "at": at,
                    "by": by,
                },
            )
        if revisions:
            with cursor.copy(f"COPY observation_revision ({REVISION_COLUMNS}) FROM STDIN") as copy:
                for row in revisions:
                    copy.write_row((*row, when, by))
