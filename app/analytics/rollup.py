"""Rolling departments up into their parents: the value by the indicator's aggregation, and the
qualifier the rolled-up figure honestly carries.

Figures are gathered as partials per qualifier (sum, count, min, max), which PostgreSQL computes
exactly in SQL over NUMERIC and SQLite's rows are gathered into in Python; both end in `combine`.

The qualifier of a rolled-up point:

- `exact` when every figure is exact (for `mean`, only when the mean has at most 6 decimals; a mean
  rounded to 6 places is `approximately`);
- `approximately` when any figure is approximate (it states no bounds, so neither does the result);
- otherwise every figure is a lower bound (`exact`, `at_least`, `more_than`), and sum, mean, min and
  max never decrease when a figure grows, so the result is a lower bound too: `more_than` when it is
  strict (for sum and mean any `more_than` figure; for min every figure at the minimum; for max any
  figure at the maximum), else `at_least`. For min, an exact figure at the minimum makes it `exact`.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from app.core.decimals import exact_sum, is_exact_div, round_div
from app.indicators.models import Aggregation
from app.observations.models import Qualifier

MEAN_PLACES = 6


@dataclass
class Partial:
    """The figures of one qualifier in one group."""

    sum: Decimal
    count: int
    min: Decimal
    max: Decimal

    @classmethod
    def of(cls, values: list[Decimal]) -> "Partial":
        return cls(exact_sum(values), len(values), min(values), max(values))


Parts = dict[Qualifier, Partial]
Group = tuple[int, int, int]  # root department id, indicator id, year


def gather(rows: Iterable[tuple[int, int, int, str, str]]) -> dict[Group, Parts]:
    """The partials of (root, indicator, year, qualifier, values) rows from SQLite, each group's values
    as one text of decimals joined by commas (group_concat).

    Split, converted, summed and compared by the C loops of str.split, map, sum, min and max: folding
    one Python call per figure cost several times as much.
    """
    parts: dict[Group, Parts] = defaultdict(dict)
    for root, indicator, year, qualifier, texts in rows:
        values = list(map(Decimal, texts.split(",")))
        parts[root, indicator, year][Qualifier(qualifier)] = Partial.of(values)
    return parts


def combine(aggregation: Aggregation, parts: Parts) -> tuple[Decimal, Qualifier]:
    """The rolled-up value and its qualifier (see the module's docstring)."""
    count = sum(p.count for p in parts.values())
    rounded = False
    if aggregation is Aggregation.sum:
        value = exact_sum(p.sum for p in parts.values())
    elif aggregation is Aggregation.mean:
        total = exact_sum(p.sum for p in parts.values())
        value = round_div(total, count, MEAN_PLACES)
        rounded = not is_exact_div(total, count, MEAN_PLACES)
    elif aggregation is Aggregation.min:
        value = min(p.min for p in parts.values())
    elif aggregation is Aggregation.max:
        value = max(p.max for p in parts.values())
    else:
        raise ValueError("an indicator aggregated by 'none' is not rolled up")
    return value, _qualifier(aggregation, parts, value, rounded)


def _qualifier(aggregation: Aggregation, parts: Parts, value: Decimal, rounded: bool) -> Qualifier:
    if Qualifier.approximately in parts or rounded:
        return Qualifier.approximately
    if parts.keys() == {Qualifier.exact}:
        return Qualifier.exact
    if aggregation is Aggregation.min:
        at = {q for q, p in parts.items() if p.min == value}
        if Qualifier.exact in at:
            return Qualifier.exact
        strict = at == {Qualifier.more_than}
    elif aggregation is Aggregation.max:
        strict = any(q is Qualifier.more_than and p.max == value for q, p in parts.items())
    else:
        strict = Qualifier.more_than in parts
    return Qualifier.more_than if strict else Qualifier.at_least
