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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Text, column, func, literal_column, or_, select, table
from sqlalchemy import cast as cast_
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from app.core.db.rows import driver_rows
from app.departments.models import Department
from app.indicators.models import Indicator

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


def within(value: Decimal, expected: tuple[Decimal | None, Decimal | None]) -> bool:
    """Whether `value` lies within the indicator's (expected_min, expected_max), either open."""
    low, high = expected
    return (low is None or value >= low) and (high is None or value <= high)


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
        if within(value, expected):
            return None
        lower, upper = expected
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


# The figures' columns as the driver gives them (text on SQLite, Decimal on PostgreSQL): a year's
# outliers read every year of 100,000 cells, and a type's conversion per row would cost seconds.
RAW = table("observation", column("indicator_id"), column("department_id"), column("year"), column("value"))
_MARGIN = 1 - 1e-9  # floats only screen: anything near the threshold is judged again exactly


def screen(value: float, others: builtins.list[float], algorithm: str, threshold: float) -> bool:
    """False when the figure is certainly not an outlier (in binary floats, with a margin); True
    sends it to the exact judgement."""
    n = len(others)
    middle = n // 2
    if algorithm == "modified_z_score":
        others.sort()
        median = others[middle] if n % 2 else (others[middle - 1] + others[middle]) / 2
        deviations = sorted([abs(v - median) for v in others])
        mad = deviations[middle] if n % 2 else (deviations[middle - 1] + deviations[middle]) / 2
        return mad == 0 or 0.6745 * abs(value - median) > threshold * mad * _MARGIN
    mean = sum(others) / n
    variance = sum([(v - mean) ** 2 for v in others]) / n
    return variance == 0 or (value - mean) ** 2 > threshold * threshold * variance * _MARGIN


def _bounds(session: Session, indicator_ids: Iterable[int] | None = None) -> dict[int, tuple[Any, Any]]:
    """The indicators with an `expected_min` or `expected_max`: id -> (min, max)."""
    query = select(Indicator.id, Indicator.expected_min, Indicator.expected_max).where(
        or_(Indicator.expected_min.is_not(None), Indicator.expected_max.is_not(None))
    )
    if indicator_ids is not None:
        query = query.where(Indicator.id.in_(builtins.list(indicator_ids)))
    return {i: (low, high) for i, low, high in session.execute(query)}


def find(
    session: Session,
    *,
    year: int,
    algorithm: str,
    threshold: Decimal | None,
    indicator_ids: Iterable[int] | None = None,
    department_ids: Iterable[int] | None = None,
) -> builtins.list[dict[str, Any]]:
    """The outliers of `year` (in indicator then department code order) among the figures of those
    indicators and departments (None: all).

    Every year of the selected cells is read once, as driver tuples; binary floats screen out the
    figures that are certainly no outliers, and the rest are judged exactly (`judge`)."""
    r = RAW.c
    # One row a cell: this year's figure and the other years' as one text, grouped by the database
    # (in the unique index's order on SQLite, no sort): 100,000 rows to Python rather than 1,000,000.
    if session.get_bind().dialect.name == "postgresql":
        joined: Any = func.string_agg(cast_(r.value, Text), literal_column("','"))
    else:
        joined = func.group_concat(r.value)
    query = (
        select(
            r.indicator_id,
            r.department_id,
            func.max(r.value).filter(r.year == year),
            joined.filter(r.year != year),
        )
        .group_by(r.indicator_id, r.department_id)
        .having(func.count().filter(r.year == year) > 0)
    )
    if algorithm != "min_max":
        # Judged only against at least MIN_OTHER_YEARS other years: the database drops the rest (a
        # batch of new cells sends nothing to Python).
        query = query.having(func.count().filter(r.year != year) >= MIN_OTHER_YEARS)
    if indicator_ids is not None:
        query = query.where(r.indicator_id.in_(builtins.list(indicator_ids)))
    if department_ids is not None:
        query = query.where(r.department_id.in_(builtins.list(department_ids)))
    bounds: dict[int, tuple[Any, Any]] = {}
    if algorithm == "min_max":
        bounds = _bounds(session)
        if not bounds:
            return []
        query = query.where(r.indicator_id.in_(builtins.list(bounds)))
    found: builtins.list[tuple[tuple[int, int], dict[str, Any]]] = []
    limit = float(threshold) if threshold is not None else 0.0
    for indicator_id, department_id, value, joined_text in driver_rows(session, query):
        key = (indicator_id, department_id)
        history = joined_text.split(",") if joined_text else []
        expected = bounds.get(key[0], (None, None))
        if algorithm != "min_max":
            if len(history) < MIN_OTHER_YEARS or not screen(
                float(value), [float(v) for v in history], algorithm, limit
            ):
                continue
        elif within(Decimal(value), expected):
            continue
        item = judge(Decimal(value), [Decimal(v) for v in history], algorithm, threshold, expected)
        if item is not None:
            found.append((key, item))
    if not found:
        return []
    indicator_codes = dict(
        session.execute(
            select(Indicator.id, Indicator.code).where(Indicator.id.in_({k[0] for k, _ in found}))
        ).all()
    )
    department_codes = dict(
        session.execute(
            select(Department.id, Department.code).where(Department.id.in_({k[1] for k, _ in found}))
        ).all()
    )
    items = [
        {"indicator": indicator_codes[i], "department": department_codes[d], "year": year, **item}
        for (i, d), item in found
    ]
    items.sort(key=lambda item: (item["indicator"], item["department"]))
    return items


