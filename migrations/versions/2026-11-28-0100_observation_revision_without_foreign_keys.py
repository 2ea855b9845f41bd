"""observation_revision: no foreign keys to indicator and department

The history is written only together with a current row in the same transaction (a create or an
update inserts or updates `observation`, whose foreign keys are checked; a deletion removes a row
that was checked when written), so its own two foreign keys checked the same thing a second time.
On PostgreSQL each is a per-row trigger: they were about a third of the server's work for a batch
of new cells (100,000 rows: 3.7 s of backend CPU with them, 2.5 s without). Deleting an indicator
or a department still answers 409 while history refers to it: app.observations.service.has_history
checks explicitly, after the DELETE statement, so that a writer still in flight is waited for.
ix_observation_revision_department_id stays for that check.

Downgrading puts the foreign keys back; it fails if history names a deleted indicator or department,
which the explicit check prevents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observation_revision", schema=None) as batch_op:
        batch_op.drop_constraint("fk_observation_revision_indicator_id_indicator", type_="foreignkey")
        batch_op.drop_constraint("fk_observation_revision_department_id_department", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("observation_revision", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_observation_revision_department_id_department",
            "department",
            ["department_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_foreign_key(
            "fk_observation_revision_indicator_id_indicator",
            "indicator",
            ["indicator_id"],
            ["id"],
            ondelete="RESTRICT",
        )
