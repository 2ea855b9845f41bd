"""round_div's quick path (Decimal roundings) gives what its exact integer arithmetic gives, digit for
digit, ties and long results included."""

import random
from decimal import Decimal

import pytest

from app.core.decimals import round_div


def exact(numerator: Decimal | int, denominator: Decimal | int, places: int) -> Decimal:
    """The rounding by integers alone, as round_div did it before its quick path."""
    n_num, n_den = Decimal(numerator).as_integer_ratio()
    d_num, d_den = Decimal(denominator).as_integer_ratio()
    top, bottom = n_num * d_den * 10**places, n_den * d_num
    if bottom < 0:
        top, bottom = -top, -bottom
    whole, rest = divmod(abs(top), bottom)
    if 2 * rest >= bottom:
        whole += 1
    result = Decimal(-whole if top < 0 else whole).scaleb(-places)
    return result + 0 if result == 0 else result


@pytest.mark.parametrize(
    ("numerator", "denominator", "places", "expected"),
    [
        ("1", "8", 2, "0.13"),  # 0.125: a tie, away from zero
        ("-1", "8", 2, "-0.13"),
        ("0.125", "1", 2, "0.13"),
        ("-0.001", "7", 2, "0.00"),  # no negative zero
        ("1", "3", 2, "0.33"),
        ("2", "3", 0, "1"),
        ("100000000000000000000", "0.000001", 2, exact(Decimal("1E20"), Decimal("0.000001"), 2)),
        ("123456789012345678.123456", "0.000007", 6, None),  # longer than 28 digits
    ],
)
def test_round_div_cases(numerator: str, denominator: str, places: int, expected: object) -> None:
    got = round_div(Decimal(numerator), Decimal(denominator), places)
    want = exact(Decimal(numerator), Decimal(denominator), places)
    assert str(got) == str(want)
    if expected is not None:
        assert str(got) == str(expected)


def test_round_div_agrees_with_integers() -> None:
    rng = random.Random(21)

    def number() -> Decimal:
        digits = rng.choice([0, 1, 2, 3, 6, 12, 18, 24])
        return Decimal(rng.randint(-(10**digits), 10**digits)).scaleb(-rng.choice([0, 1, 2, 6]))

    for _ in range(20_000):
        numerator, denominator, places = number(), number(), rng.choice([0, 1, 2, 6, 12])
        if denominator == 0:
            continue
        # and the tie just beside it: half a unit of the last place kept, over the denominator
        for n in (numerator, denominator * (Decimal(2 * rng.randint(0, 999) + 1) / 2).scaleb(-places)):
            assert str(round_div(n, denominator, places)) == str(exact(n, denominator, places)), (
                n,
                denominator,
                places,
            )
