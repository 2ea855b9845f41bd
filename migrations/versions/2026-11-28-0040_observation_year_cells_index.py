"""observation: a covering index for a year's cells

The year's figures of every cell (compliance joins them to the year's targets; comparisons and
year-filtered lists read them) come from this index alone: on PostgreSQL an index-only scan of the
year's entries instead of the whole heap (a year's rows are spread over every page), on SQLite one
b-tree probe per cell instead of two. It replaces ix_observation_year_indicator, whose columns it
starts with.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observation_year_cells",
            ["year", "indicator_id", "department_id", "value", "qualifier"],
            unique=False,
        )
        batch_op.drop_index("ix_observation_year_indicator")


def downgrade() -> None:
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index("ix_observation_year_indicator", ["year", "indicator_id"], unique=False)
        batch_op.drop_index("ix_observation_year_cells")
