"""Exact decimal arithmetic the read-side shares: sums that never round, quotients rounded once."""

from collections.abc import Iterable
from decimal import Context, Decimal, localcontext

# Values have up to 18 + 6 digits; a sum of millions of them needs a few more. 28 (the default)
# would silently round, so sums run in a context wide enough never to.
WIDE = Context(prec=64)


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
