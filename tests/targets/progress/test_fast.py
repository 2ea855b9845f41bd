"""The float fast path of the progress arithmetic gives Decimal's answers, or declines.

No database: the arithmetic alone, on random inputs (6-place decimals, as figures are stored) and on
inputs built to sit on a threshold or a rounding tie, where the fast path must decline.
"""

import random
from decimal import Decimal

import pytest

from app.targets.progress import method


def _value(rng: random.Random) -> Decimal:
    digits = rng.choice((2, 4, 6, 9, 12))
    value = Decimal(rng.randrange(1, 10**digits)).scaleb(-rng.randrange(0, 7))
    return -value if rng.random() < 0.1 else value


@pytest.mark.parametrize("seed", range(4))
def test_fast_agrees_with_decimal_or_declines(seed: int) -> None:
    rng = random.Random(seed)
    declined = 0
    for _ in range(5000):
        v0 = _value(rng)
        v1 = abs(_value(rng)) * (1 if v0 > 0 else -1)
        aim = abs(_value(rng)) * (1 if v0 > 0 else -1)
        n1 = rng.randrange(1, 10)
        args = (v1, v0, aim, n1, n1 + rng.randrange(0, 10), rng.choice((1, -1)))
        fast = method._fast(*args)
        if fast is None:
            declined += 1
        else:
            assert fast == method._exact(*args), args
    assert declined < 250, declined  # the fast path does the work


@pytest.mark.parametrize(
    ("v1", "v0", "aim", "n1", "n2"),
    [
        ("119", "100", "144", 1, 2),  # ratio exactly 0.95
        ("112", "100", "144", 1, 2),  # exactly 0.6
        ("100", "100", "144", 1, 2),  # exactly 0
        ("1000000.5", "1000000", "1000001", 1, 2),  # cagr_observed 0.0000005: a rounding tie
        ("100", "100", "100", 1, 2),  # nothing required
    ],
)
def test_fast_declines_on_ties(v1: str, v0: str, aim: str, n1: int, n2: int) -> None:
    args = (Decimal(v1), Decimal(v0), Decimal(aim), n1, n2, 1)
    assert method._fast(*args) is None
    assert method._exact(*args)[0] is not None
