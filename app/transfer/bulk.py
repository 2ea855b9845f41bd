"""Many cells at once, the fastest way each database offers: what the batch writer stands on.

A cell travels as one integer, the key app.transfer.checks packs (indicator, department, year
into 63 bits), which both databases unpack with shifts: lookups join the batch's keys as one
parameter (SQLite `json_each`, PostgreSQL `unnest`) instead of thousands of `OR`s. Writes skip the
ORM. SQLite: one INSERT ... SELECT over the new rows as one JSON parameter, sending per row only the
columns that differ between rows, then their revisions copied from the rows just inserted; changed
rows by executemany. PostgreSQL: binary `COPY` for new rows and their revisions, one
`UPDATE ... FROM unnest(...)` for changed ones. The rows written are exactly those of
app.cells.CellStore: the current row and one revision per version.

A `CellTable` names what differs between the cells of figures (`OBSERVATIONS`) and of targets
(`TARGETS`): their tables and their payload columns (value and qualifier; operator, value and
upper). Rows carry the payload between the key columns and the note and source.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection

from app.observations.models import Observation, ObservationRevision
from app.targets.models import Target, TargetRevision

Number = Decimal | int  # whole numbers stay ints: exact, and cheaper
LOOKUP_CHUNK = 100_000  # keys per lookup: a hash or merge join reads the tables once per chunk
KEY_LIMIT = 1 << 63  # a key is a signed 64-bit integer in both databases
# A packed key's parts: (indicator_id << 40) | (department_id << 8) | (year - 1900).
UNPACK = "{k} >> 40, ({k} >> 8) & 4294967295, ({k} & 255) + 1900"

# A checked row (app.transfer.checks.Valid): (key, row, indicator_id, department_id, year, *payload,
# note, source).
NewRow = tuple[Any, ...]
# (id, version, *payload, note, source)
ChangedRow = tuple[Any, ...]
# (indicator_id, department_id, year, version, action, *payload before, *payload after, note, source)
RevisionRow = tuple[Any, ...]
# (key, id, version, *payload, note, source), numbers as Decimals, empty texts as None
Current = tuple[Any, ...]


class CellTable:
    """A kind of cell as the bulk writer sees it: its two tables and its payload columns, with the
    statements built from them once."""

    def __init__(
        self,
        current: Any,
        revision: Any,
        payload: tuple[str, ...],
        numeric: frozenset[str],
        types: tuple[str, ...],
    ) -> None:
        self.current, self.revision, self.payload = current, revision, payload
        self.name, self.revision_name = current.__tablename__, revision.__tablename__
        self.width = len(payload)
        self.numeric = tuple(i for i, column in enumerate(payload) if column in numeric)
        self.types = types  # PostgreSQL's type of each payload column
        columns = ", ".join(payload)
        before = ", ".join(f"{c}_before" for c in payload)
        after = ", ".join(f"{c}_after" for c in payload)
        self.current_columns = (
            f"indicator_id, department_id, year, version, {columns}, note, source, updated_at, updated_by"
        )
        key = "indicator_id, department_id, year, version"
        self.revision_columns = f"{key}, action, {before}, {after}, note, source, changed_at, changed_by"
        self.lookup = (
            f"SELECT k.k, o.id, o.version, {', '.join(f'o.{c}' for c in payload)}, "
            "NULLIF(o.note, ''), NULLIF(o.source, '') FROM {keys} "
            f"JOIN {self.name} AS o ON o.indicator_id = k.i AND o.department_id = k.d AND o.year = k.y"
        )
        # For cells without a current row, the last version in the history: a cell deleted and
        # written again continues its versions.
        self.last = (
            "SELECT k.k, max(r.version) FROM {keys} "
            f"JOIN {self.revision_name} AS r "
            "ON r.indicator_id = k.i AND r.department_id = k.d AND r.year = k.y GROUP BY k.k"
        )
        self.copy_current = (
            f"COPY {self.name} (indicator_id, department_id, year, {columns}, note, source, "
            "version, updated_at, updated_by) FROM STDIN (FORMAT BINARY)"
        )
        self.copy_revision = (
            f"COPY {self.revision_name} (indicator_id, department_id, year, {after}, note, source, "
            "version, action, changed_at, changed_by) FROM STDIN (FORMAT BINARY)"
        )
        self.copy_types = ["int4", "int4", "int2", *types, "text", "text", "int4"]
        self.first_revisions = (
            f"INSERT INTO {self.revision_name} ({self.revision_columns}) "
            f"SELECT {key}, 'create', {', '.join('NULL' for _ in payload)}, {columns}, "
            "note, source, updated_at, updated_by "
            f"FROM {self.name} WHERE id > ? ORDER BY id"
        )
        self.update_sqlite = (
            f"UPDATE {self.name} SET version = ?, {', '.join(f'{c} = ?' for c in payload)}, "
            "note = ?, source = ?, updated_at = ?, updated_by = ? WHERE id = ?"
        )
        arrays = ", ".join(f"%({c})s::{t}[]" for c, t in zip(payload, types, strict=True))
        self.update_postgres = (
            f"UPDATE {self.name} AS o SET version = u.version, "
            f"{', '.join(f'{c} = u.{c}' for c in payload)}, note = u.note, source = u.source, "
            "updated_at = %(at)s, updated_by = %(by)s "
            f"FROM unnest(%(id)s::int[], %(version)s::int[], {arrays}, %(note)s::text[], %(source)s::text[]) "
            f"AS u(id, version, {columns}, note, source) WHERE o.id = u.id"
        )

    def currents(self, rows: Iterable[Any], *, decimals: bool) -> dict[int, Current]:
        """Current rows by key, their numbers made Decimals when `decimals` (SQLite gives text)."""
        if not decimals:
            return {row[0]: row for row in rows}
        numeric = [3 + i for i in self.numeric]  # positions in (k, id, version, *payload, note, source)
        found: dict[int, Current] = {}
        for row in rows:
            values = list(row)
            for at in numeric:
                if values[at] is not None:
                    values[at] = Decimal(values[at])
            found[values[0]] = tuple(values)
        return found

    def sqlite_updates(self, changed: list[ChangedRow], when: Any, by: str) -> list[Any]:
        """The UPDATE's parameters for changed rows, numbers as their digits."""
        numbers = self.numeric
        return [(version, *_texts(rest, numbers), when, by, id_) for id_, version, *rest in changed]

    def sqlite_revisions(self, revisions: list[RevisionRow]) -> list[Any]:
        """Revision rows with their numbers as digits."""
        width = self.width
        numbers = [5 + i for i in self.numeric] + [5 + width + i for i in self.numeric]
        return [_texts(r, numbers) for r in revisions]


