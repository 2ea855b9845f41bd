"""Progress of a year's targets: a page of items (by indicator code, then department code), or all.

A page is built from its targets only: the targets counted per indicator pick the few indicators
whose rows fill the page (as compliance pages), then one query reads the figures of those cells.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cells.http import department_filter, unknown_codes
from app.core.tables import columns
from app.indicators.models import Direction, Indicator
from app.observations.models import Qualifier
from app.targets.models import Operator
from app.targets.progress import queries
from app.targets.progress.method import Figure, Measure, Target, measure
from app.targets.progress.schemas import ProgressItem

ITEM_COLUMNS = columns(ProgressItem)
OPERATORS = {o.value: o for o in Operator}
QUALIFIERS = {q.value: q for q in Qualifier}
DIRECTIONS = {d.value: d for d in Direction}

Cell = tuple[int, int]


@dataclass(frozen=True)
class Filters:
    departments: Sequence[str] = ()
    indicators: Sequence[str] = ()
    sections: Sequence[str] = ()


@dataclass(frozen=True)
class Page:
    """`limit` items after the cell `after` (indicator, department codes); None: every item."""

    limit: int | None = None
    after: tuple[str, str] | None = None


def _indicators(session: Session) -> dict[int, tuple[str, str, str | None]]:
    """id -> (code, direction, section) of every indicator."""
    rows = session.execute(select(Indicator.id, Indicator.code, Indicator.direction, Indicator.section))
    return {i: (code, str(direction), section) for i, code, direction, section in rows}


def _scope(
    session: Session, year: int, filters: Filters, indicators: dict[int, tuple[str, str, str | None]]
) -> queries.Scope:
    indicator_ids: set[int] | None = None
    if filters.indicators:
        by_code = {code: i for i, (code, _, _) in indicators.items()}
        missing = [c for c in filters.indicators if c not in by_code]
        if missing:
            raise unknown_codes("indicator", missing)
        indicator_ids = {by_code[c] for c in filters.indicators}
    if filters.sections:
        wanted = set(filters.sections)
        in_sections = {i for i, (_, _, section) in indicators.items() if section in wanted}
        indicator_ids = in_sections if indicator_ids is None else indicator_ids & in_sections
    return queries.Scope(year, department_filter(session, filters.departments), indicator_ids)


def _page_targets(
    session: Session, scope: queries.Scope, page: Page, codes: dict[int, str]
) -> tuple[list[Sequence[Any]], bool]:
    """The page's target rows and whether more follow: asked a few indicators at a time, just
    enough to fill the page, so that the database sorts only their rows by code."""
    assert page.limit is not None
    counted = queries.counts(session, scope)
    after = page.after
    order = sorted((i for i, n in counted.items() if n), key=codes.__getitem__)
    if after is not None:
        order = [i for i in order if codes[i] >= after[0]]
    bound = page.limit + 1
    rows: list[Sequence[Any]] = []
    start = 0
    while start < len(order) and len(rows) < bound:
        end, expected = start, 0
        while end < len(order) and expected < bound - len(rows):
            expected += counted[order[end]]
            end += 1
        found = queries.targets(
            session, scope, indicator_ids=order[start:end], after=after, limit=bound - len(rows)
        )
        rows += found
        if found:
            after = (found[-1][0], found[-1][1])
        start = end
    return rows[: page.limit], len(rows) == bound


def _figures(
    session: Session,
    rows: Sequence[Sequence[Any]],
    scope: queries.Scope,
    base_year: int | None,
    *,
    every: bool,
) -> dict[Cell, list[Figure]]:
    """The first and last figure of the targets' cells (one figure when they are the same); values
    as Decimals whatever the driver gives. A page asks for its own cells' indicators and
    departments; every item, for the scope's."""
    if not rows:
        return {}
    cells = {(row[2], row[3]) for row in rows}
    if every:
        indicator_ids, department_ids = scope.indicator_ids, scope.department_ids
    else:
        indicator_ids, department_ids = {i for i, _ in cells}, {d for _, d in cells}
    found: dict[Cell, list[Figure]] = {}
    for indicator, department, *ends in queries.ends(
        session,
        indicator_ids=indicator_ids,
        department_ids=department_ids,
        year_from=base_year,
        year_to=scope.year,
    ):
        if (indicator, department) in cells:
            first = Figure(ends[0], Decimal(ends[1]), QUALIFIERS[ends[2]])
            if ends[3] == ends[0]:
                found[indicator, department] = [first]
            else:
                found[indicator, department] = [first, Figure(ends[3], Decimal(ends[4]), QUALIFIERS[ends[5]])]
    return found


