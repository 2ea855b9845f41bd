"""A query's rows as the driver gives them: tuples, values untyped (text for a decimal on SQLite,
Decimal on PostgreSQL), without SQLAlchemy's Row and result processing, which cost a read of
100,000 rows more than the database does."""

from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session

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