class _FigureTable(CellTable):
    """Figures' rows converted by comprehensions written out: a batch's changed figures go through
    here by the hundred thousand, and the general loop cost 60 ms of CPU per 100,000 more."""

    def currents(self, rows: Iterable[Any], *, decimals: bool) -> dict[int, Current]:
        if not decimals:
            return {row[0]: row for row in rows}
        exact = Decimal
        return {k: (k, i, v, exact(value), q, n, s) for k, i, v, value, q, n, s in rows}

    def sqlite_updates(self, changed: list[ChangedRow], when: Any, by: str) -> list[Any]:
        return [(v, _text(value), q, n, s, when, by, id_) for id_, v, value, q, n, s in changed]

    def sqlite_revisions(self, revisions: list[RevisionRow]) -> list[Any]:
        return [
            (i, d, y, v, a, _text(vb), qb, _text(va), qa, n, s)
            for i, d, y, v, a, vb, qb, va, qa, n, s in revisions
        ]


OBSERVATIONS = _FigureTable(
    Observation, ObservationRevision, ("value", "qualifier"), frozenset({"value"}), ("numeric", "text")
)
TARGETS = CellTable(
    Target,
    TargetRevision,
    ("operator", "value", "upper"),
    frozenset({"value", "upper"}),
    ("text", "numeric", "numeric"),
)


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# The batch's keys as a table: (k, i, d, y). PostgreSQL takes them as one binary int8[] parameter.
_KEYS = (
    "(SELECT {key} AS k, {key} >> 40 AS i, ({key} >> 8) & 4294967295 AS d, ({key} & 255) + 1900 AS y "
    "FROM {source}) AS k"
)
_KEYS_POSTGRES = _KEYS.format(key="u.k", source="unnest(%(keys)b::int8[]) AS u(k)")
_KEYS_SQLITE = _KEYS.format(key="value", source="json_each(?)")
# Two joins (CellTable.lookup and .last) rather than one query with a correlated max() per key: the
# planner may then hash or merge instead of running a subplan for every key (PostgreSQL, 100,000
# new keys: 0.28 s of backend CPU -> about 0.08), and keys that have a current row skip the
# history altogether.


