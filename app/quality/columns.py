"""A rule judged for many department-years at once: its formulas evaluated over columns.

`COLUMNS` is an `Arithmetic` (app.core.formula) whose numbers are columns, one value per
department-year (a constant stays one value, spread over the column when combined): the formula's tree
is walked once per rule rather than once per department. Each value is a decimal while it is exact as
one (sums, products, quotients that end), else a fraction; a division by zero leaves that value None.

Department-years with a qualified figure (an interval comparison) and the pair operators are judged
one at a time by app.quality.judge, as are none of the others: the answers are the same.
"""

import decimal
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from app.core.formula import Arithmetic, evaluate
from app.quality.judge import (
    DECIMAL_CONTEXT,
    PAIRS,
    ZERO,
    Breach,
    Figure,
    Parsed,
    Status,
    holds,
    judge,
    shown,
)
from app.quality.models import Missing

Value = Decimal | Fraction | None
Column = list[Value] | Value

_Op = Callable[[Any, Any], Any]


def _lift(decimal_op: _Op, fraction_op: _Op) -> Callable[[Column, Column], Column]:
    def one(x: Value, y: Value) -> Value:
        if x is None or y is None:
            return None
        if type(x) is Decimal and type(y) is Decimal:
            try:
                return decimal_op(x, y)  # type: ignore[no-any-return]
            except decimal.Inexact:
                pass
        return fraction_op(Fraction(x), Fraction(y))  # type: ignore[no-any-return]

    def column(a: Column, b: Column) -> Column:
        if isinstance(a, list):
            if isinstance(b, list):
                return [one(x, y) for x, y in zip(a, b, strict=True)]
            return [one(x, b) for x in a]
        if isinstance(b, list):
            return [one(a, y) for y in b]
        return one(a, b)

    return column


def _neg(a: Column) -> Column:
    if isinstance(a, list):
        return [None if x is None else -x for x in a]
    return None if a is None else -a


COLUMNS: Arithmetic[Column] = Arithmetic(
    constant=lambda f: DECIMAL_CONTEXT.divide(Decimal(f.numerator), Decimal(f.denominator)),
    add=_lift(DECIMAL_CONTEXT.add, lambda x, y: x + y),
    sub=_lift(DECIMAL_CONTEXT.subtract, lambda x, y: x - y),
    mul=_lift(DECIMAL_CONTEXT.multiply, lambda x, y: x * y),
    div=_lift(
        lambda x, y: None if not y else DECIMAL_CONTEXT.divide(x, y),
        lambda x, y: None if y == 0 else x / y,
    ),
    neg=_neg,
)


def judge_all(rule: Parsed, departments: Sequence[Mapping[str, Figure]]) -> list[Breach | None]:
    """`judge(rule, figures)` for each department-year's figures, in their order."""
    if rule.operator in PAIRS:
        return [judge(rule, figures) for figures in departments]
    operands = rule.operands
    answers: list[Breach | None] = [None] * len(departments)
    batch: list[int] = []  # positions judged together: exact figures, nothing skipped
    columns: dict[str, list[Value]] = {c: [] for c in operands}
    strategy = rule.missing
    for position, figures in enumerate(departments):
        present = [figures.get(c) for c in operands]
        missing = present.count(None)
        if missing:
            if strategy is Missing.skip_if_any_missing or (
                strategy is Missing.skip_if_all_missing and missing == len(operands)
            ):
                continue
            present = [ZERO if f is None else f for f in present]
        if any(f[1] != "exact" for f in present if f is not None):
            answers[position] = judge(rule, figures)
            continue
        batch.append(position)
        for code, figure in zip(operands, present, strict=True):
            columns[code].append(figure[0] if figure is not None else None)
    if not batch:
        return answers
    count = len(batch)
    values: dict[str, Column] = dict(columns)
    left = _spread(evaluate(rule.left, values, COLUMNS), count)
    right = _spread(evaluate(rule.right, values, COLUMNS), count)
    operator = rule.operator
    for position, lv, rv in zip(batch, left, right, strict=True):
        if lv is None or rv is None:
            continue
        if type(lv) is not type(rv):
            lv, rv = Fraction(lv), Fraction(rv)
        if not holds(operator, lv, rv):
            answers[position] = Breach(rule, Status.violated, shown(lv), shown(rv))
    return answers


def _spread(column: Column | None, count: int) -> list[Value]:
    """A formula's column; a formula of constants alone gives one value, the same for every row."""
    if isinstance(column, list):
        return column
    return [column] * count