def _figure(figure: Figure | None) -> dict[str, Any] | None:
    return (
        None
        if figure is None
        else {"year": figure.year, "value": figure.value, "qualifier": figure.qualifier}
    )


def _item(row: Sequence[Any], year: int, measured: Measure) -> dict[str, Any]:
    operator, value, upper = OPERATORS[row[4]], Decimal(row[5]), None if row[6] is None else Decimal(row[6])
    base, latest = measured.base, measured.latest
    return {
        "indicator": row[0],
        "department": row[1],
        "year": year,
        "target": {"operator": operator, "value": value, "upper": upper},
        "direction": measured.direction,
        "base": _figure(base),
        "latest": _figure(latest),
        "aim": measured.aim,
        "cagr_observed": measured.cagr_observed,
        "cagr_required": measured.cagr_required,
        "ratio": measured.ratio,
        "status": measured.status,
    }


def _items(
    rows: Iterable[Sequence[Any]],
    year: int,
    base_year: int | None,
    figures: dict[Cell, list[Figure]],
    indicators: dict[int, tuple[str, str, str | None]],
) -> list[dict[str, Any]]:
    items = []
    for row in rows:
        target = Target(year, OPERATORS[row[4]], Decimal(row[5]), None if row[6] is None else Decimal(row[6]))
        direction = DIRECTIONS[indicators[row[2]][1]]
        measured = measure(target, direction, figures.get((row[2], row[3]), []), base_year)
        items.append(_item(row, year, measured))
    return items


def report(
    session: Session, *, year: int, base_year: int | None = None, filters: Filters, page: Page | None = None
) -> dict[str, Any]:
    """The progress of the selected targets of `year`: a page of them (`page.limit`), or all."""
    page = page or Page()
    indicators = _indicators(session)
    scope = _scope(session, year, filters, indicators)
    codes = {i: code for i, (code, _, _) in indicators.items()}
    if page.limit is None:
        rows = queries.every_target(session, scope)
        rows.sort(key=lambda row: (row[0], row[1]))
        more = False
    else:
        rows, more = _page_targets(session, scope, page, codes)
    figures = _figures(session, rows, scope, base_year, every=page.limit is None)
    items = _items(rows, year, base_year, figures, indicators)
    next_cursor = [items[-1]["indicator"], items[-1]["department"]] if more else None
    return {"year": year, "base_year": base_year, "items": items, "next_cursor": next_cursor}


_NO_FIGURE = (None, None, None)


def item_rows(content: dict[str, Any]) -> list[list[Any]]:
    """The items as rows under ITEM_COLUMNS, built directly: walking the schema for each of 100,000
    items (core.tables.flat_rows) cost a second."""
    rows = []
    for i in content["items"]:
        target, base, latest = i["target"], i["base"], i["latest"]
        rows.append(
            [
                i["indicator"],
                i["department"],
                i["year"],
                target["operator"],
                target["value"],
                target["upper"],
                i["direction"],
                *((base["year"], base["value"], base["qualifier"]) if base else _NO_FIGURE),
                *((latest["year"], latest["value"], latest["qualifier"]) if latest else _NO_FIGURE),
                i["aim"],
                i["cagr_observed"],
                i["cagr_required"],
                i["ratio"],
                i["status"],
            ]
        )
    return rows
