from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, ObservationRevision


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert the answer is a problem+json of that status, and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


def stored(session: Session, indicator: str, department: str, year: int) -> Observation | None:
    """The observation row as the database has it now."""
    session.expire_all()
    return session.scalar(
        select(Observation)
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .join(Department, Department.id == Observation.department_id)
        .where(Indicator.code == indicator, Department.code == department, Observation.year == year)
    )


def revisions(session: Session, indicator: str, department: str, year: int) -> list[ObservationRevision]:
    session.expire_all()
    return list(
        session.scalars(
            select(ObservationRevision)
            .join(Indicator, Indicator.id == ObservationRevision.indicator_id)
            .join(Department, Department.id == ObservationRevision.department_id)
            .where(
                Indicator.code == indicator,
                Department.code == department,
                ObservationRevision.year == year,
            )
            .order_by(ObservationRevision.version)
        )
    )
