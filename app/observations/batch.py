"""Many observations at once: every row checked, the valid ones written in bulk with their history.

A batch resolves codes once, checks rows in plain Python, looks up the existing cells in bulk and
writes with app.observations.bulk, leaving the same current rows and revisions as one-cell writes
would. It is fed rows all at once (HTTP) or in chunks (the command line streaming a large file):

- `atomic`: one rejected row and nothing is written (422); the counts are then 0.
- not `atomic`: the valid rows are written, the others are reported.
- `dry_run`: everything is checked and counted, nothing is written.
- a row for a department the actor may not write: 403 and nothing written, whatever `atomic` says.
"""

import builtins
import gc
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.principal import Principal, writable_departments
from app.cells import YEAR_MAX, YEAR_MIN
from app.database import utcnow
from app.departments import service as departments
from app.indicators import service as indicators
from app.indicators.models import ValueType
from app.observations import bulk
from app.observations.files import MISSING, BadRow, Row
from app.observations.models import Qualifier
from app.observations.rules import violation
from app.problems import Forbidden, InvalidValue, PayloadTooLarge
from app.schemas import parse_value

MAX_ERRORS = 1000
NOTE_MAX, SOURCE_MAX = 2000, 500
QUALIFIERS = frozenset(q.value for q in Qualifier)
_QUALIFIER_MSG = "must be one of " + ", ".join(q.value for q in Qualifier)
_INT_LIMIT = 10**18
_INT_OK: dict[ValueType, Callable[[int], bool]] = {
    ValueType.count: lambda v: v >= 0,
    ValueType.amount: lambda v: True,
    ValueType.percent: lambda v: 0 <= v <= 100,
    ValueType.rank: lambda v: v >= 1,
    ValueType.boolean: lambda v: v in (0, 1),
}
Number = bulk.Number
# (key, row, indicator_id, department_id, year, value, qualifier, note, source)
Valid = tuple[int, int, int, int, int, Number, str, str | None, str | None]


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    dry_run: bool = False
    errors: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)
    error_count: int = 0

    def body(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "dry_run": self.dry_run,
            "errors": self.errors,
            "error_count": self.error_count,
        }


def _text(raw: Any) -> str | None:
    """A spreadsheet cell as text: numbers as written (2021.0 -> 2021), blanks as None."""
    if raw is None or raw is MISSING:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = raw.strip() if isinstance(raw, str) else str(raw)
    return text or None


