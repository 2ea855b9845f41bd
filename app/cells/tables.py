"""What the observation and target tables share: a cell's key columns, its history's, their checks."""

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.core.db.types import ExactDecimal, UTCDateTime, str_enum, utcnow

YEAR_MIN, YEAR_MAX = 1900, 2100


class Action(enum.StrEnum):
    create = "create"
    update = "update"
    delete = "delete"


class CellMixin:
    """The key columns of a cell, and who last changed it."""

    @declared_attr
    def indicator_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("indicator.id", ondelete="RESTRICT"))

    @declared_attr
    def department_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("department.id", ondelete="RESTRICT"), index=True)

    year: Mapped[int] = mapped_column(SmallInteger)
    version: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(2000))
    source: Mapped[str | None] = mapped_column(String(500))


def sqlite_foreign_key(column: str, table: str) -> ForeignKeyConstraint:
    """A foreign key to `table`.id made on SQLite only: on PostgreSQL statement triggers check the
    same references once per statement rather than once per row (migration 0006). `info` tells
    Alembic's comparison (app.core.db.migrate.schema_filter) where to expect it."""
    constraint = ForeignKeyConstraint(
        [column], [f"{table}.id"], ondelete="RESTRICT", info={"dialects": ("sqlite",)}
    )
    return constraint.ddl_if(dialect="sqlite")


def year_check() -> CheckConstraint:
    return CheckConstraint(f"year BETWEEN {YEAR_MIN} AND {YEAR_MAX}", name="year_range")


class CurrentMixin(CellMixin):
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class RevisionMixin(CellMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[Action] = mapped_column(str_enum(Action, 8))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(100))
    # Why the version was made, as its writer said (optional; migration 0007).
    reason: Mapped[str | None] = mapped_column(String(500))


def exact() -> Mapped[Decimal]:
    return mapped_column(ExactDecimal())


def exact_or_null() -> Mapped[Decimal | None]:
    return mapped_column(ExactDecimal(), nullable=True)
