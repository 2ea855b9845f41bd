"""The reporting cycle: assignments, periods and their exceptions, approvals and their history

New tables only: a database upgraded keeps every figure, and starts with no assignment, no period
(entry always open) and every department-year in draft.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-05 18:06:40.471639
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "period",
        sa.Column("year", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("opens", sa.Date(), nullable=False),
        sa.Column("closes", sa.Date(), nullable=False),
        sa.CheckConstraint("closes >= opens", name=op.f("ck_period_day_order")),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_period")),
    )
    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "submitted",
                "approved",
                name="state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("submitted_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_approval_department_id_department"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval")),
        sa.UniqueConstraint("department_id", "year", name=op.f("uq_approval_department_id_year")),
    )
    op.create_table(
        "approval_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "action = 'submit' OR action = 'approve' OR action = 'return' OR action = 'reopen'",
            name=op.f("ck_approval_action_action"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_approval_action_department_id_department"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_action")),
    )
    with op.batch_alter_table("approval_action", schema=None) as batch_op:
        batch_op.create_index("ix_approval_action_department_year", ["department_id", "year"], unique=False)

    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("from_year", sa.SmallInteger(), nullable=False),
        sa.Column("to_year", sa.SmallInteger(), nullable=True),
        sa.CheckConstraint("to_year IS NULL OR to_year >= from_year", name=op.f("ck_assignment_year_order")),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_assignment_department_id_department"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicator.id"],
            name=op.f("fk_assignment_indicator_id_indicator"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
        sa.UniqueConstraint(
            "indicator_id", "department_id", name=op.f("uq_assignment_indicator_id_department_id")
        ),
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignment_department_id"), ["department_id"], unique=False)

    op.create_table(
        "period_exception",
        sa.Column("year", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("department_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_period_exception_department_id_department"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["year"], ["period.year"], name=op.f("fk_period_exception_year_period"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("year", "department_id", name=op.f("pk_period_exception")),
    )


def downgrade() -> None:
    op.drop_table("period_exception")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_department_id"))

    op.drop_table("assignment")
    with op.batch_alter_table("approval_action", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_action_department_year")

    op.drop_table("approval_action")
    op.drop_table("approval")
    op.drop_table("period")
