"""Checking a batch's rows in plain Python: each field on a fast path when it is plainly right, and
a careful one naming what is wrong otherwise. Every error is counted; the first 1000 are kept,
each naming its row's indicator, department and year as written.

A Checker resolves codes and names once (departments.code_map and names, indicators.by_code),
knows which departments the actor may write, and remembers every cell named so far, so that a
later row for the same cell is rejected, even across the chunks of a file streamed from disk.
`Checker` checks figures; app.transfer.target_checks targets, with the same cell checks.

Files as people fill them in (not JSON, whose types the contract fixes): an indicator or a
department may be named by its code, its Chinese or its English name; a qualifier by its code or
its Chinese word; a row without a value is skipped; a workbook's binary float with more than 6
decimals is rounded, with a warning.
"""

import builtins
import math
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.core.config import get_settings
from app.core.fields import YEAR_MAX, YEAR_MIN, parse_value
from app.core.problems import PayloadTooLarge
from app.core.text import CONTROL, CONTROL_MSG
from app.departments import service as departments
from app.departments.scope import writable_departments
from app.indicators import service as indicators
from app.indicators.models import ValueType
from app.observations.models import Qualifier
from app.observations.rules import future_year_message, violation
from app.transfer import words
from app.transfer.bulk import Number
from app.transfer.formats import MISSING, BadRow, Row
from app.transfer.workbooks import NO_RESULT, SheetNumber

MAX_ERRORS = 1000
_CONTROL = CONTROL.search
NOTE_MAX, SOURCE_MAX = 2000, 500
QUALIFIERS = frozenset(q.value for q in Qualifier)
_QUALIFIER_MSG = "must be one of " + ", ".join(q.value for q in Qualifier) + " (or 精确, 至少, 超过, 约)"
_NO_RESULT_MSG = (
    "the cell holds a formula saved without its result; open the workbook in a spreadsheet program "
    "and save it again, or type the number"
)
_STEP = Decimal("0.000001")
_INT_LIMIT = 10**18
# The whole numbers each value type takes, as one range (at most 18 digits): `lo <= v <= hi`.
_INT_RANGE: dict[ValueType, tuple[int, int]] = {
    ValueType.count: (0, _INT_LIMIT - 1),
    ValueType.amount: (1 - _INT_LIMIT, _INT_LIMIT - 1),
    ValueType.percent: (0, 100),
    ValueType.rank: (1, _INT_LIMIT - 1),
    ValueType.boolean: (0, 1),
}
# (key, row, indicator_id, department_id, year, *payload, note, source): for figures the payload is
# (value, qualifier), for targets (operator, value, upper).
Valid = tuple[Any, ...]
Indicator = tuple[int, ValueType, int, int]  # id, value_type, lowest and highest whole number it takes


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    dry_run: bool = False
    errors: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)
    error_count: int = 0
    warnings: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)
    # Imports with a strategy (app.transfer.strategies) only; not in an observation batch's answer.
    ignored: int = 0
    deleted: int = 0

    def body(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "dry_run": self.dry_run,
            "errors": self.errors,
            "error_count": self.error_count,
            "warnings": self.warnings,
        }


def _text(raw: Any) -> str | None:
    """A spreadsheet cell as text: numbers as written (2021.0 -> 2021), blanks as None."""
    if raw is None or raw is MISSING or raw is NO_RESULT:
        return None
    if isinstance(raw, float | Decimal) and math.isfinite(raw) and raw == int(raw):
        raw = int(raw)
    text = raw.strip() if isinstance(raw, str) else str(raw)
    return text or None


def _as_written(raw: Any) -> Any:
    """A row's indicator, department or year as its file or document gave it, for an error to name;
    None where it could not be read."""
    if isinstance(raw, bool) or raw is MISSING or raw is NO_RESULT:
        return None
    if isinstance(raw, str | int | float | Decimal):
        text = _text(raw)
        if text is not None and isinstance(raw, int | float | Decimal) and _whole(text):
            return int(text)
        return text
    return None


