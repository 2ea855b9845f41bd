"""The progress measure of one target: Open SDG's method for a quantitative target.

Followed from sdg-build's `sdg/ProgressMeasure.py` (open-sdg/sdg-build, `SeriesProgress`,
`methodology_2`, `growth_calculation`, `get_progress_status`):

- `cagr_observed = (v1/v0)^(1/(t1−t0)) − 1` from the base figure (t0, v0) to the latest (t1, v1);
  `cagr_required = (aim/v0)^(1/(year−t0)) − 1` to the aim by the target's year;
  `ratio = sign × direction × cagr_observed / |cagr_required|`, where `direction` is +1 for `higher`
  and −1 for `lower`, and `sign` is −1 when the base value is negative (so that a negative series
  moving up counts as growing), +1 otherwise.
- A base value or an aim of 0 is taken as 0.001 (a growth rate from 0 is undefined); a base and a
  latest figure (or an aim) of opposite signs have no growth rate: `not_available`, as sdg-build
  returns no value for them.
- `target_achieved` when the latest figure meets the target, checked first, whatever the ratio:
  here "meets" is compliance's judgement (`rules.judge` is `met`: operators and qualifiers), where
  sdg-build compares with the target by direction alone. Then `substantial_progress` (ratio ≥ 0.95),
  `moderate_progress` (≥ 0.6), `limited_progress` (≥ 0), `deterioration` (< 0); `not_available`
  without two figures of different years.

What the contract leaves open, decided here:

- The aim: the target's `value`; for `between`, `value` when the direction is `higher` and `upper`
  when it is `lower`. An indicator of direction `none` takes its direction from the target:
  `at_least` is higher, `at_most` lower, `exactly` and `between` toward the target from the base
  figure (no direction, so `not_available`, when the base figure lies inside the target).
- `cagr_required` = 0 (the aim is the base value, the target not achieved): the ratio is undefined
  (null) and the status follows the signed observed growth, as an infinite ratio would: positive
  `substantial_progress`, zero `limited_progress`, negative `deterioration`.
- Qualifiers: growth is measured on the figures as written; only `target_achieved` reads them.

Numbers: the inputs are exact decimals; the reference computes the fractional powers with Decimal
in a 40-digit context (`Decimal.__pow__` rounds correctly to that precision), decides the status on
those unrounded values, and gives the three numbers rounded half away from zero to 6 places. Decimal
powers cost about 85 µs each (17 s for a year of 100,000 targets), so floats compute each answer
first and are kept only where their proven error bound cannot change it (`_fast`); Decimal decides
the rest. tests/targets/progress/test_fast.py checks the two agree.
"""

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import NamedTuple

from app.indicators.models import Direction
from app.observations.models import Qualifier
from app.targets.models import Operator
from app.targets.rules import Status, judge

PLACES = Decimal("0.000001")
ZERO_AS = Decimal("0.001")
PRECISION = Context(prec=40)
SUBSTANTIAL, MODERATE = Decimal("0.95"), Decimal("0.6")


class ProgressStatus(enum.StrEnum):
    target_achieved = "target_achieved"
    substantial_progress = "substantial_progress"
    moderate_progress = "moderate_progress"
    limited_progress = "limited_progress"
    deterioration = "deterioration"
    not_available = "not_available"


class Figure(NamedTuple):
    year: int
    value: Decimal
    qualifier: Qualifier


class Target(NamedTuple):
    year: int
    operator: Operator
    value: Decimal
    upper: Decimal | None


@dataclass(frozen=True)
class Measure:
    """What an item carries: the figures used, the direction and aim, the numbers (6 places)."""

    status: ProgressStatus
    base: Figure | None = None
    latest: Figure | None = None
    direction: Direction | None = None
    aim: Decimal | None = None
    cagr_observed: Decimal | None = None
    cagr_required: Decimal | None = None
    ratio: Decimal | None = None


def rounded(value: Decimal) -> Decimal:
    """Half away from zero to 6 places; never -0."""
    with localcontext(PRECISION):
        result = value.quantize(PLACES, rounding=ROUND_HALF_UP)
    return result if result else abs(result)


def growth(v1: Decimal, v0: Decimal, years: int) -> Decimal:
    """Compound annual growth from v0 to v1 over `years` (≥ 1); v1/v0 must not be negative."""
    with localcontext(PRECISION):
        return (v1 / v0) ** (Decimal(1) / Decimal(years)) - 1


def status_of(ratio: Decimal) -> ProgressStatus:
    if ratio >= SUBSTANTIAL:
        return ProgressStatus.substantial_progress
    if ratio >= MODERATE:
        return ProgressStatus.moderate_progress
    if ratio >= 0:
        return ProgressStatus.limited_progress
    return ProgressStatus.deterioration


def direction_and_aim(
    direction: Direction, target: Target, base: Decimal
) -> tuple[Direction | None, Decimal]:
    """The direction progress is measured in, and the aim (0 not yet replaced)."""
    operator, value, upper = target.operator, target.value, target.upper
    high = value if upper is None else upper
    if direction is Direction.none:
        if operator is Operator.at_least:
            direction = Direction.higher
        elif operator is Operator.at_most:
            direction = Direction.lower
        elif base < value:
            direction = Direction.higher
        elif base > high:
            direction = Direction.lower
        else:
            return None, value
    if operator is Operator.between and direction is Direction.lower:
        return direction, high
    return direction, value


