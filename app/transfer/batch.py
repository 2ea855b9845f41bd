"""Many observations or targets at once: every row checked, the valid ones written in bulk with their
history. `FIGURES` and `TARGETS` say which: the row checks and the tables of each.

A batch checks its rows (app.transfer.checks), looks up the existing cells in bulk and writes
with app.transfer.bulk, leaving the same current rows and revisions as one-cell writes would.
It is fed rows all at once (HTTP) or in chunks (the command line streaming a large file):

- `atomic`: one rejected row and nothing is written (422); the counts are then 0.
- not `atomic`: the valid rows are written, the others are reported.
- `dry_run`: everything is checked and counted, nothing is written.
- a row for a department the actor may not write: 403 and nothing written, whatever `atomic` says.
"""

import builtins
from array import array
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.core.db.types import utcnow
from app.core.json import paused_gc
from app.core.problems import Forbidden, InvalidValue
from app.observations import derived
from app.quality import warnings
from app.reporting import locks
from app.transfer import bulk, strategies
from app.transfer.checks import MAX_ERRORS, Checker, Summary, Valid
from app.transfer.formats import Row
from app.transfer.target_checks import TargetChecker


@dataclass(frozen=True)
class Cells:
    """A kind of cell a batch writes: how its rows are checked and where they are stored."""

    checker: type[Checker]
    table: bulk.CellTable
    # Figures are locked by their department-year's approval and entry period (app.reporting);
    # targets are the commission's and are not.
    locked: bool
    # Figures written are checked by the validation rules and for outliers (app.quality.warnings).
    warned: bool = False


FIGURES = Cells(Checker, bulk.OBSERVATIONS, locked=True, warned=True)
TARGETS = Cells(TargetChecker, bulk.TARGETS, locked=False)

# Rows per chunk of a batch held in memory: a 100,000-row batch is checked and stored in four.
OVERLAP_CHUNK = 25_000


def _chunks(rows: Iterable[Row], size: int) -> Iterator[builtins.list[Row]]:
    iterator = iter(rows)
    while chunk := builtins.list(islice(iterator, size)):
        yield chunk


