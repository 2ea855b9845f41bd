"""Whether one department-year breaks one rule: exactly, or as intervals where a qualifier leaves the
figures open (app.quality.intervals).

`figures` maps an indicator code to its (value, qualifier) for the department and year. The missing
strategy decides what an absent figure does: `skip_if_any_missing` judges nothing unless every operand
has a figure, `skip_if_all_missing` judges nothing when none has and counts the absent ones as 0,
`never_skip` always judges, absent figures as 0. The pair operators are about presence itself and take
no strategy: a side has a value when one of its operands has a figure (a side of constants always
has). A side whose formula divides by zero has no value: the rule judges nothing (never an error).
"""

import decimal
import enum
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, NamedTuple, cast

from app.core.formula import EXACT, Arithmetic, Formula, evaluate, round_places
from app.quality.intervals import (
    DECIMAL_INTERVALS,
    INTERVALS,
    Interval,
    of_figure,
    surely_below,
    surely_not_above,
)
from app.quality.models import Importance, Missing, Operator

Figure = tuple[Decimal, str]  # value, qualifier
Exact = Decimal | Fraction
ZERO = (Decimal(0), "exact")


class Status(enum.StrEnum):
    violated = "violated"
    indeterminate = "indeterminate"


@dataclass(frozen=True)
class Parsed:
    """A rule as its evaluation needs it: the formulas parsed once."""

    id: int
    code: str
    left: Formula
    operator: Operator
    right: Formula
    importance: Importance
    missing: Missing

    @property
    def operands(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.left.operands + self.right.operands))


class Breach(NamedTuple):
    """A rule broken by a department-year: its sides' exact values, shown rounded to 6 places (half
    away from zero) when asked for: a year's report rounds only the page it answers. (A tuple: a
    year's report makes tens of thousands.)"""

    rule: Parsed
    status: Status
    left: Exact | None
    right: Exact | None

    @property
    def left_value(self) -> Decimal | None:
        return shown(self.left)

    @property
    def right_value(self) -> Decimal | None:
        return shown(self.right)


PAIRS = (Operator.compulsory_pair, Operator.exclusive_pair)


def _has_value(formula: Formula, figures: Mapping[str, Figure]) -> bool:
    return not formula.operands or any(code in figures for code in formula.operands)