def lookup(
    conn: Connection, keys: Sequence[int], table: CellTable = OBSERVATIONS
) -> tuple[dict[int, Current], dict[int, int]]:
    """By key: the current rows of the cells that exist, and the last version of those that once existed."""
    current: dict[int, Current] = {}
    last: dict[int, int] = {}
    if not keys:
        return current, last
    if max(keys) >= KEY_LIMIT:
        raise ValueError("an indicator id above 2**23 does not fit a batch's 64-bit cell key")
    postgres = _postgres(conn)
    keys_table = _KEYS_POSTGRES if postgres else _KEYS_SQLITE

    def param(chunk: Sequence[int]) -> Any:
        return {"keys": chunk} if postgres else (_json(chunk),)

    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        result = conn.exec_driver_sql(table.lookup.format(keys=keys_table), param(chunk))
        # psycopg reads numeric as Decimal; SQLite gives ExactDecimal's text.
        current.update(table.currents(result, decimals=not postgres))
        missing = [k for k in chunk if k not in current]
        if missing:
            for key, version in conn.exec_driver_sql(table.last.format(keys=keys_table), param(missing)):
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


def _processor(column: str, conn: Connection, table: CellTable) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of that column before the driver sees it."""
    process = table.current.__table__.c[column].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
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
    table: CellTable = OBSERVATIONS,
) -> None:
    """Insert the new cells (version 1, or `versions[key]` for a cell that once existed), update the
    changed ones, and add a revision for each: `revisions` are those of the changed rows."""
    if _postgres(conn):
        _write_postgres(conn, table, new, versions, changed, revisions, at, by)
    else:
        _write_sqlite(conn, table, new, versions, changed, revisions, at, by)


def _text(value: Number | None) -> str | None:
    """A value as SQLite stores it (app.core.db.types.ExactDecimal): its digits, never a float."""
    return None if value is None else str(value) if type(value) is int else format(value, "f")


def _texts(row: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """The row with the numbers at `positions` as their digits."""
    out = list(row)
    for at in positions:
        out[at] = _text(out[at])
    return out


def _write_sqlite(
    conn: Connection,
    table: CellTable,
    new: list[NewRow],
    versions: dict[int, int],
    changed: list[ChangedRow],
    revisions: list[RevisionRow],
    at: dt.datetime,
    by: str,
) -> None:
    when = _processor("updated_at", conn, table)(at)
    if new:
        _insert_new_sqlite(conn, table, new, versions, when, by)
    if changed:
        conn.exec_driver_sql(table.update_sqlite, table.sqlite_updates(changed, when, by))
    if revisions:
        width = table.width
        rows = table.sqlite_revisions(revisions)
        extract = ", ".join(f"json_extract(value, '$[{k}]')" for k in range(7 + 2 * width))
        conn.exec_driver_sql(
            f"INSERT INTO {table.revision_name} ({table.revision_columns}) "
            f"SELECT {extract}, ?, ? FROM json_each(?)",
            (when, by, _json(rows)),
        )


def _insert_new_sqlite(
    conn: Connection, table: CellTable, new: list[NewRow], versions: dict[int, int], when: Any, by: str
) -> None:
    # One INSERT ... SELECT over the rows as one JSON parameter: SQLite unpacks them in C, faster
    # than executemany binds them, and each json_extract costs about as much as storing the row
    # does, so a column that is the same in every row (the version, qualifier, note or source of
    # most batches) is bound once instead. Values go as JSON numbers (whole ones; the column's text
    # affinity stores their digits) or as their digits in a string, never through a float.
    sent: list[list[Any]] = [[r[0] for r in new]]
    select = [UNPACK.format(k="c0")]
    params: list[Any] = []
    columns: list[list[Any]] = [[versions.get(r[0], 1) for r in new] if versions else [1]]
    numbers = set()
    for index in range(table.width):
        if index in table.numeric:
            numbers.add(len(columns))
            columns.append(
                [v if v is None or type(v) is int else format(v, "f") for v in (r[5 + index] for r in new)]
            )
        else:
            columns.append([r[5 + index] for r in new])
    columns += [[r[5 + table.width] for r in new], [r[6 + table.width] for r in new]]
    for index, column in enumerate(columns):
        first = column[0]
        if index not in numbers and all(v == first for v in column):  # numbers differ even when equal: 1, 1.0
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
    top = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table.name}").scalar_one()
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({table.current_columns}) SELECT {', '.join(select)}, ?, ? "
        # OFFSET 0 keeps the subquery whole: flattened, its c0 would be extracted once per use.
        f"FROM (SELECT {parts} FROM json_each(?) LIMIT -1 OFFSET 0)",
        (*params, when, by, _json(rows)),
    )
    # Each new row's first revision is that row: copied inside SQLite, its ids being the ones above
    # the largest before (this transaction holds the write lock, and SQLite gives a new row the
    # largest id + 1). Should SQLite ever pick ids otherwise, the count tells, and nothing is kept.
    copied = conn.exec_driver_sql(table.first_revisions, (top,)).rowcount
    if copied != len(new):
        raise RuntimeError(f"{len(new)} cells inserted but {copied} revisions copied; rolled back")


def _json(rows: Sequence[Any]) -> str:
    return orjson.dumps(rows).decode()


def _write_postgres(
    conn: Connection,
    table: CellTable,
    new: list[NewRow],
    versions: dict[int, int],
    changed: list[ChangedRow],
    revisions: list[RevisionRow],
    at: dt.datetime,
    by: str,
) -> None:
    # Binary COPY: each value goes in its server type's own format, with no text to parse per row.
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cursor:
        if new:
            # A checked row from its indicator on is (indicator, department, year, *payload, note,
            # source): the COPY takes those columns in that order.
            tail = (1, at, by)
            with cursor.copy(table.copy_current) as copy:
                copy.set_types([*table.copy_types, "timestamptz", "text"])
                if versions:
                    for row in new:
                        copy.write_row((*row[2:], versions.get(row[0], 1), at, by))
                else:
                    for row in new:
                        copy.write_row(row[2:] + tail)
            first = (1, "create", at, by)
            with cursor.copy(table.copy_revision) as copy:
                copy.set_types([*table.copy_types, "text", "timestamptz", "text"])
                if versions:
                    for row in new:
                        copy.write_row((*row[2:], versions.get(row[0], 1), "create", at, by))
                else:
                    for row in new:
                        copy.write_row(row[2:] + first)
        if changed:
            arrays: dict[str, Any] = {
                "id": [r[0] for r in changed],
                "version": [r[1] for r in changed],
                "note": [r[2 + table.width] for r in changed],
                "source": [r[3 + table.width] for r in changed],
                "at": at,
                "by": by,
            }
            for index, column in enumerate(table.payload):
                if index in table.numeric:
                    # An array has one element type: ints join the decimals.
                    j = 2 + index
                    arrays[column] = [Decimal(r[j]) if type(r[j]) is int else r[j] for r in changed]
                else:
                    arrays[column] = [r[2 + index] for r in changed]
            cursor.execute(table.update_postgres, arrays)
        if revisions:
            with cursor.copy(f"COPY {table.revision_name} ({table.revision_columns}) FROM STDIN") as copy:
                when = at.isoformat()  # COPY's text for timestamptz, made once rather than per row
                for revision in revisions:
                    copy.write_row((*revision, when, by))
