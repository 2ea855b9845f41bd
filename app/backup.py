"""Everything in the database, in one portable file, and back: backups, and the move from the embedded
SQLite to PostgreSQL.

The file is gzipped JSON lines, the same bytes whichever database wrote it:

    {"format": "indicators-dump", "version": 1, "schema": "<alembic revision>", "tables": [...]}
    {"table": "department", "columns": ["id", "code", ...], "rows": 4}
    [1, "zone", ...]                      one JSON array per row, in primary-key order
    ...
    {"end": true, "rows": 1234}           the file is whole only with this line

Every table of app.models is written, in the order their foreign keys need: departments,
indicators, tokens (their hashes; a secret was never stored), observations and targets with every
revision, assignments, periods and their exceptions, approvals and their history. Decimals are
strings with their own digits ("123456789012.345678"), times are UTC ("2026-11-28T09:00:00.000000Z"),
days are ISO dates, ids are kept, so a restored database is the same database.
"""

import datetime as dt
import enum
import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, Table, bindparam, func, insert, inspect, select, update
from sqlalchemy.types import Date, Enum

from app.core.db import migrate
from app.core.db.types import ExactDecimal, UTCDateTime
from app.core.json import decimal_text
from app.models import metadata

FORMAT = "indicators-dump"
VERSION = 1
BATCH = 2000
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class BackupError(Exception):
    """The file cannot be restored here, or the database cannot take it; nothing was loaded."""


@dataclass
class Counts:
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def __str__(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.tables.items())


def tables() -> list[Table]:
    return list(metadata.sorted_tables)


def _encode(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime(_TIME)
    if isinstance(value, dt.date):  # a period's day (a datetime was handled above)
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _decoder(column: Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, ExactDecimal):
        return Decimal
    if isinstance(kind, UTCDateTime):
        return lambda text: dt.datetime.strptime(text, _TIME).replace(tzinfo=dt.UTC)
    if isinstance(kind, Date):
        return dt.date.fromisoformat
    if isinstance(kind, Enum) and kind.enum_class is not None:
        return kind.enum_class
    return None


def _line(obj: Any) -> bytes:
    return (
        json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=isinstance(obj, dict)).encode()
        + b"\n"
    )


def schema_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def dump(engine: Engine, path: Path) -> Counts:
    """Write every table to `path`, from one consistent snapshot of the database."""
    counts = Counts()
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        revision = schema_revision(connection)
        if revision is None:
            raise BackupError("The database has no schema (run `indicators db upgrade`); nothing to dump")
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
            out.write(
                _line(
                    {
                        "format": FORMAT,
                        "version": VERSION,
                        "schema": revision,
                        "tables": [t.name for t in tables()],
                    }
                )
            )
            for table in tables():
                columns = list(table.columns)
                total = connection.scalar(select(func.count()).select_from(table)) or 0
                out.write(_line({"table": table.name, "columns": [c.name for c in columns], "rows": total}))
                query = select(*columns).order_by(*table.primary_key.columns)
                result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(query)
                written = 0
                for row in result:
                    out.write(_line([_encode(c, v) for c, v in zip(columns, row, strict=True)]))
                    written += 1
                if written != total:  # cannot happen in one snapshot; a file must never lie
                    raise BackupError(f"{table.name}: counted {total} rows, read {written}")
                counts.tables[table.name] = written
            out.write(_line({"end": True, "rows": counts.rows}))
    return counts


def _read(path: Path) -> Iterator[Any]:
    try:
        with gzip.open(path, "rb") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise BackupError(f"{path.name}, line {number}: not JSON ({exc})") from None
    except (OSError, EOFError) as exc:
        raise BackupError(f"{path.name}: not a whole gzip file ({exc})") from None


def read_header(path: Path) -> dict[str, Any]:
    header = next(_read(path), None)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(f"{path.name} is not a dump of this service (no '{FORMAT}' header)")
    if header.get("version") != VERSION:
        raise BackupError(
            f"{path.name} is format version {header.get('version')}; this service reads {VERSION}"
        )
    return header


def non_empty_tables(connection: Connection) -> list[str]:
    """The tables holding rows, among those the database's schema has: an older schema (a dump's,
    restored before migrating) lacks the newer tables."""
    present = set(inspect(connection).get_table_names())
    return [
        t.name
        for t in tables()
        if t.name in present and connection.scalar(select(func.count()).select_from(t))
    ]