def _opposite(a: Decimal, b: Decimal) -> bool:
    return (a > 0 and b < 0) or (a < 0 and b > 0)


def measure(
    target: Target, direction: Direction, figures: Sequence[Figure], base_year: int | None = None
) -> Measure:
    """The progress of one target from the cell's figures (in year order; those after the target's
    year, or before `base_year`, are left out)."""
    used = [f for f in figures if f.year <= target.year and (base_year is None or f.year >= base_year)]
    if not used:
        return Measure(ProgressStatus.not_available)
    base, latest = used[0], used[-1]
    achieved = judge(target.operator, target.value, target.upper, latest.value, latest.qualifier)[0]
    fallback = ProgressStatus.target_achieved if achieved is Status.met else ProgressStatus.not_available
    towards, aim = direction_and_aim(direction, target, base.value)
    found = Measure(fallback, base, latest, towards, aim)
    if latest.year == base.year:
        return found
    v0 = base.value or ZERO_AS
    if _opposite(v0, latest.value):
        return found
    aim = aim or ZERO_AS
    measurable = towards is not None and not _opposite(v0, aim)
    factor = 1 if (v0 < 0) == (towards is Direction.lower) else -1  # sign × direction
    args = (latest.value, v0, aim if measurable else None, latest.year - base.year, target.year - base.year)
    observed, required, ratio, status = _fast(*args, factor) or _exact(*args, factor)
    if status is None or achieved is Status.met:
        status = fallback
    return Measure(status, base, latest, towards, found.aim, observed, required, ratio)


Numbers = tuple[Decimal, Decimal | None, Decimal | None, ProgressStatus | None]


def _exact(
    v1: Decimal, v0: Decimal, aim: Decimal | None, observed_years: int, required_years: int, factor: int
) -> Numbers:
    """cagr_observed, cagr_required, ratio (6 places) and the status by ratio; without an aim, only
    the first. Decimal, 40 digits: the reference."""
    observed = growth(v1, v0, observed_years)
    if aim is None:
        return rounded(observed), None, None, None
    required = growth(aim, v0, required_years)
    signed = observed * factor
    if required == 0:
        if signed > 0:
            return rounded(observed), rounded(required), None, ProgressStatus.substantial_progress
        if signed == 0:
            return rounded(observed), rounded(required), None, ProgressStatus.limited_progress
        return rounded(observed), rounded(required), None, ProgressStatus.deterioration
    with localcontext(PRECISION):
        ratio = signed / abs(required)
    return rounded(observed), rounded(required), rounded(ratio), status_of(ratio)


# The fast path: binary floating point, used only where its error cannot change an answer.
# root = float(v1/v0) ** (1/n) errs by at most (|ln root| + 3) units of 1.2e-16 relative (pow within
# 1 ulp, the quotient and 1/n rounded once each): below 1e6, |ln root| ≤ 14, under 2.1e-15 relative.
# `_error` allows five times that, plus the subtraction of 1. An answer is kept only when every value
# within the error rounds to the same 6 places and lies on the same side of every threshold;
# otherwise (a few targets in a thousand, and every tie the tests build) Decimal decides.
FAST_MAX_ROOT = 1e6
THRESHOLDS = (0.95, 0.6, 0.0)


def _float_growth(v1: Decimal, v0: Decimal, years: int) -> tuple[float, float] | None:
    """The growth rate as a float, and a bound of its error."""
    root: float = float(v1 / v0) ** (1.0 / years)
    if root >= FAST_MAX_ROOT:
        return None
    return root - 1.0, 1e-14 * (root if root > 1.0 else 1.0) + 1e-15


def _sure(x: float, err: float) -> Decimal | None:
    """x rounded half away from zero to 6 places, when every value within err of it rounds alike:
    when no tie (k + 0.5 millionths) lies within err, the scaling by 10^6 (its own error included)."""
    scaled = abs(x) * 1e6
    whole = math.floor(scaled)
    fraction = scaled - whole  # exact
    if abs(fraction - 0.5) <= err * 1e6 + scaled * 2.3e-16:
        return None
    units = whole + 1 if fraction > 0.5 else whole
    return Decimal(-units if x < 0 else units).scaleb(-6)


def _fast(
    v1: Decimal, v0: Decimal, aim: Decimal | None, observed_years: int, required_years: int, factor: int
) -> Numbers | None:
    """The same as `_exact`, or None where floats cannot be sure of it."""
    found = _float_growth(v1, v0, observed_years)
    if found is None:
        return None
    observed, observed_err = found
    observed6 = _sure(observed, observed_err)
    if observed6 is None:
        return None
    if aim is None:
        return observed6, None, None, None
    if aim == v0:
        return None  # nothing required: rare, left to Decimal
    found = _float_growth(aim, v0, required_years)
    if found is None or abs(found[0]) < 1e-6:
        return None
    required, required_err = found
    required6 = _sure(required, required_err)
    ratio = factor * observed / abs(required)
    err = (observed_err + abs(ratio) * required_err) / abs(required) + abs(ratio) * 1e-15
    ratio6 = _sure(ratio, err)
    if required6 is None or ratio6 is None or any(abs(ratio - t) <= err for t in THRESHOLDS):
        return None
    if ratio >= 0.95:
        status = ProgressStatus.substantial_progress
    elif ratio >= 0.6:
        status = ProgressStatus.moderate_progress
    elif ratio >= 0:
        status = ProgressStatus.limited_progress
    else:
        status = ProgressStatus.deterioration
    return observed6, required6, ratio6, status
