"""Exact decimal arithmetic the read-side shares: sums that never round, quotients rounded once."""

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

# Values have up to 18 + 6 digits; a sum of millions of them needs a few more. 28 (the default)
# would silently round, so sums run in a context wide enough never to.
WIDE = Context(prec=64)


_UNITS = tuple(Decimal(1).scaleb(-p) for p in range(10))  # 1, 0.1, ... 1E-9: round_div's units


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    with localcontext(WIDE):
        return sum(values, Decimal(0))


def round_div(numerator: Decimal | int, denominator: Decimal | int, places: int) -> Decimal:
    """numerator / denominator rounded half away from zero to `places` decimals, in one rounding.

    Integer arithmetic on the exact ratio: no intermediate quotient rounded to a context's precision
    first, so a value just below a half never rounds up.
    """
    if denominator == 0:
        raise ZeroDivisionError("round_div by zero")
    # The quotient to 64 digits lies within half a unit of its last digit of the exact one, so
    # when the numbers a unit below and above it round alike, the exact quotient rounds so too:
    # three roundings of Decimals cost a third of the integer arithmetic below, which answers
    # the rest (a tie, or a result too long for the default context's 28 digits, as it rounds).
    near = WIDE.divide(numerator, denominator)
    unit = _UNITS[places] if places < len(_UNITS) else Decimal(1).scaleb(-places)
    low = WIDE.next_minus(near).quantize(unit, ROUND_HALF_UP, WIDE)
    if low == WIDE.next_plus(near).quantize(unit, ROUND_HALF_UP, WIDE) and low.adjusted() + places < 27:
        return low + 0 if low == 0 else low
    n_num, n_den = Decimal(numerator).as_integer_ratio()
    d_num, d_den = Decimal(denominator).as_integer_ratio()
    top = n_num * d_den * 10**places
    bottom = n_den * d_num
    if bottom < 0:
        top, bottom = -top, -bottom
    whole, rest = divmod(abs(top), bottom)
    if 2 * rest >= bottom:
        whole += 1
    result = Decimal(-whole if top < 0 else whole).scaleb(-places)
    return result + 0 if result == 0 else result


def is_exact_div(numerator: Decimal | int, denominator: Decimal | int, places: int) -> bool:
    """Whether numerator / denominator has no more than `places` decimals (round_div loses nothing)."""
    n_num, n_den = Decimal(numerator).as_integer_ratio()
    d_num, d_den = Decimal(denominator).as_integer_ratio()
    remainder: int = (n_num * d_den * 10**places) % (n_den * d_num)
    return remainder == 0
