import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db.types import Base, UTCDateTime, one_of, str_enum


class State(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"


class Step(enum.StrEnum):
    submit = "submit"
    approve = "approve"
    # "return" is a Python keyword: the member is named `return_`, its value is the action's name.
    return_ = "return"
    reopen = "reopen"


class Assignment(Base):
    """A department reports an indicator from `from_year` to `to_year` (None: open-ended)."""

    __tablename__ = "assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id", ondelete="RESTRICT"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"), index=True)
    from_year: Mapped[int] = mapped_column(SmallInteger)
    to_year: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (
        UniqueConstraint("indicator_id", "department_id"),
        CheckConstraint("to_year IS NULL OR to_year >= from_year", name="year_order"),
    )


class Period(Base):
    """The days in which clerks enter a year's figures: `opens` to `closes`, both included."""

    __tablename__ = "period"

    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    opens: Mapped[dt.date] = mapped_column(Date)
    closes: Mapped[dt.date] = mapped_column(Date)

    __table_args__ = (CheckConstraint("closes >= opens", name="day_order"),)


class PeriodException(Base):
    """One department's clerks may enter a year's figures until `until`."""

    __tablename__ = "period_exception"

    year: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("period.year", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), primary_key=True, autoincrement=False
    )
    until: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))


class Approval(Base):
    """Where one department's figures of one year stand; no row: draft."""

    __tablename__ = "approval"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"))
    year: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[State] = mapped_column(str_enum(State))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    submitted_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("department_id", "year"),)


class ApprovalAction(Base):
    """One step of an approval's history. Never updated."""

    __tablename__ = "approval_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"))
    year: Mapped[int] = mapped_column(SmallInteger)
    action: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_approval_action_department_year", "department_id", "year"),
        one_of("action", Step),
    )
