"""A batch from a file on disk, streamed: what `indicators import` runs.

The file is read in chunks of CHUNK rows, each checked and written before the next is read, so a
million-row CSV needs little memory. The caller holds one transaction around it all: an atomic
import that meets a bad row stops writing, reads on to report every error, and is rolled back.
"""

import io
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.observations import bulk, files
from app.observations.batch import Batch
from app.observations.checks import Summary
from app.problems import UnsupportedMediaType

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
        files.sniff(kind, raw.read(16))
        raw.seek(0)
        rows: Iterable[files.Row]
        if kind == "json":
            document = files.json_document(raw.read())
            items, file_dry_run, file_atomic = files.json_batch(document)
            rows = files.json_rows(items)
            dry_run = dry_run or bool(file_dry_run)
            atomic = atomic and file_atomic is not False
        elif kind == "csv":
            # Held here: were the reader its only owner, its end would close `raw` under us.
            text = io.TextIOWrapper(raw, encoding=files.detect_file_encoding(raw), newline="")
            rows = files.csv_rows(text)
        else:
            rows = files.xlsx_rows(raw)
        batch = Batch(session, actor=actor, dry_run=dry_run, atomic=atomic, strict=kind == "json")
        with bulk.roomy_cache(session.connection()):
            for part in _chunks(rows, chunk or CHUNK):
                batch.feed(part)
                if progress is not None:
                    progress(raw.tell())
    return batch.finish()


LARGE = 4 << 20  # files above 4 MiB get a progress bar


def command(path: Path, *, dry_run: bool, atomic: bool, actor_name: str) -> int:
    """`indicators import`: the summary as JSON on stdout; 0, 1 when rows were rejected, 2 when unread."""
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from app.auth.models import Role
    from app.database import begin_for_write, get_engine
    from app.jsonio import dumps
    from app.problems import Problem

    actor = Principal(name=actor_name, role=Role.admin)
    console = Console(stderr=True)
    size = path.stat().st_size
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=size < LARGE or not console.is_terminal,
    )
    try:
        with bar, Session(get_engine()) as session, session.begin():
            task = bar.add_task(f"importing {path.name}", total=size)
            begin_for_write(session)
            summary = import_file(
                session,
                path,
                actor=actor,
                dry_run=dry_run,
                atomic=atomic,
                progress=lambda done: bar.update(task, completed=done),
            )
            body = summary.body()
    except Problem as problem:
        if "rejected" not in problem.extra:  # the file itself could not be read
            console.print(f"error: {problem.detail}", markup=False, highlight=False, soft_wrap=True)
            for error in problem.errors or []:
                console.print(
                    f"  {error['loc']}: {error['msg']}", markup=False, highlight=False, soft_wrap=True
                )
            return 2
        body = problem.extra
    sys.stdout.buffer.write(dumps(body) + b"\n")
    sys.stdout.flush()
    return 1 if body["rejected"] else 0
