"""Each version of an observation or a target keeps the reason its writer gave (optional)

`reason` (at most 500 characters) on PUT, PATCH and DELETE of a cell is kept with the revision that
write made; earlier revisions have none (NULL). Downgrading drops the column and the reasons in it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("observation_revision", "target_revision")


# Plain ALTER TABLE on both databases (SQLite has DROP COLUMN since 3.35): no copy of the table, its
# constraints untouched. A nullable column without a default rewrites no row.


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "reason")
