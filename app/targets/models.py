import enum
from decimal import Decimal

from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.cells.tables import CurrentMixin, RevisionMixin, exact, exact_or_null, year_check
from app.core.db.types import Base, str_enum


class Operator(enum.StrEnum):
    at_least = "at_least"
    at_most = "at_most"
    exactly = "exactly"
    between = "between"


class Target(CurrentMixin, Base):
    """What a cell's figure must reach."""

    __tablename__ = "target"

    id: Mapped[int] = mapped_column(primary_key=True)
    operator: Mapped[Operator] = mapped_column(str_enum(Operator))
    value: Mapped[Decimal] = exact()
    upper: Mapped[Decimal | None] = exact_or_null()

    __table_args__ = (
        year_check(),
        UniqueConstraint("indicator_id", "department_id", "year"),
    )


class TargetRevision(RevisionMixin, Base):
    """One version of a target, deletions included. Never updated."""

    __tablename__ = "target_revision"

    operator_before: Mapped[Operator | None] = mapped_column(str_enum(Operator, name="operator_before"))
    operator_after: Mapped[Operator | None] = mapped_column(str_enum(Operator, name="operator_after"))
    value_before: Mapped[Decimal | None] = exact_or_null()
    value_after: Mapped[Decimal | None] = exact_or_null()
    upper_before: Mapped[Decimal | None] = exact_or_null()
    upper_after: Mapped[Decimal | None] = exact_or_null()

    __table_args__ = (UniqueConstraint("indicator_id", "department_id", "year", "version"),)
