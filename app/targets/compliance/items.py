"""The items of a compliance report: a page of them from the database, or every one (the CSV export).

Each item is judged again here by `rules.judge`, exactly, for its gap (and for its status where the
database could not decide it).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.core.json import paused_gc
from app.observations.models import Qualifier
from app.targets.compliance import queries as queries
from app.targets.compliance.computed import Computed
from app.targets.models import Operator
from app.targets.rules import Status, judge

OPERATORS = {o.value: o for o in Operator}
QUALIFIERS: dict[str | None, Qualifier | None] = {q.value: q for q in Qualifier}
QUALIFIERS[None] = None


@dataclass(frozen=True)
class Page:
    """Which items to return: `limit` of them after the cell `after` (indicator, department codes).

    `limit=None` returns every item (the CSV export)."""

    limit: int | None = None
    after: tuple[str, str] | None = None


def text_decimals(session: Session) -> type[Decimal] | None:
    """Decimal when the driver gives values as text (SQLite); None when they are Decimals already."""
    return Decimal if session.get_bind().dialect.name == "sqlite" else None


def judge_row(row: Sequence[Any], dec: type[Decimal] | None) -> tuple[Status, Decimal | None, Any, Any, Any]:
    """(status, gap, value, upper, actual) of a driver row ending in (operator, value, upper, actual,
    qualifier); `dec` converts values the driver gave as text (SQLite)."""
    op, value, upper, actual, qualifier = row[-5:]
    if dec is not None:
        value = dec(value)
        upper = None if upper is None else dec(upper)
        actual = None if actual is None else dec(actual)
    verdict, distance = judge(OPERATORS[op], value, upper, actual, QUALIFIERS[qualifier])
    return verdict, distance, value, upper, actual


def _item(
    indicator: str, department: str, year: int, row: Sequence[Any], judged: tuple[Any, ...]
) -> dict[str, Any]:
    verdict, distance, value, upper, actual = judged
    return {
        "indicator": indicator,
        "department": department,
        "year": year,
        "target": {"operator": OPERATORS[row[-5]], "value": value, "upper": upper},
        "actual": actual,
        "qualifier": QUALIFIERS[row[-1]],
        "status": verdict,
        "gap": distance,
    }


def page_items(
    session: Session,
    scope: queries.Scope,
    year: int,
    page: Page,
    statuses: frozenset[Status],
    candidates: dict[int, int],
    indicator_codes: dict[int, str],
    computed: Computed | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """The page's items (`page.limit` is set), and whether more follow.

    `candidates` counts, per indicator, the targets with one of `statuses`: the rows are asked for a
    few indicators at a time, just enough to fill the page, so that PostgreSQL sorts only their rows
    by code. A row the database could not judge (CHECK) comes along whatever its status, is judged
    here and may be dropped; then the page goes on from the last row read. So does every row of a
    derived indicator, with its `computed` figure.
    """
    unfiltered = computed.ids if computed is not None else set()
    assert page.limit is not None
    after = page.after
    order = sorted((i for i, n in candidates.items() if n), key=indicator_codes.__getitem__)
    if after is not None:
        order = [i for i in order if indicator_codes[i] >= after[0]]
    position = {i: n for n, i in enumerate(order)}
    bound = page.limit + 1  # one more than the page tells whether another page follows
    dec = text_decimals(session)
    chosen: list[dict[str, Any]] = []
    start = 0
    while start < len(order) and len(chosen) < bound:
        need = bound - len(chosen)
        end, expected = start, 0
        while end < len(order) and expected < need:
            expected += candidates[order[end]]
            end += 1
        span = order[start:end]
        rows = queries.items(
            session,
            scope,
            year,
            indicator_ids=span,
            statuses=statuses,
            after=after,
            limit=need,
            unfiltered=unfiltered,
        )
        for row in rows:
            if row[2] in unfiltered:
                assert computed is not None
                row = computed.row(row, row[2], row[3], year)
            judged = judge_row(row, dec)
            if not statuses or judged[0] in statuses:
                chosen.append(_item(row[0], row[1], year, row, judged))
        if len(rows) < need:
            start = end  # these indicators hold no more
        else:
            after, start = (rows[-1][0], rows[-1][1]), position[rows[-1][2]]
    return chosen[: page.limit], len(chosen) == bound


def _ranks(codes: dict[int, str]) -> dict[int, int]:
    """Each id's position in code order."""
    return {i: n for n, i in enumerate(sorted(codes, key=codes.__getitem__))}


def every_item(
    session: Session,
    scope: queries.Scope,
    year: int,
    statuses: frozenset[Status],
    indicator_codes: dict[int, str],
    department_codes: dict[int, str],
    computed: Computed | None = None,
) -> tuple[list[dict[str, Any]], dict[Status, int]]:
    """Every item with one of `statuses` (any without), and the count of every target by status.

    Every gap is needed, so every row is judged here and the database neither judges nor sorts:
    one read of the rows, sorted in Python by one integer key per item.
    """
    counts = dict.fromkeys(Status, 0)
    indicator_rank, department_rank = _ranks(indicator_codes), _ranks(department_codes)
    width = len(department_rank)
    keyed: list[tuple[int, Sequence[Any], tuple[Any, ...]]] = []
    dec = text_decimals(session)
    with paused_gc():
        for chunk in queries.every_row(session, scope, year):
            for row in chunk:
                if computed is not None and row[0] in computed.ids:
                    row = computed.row(row, row[0], row[1], year)
                judged = judge_row(row, dec)
                counts[judged[0]] += 1
                if not statuses or judged[0] in statuses:
                    keyed.append((indicator_rank[row[0]] * width + department_rank[row[1]], row, judged))
        keyed.sort(key=lambda entry: entry[0])
        items = [
            _item(indicator_codes[row[0]], department_codes[row[1]], year, row, judged)
            for _, row, judged in keyed
        ]
    return items, counts
