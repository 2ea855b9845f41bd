"""The declarative base and the column types both databases share: exact decimals, UTC timestamps,
string enums with their checks."""

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Dialect, Enum, MetaData, Numeric, String
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(24, 6) on PostgreSQL; on SQLite the decimal's text, since SQLite has no exact type."""

    impl = Numeric(24, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(24, 6, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are stored and read back as UTC, also on SQLite, which keeps no zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def str_enum(
    cls: type[enum.Enum], length: int = 16, name: str | None = None, *, constraint: bool = True
) -> Enum:
    """A string column with a CHECK of the allowed values; `name` names that CHECK (unique per table).

    `constraint=False` leaves the CHECK to the table: one_of() writes the same rule in a form SQLite
    checks faster.
    """
    return Enum(
        cls,
        native_enum=False,
        create_constraint=constraint,
        length=length,
        name=name or cls.__name__.lower(),
    )


def one_of(column: str, cls: type[enum.Enum]) -> CheckConstraint:
    """CHECK (column = 'a' OR column = 'b' ...), named after the column: the rule of an Enum's
    `IN ('a', 'b', ...)`, NULL passing alike. SQLite builds a temporary index for a list of more than
    two values on every row it checks, about 1 µs each; equalities cost next to nothing."""
    rule = " OR ".join(f"{column} = '{member.value}'" for member in cls)
    return CheckConstraint(rule, name=column)
