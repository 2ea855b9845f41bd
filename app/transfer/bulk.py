"""Many cells at once, the fastest way each database offers: what the batch writer stands on.

A cell travels as one integer, the key app.transfer.checks packs (indicator, department, year
into 63 bits), which both databases unpack with shifts: lookups join the batch's keys as one
parameter (SQLite `json_each`, PostgreSQL `unnest`) instead of thousands of `OR`s. Writes skip the
ORM. SQLite: one INSERT ... SELECT over the new rows as one JSON parameter, sending per row only the
columns that differ between rows, then their revisions copied from the rows just inserted; changed
rows by executemany. PostgreSQL: binary `COPY` for new rows and their revisions, one
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

Number = Decimal | int  # whole numbers stay ints: exact, and cheaper
LOOKUP_CHUNK = 100_000  # keys per lookup: a hash or merge join reads the tables once per chunk
KEY_LIMIT = 1 << 63  # a key is a signed 64-bit integer in both databases
# A packed key's parts: (indicator_id << 40) | (department_id << 8) | (year - 1900).
UNPACK = "{k} >> 40, ({k} >> 8) & 4294967295, ({k} & 255) + 1900"

CURRENT_COLUMNS = (
    "indicator_id, department_id, year, version, value, qualifier, note, source, updated_at, updated_by"
)
REVISION_COLUMNS = (
    "indicator_id, department_id, year, version, action, value_before, value_after, "
    "qualifier_before, qualifier_after, note, source, changed_at, changed_by"
)
# A checked row (app.transfer.checks.Valid):
# (key, row, indicator_id, department_id, year, value, qualifier, note, source)
NewRow = tuple[int, int, int, int, int, Number, str, str | None, str | None]
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


# The batch's keys as a table: (k, i, d, y). PostgreSQL takes them as one binary int8[] parameter.
_KEYS = (
    "(SELECT {key} AS k, {key} >> 40 AS i, ({key} >> 8) & 4294967295 AS d, ({key} & 255) + 1900 AS y "
    "FROM {source}) AS k"
)
_KEYS_POSTGRES = _KEYS.format(key="u.k", source="unnest(%(keys)b::int8[]) AS u(k)")
_KEYS_SQLITE = _KEYS.format(key="value", source="json_each(?)")
# Two joins rather than one query with a correlated max() per key: the planner may then hash or
# merge instead of running a subplan for every key (PostgreSQL, 100,000 new keys: 0.28 s of
# backend CPU -> about 0.08), and keys that have a current row skip the history altogether.
_CURRENT = (
    "SELECT k.k, o.id, o.version, o.value, o.qualifier, o.note, o.source FROM {keys} "
    "JOIN observation AS o ON o.indicator_id = k.i AND o.department_id = k.d AND o.year = k.y"
)
# For cells without a current row, the last version in the history: a cell deleted and written
# again continues its versions.
_LAST = (
    "SELECT k.k, max(r.version) FROM {keys} JOIN observation_revision AS r "
    "ON r.indicator_id = k.i AND r.department_id = k.d AND r.year = k.y GROUP BY k.k"
)


def lookup(conn: Connection, keys: Sequence[int]) -> tuple[dict[int, Current], dict[int, int]]:
    """By key: the current rows of the cells that exist, and the last version of those that once existed."""
    current: dict[int, Current] = {}
    last: dict[int, int] = {}
    if not keys:
        return current, last
    if max(keys) >= KEY_LIMIT:
        raise ValueError("an indicator id above 2**23 does not fit a batch's 64-bit cell key")
    postgres = _postgres(conn)
    table = _KEYS_POSTGRES if postgres else _KEYS_SQLITE

    def param(chunk: Sequence[int]) -> Any:
        return {"keys": chunk} if postgres else (_json(chunk),)

    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        for key, id_, version, value, q, n, s in conn.exec_driver_sql(
            _CURRENT.format(keys=table), param(chunk)
        ):
            exact = value if isinstance(value, Decimal) else Decimal(value)
            current[key] = Current(id_, version, exact, q, n, s)
        missing = [k for k in chunk if k not in current]
        if missing:
            for key, version in conn.exec_driver_sql(_LAST.format(keys=table), param(missing)):
                last[key] = version
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
    versions: dict[int, int],
    changed: list[ChangedRow],
    revisions: list[RevisionRow],
    at: dt.datetime,
    by: str,
) -> None:
    """Insert the new cells (version 1, or `versions[key]` for a cell that once existed), update the
    changed ones, and add a revision for each: `revisions` are those of the changed rows."""
    if _postgres(conn):
        _write_postgres(conn, new, versions, changed, revisions, at, by)
    else:
        _write_sqlite(conn, new, versions, changed, revisions, at, by)


def _text(value: Number | None) -> str | None:
    """A value as SQLite stores it (app.core.db.types.ExactDecimal): its digits, never a float."""
    return None if value is None else str(value) if type(value) is int else format(value, "f")


def _write_sqlite(
    conn: Connection,
    new: list[NewRow],
    versions: dict[int, int],
    changed: list[ChangedRow],
    revisions: list[RevisionRow],
    at: dt.datetime,
    by: str,
) -> None:
    when = _processor("updated_at", conn)(at)
    if new:
        _insert_new_sqlite(conn, new, versions, when, by)
    if changed:
        conn.exec_driver_sql(
            "UPDATE observation SET version = ?, value = ?, qualifier = ?, note = ?, source = ?, "
            "updated_at = ?, updated_by = ? WHERE id = ?",
            [(v, _text(value), q, n, s, when, by, id_) for id_, v, value, q, n, s in changed],
        )
    if revisions:
        rows = [
            (i, d, y, v, a, _text(vb), _text(va), qb, qa, n, s)
            for i, d, y, v, a, vb, va, qb, qa, n, s in revisions
        ]
        extract = ", ".join(f"json_extract(value, '$[{k}]')" for k in range(11))
        conn.exec_driver_sql(
            f"INSERT INTO observation_revision ({REVISION_COLUMNS}) SELECT {extract}, ?, ? FROM json_each(?)",
            (when, by, _json(rows)),
        )


def _insert_new_sqlite(
    conn: Connection, new: list[NewRow], versions: dict[int, int], when: Any, by: str
) -> None:
    # One INSERT ... SELECT over the rows as one JSON parameter: SQLite unpacks them in C, faster
    # than executemany binds them, and each json_extract costs about as much as storing the row
    # does, so a column that is the same in every row (the version, qualifier, note or source of
    # most batches) is bound once instead. Values go as JSON numbers (whole ones; the column's text
    # affinity stores their digits) or as their digits in a string, never through a float.
    sent: list[list[Any]] = [[r[0] for r in new]]
    select = [UNPACK.format(k="c0")]
    params: list[Any] = []
    columns: list[list[Any]] = [
        [versions.get(r[0], 1) for r in new] if versions else [1],
        [r[5] if type(r[5]) is int else format(r[5], "f") for r in new],
        [r[6] for r in new],
        [r[7] for r in new],
        [r[8] for r in new],
    ]
    for index, column in enumerate(columns):
        first = column[0]
        if index != 1 and all(v == first for v in column):  # values differ even when equal: 1, 1.0
            select.append("?")
            params.append(first)
        else:
            select.append(f"c{len(sent)}")
            sent.append(column)
    rows: Any = sent[0] if len(sent) == 1 else list(zip(*sent, strict=True))
    parts = (
        "value AS c0"
        if len(sent) == 1
        else ", ".join(f"json_extract(value, '$[{k}]') AS c{k}" for k in range(len(sent)))
    )
    top = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM observation").scalar_one()
    conn.exec_driver_sql(
        f"INSERT INTO observation ({CURRENT_COLUMNS}) SELECT {', '.join(select)}, ?, ? "
        # OFFSET 0 keeps the subquery whole: flattened, its c0 would be extracted once per use.
        f"FROM (SELECT {parts} FROM json_each(?) LIMIT -1 OFFSET 0)",
        (*params, when, by, _json(rows)),
    )
    # Each new row's first revision is that row: copied inside SQLite, its ids being the ones above
    # the largest before (this transaction holds the write lock, and SQLite gives a new row the
    # largest id + 1). Should SQLite ever pick ids otherwise, the count tells, and nothing is kept.
    copied = conn.exec_driver_sql(
        f"INSERT INTO observation_revision ({REVISION_COLUMNS}) "
        "SELECT indicator_id, department_id, year, version, 'create', NULL, value, NULL, qualifier, "
        "note, source, updated_at, updated_by FROM observation WHERE id > ? ORDER BY id",
        (top,),
    ).rowcount
    if copied != len(new):
        raise RuntimeError(f"{len(new)} cells inserted but {copied} revisions copied; rolled back")


def _json(rows: Sequence[Any]) -> str:
    return orjson.dumps(rows).decode()


# Binary COPY: each value goes in its server type's own format, with no text to parse per row.
_COPY_CURRENT = (
    "COPY observation (indicator_id, department_id, year, value, qualifier, note, source, "
    "version, updated_at, updated_by) FROM STDIN (FORMAT BINARY)"
)
_COPY_REVISION = (
    "COPY observation_revision (indicator_id, department_id, year, value_after, qualifier_after, "
    "note, source, version, action, changed_at, changed_by) FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = ["int4", "int4", "int2", "numeric", "text", "text", "text", "int4"]


def _write_postgres(
    conn: Connection,
    new: list[NewRow],
    versions: dict[int, int],
    changed: list[ChangedRow],
    revisions: list[RevisionRow],
    at: dt.datetime,
    by: str,
) -> None:
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cursor:
        if new:
            # A checked row from its indicator on is (indicator, department, year, value,
            # qualifier, note, source): the COPY takes those columns in that order.
            tail = (1, at, by)
            with cursor.copy(_COPY_CURRENT) as copy:
                copy.set_types([*_COPY_TYPES, "timestamptz", "text"])
                if versions:
                    for row in new:
                        copy.write_row((*row[2:], versions.get(row[0], 1), at, by))
                else:
                    for row in new:
                        copy.write_row(row[2:] + tail)
            first = (1, "create", at, by)
            with cursor.copy(_COPY_REVISION) as copy:
                copy.set_types([*_COPY_TYPES, "text", "timestamptz", "text"])
                if versions:
                    for row in new:
                        copy.write_row((*row[2:], versions.get(row[0], 1), "create", at, by))
                else:
                    for row in new:
                        copy.write_row(row[2:] + first)
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
                when = at.isoformat()  # COPY's text for timestamptz, made once rather than per row
                for revision in revisions:
                    copy.write_row((*revision, when, by))
