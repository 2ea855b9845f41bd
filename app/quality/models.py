import enum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db.types import Base, str_enum


class Operator(enum.StrEnum):
    equal_to = "equal_to"
    not_equal_to = "not_equal_to"
    greater_than = "greater_than"
    greater_than_or_equal_to = "greater_than_or_equal_to"
    less_than = "less_than"
    less_than_or_equal_to = "less_than_or_equal_to"
    compulsory_pair = "compulsory_pair"
    exclusive_pair = "exclusive_pair"


class Importance(enum.StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class Missing(enum.StrEnum):
    skip_if_any_missing = "skip_if_any_missing"
    skip_if_all_missing = "skip_if_all_missing"
    never_skip = "never_skip"


class Rule(Base):
    """A validation rule: `left` `operator` `right`, formulas over indicators (app.core.formula)."""

    __tablename__ = "validation_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    left: Mapped[str] = mapped_column(String(1000))
    operator: Mapped[Operator] = mapped_column(str_enum(Operator, 32))
    right: Mapped[str] = mapped_column(String(1000))
    importance: Mapped[Importance] = mapped_column(str_enum(Importance, 8))
    missing: Mapped[Missing] = mapped_column(str_enum(Missing, 32))


class RuleOperand(Base):
    """An indicator a rule reads: a write of one of its figures finds the rules to check by index, and
    an indicator a rule reads cannot be deleted."""

    __tablename__ = "validation_rule_operand"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("validation_rule.id", ondelete="CASCADE"), primary_key=True
    )
    indicator_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("indicator.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
