import enum
from decimal import Decimal

from sqlalchemy import Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.cells import CurrentMixin, RevisionMixin, exact, exact_or_null, str_enum, year_check
from app.database import Base


class Qualifier(enum.StrEnum):
    exact = "exact"
    at_least = "at_least"
    more_than = "more_than"
    approximately = "approximately"


class Observation(CurrentMixin, Base):
    """The current figure of a cell. Deleted cells leave no row here, only revisions."""

    __tablename__ = "observation"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[Decimal] = exact()
    qualifier: Mapped[Qualifier] = mapped_column(str_enum(Qualifier))

    __table_args__ = (
        year_check(),
        UniqueConstraint("indicator_id", "department_id", "year"),
        # Covering: a year's figures of every cell read from the index alone (compliance, comparisons).
        Index("ix_observation_year_cells", "year", "indicator_id", "department_id", "value", "qualifier"),
    )


class ObservationRevision(RevisionMixin, Base):
    """One version of a cell: what it was before, what it became, who and when. Never updated."""

    __tablename__ = "observation_revision"

    # Plain integers, no foreign keys: a revision is written only with a current row whose foreign
    # keys are checked in the same transaction, and a second check per row cost a third of
    # PostgreSQL's work for a batch (migration 0003). Deleting an indicator or a department checks
    # the history explicitly (app.observations.service.has_history).
    indicator_id: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(Integer, index=True)

    value_before: Mapped[Decimal | None] = exact_or_null()
    value_after: Mapped[Decimal | None] = exact_or_null()
    qualifier_before: Mapped[Qualifier | None] = mapped_column(str_enum(Qualifier, name="qualifier_before"))
    qualifier_after: Mapped[Qualifier | None] = mapped_column(str_enum(Qualifier, name="qualifier_after"))

    __table_args__ = (UniqueConstraint("indicator_id", "department_id", "year", "version"),)
