"""Completeness of a year: per department, what is assigned, what is reported, where approval stands."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, and_, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from app.cells.http import department_filter
from app.core.config import get_settings
from app.departments import service as departments
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


def _counted(session: Session, year: int, within: set[int] | None, section: str | None) -> Select[Any]:
    """(department id, assignments in force, those with a figure, ids of those without as text joined
    by commas or null) per department."""
    figure = and_(
        Observation.indicator_id == Assignment.indicator_id,
        Observation.department_id == Assignment.department_id,
        Observation.year == year,
    )
    absent_id = case((Observation.year.is_(None), Assignment.indicator_id))
    if session.get_bind().dialect.name == "postgresql":
        absent = func.string_agg(cast(absent_id, String), literal_column("','"))
    else:
        absent = func.group_concat(absent_id)
    query = (
        # count(year), not count(id): the year's cells then come from ix_observation_year_cells alone
        # (an index-only scan on PostgreSQL), never from the table's pages.
        select(Assignment.department_id, func.count(), func.count(Observation.year), absent)
        .select_from(Assignment)
        .outerjoin(Observation, figure)
        .where(in_force(year))
        .group_by(Assignment.department_id)
    )
    if within is not None:
        query = query.where(Assignment.department_id.in_(within))
    if section is not None:
        query = query.where(
            Assignment.indicator_id.in_(select(Indicator.id).where(Indicator.section == section))
        )
    return query


def report(
    session: Session, *, year: int, department: str | None = None, section: str | None = None
) -> dict[str, Any]:
    """The year's completeness; `department` includes those below it, `section` narrows the indicators."""
    # Counted by the database in one pass, per department, with the ids of the indicators missing:
    # 100,000 assignments are 1,000 rows here (reading every pair cost 370 ms of 100,000 on SQLite,
    # and a second pass for the missing pairs alone as much as the counting).
    within = department_filter(session, [department] if department is not None else [])
    connection = session.connection()
    codes = {id_: code for code, id_ in departments.code_map(session).items()}
    # Missing indicators in code order as the database sorts codes, as they were listed before.
    indicator_codes = connection.execute(select(Indicator.id, Indicator.code).order_by(Indicator.code)).all()
    code_of = dict(indicator_codes)
    rank = {id_: n for n, (id_, _) in enumerate(indicator_codes)}
    per: dict[int, dict[str, Any]] = {}
    for id_, expected, reported, absent in connection.execute(_counted(session, year, within, section)):
        missing = [int(i) for i in absent.split(",")] if absent else []
        per[id_] = {
            "department": codes[id_],
            "expected": expected,
            "reported": reported,
            "missing": [code_of[i] for i in sorted(missing, key=rank.__getitem__)],
        }
    approvals = {
        a.department_id: a
        for a in connection.execute(
            select(Approval.department_id, Approval.state, Approval.submitted_at, Approval.approved_at).where(
                Approval.year == year
            )
        )
    }
    period = session.get(Period, year)
    settings = get_settings()
    zone, today = ZoneInfo(settings.timezone), settings.today()
    counts = {"expected": 0, "reported": 0, "draft": 0, "submitted": 0, "approved": 0, "late": 0}
    items = []
    for department_id in sorted(per, key=lambda id_: str(per[id_]["department"])):
        item = per[department_id]
        found = approvals.get(department_id)
        state = State(found.state) if found is not None else State.draft
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