def _prepare_schema(engine: Engine, revision: str) -> None:
    """Bring an empty database to the dump's schema: restore loads rows into the schema they came from."""
    with engine.connect() as connection:
        current = schema_revision(connection)
        if current is not None:
            busy = non_empty_tables(connection)
            if busy:
                raise BackupError(
                    "The database is not empty (it has rows in " + ", ".join(busy) + "); restore loads "
                    "only into an empty database. Make a new database, or drop this one's data first."
                )
    script = ScriptDirectory.from_config(migrate.alembic_config())
    try:
        script.get_revision(revision)
    except Exception:
        raise BackupError(
            f"The dump's schema {revision!r} is unknown to this version of indicators: restore it with the "
            "version that made it (or a newer one)"
        ) from None
    if current != revision:
        if current is not None:
            migrate.downgrade(engine, "base")  # empty: nothing is lost on the way down
        migrate.upgrade(engine, revision)


def restore(engine: Engine, path: Path) -> Counts:
    """Load a dump into an empty database (migrated or not), then migrate it to the latest schema.

    All rows are loaded in one transaction: a file that is cut short or broken loads nothing.
    """
    header = read_header(path)
    _prepare_schema(engine, str(header["schema"]))
    known = {t.name: t for t in tables()}
    counts = Counts()
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            if non_empty_tables(connection):
                raise BackupError("The database filled up while the restore began; nothing was loaded")
            ended = _load(connection, _read(path), known, counts)
            if not ended:
                raise BackupError(
                    f"{path.name} ends before its last line: it is cut short; nothing was loaded"
                )
            _reset_sequences(connection)
    migrate.upgrade(engine)
    return counts


def _load(connection: Connection, lines: Iterator[Any], known: dict[str, Table], counts: Counts) -> bool:
    next(lines)  # the header, read already
    table: Table | None = None
    names: list[str] = []
    decoders: list[Any] = []
    expected = 0
    batch: list[dict[str, Any]] = []
    deferred: list[dict[str, Any]] = []

    def flush() -> None:
        if table is not None and batch:
            connection.execute(insert(table), batch)
            counts.tables[table.name] = counts.tables.get(table.name, 0) + len(batch)
            batch.clear()

    def finish_table() -> None:
        flush()
        if table is not None:
            _set_deferred(connection, table, deferred)
            held = counts.tables.get(table.name, 0)
            if held != expected:
                raise BackupError(f"{table.name}: the file announces {expected} rows and holds {held}")

    for item in lines:
        if isinstance(item, dict) and "table" in item:
            finish_table()
            table = known.get(item["table"])
            if table is None:
                raise BackupError(f"The dump has a table {item['table']!r} this schema does not know")
            names = list(item["columns"])
            unknown = [n for n in names if n not in table.columns]
            if unknown:
                raise BackupError(f"{table.name}: columns {unknown} are not in this schema")
            decoders = [_decoder(table.columns[n]) for n in names]
            expected = int(item["rows"])
            counts.tables[table.name] = 0
            deferred = []
            continue
        if isinstance(item, dict) and item.get("end"):
            finish_table()
            if int(item["rows"]) != counts.rows:
                raise BackupError(f"The dump announces {item['rows']} rows and holds {counts.rows}")
            return True
        if table is None or not isinstance(item, list) or len(item) != len(names):
            raise BackupError("A row of the dump does not fit its table's columns")
        row = {
            n: (d(v) if d is not None and v is not None else v)
            for n, d, v in zip(names, decoders, item, strict=True)
        }
        _defer_self_references(table, row, deferred)
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    return False


def _self_references(table: Table) -> list[str]:
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]


def _defer_self_references(table: Table, row: dict[str, Any], deferred: list[dict[str, Any]]) -> None:
    # A department may sit below one made after it: parents are set once every row is in.
    for name in _self_references(table):
        if row.get(name) is not None:
            deferred.append({"_id": row["id"], "_value": row[name], "_column": name})
            row[name] = None


def _set_deferred(connection: Connection, table: Table, deferred: Iterable[dict[str, Any]]) -> None:
    by_column: dict[str, list[dict[str, Any]]] = {}
    for item in deferred:
        by_column.setdefault(item["_column"], []).append({"_id": item["_id"], "_value": item["_value"]})
    for column, rows in by_column.items():
        connection.execute(
            update(table).where(table.c.id == bindparam("_id")).values({column: bindparam("_value")}),
            rows,
        )


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL hands out ids from sequences, which the restored ids passed by: move them on."""
    if connection.dialect.name != "postgresql":
        return
    present = set(inspect(connection).get_table_names())  # a dump's older schema lacks newer tables
    for table in tables():
        if table.name in present and "id" in table.columns and table.c.id.autoincrement:
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"
            )
