import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import Enum, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db.types import Base, ExactDecimal, UTCDateTime, utcnow


class ValueType(enum.StrEnum):
    count = "count"  # type: ignore[assignment]  # the contract's name shadows str.count
    amount = "amount"
    percent = "percent"
    rank = "rank"
    boolean = "boolean"


class Direction(enum.StrEnum):
    higher = "higher"
    lower = "lower"  # type: ignore[assignment]  # the contract's name shadows str.lower
    none = "none"


class Aggregation(enum.StrEnum):
    sum = "sum"
    mean = "mean"
    min = "min"
    max = "max"
    none = "none"


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings with a CHECK constraint: portable, readable in a SQL shell.
    return Enum(cls, native_enum=False, create_constraint=True, length=16, name=cls.__name__.lower())


class Indicator(Base):
    __tablename__ = "indicator"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    section: Mapped[str | None] = mapped_column(String(64), index=True)
    unit: Mapped[str | None] = mapped_column(String(32))
    value_type: Mapped[ValueType] = mapped_column(_enum(ValueType))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    aggregation: Mapped[Aggregation] = mapped_column(_enum(Aggregation))
    description: Mapped[str | None] = mapped_column(Text)
    # (v2) A derived indicator's formula over other indicators (app.core.formula): computed, never stored.
    formula: Mapped[str | None] = mapped_column(String(1000))
    # (v2) The bounds of the min_max outlier check.
    expected_min: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    expected_max: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))
