"""Figures as intervals, and a formula's value over them (app.core.formula's `Arithmetic`).

A figure is the set of values its qualifier allows, as compliance reads it (app.targets.rules):
`exact 75` is [75, 75], `at_least 75` is [75, ∞), `more_than 75` is (75, ∞), and `approximately 75`
states no bounds at all, (-∞, ∞). A formula over such figures is the interval of every value it can
take; a comparison of two of them holds for certain, fails for certain, or is left open.

An end is a Fraction, or ±inf (a float) where unbounded; `open` says whether the end itself is
excluded. Products of an end 0 and an infinite end are 0 (the convention of interval arithmetic: the
other factor is finite wherever the first is 0). A division by an interval that holds 0 has no value
when the divisor is exactly 0 (as an exact division by zero), and any value at all otherwise.
"""

import math
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from app.core.formula import Arithmetic

End = Fraction | float | Decimal  # fractions with ±inf as floats, or decimals with their own infinity
INF = math.inf
DECIMAL_INF = Decimal("Infinity")


class Interval(NamedTuple):
    """(A tuple: a year's report makes tens of thousands, and a tuple is made fastest.)"""

    lo: End
    hi: End
    lo_open: bool = False
    hi_open: bool = False

    @property
    def point(self) -> bool:
        return self.lo == self.hi and not self.lo_open and not self.hi_open


EVERYTHING = Interval(-INF, INF, True, True)
DECIMAL_EVERYTHING = Interval(-DECIMAL_INF, DECIMAL_INF, True, True)


def of_figure(value: Fraction | Decimal, qualifier: str) -> Interval:
    """The values a figure allows, by its qualifier (exact, at_least, more_than, approximately)."""
    inf = DECIMAL_INF if type(value) is Decimal else INF
    if qualifier == "exact":
        return Interval(value, value)
    if qualifier == "at_least":
        return Interval(value, inf, False, True)
    if qualifier == "more_than":
        return Interval(value, inf, True, True)
    return DECIMAL_EVERYTHING if inf is DECIMAL_INF else EVERYTHING


def _add(a: Interval, b: Interval) -> Interval:
    # Both intervals' ends are of one kind (decimals, or fractions with float infinities).
    lo, hi = a.lo + b.lo, a.hi + b.hi  # type: ignore[operator]
    return Interval(lo, hi, a.lo_open or b.lo_open, a.hi_open or b.hi_open)


def _neg(a: Interval) -> Interval:
    return Interval(-a.hi, -a.lo, a.hi_open, a.lo_open)


def _sub(a: Interval, b: Interval) -> Interval:
    return _add(a, _neg(b))


def _zero(x: End) -> End:
    return Decimal(0) if type(x) is Decimal else Fraction(0)


def _times(x: End, y: End) -> End:
    if x == 0 or y == 0:
        return _zero(x)
    return x * y  # type: ignore[operator]


def _mul(a: Interval, b: Interval) -> Interval:
    """a × b; by a point (a formula's constant, most often), a scaling."""
    if b.point:
        return _scaled(a, b.lo)
    if a.point:
        return _scaled(b, a.lo)
    return _products(a, b)


def _scaled(a: Interval, c: End) -> Interval:
    """a × c for a number c: what _products gives for a point, in two products."""
    if c == 0:
        zero = _zero(c)
        return Interval(zero, zero)
    if c > 0:
        return Interval(_times(a.lo, c), _times(a.hi, c), a.lo_open, a.hi_open)
    return Interval(_times(a.hi, c), _times(a.lo, c), a.hi_open, a.lo_open)


def _products(a: Interval, b: Interval) -> Interval:
    # Each product of two ends, and whether it is excluded: an open end makes it so, unless the
    # other end is a closed 0 (0 times anything is 0, reached).
    products = []
    for x, x_open in ((a.lo, a.lo_open), (a.hi, a.hi_open)):
        for y, y_open in ((b.lo, b.lo_open), (b.hi, b.hi_open)):
            closed_zero = (x == 0 and not x_open) or (y == 0 and not y_open)
            products.append((_times(x, y), (x_open or y_open) and not closed_zero))
    lo = min(p for p, _ in products)
    hi = max(p for p, _ in products)
    lo_open = all(excluded for p, excluded in products if p == lo)
    hi_open = all(excluded for p, excluded in products if p == hi)
    return Interval(lo, hi, lo_open, hi_open)


def _holds_zero(a: Interval) -> bool:
    above = a.lo < 0 or (a.lo == 0 and not a.lo_open)
    below = a.hi > 0 or (a.hi == 0 and not a.hi_open)
    return above and below


def _infinite(x: End) -> bool:
    # (an end is a Fraction, a Decimal, or a float only when infinite; math.isinf would convert a
    # Fraction to a float first)
    return type(x) is float or (type(x) is Decimal and x.is_infinite())


def _reciprocal_end(x: End, at_zero: End) -> End:
    """1/x, for an end of a divisor that does not hold 0: an infinite end gives 0 (never reached),
    an (open) end 0 gives `at_zero`, the infinity on its side."""
    if _infinite(x):
        return _zero(x)
    if x == 0:
        return at_zero
    return 1 / x


def _div(a: Interval, b: Interval) -> Interval | None:
    if b.point and b.lo == 0:
        return None  # a division by zero: no value
    if _holds_zero(b):
        return DECIMAL_EVERYTHING if type(b.lo) is Decimal else EVERYTHING
    # 1/b: the ends swap; an infinite end gives 0, never reached; an open end 0 (b = (0, hi] or
    # [lo, 0)) gives the infinity on its side, never reached either.
    inf = DECIMAL_INF if type(b.lo) is Decimal else INF
    reciprocal = Interval(
        _reciprocal_end(b.hi, -inf),
        _reciprocal_end(b.lo, inf),
        b.hi_open or _infinite(b.hi) or b.hi == 0,
        b.lo_open or _infinite(b.lo) or b.lo == 0,
    )
    return _mul(a, reciprocal)


def _constant(f: Fraction) -> Interval:
    return Interval(f, f)


def _decimal_constant(f: Fraction) -> Interval:
    value = Decimal(f.numerator) / Decimal(f.denominator)
    return Interval(value, value)


# Over fractions; DECIMAL_INTERVALS over decimals, to be evaluated in a decimal context that traps an
# inexact result (app.quality.judge), and then again over fractions.
INTERVALS: Arithmetic[Interval] = Arithmetic(
    constant=_constant,
    add=_add,
    sub=_sub,
    mul=_mul,
    div=_div,
    neg=_neg,
)
DECIMAL_INTERVALS: Arithmetic[Interval] = replace(INTERVALS, constant=_decimal_constant)


def surely_below(a: Interval, b: Interval) -> bool:
    """Every value of `a` is below every value of `b`."""
    return a.hi < b.lo or (a.hi == b.lo and (a.hi_open or b.lo_open))


def surely_not_above(a: Interval, b: Interval) -> bool:
    """Every value of `a` is at most every value of `b`."""
    return a.hi <= b.lo
