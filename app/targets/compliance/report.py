"""Compliance: every target of a year against the figure of the same cell.

The database decides each target's status (app.targets.compliance.queries) and counts them; Python
builds only the page's items, with the gap, judged again exactly by `rules.judge`. Codes come from two
small id -> code maps.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cells.http import department_filter, unknown_codes
from app.core.decimals import round_div
from app.core.tables import columns
from app.departments.models import Department
from app.indicators.models import Indicator
from app.targets.compliance import queries as queries
from app.targets.compliance.computed import Computed
from app.targets.compliance.items import Page as Page  # the router's and bench's name for it
from app.targets.compliance.items import every_item, judge_row, page_items, text_decimals
from app.targets.compliance.messages import Lang
from app.targets.compliance.reasons import explain
from app.targets.rules import Status
from app.targets.schemas import ComplianceItem, ComplianceSummary

RATE_PLACES = 4
REPORTED_RATE_PLACES = 6

ITEM_COLUMNS = columns(ComplianceItem)  # target_operator, ..., reason
SUMMARY_COLUMNS = columns(ComplianceSummary)


@dataclass(frozen=True)
class Filters:
    """What the caller asked for, by code; `resolve` turns it into ids (422 naming an unknown code)."""

    departments: Sequence[str] = ()
    indicators: Sequence[str] = ()
    sections: Sequence[str] = ()
    statuses: Sequence[Status] = ()
    below: bool = True  # False: the departments named only, not those below them


def _codes(session: Session, model: type[Department] | type[Indicator]) -> dict[int, str]:
    return dict(session.execute(select(model.id, model.code)).all())


def _indicators(session: Session) -> tuple[dict[int, str], dict[int, tuple[str, str]]]:
    """Every indicator's code by id, and (v2) the derived ones' (code, formula): one query."""
    codes: dict[int, str] = {}
    formulas: dict[int, tuple[str, str]] = {}
    for i, code, formula in session.execute(select(Indicator.id, Indicator.code, Indicator.formula)):
        codes[i] = code
        if formula is not None:
            formulas[i] = (code, formula)
    return codes, formulas


def _resolve(session: Session, filters: Filters, indicator_codes: dict[int, str]) -> queries.Scope:
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
    department_ids = department_filter(session, filters.departments, below=filters.below)
    return queries.Scope(department_ids, indicator_ids)


def _counted(
    session: Session,
    scope: queries.Scope,
    year_from: int,
    year_to: int,
    *,
    by_year: bool,
    computed: Computed,
) -> dict[int, dict[Status, int]]:
    """Targets by key (the year with `by_year`, else the indicator id) and status.

    Rows the database could not judge (CHECK) are read again and judged here: one more query, run
    only when there are some, over the indicators that have them."""
    counted: dict[int, dict[Status, int]] = {}
    checked: set[int] = set()
    for indicator, year, by_status in queries.counts(session, scope, year_from, year_to):
        into = counted.setdefault(year if by_year else indicator, dict.fromkeys(Status, 0))
        for s in Status:
            into[s] += by_status[s]
        if by_status[queries.CHECK]:
            checked.add(indicator)
    if checked:
        dec = text_decimals(session)
        narrowed = queries.Scope(scope.department_ids, checked)
        for row in queries.to_check(session, narrowed, year_from, year_to):
            key = row[1] if by_year else row[0]
            counted.setdefault(key, dict.fromkeys(Status, 0))[judge_row(row, dec)[0]] += 1
    computed.adjust(counted, by_year=by_year)
    return counted


def rate(met: int, not_met: int) -> Decimal | None:
    return round_div(met, met + not_met, RATE_PLACES) if met + not_met else None


def reported_rate(targets: int, no_data: int) -> Decimal | None:
    """The share of targets with a figure, whatever its status."""
    return round_div(targets - no_data, targets, REPORTED_RATE_PLACES) if targets else None


def summarize(counts: dict[Status, int]) -> dict[str, Any]:
    met, not_met = counts[Status.met], counts[Status.not_met]
    targets, no_data = sum(counts.values()), counts[Status.no_data]
    return {
        "targets": targets,
        "met": met,
        "not_met": not_met,
        "indeterminate": counts[Status.indeterminate],
        "no_data": no_data,
        "rate": rate(met, not_met),
        "reported_rate": reported_rate(targets, no_data),
    }


def report(session: Session, *, year: int, filters: Filters, page: Page | None = None) -> dict[str, Any]:
    """A page of the selected targets of `year` with status and gap, by indicator code then department
    code, and the summary of all of them.

    The summary counts every target the department, indicator and section filters select; the status
    filter narrows only the items, so a list of the targets missed still shows the overall rate.
    The database judges and counts every target; only the page's items are built in Python.
    Without a limit (the CSV export), every item is built and judged here, in one read.
    """
    page = page or Page()
    indicator_codes, formulas = _indicators(session)
    scope = _resolve(session, filters, indicator_codes)
    statuses = frozenset(filters.statuses)
    computed = Computed(session, scope, formulas, year, year)
    if page.limit is None:
        department_codes = _codes(session, Department)
        items, counts = every_item(
            session, scope, year, statuses, indicator_codes, department_codes, computed
        )
        return {"year": year, "summary": summarize(counts), "items": items, "next_cursor": None}
    counted = _counted(session, scope, year, year, by_year=False, computed=computed)
    wanted = statuses or frozenset(Status)
    candidates = {i: sum(by_status[s] for s in wanted) for i, by_status in counted.items()}
    items, more = page_items(session, scope, year, page, statuses, candidates, indicator_codes, computed)
    counts = {s: sum(by_status[s] for by_status in counted.values()) for s in Status}
    next_cursor = [items[-1]["indicator"], items[-1]["department"]] if more else None
    return {"year": year, "summary": summarize(counts), "items": items, "next_cursor": next_cursor}


def trend(session: Session, *, year_from: int, year_to: int, filters: Filters) -> dict[str, Any]:
    """The summary of every year from year_from to year_to, years without targets included."""
    indicator_codes, formulas = _indicators(session)
    scope = _resolve(session, filters, indicator_codes)
    computed = Computed(session, scope, formulas, year_from, year_to)
    counted = _counted(session, scope, year_from, year_to, by_year=True, computed=computed)
    years = []
    for y in range(year_from, year_to + 1):
        years.append({"year": y, **summarize(counted.get(y) or dict.fromkeys(Status, 0))})
    return {"year_from": year_from, "year_to": year_to, "years": years}


def item_rows(content: dict[str, Any], lang: Lang) -> list[list[Any]]:
    """The items of a report as rows of a file (ITEM_COLUMNS), each with its reason in `lang`."""
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
            explain(i, lang),
        ]
        for i in content["items"]
    ]


def summary_rows(content: dict[str, Any]) -> list[list[Any]]:
    return [[y["year"], *(y[c] for c in SUMMARY_COLUMNS)] for y in content["years"]]
