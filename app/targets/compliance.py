"""Compliance: every target of a year against the figure of the same cell.

One query joins the targets to their observations; status and gap are decided in Python with exact
Decimals (on SQLite the values are text, so SQL could not compare them exactly anyway). Codes come
from two small id -> code maps instead of two more joins per row.
"""

import bisect
import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, select
from sqlalchemy.orm import Session

from app.bulk import paused_gc
from app.cellroutes import unknown_codes
from app.decimals import round_div
from app.departments import service as departments
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, Qualifier
from app.targets.models import Operator, Target
from app.targets.rules import Status, judge

RATE_PLACES = 4
CHUNK = 5000
_T = Target.__table__.c
_O = Observation.__table__.c

ITEM_COLUMNS = (
    "indicator",
    "department",
    "year",
    "operator",
    "target_value",
    "target_upper",
    "actual",
    "qualifier",
    "status",
    "gap",
)
SUMMARY_COLUMNS = ("targets", "met", "not_met", "indeterminate", "no_data", "rate")


@dataclass(frozen=True)
class Filters:
    """What the caller asked for, by code; `resolve` turns it into ids (422 naming an unknown code)."""

    departments: Sequence[str] = ()
    indicators: Sequence[str] = ()
    sections: Sequence[str] = ()
    statuses: Sequence[Status] = ()


@dataclass(frozen=True)
class _Scope:
    department_ids: set[int] | None
    indicator_ids: set[int] | None
    statuses: frozenset[Status]


def _codes(session: Session, model: type[Department] | type[Indicator]) -> dict[int, str]:
    return dict(session.execute(select(model.id, model.code)).all())


def _resolve(session: Session, filters: Filters, indicator_codes: dict[int, str]) -> _Scope:
    indicator_ids: set[int] | None = None
    if filters.indicators:
        by_code = {code: i for i, code in indicator_codes.items()}
        missing = [c for c in filters.indicators if c not in by_code]
        if missing:
            raise unknown_codes("indicator", missing)
        indicator_ids = {by_code[c] for c in filters.indicators}
    if filters.sections:
        wanted = set(filters.sections)
        in_sections = set(session.scalars(select(Indicator.id).where(Indicator.section.in_(wanted))).all())
        indicator_ids = in_sections if indicator_ids is None else indicator_ids & in_sections
    department_ids: set[int] | None = None
    if filters.departments:
        roots = [departments.find_by_code(session, code) for code in filters.departments]
        missing = [c for c, d in zip(filters.departments, roots, strict=True) if d is None]
        if missing:
            raise unknown_codes("department", missing)
        department_ids = set()
        for root in roots:
            assert root is not None
            department_ids |= departments.subtree_ids(session, root.id)
    return _Scope(department_ids, indicator_ids, frozenset(filters.statuses))


def _in_years(column: ColumnElement[int], year_from: int, year_to: int) -> ColumnElement[bool]:
    return column == year_from if year_from == year_to else column.between(year_from, year_to)


def _chunks(session: Session, scope: _Scope, year_from: int, year_to: int) -> Iterator[Sequence[Any]]:
    """Chunks of (indicator_id, department_id, year, operator, value, upper, actual, qualifier), one per
    target.

    These are the driver's own tuples, not SQLAlchemy rows: values as text on SQLite and Decimals from
    psycopg, enums as text. Over 100,000 rows, Row objects and per-value type processors would cost
    about a third of the request; the caller converts what it needs. The year's figures come from the
    covering index ix_observation_year_cells: a hash join over an index-only scan on PostgreSQL, one
    index probe per target on SQLite.
    """
    join = and_(
        _O.indicator_id == _T.indicator_id,
        _O.department_id == _T.department_id,
        _O.year == _T.year,
        _in_years(_O.year, year_from, year_to),  # stated, so that both planners use the year's index
    )
    query = (
        select(_T.indicator_id, _T.department_id, _T.year, _T.operator, _T.value, _T.upper)
        .add_columns(_O.value, _O.qualifier)
        .select_from(Target.__table__.outerjoin(Observation.__table__, join))
        .where(_in_years(_T.year, year_from, year_to))
    )
    if scope.indicator_ids is not None:
        query = query.where(_T.indicator_id.in_(scope.indicator_ids))
    if scope.department_ids is not None:
        query = query.where(_T.department_id.in_(scope.department_ids))
    result = cast(CursorResult[Any], session.execute(query))
    try:
        # In chunks: each chunk's tuples and strings are freed before the next arrives, so their
        # memory is reused instead of fresh pages faulted in for all 100,000 rows at once.
        while chunk := result.cursor.fetchmany(CHUNK):
            yield chunk
    finally:
        result.close()


_OPERATORS = {o.value: o for o in Operator}
_QUALIFIERS: dict[str | None, Qualifier | None] = {q.value: q for q in Qualifier}
_QUALIFIERS[None] = None


def rate(met: int, not_met: int) -> Decimal | None:
    return round_div(met, met + not_met, RATE_PLACES) if met + not_met else None


def summarize(counts: dict[Status, int]) -> dict[str, Any]:
    met, not_met = counts[Status.met], counts[Status.not_met]
    return {
        "targets": sum(counts.values()),
        "met": met,
        "not_met": not_met,
        "indeterminate": counts[Status.indeterminate],
        "no_data": counts[Status.no_data],
        "rate": rate(met, not_met),
    }


def _ranks(codes: dict[int, str]) -> dict[int, int]:
    """Each id's position in code order."""
    return {i: n for n, i in enumerate(sorted(codes, key=codes.__getitem__))}


