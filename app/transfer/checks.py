"""Checking a batch's rows in plain Python: each field on a fast path when it is plainly right, and
a careful one naming what is wrong otherwise. Every error is counted; the first 1000 are kept.

A Checker resolves codes once (departments.code_map, indicators.by_code), knows which departments
the actor may write, and remembers every cell named so far, so that a later row for the same
cell is rejected, even across the chunks of a file streamed from disk.
"""

import builtins
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.core.fields import YEAR_MAX, YEAR_MIN, parse_value
from app.core.problems import PayloadTooLarge
from app.departments import service as departments
from app.departments.scope import writable_departments
from app.indicators import service as indicators
from app.indicators.models import ValueType
from app.observations.models import Qualifier
from app.observations.rules import violation
from app.transfer.bulk import Number
from app.transfer.formats import MISSING, BadRow, Row

MAX_ERRORS = 1000
NOTE_MAX, SOURCE_MAX = 2000, 500
QUALIFIERS = frozenset(q.value for q in Qualifier)
_QUALIFIER_MSG = "must be one of " + ", ".join(q.value for q in Qualifier)
_INT_LIMIT = 10**18
# The whole numbers each value type takes, as one range (at most 18 digits): `lo <= v <= hi`.
_INT_RANGE: dict[ValueType, tuple[int, int]] = {
    ValueType.count: (0, _INT_LIMIT - 1),
    ValueType.amount: (1 - _INT_LIMIT, _INT_LIMIT - 1),
    ValueType.percent: (0, 100),
    ValueType.rank: (1, _INT_LIMIT - 1),
    ValueType.boolean: (0, 1),
}
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


class Checker:
    """Checks rows against the catalogue and the actor's scope, recording errors in `summary`."""

    def __init__(
        self, session: Session, *, actor: Principal, summary: Summary, strict: bool, max_rows: int | None
    ) -> None:
        self.actor = actor
        self.summary = summary
        self.strict = strict  # JSON: types as the contract says; CSV and sheets: cells parsed as text
        self.max_rows = max_rows
        # code -> (id, value_type, lowest and highest whole number it takes)
        self.indicators = {
            code: (i.id, i.value_type, *_INT_RANGE[i.value_type])
            for code, i in indicators.by_code(session).items()
        }
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

    def error(self, row: int, loc: tuple[str, ...], msg: str, type: str) -> None:
        """Record one error of a row (rejecting the row is the caller's count)."""
        self._error(row, loc, msg, type)

    def _error(self, row: int, loc: tuple[str, ...], msg: str, type: str) -> None:
        summary = self.summary
        summary.error_count += 1
        if len(summary.errors) < MAX_ERRORS:
            summary.errors.append({"row": row, "loc": list(loc), "msg": msg, "type": type})

    def check(self, rows: Iterable[Row]) -> builtins.list[Valid]:
        if self.recent:
            # Packed when the next chunk comes, not at the end of this one: a batch held in memory
            # (one chunk) never pays for sorting its keys into arrays.
            ordered = sorted(self.recent.items())
            self.earlier.append((array("Q", [k for k, _ in ordered]), array("Q", [r for _, r in ordered])))
            self.recent = {}
        valid: builtins.list[Valid] = []
        summary, check_row = self.summary, self._row
        limit = self.max_rows if self.max_rows is not None else sys.maxsize
        for item in rows:
            self.rows += 1
            if self.rows > limit:
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
            if value_type is None:
                return raw
            lo, hi = _INT_RANGE[value_type]
            if lo <= raw <= hi:
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
        # The fast paths are inline (a call costs as much as a check): codes that are known, a year
        # that is an int in range, a whole number in its type's range (CSV: the same as digits),
        # absent or empty note and source.
        ind_raw, dep_raw, year_raw, value_raw, qual_raw, note_raw, source_raw = values
        indicator = self.indicators.get(ind_raw) if type(ind_raw) is str else None
        if indicator is None:
            indicator = self._code(n, "indicator", ind_raw, self.indicators)
        department = self.departments.get(dep_raw) if type(dep_raw) is str else None
        if department is None:
            department = self._code(n, "department", dep_raw, self.departments)
        if type(year_raw) is str and len(year_raw) == 4 and not self.strict and year_raw.isdigit():
            year_raw = int(year_raw) if year_raw.isascii() else year_raw  # CSV: "2021"
        if type(year_raw) is int and YEAR_MIN <= year_raw <= YEAR_MAX:
            year: int | None = year_raw
        else:
            year = self._year(n, year_raw)
        if type(value_raw) is str and not self.strict and len(value_raw) <= 18 and value_raw.isdigit():
            value_raw = int(value_raw) if value_raw.isascii() else value_raw
        value: Number | None
        if type(value_raw) is int and indicator is not None and indicator[2] <= value_raw <= indicator[3]:
            value = value_raw
        else:
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
        if note_raw is MISSING or note_raw is None or note_raw == "":
            note = None
        else:
            note = self._optional(n, "note", note_raw, NOTE_MAX)
        if source_raw is MISSING or source_raw is None or source_raw == "":
            source = None
        else:
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
