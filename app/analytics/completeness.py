"""Completeness of a year: per department, what is assigned, what is reported, where approval stands."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.departments import service as departments
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation
from app.reporting.assignments import in_force
from app.reporting.models import Approval, Assignment, Period, State

ITEM_COLUMNS = (
    "department",
    "expected",
    "reported",
    "missing",
    "rate",
    "state",
    "submitted_at",
    "approved_at",
    "late",
)
SIX = Decimal("0.000001")


def rate(part: int, whole: int) -> Decimal:
    if whole == 0:
        return Decimal(0)
    return (Decimal(part) / Decimal(whole)).quantize(SIX, rounding=ROUND_HALF_UP).normalize()


def _late(submitted: dt.datetime | None, closes: dt.date | None, today: dt.date, zone: ZoneInfo) -> bool:
    """Not submitted by the period's last day, or submitted after it."""
    if closes is None:
        return False
    if submitted is None:
        return today > closes
    return submitted.astimezone(zone).date() > closes


def report(
    session: Session, *, year: int, department: str | None = None, section: str | None = None
) -> dict[str, Any]:
    """The year's completeness; `department` includes those below it, `section` narrows the indicators."""
    query = (
        select(Department.id, Department.code, Indicator.code, Observation.id.is_not(None))
        .select_from(Assignment)
        .join(Department, Department.id == Assignment.department_id)
        .join(Indicator, Indicator.id == Assignment.indicator_id)
        .outerjoin(
            Observation,
            and_(
                Observation.indicator_id == Assignment.indicator_id,
                Observation.department_id == Assignment.department_id,
                Observation.year == year,
            ),
        )
        .where(in_force(year))
        .order_by(Department.code, Indicator.code)
    )
    if department is not None:
        root = departments.get_by_code(session, department)
        query = query.where(Assignment.department_id.in_(departments.subtree_ids(session, root.id)))
    if section is not None:
        query = query.where(Indicator.section == section)
    per: dict[str, dict[str, Any]] = {}
    ids: dict[int, str] = {}
    for department_id, code, indicator, has_figure in session.execute(query):
        item = per.get(code)
        if item is None:
            ids[department_id] = code
            item = per[code] = {"department": code, "expected": 0, "reported": 0, "missing": []}
        item["expected"] += 1
        if has_figure:
            item["reported"] += 1
        else:
            item["missing"].append(indicator)
    approvals = {
        a.department_id: a
        for a in session.scalars(
            select(Approval).where(Approval.year == year, Approval.department_id.in_(ids))
        )
    }
    period = session.get(Period, year)
    settings = get_settings()
    zone, today = ZoneInfo(settings.timezone), settings.today()
    counts = {"expected": 0, "reported": 0, "draft": 0, "submitted": 0, "approved": 0, "late": 0}
    items = []
    for department_id, code in sorted(ids.items(), key=lambda pair: pair[1]):
        item = per[code]
        found = approvals.get(department_id)
        state = found.state if found is not None else State.draft
        submitted_at = found.submitted_at if found is not None else None
        approved_at = found.approved_at if found is not None else None
        handed_in = submitted_at or approved_at
        late = _late(handed_in, period.closes if period is not None else None, today, zone)
        item |= {
            "rate": rate(item["reported"], item["expected"]),
            "state": state.value,
            "submitted_at": submitted_at,
            "approved_at": approved_at,
            "late": late,
        }
        items.append(item)
        counts["expected"] += item["expected"]
        counts["reported"] += item["reported"]
        counts[state.value] += 1
        counts["late"] += int(late)
    expected, reported = counts["expected"], counts["reported"]
    summary = {
        "departments": len(per),
        "expected": expected,
        "reported": reported,
        "missing": expected - reported,
        "rate": rate(reported, expected),
        **{k: counts[k] for k in ("draft", "submitted", "approved", "late")},
    }
    return {"year": year, "summary": summary, "items": items}


def item_rows(content: dict[str, Any]) -> list[list[Any]]:
    def when(at: dt.datetime | None) -> str | None:
        return None if at is None else at.isoformat().replace("+00:00", "Z")

    return [
        [
            i["department"],
            i["expected"],
            i["reported"],
            " ".join(i["missing"]),
            i["rate"],
            i["state"],
            when(i["submitted_at"]),
            when(i["approved_at"]),
            i["late"],
        ]
        for i in content["items"]
    ]
