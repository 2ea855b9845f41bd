"""Outliers: a figure set against the same department's other years of the same indicator.

- `modified_z_score`: 0.6745 × |x − median| / MAD (MAD: the median of the other years' absolute
  deviations from their median); bounds median ± MAD × threshold / 0.6745; default threshold 3.5.
- `z_score`: |x − mean| / standard deviation (of the population of the other years); bounds
  mean ± std_dev × threshold; default threshold 3.
- `min_max`: outside the indicator's `expected_min` / `expected_max`.

The statistical ones need at least 4 other years, and a zero spread (MAD or standard deviation 0)
judges nothing. Whether a figure is an outlier is decided exactly (decimals, squares compared rather
than roots taken); the numbers shown are rounded to 6 places, half away from zero.
"""

import builtins
import decimal
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from app.departments.models import Department
from app.indicators.models import Indicator
from app.quality.validation import OBSERVATION

MIN_OTHER_YEARS = 4
DEFAULT_THRESHOLDS = {"modified_z_score": Decimal("3.5"), "z_score": Decimal(3), "min_max": None}
COLUMNS = (
    "indicator",
    "department",
    "year",
    "value",
    "median",
    "mad",
    "mean",
    "std_dev",
    "z_score",
    "lower_bound",
    "upper_bound",
)
_K = Decimal("0.6745")
# Sums and products of figures (18 + 6 digits) keep every digit at this precision; quotients and the
# square root are rounded at it, far below the 6 places shown.
_EXACT = decimal.Context(prec=100, rounding=ROUND_HALF_UP)
_STEP = Decimal("0.000001")


def _six(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_STEP, context=_EXACT)


def _median(ordered: Sequence[Decimal]) -> Decimal:
    n = len(ordered)
    middle = n // 2
    if n % 2:
        return ordered[middle]
    return _EXACT.divide(_EXACT.add(ordered[middle - 1], ordered[middle]), 2)


def statistics(others: Sequence[Decimal]) -> dict[str, Decimal]:
    """median, mad, mean, std_dev (and the sums the z-score is decided by) of the other years."""
    ordered = sorted(others)
    median = _median(ordered)
    mad = _median(sorted(abs(_EXACT.subtract(v, median)) for v in ordered))
    n = Decimal(len(ordered))
    total = sum(ordered, Decimal(0))
    squares = sum((_EXACT.multiply(v, v) for v in ordered), Decimal(0))
    spread = _EXACT.subtract(_EXACT.multiply(n, squares), _EXACT.multiply(total, total))  # n²·variance
    mean = _EXACT.divide(total, n)
    std_dev = _EXACT.divide(_EXACT.sqrt(spread), n) if spread > 0 else Decimal(0)
    return {
        "median": median,
        "mad": mad,
        "mean": mean,
        "std_dev": std_dev,
        "n": n,
        "total": total,
        "spread": spread,
    }


def judge(
    value: Decimal,
    others: Sequence[Decimal],
    algorithm: str,
    threshold: Decimal | None,
    expected: tuple[Decimal | None, Decimal | None] = (None, None),
) -> dict[str, Any] | None:
    """The outlier item's numbers when `value` is one against `others` (its other years), else None."""
    stats = statistics(others) if len(others) >= MIN_OTHER_YEARS else None
    score = lower = upper = None
    if algorithm == "min_max":
        low, high = expected
        if (low is None or value >= low) and (high is None or value <= high):
            return None
        lower, upper = low, high
    else:
        if stats is None:
            return None
        assert threshold is not None
        if algorithm == "modified_z_score":
            median, mad = stats["median"], stats["mad"]
            if mad == 0:
                return None
            distance = _EXACT.multiply(_K, abs(_EXACT.subtract(value, median)))
            if distance <= _EXACT.multiply(threshold, mad):
                return None
            score = _EXACT.divide(distance, mad)
            reach = _EXACT.divide(_EXACT.multiply(mad, threshold), _K)
            lower, upper = median - reach, median + reach
        else:
            n, total, spread = stats["n"], stats["total"], stats["spread"]
            if spread == 0:
                return None
            deviation = _EXACT.subtract(_EXACT.multiply(n, value), total)  # n·(x − mean)
            if deviation * deviation <= _EXACT.multiply(_EXACT.multiply(threshold, threshold), spread):
                return None
            score = _EXACT.divide(abs(_EXACT.subtract(value, stats["mean"])), stats["std_dev"])
            reach = _EXACT.multiply(stats["std_dev"], threshold)
            lower, upper = stats["mean"] - reach, stats["mean"] + reach
    shown = {k: (None if stats is None else _six(stats[k])) for k in ("median", "mad", "mean", "std_dev")}
    return {
        "value": value,
        **shown,
        "z_score": _six(score),
        "lower_bound": _six(lower),
        "upper_bound": _six(upper),
    }


def find(
    session: Session,
    *,
    year: int,
    algorithm: str,
    threshold: Decimal | None,
    indicator_ids: Iterable[int] | None = None,
    department_ids: Iterable[int] | None = None,
    cells: Iterable[tuple[int, int]] | None = None,
) -> builtins.list[dict[str, Any]]:
    """The outliers of `year` (in indicator then department code order) among the figures of those
    indicators and departments (None: all), or of those (indicator id, department id) `cells`."""
    this_year = OBSERVATION.alias("this_year")
    o, y = OBSERVATION.c, this_year.c
    ind = aliased(Indicator)
    dep = aliased(Department)
    query = (
        select(
            ind.code,
            dep.code,
            y.value,
            o.value,
            ind.expected_min,
            ind.expected_max,
            y.indicator_id,
            y.department_id,
        )
        .select_from(this_year)
        .join(ind, ind.id == y.indicator_id)
        .join(dep, dep.id == y.department_id)
        .where(y.year == year)
    )
    if algorithm == "min_max":
        query = query.where(
            or_(
                and_(ind.expected_min.is_not(None), y.value < ind.expected_min),
                and_(ind.expected_max.is_not(None), y.value > ind.expected_max),
            )
        )
    query = query.outerjoin(
        OBSERVATION,
        and_(o.indicator_id == y.indicator_id, o.department_id == y.department_id, o.year != year),
    )
    if indicator_ids is not None:
        query = query.where(y.indicator_id.in_(builtins.list(indicator_ids)))
    if department_ids is not None:
        query = query.where(y.department_id.in_(builtins.list(department_ids)))
    pairs: builtins.list[tuple[int, int]] = []
    if cells is not None:
        pairs = builtins.list(cells)
        if not pairs:
            return []
        query = query.where(
            or_(*(and_(y.indicator_id == i, y.department_id == d) for i, d in pairs))
            if len(pairs) <= 50
            else y.indicator_id.in_({i for i, _ in pairs}) & y.department_id.in_({d for _, d in pairs})
        )
    series: dict[tuple[str, str], tuple[Decimal, builtins.list[Decimal], tuple[Any, Any]]] = {}
    wanted = None if cells is None else set(pairs)
    for indicator, department, value, other, low, high, indicator_id, department_id in session.execute(query):
        if wanted is not None and (indicator_id, department_id) not in wanted:
            continue  # the product of the two sets holds cells not asked for
        entry = series.get((indicator, department))
        if entry is None:
            entry = series[(indicator, department)] = (value, [], (low, high))
        if other is not None:
            entry[1].append(other)
    items = []
    for (indicator, department), (value, others, expected) in sorted(series.items()):
        found = judge(value, others, algorithm, threshold, expected)
        if found is not None:
            items.append({"indicator": indicator, "department": department, "year": year, **found})
    return items
