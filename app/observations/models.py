import enum
from decimal import Decimal

from sqlalchemy import Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.cells.tables import (
    Action,
    CurrentMixin,
    RevisionMixin,
    exact,
    exact_or_null,
    sqlite_foreign_key,
    year_check,
)
from app.core.db.types import Base, one_of, str_enum


class Qualifier(enum.StrEnum):
    exact = "exact"
    at_least = "at_least"
    more_than = "more_than"
    approximately = "approximately"


class Observation(CurrentMixin, Base):
    """The current figure of a cell. Deleted cells leave no row here, only revisions."""

    __tablename__ = "observation"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Foreign keys on SQLite; on PostgreSQL statement triggers check the references once per
    # statement, which for a batch's rows cost half of what per-row foreign keys did (migration 0006).
    indicator_id: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(Integer, index=True)
    value: Mapped[Decimal] = exact()
    qualifier: Mapped[Qualifier] = mapped_column(str_enum(Qualifier, constraint=False))

    # Enum CHECKs written as equalities (one_of): on SQLite, IN (...) cost about 1 µs a row each,
    # a fifth of writing a batch's rows (migration 0004).
    __table_args__ = (
        sqlite_foreign_key("indicator_id", "indicator"),
        sqlite_foreign_key("department_id", "department"),
        one_of("qualifier", Qualifier),
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
    # the history explicitly (app.observations.service.has_history), which needs no index of the
    # department alone (migration 0005).
    indicator_id: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(Integer)

    action: Mapped[Action] = mapped_column(str_enum(Action, 8, constraint=False))
    value_before: Mapped[Decimal | None] = exact_or_null()
    value_after: Mapped[Decimal | None] = exact_or_null()
    qualifier_before: Mapped[Qualifier | None] = mapped_column(
        str_enum(Qualifier, name="qualifier_before", constraint=False)
    )
    qualifier_after: Mapped[Qualifier | None] = mapped_column(
        str_enum(Qualifier, name="qualifier_after", constraint=False)
    )

    __table_args__ = (
        one_of("action", Action),
        one_of("qualifier_before", Qualifier),
        one_of("qualifier_after", Qualifier),
        UniqueConstraint("indicator_id", "department_id", "year", "version"),
    )
