"""A batch from a file on disk, streamed: what `indicators import` runs.

The file is read in chunks of CHUNK rows, each checked and written before the next is read, so a
million-row CSV needs little memory. The caller holds one transaction around it all: an atomic
import that meets a bad row stops writing, reads on to report every error, and is rolled back.
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.core.problems import UnsupportedMediaType
from app.transfer import bulk
from app.transfer import formats as files
from app.transfer.batch import Batch
from app.transfer.checks import Summary

CHUNK = 20_000
SUFFIXES: dict[str, files.Kind] = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".json": "json"}
T = TypeVar("T")
Progress = Callable[[int], None]  # told how many bytes of the file have been read so far


def kind_of(path: Path) -> files.Kind:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedMediaType(f"{path.name}: a batch file ends in .csv, .xlsx or .json")
    return kind


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def import_file(
    session: Session,
    path: Path,
    *,
    actor: Principal,
    dry_run: bool = False,
    atomic: bool = True,
    progress: Progress | None = None,
    chunk: int | None = None,
) -> Summary:
    """Check and write every row of the file; raises the batch's Problem when it fails."""
    kind = kind_of(path)
    with path.open("rb") as raw:
        reading = files.read(kind, raw, dry_run=dry_run, atomic=atomic)
        batch = Batch(
            session, actor=actor, dry_run=reading.dry_run, atomic=reading.atomic, strict=kind == "json"
        )
        with bulk.roomy_cache(session.connection()):
            for part in _chunks(reading.rows, chunk or CHUNK):
                batch.feed(part)
                if progress is not None:
                    progress(raw.tell())
    return batch.finish()
