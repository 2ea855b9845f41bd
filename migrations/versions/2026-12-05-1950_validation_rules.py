"""Validation rules, and the indicators each reads

New tables only: an upgraded database starts with no rule. `validation_rule_operand` lists the
indicators a rule's formulas read, so that a write finds the rules of its figure by index and an
indicator a rule reads cannot be deleted. Downgrading drops both tables (and the rules).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, length: int, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "validation_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("left", sa.String(length=1000), nullable=False),
        sa.Column(
            "operator",
            _enum(
                "operator",
                32,
                "equal_to",
                "not_equal_to",
                "greater_than",
                "greater_than_or_equal_to",
                "less_than",
                "less_than_or_equal_to",
                "compulsory_pair",
                "exclusive_pair",
            ),
            nullable=False,
        ),
        sa.Column("right", sa.String(length=1000), nullable=False),
        sa.Column("importance", _enum("importance", 8, "high", "medium", "low"), nullable=False),
        sa.Column(
            "missing",
            _enum("missing", 32, "skip_if_any_missing", "skip_if_all_missing", "never_skip"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_rule")),
        sa.UniqueConstraint("code", name=op.f("uq_validation_rule_code")),
    )
    op.create_table(
        "validation_rule_operand",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicator.id"],
            name=op.f("fk_validation_rule_operand_indicator_id_indicator"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["validation_rule.id"],
            name=op.f("fk_validation_rule_operand_rule_id_validation_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "indicator_id", name=op.f("pk_validation_rule_operand")),
    )
    with op.batch_alter_table("validation_rule_operand") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_validation_rule_operand_indicator_id"), ["indicator_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("validation_rule_operand") as batch_op:
        batch_op.drop_index(batch_op.f("ix_validation_rule_operand_indicator_id"))
    op.drop_table("validation_rule_operand")
    op.drop_table("validation_rule")
