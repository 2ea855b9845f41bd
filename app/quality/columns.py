"""A rule judged for many department-years at once: its formulas evaluated over columns.

`COLUMNS` is an `Arithmetic` (app.core.formula) whose numbers are columns, one value per
department-year (a constant stays one value, spread over the column when combined): the formula's tree
is walked once per rule rather than once per department. Each value is a decimal while it is exact as
one (sums, products, quotients that end), else a fraction; a division by zero leaves that value None.

A department-year with a qualified figure is judged over columns too, of intervals
(app.quality.intervals), for those department-years alone; its values shown are the point ones. The
pair operators are judged one at a time by app.quality.judge. The answers are those of
app.quality.judge.judge, department-year by department-year (tests/quality/test_columns.py).
"""

import decimal
import operator
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from app.core.formula import Arithmetic, evaluate
from app.quality.intervals import DECIMAL_INTERVALS, INF, INTERVALS, Interval, of_figure
from app.quality.judge import (
    COMPARE,
    DECIMAL_CONTEXT,
    DECIMALS,
    PAIRS,
    ZERO,
    Breach,
    Figure,
    Parsed,
    Status,
    judge,
    verdict,
)
from app.quality.models import Missing

Value = Decimal | Fraction | None
Column = list[Value] | Value

_Op = Callable[[Any, Any], Any]


def _mapped(one: _Op) -> Callable[[Any, Any], Any]:
    """`one` over two columns, value by value (a single value stands for the whole column)."""

    def column(a: Any, b: Any) -> Any:
        if isinstance(a, list):
            if isinstance(b, list):
                return [one(x, y) for x, y in zip(a, b, strict=True)]
            return [one(x, b) for x in a]
        if isinstance(b, list):
            return [one(a, y) for y in b]
        return one(a, b)

    return column


