"""observation, observation_revision: enum CHECKs as equalities

`qualifier IN ('exact', 'at_least', ...)` and `qualifier = 'exact' OR qualifier = 'at_least' OR ...`
are the same rule (NULL passes both), but SQLite evaluates an IN list of more than two values by
building a temporary index for every row it checks: about 1 µs a row per CHECK, and a new cell's
two rows carry four of them (0.4 s of a 100,000-row batch, a fifth of its time). The equalities cost
next to nothing on either database. Only the observation tables change; the names stay.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUALIFIERS = ("exact", "at_least", "more_than", "approximately")
ACTIONS = ("create", "update", "delete")
CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    "observation": {"qualifier": QUALIFIERS},
    "observation_revision": {
        "action": ACTIONS,
        "qualifier_before": QUALIFIERS,
        "qualifier_after": QUALIFIERS,
    },
}


def _replace(rule: str) -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                name = op.f(f"ck_{table}_{column}")
                batch_op.drop_constraint(name, type_="check")
                if rule == "or":
                    condition = " OR ".join(f"{column} = '{value}'" for value in values)
                else:
                    condition = f"{column} IN ({', '.join(repr(value) for value in values)})"
                batch_op.create_check_constraint(name, condition)


def upgrade() -> None:
    _replace("or")


def downgrade() -> None:
    _replace("in")