def _whole(text: str) -> bool:
    """Whether the text is a whole number a JSON answer can carry as one (up to 18 digits)."""
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit() and len(digits) <= 18


def blank(raw: Any) -> bool:
    """Whether a file's cell is empty (a row without a value is skipped, not refused)."""
    return raw is None or (type(raw) is str and (not raw or raw.isspace()))


class Checker:
    """Checks rows of figures against the catalogue and the actor's scope, recording errors in `summary`."""

    def __init__(
        self,
        session: Session,
        *,
        actor: Principal,
        summary: Summary,
        strict: bool,
        max_rows: int | None,
        last_year: int | None = None,
    ) -> None:
        self.actor = actor
        # Figures may not be for a year after this one (Settings.last_open_year).
        self.last_year = self.open_until(last_year)
        self.summary = summary
        self.strict = strict  # JSON: types as the contract says; CSV and sheets: cells parsed as text
        self.max_rows = max_rows
        # code, Chinese or English name -> (id, value_type, lowest and highest whole number it takes)
        catalogue = indicators.by_code(session)
        self.indicators, self.shared_indicator_names = words.names(
            {code: (i.id, i.value_type, *_INT_RANGE[i.value_type]) for code, i in catalogue.items()},
            (
                ((i.id, i.value_type, *_INT_RANGE[i.value_type]), i.name, i.name_en)
                for i in catalogue.values()
            ),
        )
        # (v2) Derived indicators' rows are set aside (`computed`): the batch compares them with the
        # figure computed (app.transfer.batch), for they cannot be written.
        self.derived = {i.id: i for i in catalogue.values() if i.formula is not None}
        self.computed: builtins.list[tuple[int, int, int, int, Number, str, tuple[Any, ...]]] = []
        self.departments, self.shared_department_names = words.names(
            departments.code_map(session), departments.names(session)
        )
        self.allowed = writable_departments(session, actor)
        self.warned: builtins.list[dict[str, Any]] = []  # the warnings of the row being checked
        # The cells named so far, as packed keys: a set for all of them, and which row named each
        # first, by chunk (a dict for the chunk being checked, then two compact sorted arrays):
        # a million-row file keeps about 80 bytes a row rather than a dict's 110.
        self.seen: set[int] = set()
        self.recent: dict[int, int] = {}
        self.earlier: builtins.list[tuple[array[int], array[int]]] = []
        self.rows = 0
        self.forbidden = 0

    @staticmethod
    def open_until(last_year: int | None) -> int:
        """The last year rows may be for: as asked, else what the settings open."""
        return get_settings().last_open_year() if last_year is None else last_year

    def error(self, row: int, loc: tuple[str, ...], msg: str, type: str) -> None:
        """Record one error of a row (rejecting the row is the caller's count)."""
        self._error(row, loc, msg, type)

    def _error(self, row: int, loc: tuple[str, ...], msg: str, type: str) -> None:
        summary = self.summary
        summary.error_count += 1
        if len(summary.errors) < MAX_ERRORS:
            summary.errors.append(
                {"row": row, "indicator": None, "department": None, "year": None}
                | {"loc": list(loc), "msg": msg, "type": type}
            )

    def reject(self, row: int, values: tuple[Any, ...], loc: tuple[str, ...], msg: str, type: str) -> None:
        """Reject a row after its check, its error naming it as written (`values`)."""
        before = self.summary.error_count
        self.summary.rejected += 1
        self._error(row, loc, msg, type)
        self._name(self.summary.errors[min(before, MAX_ERRORS) :], values)

    def _warn(self, row: int, loc: tuple[str, ...], msg: str, type: str) -> None:
        self.warned.append({"row": row, "loc": list(loc), "msg": msg, "type": type})

    def _name(self, entries: builtins.list[dict[str, Any]], values: tuple[Any, ...]) -> None:
        """The row's indicator, department and year as written, in its errors or warnings."""
        named = {"indicator": _as_written(values[0]), "department": _as_written(values[1])}
        year = _as_written(values[2])
        named["year"] = int(year) if type(year) is str and _whole(year) else year
        for entry in entries:
            entry.update(named)

    def check(self, rows: Iterable[Row]) -> builtins.list[Valid]:
        if self.recent:
            # Packed when the next chunk comes, not at the end of this one: a batch held in memory
            # (one chunk) never pays for sorting its keys into arrays.
            ordered = sorted(self.recent.items())
            self.earlier.append((array("Q", [k for k, _ in ordered]), array("Q", [r for _, r in ordered])))
            self.recent = {}
        valid: builtins.list[Valid] = []
        summary, check_row, warned = self.summary, self._row, self.warned
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
                self._name(summary.errors[min(before, MAX_ERRORS) :], item[1])  # type: ignore[index]
            elif checked is not None:
                valid.append(checked)
            if warned:
                self._name(warned, item[1])  # type: ignore[index]
                summary.warnings.extend(warned[: max(0, MAX_ERRORS - len(summary.warnings))])
                warned.clear()
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
            if raw is NO_RESULT:
                self._error(n, (name,), _NO_RESULT_MSG, "formula_without_result")
                return None
            text = _text(raw)
            if text is None:
                self._error(n, (name,), "required", "missing")
                return None
            code = text
        found = known.get(code)
        if found is None:
            shared = self.shared_indicator_names if name == "indicator" else self.shared_department_names
            if code in shared:
                self._error(n, (name,), f"{code!r} names more than one {name}; write its code", "ambiguous")
            else:
                self._error(
                    n, (name,), f"unknown {name} {code!r} (neither a code nor a name)", "unknown_code"
                )
        return found

    def _year(self, n: int, raw: Any) -> int | None:
        if type(raw) is int and YEAR_MIN <= raw <= self.last_year:
            return raw
        if type(raw) is str and len(raw) == 4 and raw.isascii() and raw.isdigit() and not self.strict:
            quick = int(raw)
            if YEAR_MIN <= quick <= self.last_year:
                return quick
        year = raw
        if raw is NO_RESULT:
            self._error(n, ("year",), _NO_RESULT_MSG, "formula_without_result")
            return None
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
        if year > self.last_year:
            self._error(n, ("year",), future_year_message(self.last_year), "year_future")
            return None
        return year

    def _value(self, n: int, raw: Any, value_type: ValueType | None, name: str = "value") -> Number | None:
        loc = (name,)
        if type(raw) is SheetNumber:
            raw = self._sheet_number(n, loc, raw)
        elif raw is NO_RESULT:
            self._error(n, loc, _NO_RESULT_MSG, "formula_without_result")
            return None
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
            self._error(n, loc, rule or "", f"value_type.{value_type}")
            return None
        if raw is MISSING or raw is None or (not self.strict and _text(raw) is None):
            self._error(n, loc, "required", "missing")
            return None
        if self.strict and isinstance(raw, str):
            self._error(n, loc, "must be a JSON number, not a string", "number_type")
            return None
        try:
            value = parse_value(raw)
        except ValueError as exc:
            self._error(n, loc, str(exc), "number")
            return None
        if value_type is not None:
            rule = violation(value_type, value)
            if rule is not None:
                self._error(n, loc, rule, f"value_type.{value_type}")
                return None
        return value

    def _sheet_number(self, n: int, loc: tuple[str, ...], raw: SheetNumber) -> Number:
        """A workbook's binary float as the number it stands for: whole numbers as ints, more than 6
        decimals rounded half away from zero, with a warning naming the row."""
        value = Decimal(raw)
        if value == value.to_integral_value() and abs(value) < _INT_LIMIT:
            return int(value)
        if value != value.quantize(_STEP, rounding=ROUND_HALF_UP) and abs(value) < _INT_LIMIT:
            rounded = value.quantize(_STEP, rounding=ROUND_HALF_UP)
            self._warn(n, loc, f"{value} has more than 6 decimals: rounded to {rounded}", "rounded")
            return rounded.normalize() if rounded != rounded.to_integral_value() else int(rounded)
        return value

    def _optional(self, n: int, name: str, raw: Any, limit: int) -> str | None:
        if raw is MISSING or raw is None:
            return None
        if type(raw) is str and len(raw) <= limit and _CONTROL(raw) is None:
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
        if _CONTROL(raw) is not None:
            self._error(n, (name,), CONTROL_MSG, "string_pattern_mismatch")
            return None
        return raw or None

    def _where(
        self, n: int, ind_raw: Any, dep_raw: Any, year_raw: Any
    ) -> tuple[Indicator | None, int | None, int | None]:
        """A row's indicator, department and year, each None (with its error) when wrong."""
        # Each field takes a fast path when it is plainly right and the careful one (which names
        # what is wrong) otherwise: checking is most of a batch's Python time.
        indicator = self.indicators.get(ind_raw) if type(ind_raw) is str else None
        if indicator is None:
            indicator = self._code(n, "indicator", ind_raw, self.indicators)
        department = self.departments.get(dep_raw) if type(dep_raw) is str else None
        if department is None:
            department = self._code(n, "department", dep_raw, self.departments)
        if type(year_raw) is str and len(year_raw) == 4 and not self.strict and year_raw.isdigit():
            year_raw = int(year_raw) if year_raw.isascii() else year_raw  # CSV: "2021"
        if type(year_raw) is int and YEAR_MIN <= year_raw <= self.last_year:
            return indicator, department, year_raw
        return indicator, department, self._year(n, year_raw)

    def _claim(
        self, n: int, indicator: Indicator | None, department: int | None, year: int | None
    ) -> int | None:
        """The cell's packed key, once the actor may write it and no earlier row named it; else None."""
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
        return key

    def _note_and_source(self, n: int, note_raw: Any, source_raw: Any) -> tuple[str | None, str | None]:
        if note_raw is MISSING or note_raw is None or note_raw == "":
            note = None
        else:
            note = self._optional(n, "note", note_raw, NOTE_MAX)
        if source_raw is MISSING or source_raw is None or source_raw == "":
            source = None
        else:
            source = self._optional(n, "source", source_raw, SOURCE_MAX)
        return note, source

    def _word(self, n: int, name: str, raw: Any, known: dict[str, str], message: str) -> str | None:
        """A qualifier or an operator: its code, or (in files) its word; None, with an error, otherwise."""
        text = raw if self.strict or type(raw) is not str else raw.strip()
        found = known.get(text) if type(text) is str else None
        if self.strict and found != text:
            found = None  # JSON: the codes only
        if found is None:
            self._error(n, (name,), message, "enum")
        return found

    def _row(self, n: int, values: tuple[Any, ...]) -> Valid | None:
        # The fast paths are inline (a call costs as much as a check): codes that are known, a year
        # that is an int in range, a whole number in its type's range (CSV: the same as digits),
        # absent or empty note and source.
        ind_raw, dep_raw, year_raw, value_raw, qual_raw, note_raw, source_raw = values
        strict = self.strict
        if not strict and (
            value_raw is None or (type(value_raw) is str and (not value_raw or value_raw.isspace()))
        ):
            self.summary.skipped += 1  # a file's row without a value: left blank, as in a template
            return None
        indicator, department, year = self._where(n, ind_raw, dep_raw, year_raw)
        if type(value_raw) is str and not strict and len(value_raw) <= 18 and value_raw.isdigit():
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
        elif not strict and blank(qual_raw):
            qualifier = "exact"
        else:
            qualifier = self._word(n, "qualifier", qual_raw, words.QUALIFIERS, _QUALIFIER_MSG)
        if (note_raw is MISSING or note_raw is None or note_raw == "") and (
            source_raw is MISSING or source_raw is None or source_raw == ""
        ):
            note = source = None  # most rows: no call
        else:
            note, source = self._note_and_source(n, note_raw, source_raw)
        key = self._claim(n, indicator, department, year)
        if key is None or value is None or qualifier is None:
            return None
        if self.derived and indicator[0] in self.derived:  # type: ignore[index]
            self.computed.append((n, indicator[0], department, year, value, qualifier, values))  # type: ignore[arg-type,index]
            return None
        return key, n, indicator[0], department, year, value, qualifier, note, source  # type: ignore[index]
