"""What the page shells need from the database before any script runs: the default year."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.observations.models import Observation


def latest_year(session: Session) -> int | None:
    """The latest year with any figure (ix_observation_year_cells makes it one index probe)."""
    return session.scalar(select(func.max(Observation.year)))