def _unary(op: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`op` over a column (or a single value), None staying None."""

    def column(a: Any) -> Any:
        if isinstance(a, list):
            return [None if x is None else op(x) for x in a]
        return None if a is None else op(a)

    return column


def _lift(decimal_op: _Op, fast: _Op, fraction_op: _Op | None = None) -> Callable[[Column, Column], Column]:
    """A column operation: in one pass by `fast` (the operator itself, in DECIMAL_CONTEXT, which
    traps an inexact decimal), else value by value: decimals while exact, else fractions
    (`fraction_op`, by default `fast` over the two as fractions); None for a division by zero or a
    value already None."""
    exactly = fraction_op or (lambda x, y: fast(Fraction(x), Fraction(y)))

    def one(x: Value, y: Value) -> Value:
        if x is None or y is None:
            return None
        if type(x) is Decimal and type(y) is Decimal:
            try:
                return decimal_op(x, y)  # type: ignore[no-any-return]
            except decimal.Inexact:
                pass
        return exactly(x, y)  # type: ignore[no-any-return]

    by_value = _mapped(one)

    def column(a: Column, b: Column) -> Column:
        if isinstance(a, list) or isinstance(b, list):
            try:  # decimals that stay exact, or fractions alone: every value at C speed
                if not isinstance(a, list):
                    return [fast(a, y) for y in b]  # type: ignore[union-attr]
                if isinstance(b, list):
                    return [fast(x, y) for x, y in zip(a, b, strict=True)]
                return [fast(x, b) for x in a]
            except (ArithmeticError, TypeError):  # inexact, by zero, a None, a decimal with a fraction
                pass
        return by_value(a, b)  # type: ignore[no-any-return]

    return column


def _quotient(x: Decimal | Fraction, y: Decimal | Fraction) -> Decimal | Fraction | None:
    """x / y exactly (None for y = 0): a decimal where the quotient ends, else a fraction. Whether it
    ends is read off the fraction in lowest terms (a denominator of 2s and 5s alone): dividing in
    DECIMAL_CONTEXT until its 120 digits run out costs several times more."""
    if y == 0:
        return None
    if type(x) is not Decimal or type(y) is not Decimal:
        return Fraction(x) / Fraction(y)
    x_numerator, x_denominator = x.as_integer_ratio()
    y_numerator, y_denominator = y.as_integer_ratio()
    quotient = Fraction(x_numerator * y_denominator, x_denominator * y_numerator)
    rest = quotient.denominator
    rest >>= (rest & -rest).bit_length() - 1  # the 2s out
    while rest % 5 == 0:
        rest //= 5
    if rest != 1:
        return quotient
    return DECIMAL_CONTEXT.divide(Decimal(quotient.numerator), Decimal(quotient.denominator))


COLUMNS: Arithmetic[Column] = Arithmetic(
    constant=DECIMALS.constant,
    add=_lift(DECIMAL_CONTEXT.add, operator.add),
    sub=_lift(DECIMAL_CONTEXT.subtract, operator.sub),
    mul=_lift(DECIMAL_CONTEXT.multiply, operator.mul),
    div=_lift(_quotient, operator.truediv, _quotient),
    neg=_unary(operator.neg),
)

# Intervals over columns: each interval's ends are decimals while every digit is kept (the decimal
# context traps an inexact one, as app.quality.judge does for a whole side), else fractions with
# float infinities; an operation on one of each first takes the decimal one to fractions, exactly.
IntervalValue = Interval | None
IntervalColumn = list[IntervalValue] | IntervalValue


def _fraction_end(end: Any) -> Any:
    if type(end) is Decimal:
        return (INF if end > 0 else -INF) if end.is_infinite() else Fraction(end)
    return end


def _fractions(a: Interval) -> Interval:
    return Interval(_fraction_end(a.lo), _fraction_end(a.hi), a.lo_open, a.hi_open)


def _interval_lift(
    op: _Op, *, decimals: bool = True
) -> Callable[[IntervalColumn, IntervalColumn], IntervalColumn]:
    """`op` over columns of intervals: in decimals while every digit is kept (`decimals`; evaluated
    in DECIMAL_CONTEXT, which traps an inexact one), else in fractions."""

    def one(x: IntervalValue, y: IntervalValue) -> IntervalValue:
        if x is None or y is None:
            return None
        decimal_x, decimal_y = type(x.lo) is Decimal, type(y.lo) is Decimal
        if decimals and decimal_x and decimal_y:
            try:
                return op(x, y)  # type: ignore[no-any-return]
            except decimal.Inexact:
                pass
        return op(_fractions(x) if decimal_x else x, _fractions(y) if decimal_y else y)  # type: ignore[no-any-return]

    return _mapped(one)


INTERVAL_COLUMNS: Arithmetic[IntervalColumn] = Arithmetic(
    constant=DECIMAL_INTERVALS.constant,  # (evaluated in DECIMAL_CONTEXT)
    add=_interval_lift(INTERVALS.add),
    sub=_interval_lift(INTERVALS.sub),
    mul=_interval_lift(INTERVALS.mul),
    div=_interval_lift(INTERVALS.div, decimals=False),  # its reciprocal seldom ends
    neg=_unary(INTERVALS.neg),
)


def judge_all(rule: Parsed, departments: Sequence[Mapping[str, Figure]]) -> list[Breach | None]:
    """`judge(rule, figures)` for each department-year's figures, in their order."""
    values = {c: [f[0] if (f := figures.get(c)) else None for figures in departments] for c in rule.operands}
    qualifiers = {
        c: [f[1] if (f := figures.get(c)) else None for figures in departments] for c in rule.operands
    }
    return judge_columns(rule, values, qualifiers, range(len(departments)))


def judge_columns(
    rule: Parsed,
    values: Mapping[str, Sequence[Decimal | None]],
    qualifiers: Mapping[str, Sequence[str | None]],
    positions: Sequence[int],
) -> list[Breach | None]:
    """`judge_all` over figures as columns: `values[code][k]` and `qualifiers[code][k]` are the
    figure of department-year k (None: none); the department-years judged are those at
    `positions`, in their order."""
    operands = rule.operands
    count = len(operands)
    size = len(positions)
    every = isinstance(positions, range) and positions.start == 0 and positions.step == 1
    none: list[Any] = [None] * size

    def picked(column: Sequence[Any] | None) -> Sequence[Any]:
        if column is None:
            return none
        return column if every and len(column) == size else [column[k] for k in positions]

    value_columns = [picked(values.get(c)) for c in operands]
    qualifier_columns = [picked(qualifiers.get(c)) for c in operands]
    if rule.operator in PAIRS:
        return [
            judge(rule, {c: (v, q) for c, v, q in zip(operands, row, kinds, strict=True) if v is not None})
            for row, kinds in zip(
                zip(*value_columns, strict=True) if operands else [()] * size,
                zip(*qualifier_columns, strict=True) if operands else [()] * size,
                strict=True,
            )
        ]
    answers: list[Breach | None] = [None] * size
    judged: Sequence[int] = range(size)  # the positions judged (nothing skipped), in order
    if any(None in column for column in value_columns):
        skip_any = rule.missing is Missing.skip_if_any_missing
        skip_all = rule.missing is Missing.skip_if_all_missing
        judged = [
            k
            for k, row in enumerate(zip(*value_columns, strict=True))
            if None not in row or not (skip_any or (skip_all and row.count(None) == count))
        ]
        # an absent figure, where the strategy judges it, counts as an exact 0
        value_columns = [
            [ZERO[0] if (v := column[k]) is None else v for k in judged] for column in value_columns
        ]
        qualifier_columns = [
            [ZERO[1] if (q := column[k]) is None else q for k in judged] for column in qualifier_columns
        ]
    if not judged:
        return answers
    exact = ("exact",) * count
    qualified = (
        [k for k, each in enumerate(zip(*qualifier_columns, strict=True)) if each != exact]
        if operands
        else []
    )
    points: dict[str, Column] = dict(zip(operands, value_columns, strict=True))  # type: ignore[arg-type]
    with decimal.localcontext(DECIMAL_CONTEXT):  # each column's fast pass: exact decimals, or none
        left = _spread(evaluate(rule.left, points, COLUMNS), len(judged))
        right = _spread(evaluate(rule.right, points, COLUMNS), len(judged))
    compare = COMPARE[rule.operator]
    # a qualified department-year whose point values exist (no division by zero) is judged as
    # intervals; the others are judged by those values
    qualified = [k for k in qualified if left[k] is not None and right[k] is not None]
    status = _interval_statuses(rule, qualified, value_columns, qualifier_columns)
    # the exact comparisons at once (a decimal and a fraction compare exactly, as they are); None
    # where a division by zero left no value
    if None in left or None in right:
        pairs = zip(left, right, strict=True)
        held = [None if lv is None or rv is None else compare(lv, rv) for lv, rv in pairs]
    else:
        held = list(map(compare, left, right))
    for k in qualified:
        held[k] = None  # judged as intervals
    for k in [k for k, kept in enumerate(held) if kept is False]:
        answers[judged[k]] = Breach(rule, Status.violated, left[k], right[k])
    for k, broken in status.items():
        if broken is not None:
            answers[judged[k]] = Breach(rule, broken, left[k], right[k])
    return answers


def _interval_statuses(
    rule: Parsed, qualified: list[int], values: Sequence[Sequence[Any]], qualifiers: Sequence[Sequence[Any]]
) -> dict[int, Status | None]:
    """The status of each qualified department-year (by its index among those judged): None where
    the rule holds for every value its figures allow."""
    if not qualified:
        return {}
    intervals: dict[str, IntervalColumn] = {
        code: [of_figure(value_column[k], qualifier_column[k]) for k in qualified]
        for code, value_column, qualifier_column in zip(rule.operands, values, qualifiers, strict=True)
    }
    count = len(qualified)
    with decimal.localcontext(DECIMAL_CONTEXT):  # every digit kept, or Inexact: then in fractions
        left = _spread(evaluate(rule.left, intervals, INTERVAL_COLUMNS), count)
        right = _spread(evaluate(rule.right, intervals, INTERVAL_COLUMNS), count)
    statuses: dict[int, Status | None] = {}
    for k, lv, rv in zip(qualified, left, right, strict=True):
        if lv is None or rv is None:
            statuses[k] = None
            continue
        kept, broken = verdict(rule.operator, lv, rv)
        statuses[k] = None if kept else Status.violated if broken else Status.indeterminate
    return statuses


def _spread(column: Any, count: int) -> list[Any]:
    """A formula's column; a formula of constants alone gives one value, the same for every row."""
    if isinstance(column, list):
        return column
    return [column] * count
