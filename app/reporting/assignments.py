"""Assignments: which indicators a department reports, from which year to which."""

import builtins

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from app.core.problems import FieldError, InvalidValue, NotFound
from app.departments import service as departments
from app.departments.models import Department
from app.indicators import service as indicators
from app.indicators.models import Indicator
from app.reporting.models import Assignment
from app.reporting.schemas import AssignmentBatch, AssignmentRead, AssignmentWrite, BatchSummary


def in_force(year: int) -> ColumnElement[bool]:
    """The assignments that hold in `year`."""
    return and_(Assignment.from_year <= year, or_(Assignment.to_year.is_(None), Assignment.to_year >= year))


def _find(session: Session, indicator_id: int, department_id: int) -> Assignment | None:
    return session.scalar(
        select(Assignment).where(
            Assignment.indicator_id == indicator_id, Assignment.department_id == department_id
        )
    )


def get(session: Session, *, indicator: str, department: str) -> AssignmentRead:
    i, d = indicators.get_by_code(session, indicator), departments.get_by_code(session, department)
    found = _find(session, i.id, d.id)
    if found is None:
        raise NotFound(f"{indicator!r} is not assigned to {department!r}")
    return AssignmentRead(
        indicator=i.code, department=d.code, from_year=found.from_year, to_year=found.to_year
    )


def put(
    session: Session, *, indicator: str, department: str, data: AssignmentWrite
) -> tuple[AssignmentRead, bool]:
    """Create or change an assignment; True when created. A derived indicator is computed, not
    reported: 422 naming `indicator`."""
    i, d = indicators.get_by_code(session, indicator), departments.get_by_code(session, department)
    if i.formula is not None:
        message = _derived_message(i.code, i.formula)
        raise InvalidValue(message, errors=[FieldError(["path", "indicator"], message, "derived")])
    created = _store(session, i.id, d.id, data.from_year, data.to_year) == "created"
    return AssignmentRead(
        indicator=i.code, department=d.code, from_year=data.from_year, to_year=data.to_year
    ), created


def _derived_message(code: str, formula: str) -> str:
    return f"{code!r} is a derived indicator ({formula}): computed from its operands, never reported"


def _store(
    session: Session, indicator_id: int, department_id: int, from_year: int, to_year: int | None
) -> str:
    found = _find(session, indicator_id, department_id)
    if found is None:
        session.add(
            Assignment(
                indicator_id=indicator_id, department_id=department_id, from_year=from_year, to_year=to_year
            )
        )
        session.flush()
        return "created"
    if (found.from_year, found.to_year) == (from_year, to_year):
        return "unchanged"
    found.from_year, found.to_year = from_year, to_year
    session.flush()
    return "updated"


def delete(session: Session, *, indicator: str, department: str) -> None:
    i, d = indicators.get_by_code(session, indicator), departments.get_by_code(session, department)
    found = _find(session, i.id, d.id)
    if found is None:
        raise NotFound(f"{indicator!r} is not assigned to {department!r}")
    session.delete(found)
    session.flush()


def list(
    session: Session,
    *,
    department_id: int | None,
    indicator_id: int | None,
    year: int | None,
    limit: int,
    after_id: int | None,
) -> tuple[builtins.list[AssignmentRead], int | None]:
    query = (
        select(Assignment.id, Indicator.code, Department.code, Assignment.from_year, Assignment.to_year)
        .join(Indicator, Indicator.id == Assignment.indicator_id)
        .join(Department, Department.id == Assignment.department_id)
        .order_by(Assignment.id)
        .limit(limit)
    )
    if department_id is not None:
        query = query.where(Assignment.department_id == department_id)
    if indicator_id is not None:
        query = query.where(Assignment.indicator_id == indicator_id)
    if year is not None:
        query = query.where(in_force(year))
    if after_id is not None:
        query = query.where(Assignment.id > after_id)
    rows = session.execute(query).all()
    items = [AssignmentRead(indicator=i, department=d, from_year=f, to_year=t) for _, i, d, f, t in rows]
    return items, rows[-1][0] if len(rows) == limit else None


def batch(session: Session, *, data: AssignmentBatch) -> BatchSummary:
    """Many assignments: each row checked; atomic (the default) writes nothing when one is rejected."""
    summary = BatchSummary(dry_run=data.dry_run)
    catalogue = indicators.by_code(session)
    known_i = {code: i.id for code, i in catalogue.items()}
    known_d = departments.code_map(session)
    valid: builtins.list[tuple[int, int, int, int | None]] = []
    seen: set[tuple[int, int]] = set()
    for n, row in enumerate(data.assignments, start=1):
        errors: builtins.list[FieldError] = []
        if row.indicator not in known_i:
            errors.append(FieldError(["indicator"], f"unknown indicator {row.indicator!r}"))
        elif (formula := catalogue[row.indicator].formula) is not None:
            errors.append(FieldError(["indicator"], _derived_message(row.indicator, formula), "derived"))
        if row.department not in known_d:
            errors.append(FieldError(["department"], f"unknown department {row.department!r}"))
        if row.to_year is not None and row.to_year < row.from_year:
            errors.append(FieldError(["to_year"], "must not be before from_year"))
        if not errors:
            key = (known_i[row.indicator], known_d[row.department])
            if key in seen:
                errors.append(FieldError(["indicator"], "the same assignment is in an earlier row"))
            seen.add(key)
            if not errors:
                valid.append((*key, row.from_year, row.to_year))
        for error in errors:
            summary.errors.append(
                {"row": n, "indicator": row.indicator, "department": row.department, **error}
            )
        if errors:
            summary.rejected += 1
    if data.atomic and summary.rejected:
        raise InvalidValue(
            f"{summary.rejected} of {len(data.assignments)} row(s) rejected; "
            "the batch is atomic, so nothing was written",
            extra=summary.model_dump(),
        )
    with session.begin_nested() as nested:
        for i, d, f, t in valid:
            outcome = _store(session, i, d, f, t)
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        if data.dry_run:
            nested.rollback()
    return summary
