"""observation_revision: no index of department_id alone

It served the foreign key to department (dropped in 0003) and then the check that deleting a
department makes of its history, which now probes the unique (indicator_id, department_id, year,
version) index once per indicator instead (app.observations.service.has_history). Keeping it cost
every revision written an index entry: 0.1 s of PostgreSQL backend CPU per 100,000 new cells
(COPY of the revisions: 0.52 -> 0.42 s), 0.05 s on SQLite.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 01:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observation_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observation_revision_department_id"))


def downgrade() -> None:
    with op.batch_alter_table("observation_revision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_observation_revision_department_id"), ["department_id"], unique=False
        )
