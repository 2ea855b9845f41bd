"""Periods: the days in which clerks enter a year's figures, and exceptions for one department."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.problems import NotFound
from app.departments import service as departments
from app.departments.models import Department
from app.reporting.models import Period, PeriodException
from app.reporting.schemas import ExceptionRead, ExceptionWrite, PeriodRead, PeriodWrite


def _get(session: Session, year: int) -> Period:
    period = session.get(Period, year)
    if period is None:
        raise NotFound(f"No entry period set for {year}: entry for it is always open")
    return period


def get(session: Session, *, year: int) -> PeriodRead:
    period = _get(session, year)
    rows = session.execute(
        select(Department.code, PeriodException.until, PeriodException.reason)
        .join(Department, Department.id == PeriodException.department_id)
        .where(PeriodException.year == year)
        .order_by(Department.code)
    ).all()
    return PeriodRead(
        year=year,
        opens=period.opens,
        closes=period.closes,
        exceptions=[ExceptionRead(department=c, until=u, reason=r) for c, u, r in rows],
    )


def put(session: Session, *, year: int, data: PeriodWrite) -> bool:
    """Set a year's period; True when created."""
    period = session.get(Period, year)
    if period is None:
        session.add(Period(year=year, opens=data.opens, closes=data.closes))
        session.flush()
        return True
    period.opens, period.closes = data.opens, data.closes
    session.flush()
    return False


def delete(session: Session, *, year: int) -> None:
    period = _get(session, year)
    for exception in session.scalars(select(PeriodException).where(PeriodException.year == year)):
        session.delete(exception)
    session.flush()
    session.delete(period)
    session.flush()


def put_exception(session: Session, *, year: int, department: str, data: ExceptionWrite) -> bool:
    _get(session, year)
    d = departments.get_by_code(session, department)
    found = session.get(PeriodException, (year, d.id))
    if found is None:
        session.add(PeriodException(year=year, department_id=d.id, until=data.until, reason=data.reason))
        session.flush()
        return True
    found.until, found.reason = data.until, data.reason
    session.flush()
    return False


def delete_exception(session: Session, *, year: int, department: str) -> None:
    d = departments.get_by_code(session, department)
    found = session.get(PeriodException, (year, d.id))
    if found is None:
        raise NotFound(f"No exception for {department!r} in {year}")
    session.delete(found)
    session.flush()
