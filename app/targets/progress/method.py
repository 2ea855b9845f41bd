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

Numbers: the inputs are exact decimals; the fractional powers are computed with Decimal in a
40-digit context (`Decimal.__pow__` rounds correctly to that precision), the statuses decided on
those unrounded values, and the three numbers given rounded half away from zero to 6 places.
"""

import enum
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
    observed = growth(latest.value, v0, latest.year - base.year)
    found = Measure(fallback, base, latest, towards, aim, rounded(observed))
    aim = aim or ZERO_AS
    if towards is None or _opposite(v0, aim):
        return found
    required = growth(aim, v0, target.year - base.year)
    signed = observed if (v0 < 0) == (towards is Direction.lower) else -observed
    if required == 0:
        ratio = None
        status = (
            ProgressStatus.substantial_progress
            if signed > 0
            else ProgressStatus.limited_progress
            if signed == 0
            else ProgressStatus.deterioration
        )
    else:
        with localcontext(PRECISION):
            exact_ratio = signed / abs(required)
        ratio, status = rounded(exact_ratio), status_of(exact_ratio)
    if achieved is Status.met:
        status = ProgressStatus.target_achieved
    return Measure(status, base, latest, towards, found.aim, found.cagr_observed, rounded(required), ratio)