def of_cells(
    session: Session, cells: Mapping[tuple[int, int], Iterable[int]], algorithms: Sequence[str]
) -> Iterator[tuple[int, int, int, str, dict[str, Any]]]:
    """(indicator id, department id, year, algorithm, item) of every outlier among these years of
    these (indicator id, department id) cells, by each of `algorithms` at its default threshold: the
    warnings of a batch.

    Every year of the cells is read once, whatever years the batch wrote: one row a cell, its
    years and its values as two texts in the same order, and only for a cell with more than
    MIN_OTHER_YEARS figures (or an indicator with expected bounds): a batch of new cells sends next
    to nothing to Python."""
    if not cells:
        return
    statistical = [a for a in algorithms if a != "min_max"]
    bounds = _bounds(session, {i for i, _ in cells}) if "min_max" in algorithms else {}
    r = RAW.c
    if session.get_bind().dialect.name == "postgresql":
        in_order: Any = aggregate_order_by(literal_column("','"), r.year)  # string_agg(x, ',' ORDER BY year)
        years_text: Any = func.string_agg(cast_(r.year, Text), in_order)
        values_text: Any = func.string_agg(cast_(r.value, Text), in_order)
    else:  # SQLite steps every aggregate of a group with each row in turn: the two lists align
        years_text, values_text = func.group_concat(r.year), func.group_concat(r.value)
    enough = func.count() > MIN_OTHER_YEARS
    query = (
        select(r.indicator_id, r.department_id, years_text, values_text)
        .where(
            r.indicator_id.in_(sorted({i for i, _ in cells})),
            r.department_id.in_(sorted({d for _, d in cells})),
        )
        .group_by(r.indicator_id, r.department_id)
        .having(or_(enough, r.indicator_id.in_(builtins.list(bounds))) if bounds else enough)
    )
    limits = {a: float(DEFAULT_THRESHOLDS[a] or 0) for a in statistical}
    for indicator_id, department_id, years_joined, values_joined in driver_rows(session, query):
        years = cells.get((indicator_id, department_id))
        if years is None:
            continue  # the product of the two sets holds cells not asked for
        values = values_joined.split(",")
        position = {int(y): k for k, y in enumerate(years_joined.split(","))}
        floats = [float(v) for v in values] if len(values) > MIN_OTHER_YEARS else []
        expected = bounds.get(indicator_id)
        for year in years:
            k = position.get(year)
            if k is None:
                continue  # deleted by the batch
            value = values[k]
            exact_others: builtins.list[Decimal] | None = None
            for algorithm in algorithms:
                if algorithm == "min_max":
                    if expected is None or within(Decimal(value), expected):
                        continue
                elif not floats or not screen(
                    floats[k], floats[:k] + floats[k + 1 :], algorithm, limits[algorithm]
                ):
                    continue
                if exact_others is None:
                    exact_others = [Decimal(v) for v in values[:k] + values[k + 1 :]]
                threshold = DEFAULT_THRESHOLDS[algorithm]
                item = judge(Decimal(value), exact_others, algorithm, threshold, expected or (None, None))
                if item is not None:
                    yield indicator_id, department_id, year, algorithm, item