@contextmanager
def _paused_gc() -> Iterator[None]:
    """No cyclic collection while a batch builds its many small tuples (they hold no cycles):
    CPython would otherwise rescan everything built so far every few thousand of them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    ) -> None:
        self.session = session
        self.actor = actor
        self.strict = strict  # JSON: types as the contract says; CSV and sheets: cells parsed as text
        self.max_rows = max_rows
        self.summary = Summary(dry_run=dry_run)
        self.atomic = atomic
        dbapi = session.get_bind().dialect.loaded_dbapi
        # COPY goes through the driver itself, whose errors SQLAlchemy does not wrap.
        self.conflicts: tuple[type[Exception], ...] = (IntegrityError, dbapi.IntegrityError)
        self.indicators = {code: (i.id, i.value_type) for code, i in indicators.by_code(session).items()}
        self.departments = departments.code_map(session)
        self.allowed = writable_departments(session, actor)
        # The cells named so far, as packed keys: a set for all of them, and which row named each
        # first, by chunk (a dict for the chunk being checked, then two compact sorted arrays):
        # a million-row file keeps about 80 bytes a row rather than a dict's 110.
        self.seen: set[int] = set()
        self.recent: dict[int, int] = {}
        self.earlier: builtins.list[tuple[array[int], array[int]]] = []
        self.rows = 0
        self.forbidden = 0
        self.at = utcnow()

    # --- checking -----------------------------------------------------------------------------------

    def _error(self, row: int, loc: tuple[str, ...], msg: str, type: str) -> None:
        summary = self.summary
        summary.error_count += 1
        if len(summary.errors) < MAX_ERRORS:
            summary.errors.append({"row": row, "loc": list(loc), "msg": msg, "type": type})

    def check(self, rows: Iterable[Row]) -> builtins.list[Valid]:
        valid: builtins.list[Valid] = []
        summary, check_row, limit = self.summary, self._row, self.max_rows
        for item in rows:
            self.rows += 1
            if limit is not None and self.rows > limit:
                raise PayloadTooLarge(
                    f"A batch holds at most {limit} rows (INDICATORS_MAX_BATCH_ROWS); split it"
                )
            if type(item) is BadRow:
                summary.rejected += 1
                self._error(item.row, item.loc, item.msg, item.type)
                continue
            before = summary.error_count
            checked = check_row(*item)  # type: ignore[misc]
            if summary.error_count > before:
                summary.rejected += 1
            elif checked is not None:
                valid.append(checked)
        if self.recent:
            ordered = sorted(self.recent.items())
            self.earlier.append((array("Q", [k for k, _ in ordered]), array("Q", [r for _, r in ordered])))
            self.recent = {}
        return valid

    def _first_row(self, key: int) -> int:
        for keys, rows in self.earlier:
            at = bisect_left(keys, key)
            if at < len(keys) and keys[at] == key:
                return rows[at]
        return 0

    def _code(self, n: int, name: str, raw: Any, known: dict[str, Any]) -> Any:
        if self.strict:
            if raw is MISSING or raw is None:
                self._error(n, (name,), "required", "missing")
                return None
            if not isinstance(raw, str):
                self._error(n, (name,), f"must be a {name} code (a string)", "string_type")
                return None
            code = raw
        else:
            text = _text(raw)
            if text is None:
                self._error(n, (name,), "required", "missing")
                return None
            code = text
        found = known.get(code)
        if found is None:
            self._error(n, (name,), f"unknown {name} {code!r}", "unknown_code")
        return found

    def _year(self, n: int, raw: Any) -> int | None:
        if type(raw) is int and YEAR_MIN <= raw <= YEAR_MAX:
            return raw
        if type(raw) is str and len(raw) == 4 and raw.isascii() and raw.isdigit() and not self.strict:
            quick = int(raw)
            if YEAR_MIN <= quick <= YEAR_MAX:
                return quick
        year = raw
        if not self.strict and not isinstance(raw, int):
            text = _text(raw)
            digits = text is not None and text.isascii() and text.lstrip("+-").isdigit()
            year = int(text) if digits and text is not None else raw
        if year is MISSING or year is None or year == "":
            self._error(n, ("year",), "required", "missing")
            return None
        if type(year) is not int:
            self._error(n, ("year",), "must be a whole number such as 2021", "int_type")
            return None
        if not YEAR_MIN <= year <= YEAR_MAX:
            self._error(n, ("year",), f"must be between {YEAR_MIN} and {YEAR_MAX}", "year_range")
            return None
        return year

    def _value(self, n: int, raw: Any, value_type: ValueType | None) -> Number | None:
        if type(raw) is str and not self.strict and raw.isascii() and raw.isdigit() and len(raw) <= 18:
            raw = int(raw)
        if type(raw) is int and -_INT_LIMIT < raw < _INT_LIMIT:
            # Whole numbers stay ints: exact, and far cheaper than Decimals for a million rows.
            if value_type is None or _INT_OK[value_type](raw):
                return raw
            rule = violation(value_type, Decimal(raw))
            self._error(n, ("value",), rule or "", f"value_type.{value_type}")
            return None
        if raw is MISSING or raw is None or (not self.strict and _text(raw) is None):
            self._error(n, ("value",), "required", "missing")
            return None
        if self.strict and isinstance(raw, str):
            self._error(n, ("value",), "must be a JSON number, not a string", "number_type")
            return None
        try:
            value = parse_value(raw)
        except ValueError as exc:
            self._error(n, ("value",), str(exc), "number")
            return None
        if value_type is not None:
            rule = violation(value_type, value)
            if rule is not None:
                self._error(n, ("value",), rule, f"value_type.{value_type}")
                return None
        return value

    def _optional(self, n: int, name: str, raw: Any, limit: int) -> str | None:
        if raw is MISSING or raw is None:
            return None
        if type(raw) is str and len(raw) <= limit and "\x00" not in raw:
            return raw or None
        if not isinstance(raw, str):
            if self.strict:
                self._error(n, (name,), "must be a string or null", "string_type")
                return None
            raw = _text(raw)
        if len(raw) > limit:
            self._error(n, (name,), f"at most {limit} characters", "string_too_long")
            return None
        if "\x00" in raw:  # PostgreSQL cannot store it; refused on both databases alike
            self._error(n, (name,), "must not hold a NUL character (\\u0000)", "string_nul")
            return None
        return raw or None

    def _row(self, n: int, values: tuple[Any, ...]) -> Valid | None:
        # Each field takes a fast path when it is plainly right and the careful one (which names
        # what is wrong) otherwise: checking is most of a batch's Python time.
        ind_raw, dep_raw, year_raw, value_raw, qual_raw, note_raw, source_raw = values
        indicator = self.indicators.get(ind_raw) if type(ind_raw) is str else None
        if indicator is None:
            indicator = self._code(n, "indicator", ind_raw, self.indicators)
        department = self.departments.get(dep_raw) if type(dep_raw) is str else None
        if department is None:
            department = self._code(n, "department", dep_raw, self.departments)
        year = self._year(n, year_raw)
        value = self._value(n, value_raw, indicator[1] if indicator else None)
        if qual_raw is MISSING or qual_raw is None or qual_raw == "":
            qualifier: str | None = "exact"
        elif type(qual_raw) is str and qual_raw in QUALIFIERS:
            qualifier = qual_raw
        else:
            qualifier = None if self.strict else _text(qual_raw)
            if qualifier is None and not self.strict:
                qualifier = "exact"
            elif qualifier not in QUALIFIERS:
                self._error(n, ("qualifier",), _QUALIFIER_MSG, "enum")
                qualifier = None
        note = self._optional(n, "note", note_raw, NOTE_MAX)
        source = self._optional(n, "source", source_raw, SOURCE_MAX)
        if department is not None and self.allowed is not None and department not in self.allowed:
            self.forbidden += 1
            scope = self.actor.department_code or "no department"
            self._error(
                n, ("department",), f"{self.actor.name!r} may write only for {scope} and below", "forbidden"
            )
        if indicator is None or department is None or year is None:
            return None
        key = ((indicator[0] << 32 | department) << 8) | (year - YEAR_MIN)
        if key in self.seen:
            first = self.recent.get(key) or self._first_row(key)
            self._error(n, (), f"the same cell (indicator, department, year) as row {first}", "duplicate")
            return None
        self.seen.add(key)
        self.recent[key] = n
        if value is None or qualifier is None:
            return None
        return key, n, indicator[0], department, year, value, qualifier, note, source

    # --- writing ------------------------------------------------------------------------------------

    @property
    def writing(self) -> bool:
        """Whether rows still get written: never in a dry run, and not once an atomic batch has failed."""
        return not self.summary.dry_run and not self.forbidden and not (self.atomic and self.summary.rejected)

    def feed(self, rows: Iterable[Row]) -> None:
        """Check rows, then write the valid ones (or only classify them in a dry run)."""
        with _paused_gc():
            self._feed(rows)

    def _feed(self, rows: Iterable[Row]) -> None:
        valid = self.check(rows)
        if self.forbidden or (self.atomic and self.summary.rejected) or not valid:
            return  # the batch will fail: spare the database
        valid.sort()  # key order is index order: inserts append instead of splitting pages
        if not self.writing:
            self._apply(valid, write=False)
            return
        for attempt in range(3):
            try:
                with self.session.begin_nested():
                    self._apply(valid, write=True)
                return
            except self.conflicts:
                # A concurrent writer created or changed one of these cells after we read it: its
                # row is committed now, so reading again classifies against it.
                if attempt == 2:
                    raise

    def _apply(self, valid: builtins.list[Valid], *, write: bool) -> None:
        conn = self.session.connection()
        keys = [(v[2], v[3], v[4]) for v in valid]
        current, last = bulk.lookup(conn, keys)
        new: builtins.list[bulk.NewRow] = []
        changed: builtins.list[bulk.ChangedRow] = []
        revisions: builtins.list[bulk.RevisionRow] = []
        unchanged = 0
        for _, _, i, d, y, value, q, note, source in valid:
            now = current.get((i, d, y))
            if now is None:
                version = last.get((i, d, y), 0) + 1
                new.append((i, d, y, version, value, q, note, source))
                revisions.append((i, d, y, version, "create", None, value, None, q, note, source))
            elif (
                now.value == value
                and now.qualifier == q
                and (now.note or None) == note
                and (now.source or None) == source
            ):
                unchanged += 1
            else:
                version = now.version + 1
                changed.append((now.id, version, value, q, note, source))
                revisions.append(
                    (i, d, y, version, "update", now.value, value, now.qualifier, q, note, source)
                )
        if write:
            bulk.write(conn, new=new, changed=changed, revisions=revisions, at=self.at, by=self.actor.name)
        self.summary.created += len(new)
        self.summary.updated += len(changed)
        self.summary.unchanged += unchanged

    # --- the answer ---------------------------------------------------------------------------------

    def finish(self) -> Summary:
        """The summary; raises 403 (a department out of scope) or 422 (atomic with rejected rows)."""
        summary = self.summary
        failed = self.forbidden or (self.atomic and summary.rejected)
        if failed:
            summary.created = summary.updated = summary.unchanged = 0
        if self.forbidden:
            scope = self.actor.department_code or "no department"
            raise Forbidden(
                f"{self.forbidden} row(s) are for departments {self.actor.name!r} may not write "
                f"(only {scope} and the departments below it); nothing was written",
                extra=summary.body(),
            )
        if failed:
            raise InvalidValue(
                f"{summary.rejected} of {self.rows} row(s) rejected; the batch is atomic, so nothing "
                "was written (send atomic=false to write the valid rows)",
                extra=summary.body(),
            )
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
) -> Summary:
    """A whole batch held in memory: every row checked before anything is written."""
    batch = Batch(session, actor=actor, dry_run=dry_run, atomic=atomic, strict=strict, max_rows=max_rows)
    with bulk.roomy_cache(session.connection()):
        batch.feed(rows)
    return batch.finish()