class Batch:
    """One batch: feed it rows (all at once or in chunks), then `finish()` for the summary."""

    def __init__(
        self,
        session: Session,
        *,
        actor: Principal,
        dry_run: bool = False,
        atomic: bool = True,
        strict: bool = True,
        max_rows: int | None = None,
        cells: Cells = FIGURES,
        last_year: int | None = None,
        strategy: strategies.Strategy = strategies.UPSERT,
    ) -> None:
        self.session = session
        self.strategy = strategy
        self.actor = actor
        self.summary = Summary(dry_run=dry_run)
        self.atomic = atomic
        self.table = cells.table
        self.locked = cells.locked
        self.warned = cells.warned
        # row, indicator id, department id and year of every row written, for the warnings: four
        # arrays of integers, 32 bytes a row (a million-row import keeps its memory small)
        self.written = tuple(array("q") for _ in range(4))
        self.checker = cells.checker(
            session,
            actor=actor,
            summary=self.summary,
            strict=strict,
            max_rows=max_rows,
            last_year=last_year,
        )
        dbapi = session.get_bind().dialect.loaded_dbapi
        # COPY goes through the driver itself, whose errors SQLAlchemy does not wrap.
        self.conflicts: tuple[type[Exception], ...] = (IntegrityError, dbapi.IntegrityError)
        self.at = utcnow()

    @property
    def forbidden(self) -> int:
        return self.checker.forbidden

    @property
    def writing(self) -> bool:
        """Whether rows still get written: never in a dry run, and not once an atomic batch has failed."""
        return not self.summary.dry_run and not self.forbidden and not (self.atomic and self.summary.rejected)

    def feed(self, rows: Iterable[Row]) -> None:
        """Check rows, then write the valid ones (or only classify them in a dry run)."""
        with paused_gc():
            valid = self._admit(self._check(rows))
            if valid:
                self._store(valid, write=self.writing)

    def feed_overlapped(self, rows: Iterable[Row], chunk: int | None = None) -> None:
        """`feed` chunk by chunk, checking each chunk while the database stores the one before.

        SQLite's C code runs without the GIL, so the database works while Python checks: one store
        at a time, in one other thread, the session used by that thread alone until it is done.
        Chunks are written as `indicators import` writes them.
        """
        with paused_gc(), ThreadPoolExecutor(1, thread_name_prefix="batch-store") as pool:
            stored: Future[None] | None = None
            try:
                for part in _chunks(rows, chunk or OVERLAP_CHUNK):
                    valid = self._check(part)
                    if stored is not None:
                        stored.result()  # raises what the store raised
                        stored = None
                    valid = self._admit(valid)  # the session is this thread's again
                    if valid:
                        stored = pool.submit(self._store, valid, write=self.writing)
                if stored is not None:
                    stored.result()
            finally:
                if stored is not None:
                    wait([stored])  # never leave while the other thread still uses the session

    def _check(self, rows: Iterable[Row]) -> builtins.list[Valid] | None:
        """The valid rows in key order, or None when there is nothing the database need see."""
        valid = self.checker.check(rows)
        if self.forbidden or (self.atomic and self.summary.rejected) or not valid:
            return None  # the batch will fail: spare the database
        valid.sort()  # key order is index order: inserts append instead of splitting pages
        return valid

    def _admit(self, valid: builtins.list[Valid] | None) -> builtins.list[Valid] | None:
        """The checked rows the actor may write now (app.reporting.locks), or None when there is
        nothing to store: a locked row fails an atomic batch as any rejected row does. It queries the
        session: never while another thread stores a chunk."""
        self._settle_derived()
        if not valid:
            return None
        kept = self._unlocked(valid)
        if self.atomic and self.summary.rejected:
            return None
        return kept or None

    def _settle_derived(self) -> None:
        """(v2) The rows of derived indicators set aside by the checks: a figure the same as the one
        computed (an export sent back) is `unchanged`, any other is rejected (`derived`): their
        figures are computed, never written. One query for the chunk's rows."""
        rows, self.checker.computed = self.checker.computed, []
        if not rows:
            return
        indicators = self.checker.derived
        wanted = derived.resolve(
            self.session,
            [(i.id, i.code, i.formula) for i in indicators.values() if i.formula is not None],
        )
        found = derived.figures(
            self.session,
            [d for d in wanted if d.id in {r[1] for r in rows}],
            department_ids={r[2] for r in rows},
            years={r[3] for r in rows},
        )
        for n, indicator, department, year, value, qualifier, values in rows:
            figure = found.get((indicator, department, year))
            if figure is not None and figure.value == value and figure.qualifier == qualifier:
                self.summary.unchanged += 1
                continue
            computed = "no figure" if figure is None else f"{figure.value} ({figure.qualifier})"
            code, formula = indicators[indicator].code, indicators[indicator].formula
            self.checker.reject(
                n,
                values,
                ("indicator",),
                f"{code!r} is a derived indicator ({formula}): computed ({computed}), never written",
                "derived",
            )

    def _unlocked(self, valid: builtins.list[Valid]) -> builtins.list[Valid]:
        """The rows whose department-year the actor may write now; each other one is a rejected
        row (`locked` or `period-closed`), as any row error (app.reporting.locks)."""
        if self.forbidden or not valid or not self.locked:
            return valid
        refused = locks.refusals(self.session, self.actor, {(v[3], v[4]) for v in valid})
        if not refused:
            return valid
        kept: builtins.list[Valid] = []
        summary = self.summary
        same: set[int] = set()
        if self.strategy is not strategies.UPSERT:
            locked = [row for row in valid if (row[3], row[4]) in refused]
            same = strategies.unchanged(self.session.connection(), self.strategy, locked, self.table)
        for row in valid:
            why = refused.get((row[3], row[4]))
            if why is None:
                kept.append(row)
                continue
            if row[0] in same:
                summary.unchanged += 1
                continue
            summary.rejected += 1
            self.checker.error(row[1], ("department",), f"department-year {why[1]}", why[0])
        return kept

    def _store(self, valid: builtins.list[Valid], *, write: bool) -> None:
        if not write:
            self._apply(valid, write=False)
            return
        for attempt in range(3):
            try:
                with self.session.begin_nested():
                    self._apply(valid, write=True)
                if self.warned:
                    for column, position in zip(self.written, (1, 2, 3, 4), strict=True):
                        column.extend(row[position] for row in valid)
                return
            except self.conflicts:
                # A concurrent writer created or changed one of these cells after we read it: its
                # row is committed now, so reading again classifies against it.
                if attempt == 2:
                    raise

    def _apply(self, valid: builtins.list[Valid], *, write: bool) -> None:
        conn = self.session.connection()
        table = self.table
        current, last = bulk.lookup(conn, [v[0] for v in valid], table)
        if self.strategy is not strategies.UPSERT:
            self._apply_plan(conn, strategies.plan(self.strategy, valid, current, last, table), write=write)
            return
        new: builtins.list[Valid] = []
        versions: dict[int, int] = {}  # key -> version of the new rows of cells that once existed
        changed: builtins.list[bulk.ChangedRow] = []
        revisions: builtins.list[bulk.RevisionRow] = []
        unchanged = 0
        if not current and not last:
            new = valid  # cells never written before: the usual batch of a new year's figures
        else:
            # A row is (key, row, i, d, y, *payload, note, source); a current one (key, id, version,
            # *payload, note, source): the same cell is unchanged when their tails are equal.
            payload_end = 3 + table.width
            for row in valid:
                key = row[0]
                now = current.get(key)
                if now is None:
                    new.append(row)
                    if key in last:
                        versions[key] = last[key] + 1
                elif now[3:] == row[5:]:
                    unchanged += 1
                else:
                    version = now[2] + 1
                    changed.append((now[1], version, *row[5:]))
                    revisions.append((*row[2:5], version, "update", *now[3:payload_end], *row[5:]))
        if write:
            bulk.write(
                conn,
                new=new,
                versions=versions,
                changed=changed,
                revisions=revisions,
                at=self.at,
                by=self.actor.name,
                table=table,
            )
        self.summary.created += len(new)
        self.summary.updated += len(changed)
        self.summary.unchanged += unchanged

    def _apply_plan(self, conn: Connection, plan: strategies.Plan, *, write: bool) -> None:
        if write:
            bulk.write(
                conn,
                new=plan.new,
                versions=plan.versions,
                changed=plan.changed,
                revisions=plan.revisions,
                at=self.at,
                by=self.actor.name,
                table=self.table,
            )
            strategies.delete_cells(conn, plan.deleted, at=self.at, by=self.actor.name, table=self.table)
        summary = self.summary
        summary.created += len(plan.new)
        summary.updated += len(plan.changed)
        summary.deleted += len(plan.deleted)
        summary.unchanged += plan.unchanged
        summary.ignored += plan.ignored

    # --- the answer ---------------------------------------------------------------------------------

    def finish(self) -> Summary:
        """The summary; raises 403 (a department out of scope) or 422 (atomic with rejected rows)."""
        summary = self.summary
        failed = self.forbidden or (self.atomic and summary.rejected)
        if failed:
            summary.created = summary.updated = summary.unchanged = summary.deleted = summary.ignored = 0
        if self.forbidden:
            scope = self.actor.department_code or "no department"
            raise Forbidden(
                f"{self.forbidden} row(s) are for departments {self.actor.name!r} may not write "
                f"(only {scope} and the departments below it); nothing was written",
                extra=summary.body(),
            )
        if failed:
            raise InvalidValue(
                f"{summary.rejected} of {self.checker.rows} row(s) rejected; the batch is atomic, so nothing "
                "was written (send atomic=false to write the valid rows)",
                extra=summary.body(),
            )
        if self.written[0]:
            room = MAX_ERRORS - len(summary.warnings)
            written = zip(*self.written, strict=True)
            summary.warnings += warnings.for_batch(self.session, written, limit=max(0, room))
        return summary


def run(
    session: Session,
    *,
    rows: Iterable[Row],
    actor: Principal,
    dry_run: bool,
    atomic: bool,
    strict: bool,
    max_rows: int | None = None,
    cells: Cells = FIGURES,
    last_year: int | None = None,
    strategy: strategies.Strategy = strategies.UPSERT,
) -> Summary:
    """A whole batch held in memory: every row checked before anything is written. `last_year`: the
    last year figures may be for (default: Settings.last_open_year)."""
    batch = Batch(
        session,
        actor=actor,
        dry_run=dry_run,
        atomic=atomic,
        strict=strict,
        max_rows=max_rows,
        cells=cells,
        last_year=last_year,
        strategy=strategy,
    )
    conn = session.connection()
    with bulk.roomy_cache(conn):
        if conn.dialect.name == "sqlite":
            batch.feed_overlapped(rows)
        else:
            # PostgreSQL's backend is the slower side of a batch (2.8 s of CPU per 100,000 new
            # cells against the service's 0.8): overlapping hid little of the service's time and
            # four chunks cost the backend 0.2 s more (a lookup and two COPYs each), so one chunk.
            batch.feed(rows)
    return batch.finish()