# Sums, differences and products of decimals are decimals: computed as such, they are exact as long as
# no digit is lost, which the context traps (Inexact), as it traps a quotient that does not end (1/3).
# Then the same formula is computed again in fractions. Decimals cost a fraction of what fractions do,
# and a year's report judges tens of thousands of department-years.
DECIMAL_CONTEXT = decimal.Context(
    prec=120,
    rounding=ROUND_HALF_UP,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_STEP = Decimal("0.000001")
_ROUNDING = decimal.Context(prec=120, rounding=ROUND_HALF_UP)  # half away from zero, no trap


def _decimal_div(a: Decimal, b: Decimal) -> Decimal | None:
    return None if not b else DECIMAL_CONTEXT.divide(a, b)


DECIMALS: Arithmetic[Decimal] = Arithmetic(
    constant=lambda f: DECIMAL_CONTEXT.divide(Decimal(f.numerator), Decimal(f.denominator)),
    add=DECIMAL_CONTEXT.add,
    sub=DECIMAL_CONTEXT.subtract,
    mul=DECIMAL_CONTEXT.multiply,
    div=_decimal_div,
    neg=DECIMAL_CONTEXT.minus,
)


def _point(formula: Formula, figures: Mapping[str, Figure]) -> Exact | None:
    """The formula over the figures' values as written, exactly; None when an operand is missing or a
    division is by zero."""
    values = {c: figures[c][0] for c in formula.operands if c in figures}
    try:
        return evaluate(formula, values, DECIMALS)
    except decimal.Inexact:
        return evaluate(formula, values, EXACT)


def shown(value: Exact | None) -> Decimal | None:
    if value is None:
        return None
    if type(value) is Decimal:  # (not isinstance: Fraction's ABC makes that check slow)
        return value.quantize(_STEP, rounding=ROUND_HALF_UP, context=_ROUNDING)
    return round_places(cast(Fraction, value))


def judge(rule: Parsed, figures: Mapping[str, Figure]) -> Breach | None:
    """The breach of `rule` by a department-year's figures, or None (kept, or not judged)."""
    if rule.operator in PAIRS:
        left_has, right_has = _has_value(rule.left, figures), _has_value(rule.right, figures)
        broken = (
            left_has != right_has if rule.operator is Operator.compulsory_pair else left_has and right_has
        )
        if not broken:
            return None
        return Breach(rule, Status.violated, _point(rule.left, figures), _point(rule.right, figures))
    operands = rule.operands
    present = [c for c in operands if c in figures]
    if len(present) < len(operands):
        if rule.missing is Missing.skip_if_any_missing or (
            rule.missing is Missing.skip_if_all_missing and not present
        ):
            return None
        figures = {c: figures.get(c, ZERO) for c in operands}
    left, right = _point(rule.left, figures), _point(rule.right, figures)
    if left is None or right is None:
        return None  # a division by zero: no value to compare
    if all(figures[c][1] == "exact" for c in operands):
        if type(left) is not type(right):
            left, right = Fraction(left), Fraction(right)
        status = None if holds(rule.operator, left, right) else Status.violated
    else:
        status = _interval_status(rule, figures)
    return None if status is None else Breach(rule, status, left, right)


COMPARE: dict[Operator, Callable[[Any, Any], bool]] = {
    Operator.equal_to: operator.eq,
    Operator.not_equal_to: operator.ne,
    Operator.greater_than: operator.gt,
    Operator.greater_than_or_equal_to: operator.ge,
    Operator.less_than: operator.lt,
    Operator.less_than_or_equal_to: operator.le,
}


def holds(operator: Operator, left: Exact, right: Exact) -> bool:
    return COMPARE[operator](left, right)


def _interval_status(rule: Parsed, figures: Mapping[str, Figure]) -> Status | None:
    try:
        with decimal.localcontext(DECIMAL_CONTEXT):  # every digit kept, or Inexact: then in fractions
            sides = _sides(rule, figures, DECIMAL_INTERVALS, lambda v: v)
    except decimal.Inexact:
        sides = _sides(rule, figures, INTERVALS, Fraction)
    if sides is None:
        return None
    kept, broken = verdict(rule.operator, *sides)
    if kept:
        return None
    return Status.violated if broken else Status.indeterminate


def _sides(
    rule: Parsed, figures: Mapping[str, Figure], arithmetic: Arithmetic[Interval], number: Any
) -> tuple[Interval, Interval] | None:
    values = {c: of_figure(number(figures[c][0]), figures[c][1]) for c in rule.operands}
    left = evaluate(rule.left, values, arithmetic)
    right = evaluate(rule.right, values, arithmetic)
    return None if left is None or right is None else (left, right)


def verdict(operator: Operator, left: Interval, right: Interval) -> tuple[bool, bool]:
    """(holds for every value the intervals allow, fails for every one)."""
    match operator:
        case Operator.less_than:
            return surely_below(left, right), surely_not_above(right, left)
        case Operator.less_than_or_equal_to:
            return surely_not_above(left, right), surely_below(right, left)
        case Operator.greater_than:
            return surely_below(right, left), surely_not_above(left, right)
        case Operator.greater_than_or_equal_to:
            return surely_not_above(right, left), surely_below(left, right)
        case Operator.equal_to:
            same = left.point and right.point and left.lo == right.lo
            return same, surely_below(left, right) or surely_below(right, left)
        case _:  # not_equal_to
            same = left.point and right.point and left.lo == right.lo
            return surely_below(left, right) or surely_below(right, left), same