def _text_decimals(session: Session) -> type[Decimal] | None:
    """Decimal when the driver gives values as text (SQLite); None when they are Decimals already."""
    return Decimal if session.get_bind().dialect.name == "sqlite" else None


@dataclass(frozen=True)
class Page:
    """Which items to return: `limit` of them after the cell `after` (indicator, department codes).

    `limit=None` returns every item (the CSV export)."""

    limit: int | None = None
    after: tuple[str, str] | None = None


def _first_key(after: tuple[str, str] | None, indicators: list[str], departments: list[str]) -> int:
    """The smallest sort key that lies after the cursor's cell, codes since deleted included."""
    if after is None:
        return 0
    indicator, department = after
    width = len(departments)
    i = bisect.bisect_left(indicators, indicator)
    if i < len(indicators) and indicators[i] == indicator:
        return i * width + bisect.bisect_right(departments, department)
    return i * width


def report(session: Session, *, year: int, filters: Filters, page: Page | None = None) -> dict[str, Any]:
    """A page of the selected targets of `year` with status and gap, by indicator code then department
    code, and the summary of all of them.

    The summary counts every target the department, indicator and section filters select; the status
    filter narrows only the items, so a list of the targets missed still shows the overall rate.
    Every target is judged for the summary, but only the page's items are built: at 100,000 targets
    building and writing every item would cost more than judging them.
    """
    page = page or Page()
    indicator_codes = _codes(session, Indicator)
    scope = _resolve(session, filters, indicator_codes)
    department_codes = _codes(session, Department)
    counts = dict.fromkeys(Status, 0)
    keep = scope.statuses
    # Items go out by indicator code, then department code: each gets one integer sort key.
    indicator_rank = _ranks(indicator_codes)
    department_rank = _ranks(department_codes)
    width = len(department_rank)
    first = _first_key(page.after, sorted(indicator_codes.values()), sorted(department_codes.values()))
    # The page's candidates as a max-heap on the key (negated), at most limit + 1 long: one more
    # than the page tells whether another page follows.
    bound = None if page.limit is None else page.limit + 1
    heap: list[tuple[int, int, int, str, Any, Any, Any, Any, Status, Decimal | None]] = []
    dec, operators, qualifiers = _text_decimals(session), _OPERATORS, _QUALIFIERS
    with paused_gc():
        # One flat loop: at 100,000 targets every call and intermediate tuple per row shows.
        for chunk in _chunks(session, scope, year, year):
            for ind, dep, _, op, value, upper, actual, qualifier in chunk:
                if dec is not None:
                    value = dec(value)
                    if upper is not None:
                        upper = dec(upper)
                    if actual is not None:
                        actual = dec(actual)
                verdict, distance = judge(operators[op], value, upper, actual, qualifiers[qualifier])
                counts[verdict] += 1
                if keep and verdict not in keep:
                    continue
                key = indicator_rank[ind] * width + department_rank[dep]
                if key < first:
                    continue
                entry = (-key, ind, dep, op, value, upper, actual, qualifier, verdict, distance)
                if bound is None or len(heap) < bound:
                    heapq.heappush(heap, entry)
                elif -key > heap[0][0]:
                    heapq.heapreplace(heap, entry)
        chosen = sorted(heap, reverse=True)
    more = bound is not None and len(chosen) == bound
    if more:
        chosen.pop()
    items = [
        {
            "indicator": indicator_codes[ind],
            "department": department_codes[dep],
            "year": year,
            "target": {"operator": operators[op], "value": value, "upper": upper},
            "actual": actual,
            "qualifier": qualifiers[qualifier],
            "status": verdict,
            "gap": distance,
        }
        for _, ind, dep, op, value, upper, actual, qualifier, verdict, distance in chosen
    ]
    next_cursor = [items[-1]["indicator"], items[-1]["department"]] if more else None
    return {"year": year, "summary": summarize(counts), "items": items, "next_cursor": next_cursor}


def trend(session: Session, *, year_from: int, year_to: int, filters: Filters) -> dict[str, Any]:
    """The summary of every year from year_from to year_to, years without targets included."""
    indicator_codes = _codes(session, Indicator)
    scope = _resolve(session, filters, indicator_codes)
    counts = {y: dict.fromkeys(Status, 0) for y in range(year_from, year_to + 1)}
    dec = _text_decimals(session) or (lambda v: v)
    for chunk in _chunks(session, scope, year_from, year_to):
        for _, _, yr, op, value, upper, actual, qualifier in chunk:
            verdict, _ = judge(
                _OPERATORS[op],
                dec(value),
                None if upper is None else dec(upper),
                None if actual is None else dec(actual),
                _QUALIFIERS[qualifier],
            )
            counts[yr][verdict] += 1
    years = [{"year": y, **summarize(c)} for y, c in counts.items()]
    return {"year_from": year_from, "year_to": year_to, "years": years}


def item_rows(content: dict[str, Any]) -> list[list[Any]]:
    """The items of a report as CSV rows (ITEM_COLUMNS)."""
    return [
        [
            i["indicator"],
            i["department"],
            i["year"],
            i["target"]["operator"],
            i["target"]["value"],
            i["target"]["upper"],
            i["actual"],
            i["qualifier"],
            i["status"],
            i["gap"],
        ]
        for i in content["items"]
    ]


def summary_rows(content: dict[str, Any]) -> list[list[Any]]:
    return [[y["year"], *(y[c] for c in SUMMARY_COLUMNS)] for y in content["years"]]
