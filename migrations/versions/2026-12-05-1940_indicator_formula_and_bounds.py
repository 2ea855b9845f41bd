"""Indicators get a formula (derived indicators) and expected bounds (the min_max outlier check)

`formula` (at most 1,000 characters) makes an indicator derived: its figures are computed from other
indicators' when read, never stored. `expected_min` / `expected_max` are exact decimals as figures are.
All three are nullable: existing indicators stay stored ones without bounds. Downgrading drops the
columns (derived indicators would become stored ones without figures: none are stored for them).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db.types import ExactDecimal

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("indicator", sa.Column("formula", sa.String(length=1000), nullable=True))
    op.add_column("indicator", sa.Column("expected_min", ExactDecimal(), nullable=True))
    op.add_column("indicator", sa.Column("expected_max", ExactDecimal(), nullable=True))


def downgrade() -> None:
    for column in ("expected_max", "expected_min", "formula"):
        op.drop_column("indicator", column)
