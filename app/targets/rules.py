"""Whether a figure meets its target: status and gap exactly as the contract defines them.

A figure is read as the set of values its qualifier allows: `exact 75` is {75}, `at_least 75` is
[75, ∞), `more_than 75` is (75, ∞), and `approximately 75` states no bounds at all, so it can neither
meet nor miss a target for certain. A target is an interval too. The figure meets the target when
every value it allows lies inside it, misses it when none does, and is `indeterminate` otherwise.

The gap is measured from the figure as written, whatever its qualifier. For an exact figure the gap
alone decides: it is met exactly when the gap is not negative.
"""

import enum
from decimal import Decimal

from app.observations.models import Qualifier
from app.targets.models import Operator


def bounds_problem(operator: Operator, value: Decimal | None, upper: Decimal | None) -> str | None:
    """What is wrong with a target's `upper` for its operator, or None: a `between` target needs an
    upper bound not below its value, and no other operator takes one."""
    if operator is Operator.between:
        if upper is None:
            return "a 'between' target needs 'upper'"
        if value is not None and value > upper:
            return f"'upper' ({upper}) must not be less than 'value' ({value})"
    elif upper is not None:
        return f"'upper' belongs only to 'between' targets, not to {operator}"
    return None


class Status(enum.StrEnum):
    met = "met"
    not_met = "not_met"
    indeterminate = "indeterminate"
    no_data = "no_data"


# Module constants: compliance judges 100,000 targets a request, and enum attribute lookups add up.
MET, NOT_MET, INDETERMINATE, NO_DATA = Status.met, Status.not_met, Status.indeterminate, Status.no_data
_AT_LEAST, _AT_MOST, _EXACTLY = Operator.at_least, Operator.at_most, Operator.exactly
_EXACT, _MORE_THAN, _APPROXIMATELY = Qualifier.exact, Qualifier.more_than, Qualifier.approximately


def judge(
    operator: Operator,
    value: Decimal,
    upper: Decimal | None,
    actual: Decimal | None,
    qualifier: Qualifier | None,
) -> tuple[Status, Decimal | None]:
    """The status of a target and the gap; (no_data, None) without a figure."""
    if actual is None:
        return NO_DATA, None
    # The gap: how far the actual lies inside the target (+) or outside it (-).
    if operator is _AT_LEAST:
        distance = actual - value
    elif operator is _AT_MOST:
        distance = value - actual
    elif operator is _EXACTLY:
        distance = -abs(actual - value)
    else:
        assert upper is not None
        distance = min(actual - value, upper - actual)
    if qualifier is _EXACT or qualifier is None:
        return (MET if distance >= 0 else NOT_MET), distance
    if qualifier is _APPROXIMATELY:
        return INDETERMINATE, distance
    # at_least / more_than: the figure allows [actual, ∞) or (actual, ∞).
    if operator is _AT_LEAST:
        return (MET if actual >= value else INDETERMINATE), distance
    high = value if upper is None else upper  # the target's upper end: at_most, exactly, between
    if actual > high or (actual == high and qualifier is _MORE_THAN):
        return NOT_MET, distance
    return INDETERMINATE, distance
