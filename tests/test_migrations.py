"""The schema changes only through Alembic: upgrade head gives the models' schema, downgrade undoes it."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from app import migrate
from app.models import metadata


def test_upgrade_head_matches_the_models_and_downgrade_base_empties(fresh: Engine) -> None:
    migrate.upgrade(fresh)
    with fresh.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    tables = set(inspect(fresh).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables

    migrate.downgrade(fresh, "base")
    assert set(inspect(fresh).get_table_names()) <= {"alembic_version"}

    migrate.upgrade(fresh)  # and up again, from nothing
    assert {t.name for t in metadata.sorted_tables} <= set(inspect(fresh).get_table_names())


def test_the_observation_tables_refuse_values_outside_their_enums(fresh: Engine) -> None:
    """The enum CHECKs written as equalities (migration 0004) keep the rule of IN (...): NULL passes,
    anything outside the list is refused."""
    migrate.upgrade(fresh)
    columns = (
        "indicator_id, department_id, year, version, action, value_before, value_after, "
        "qualifier_before, qualifier_after, changed_at, changed_by"
    )
    row = "1, 1, 2021, {version}, '{action}', NULL, '1', {before}, '{after}', '2026-11-28 00:00:00', 't'"
    good = {"version": 1, "action": "create", "before": "NULL", "after": "exact"}
    with fresh.begin() as connection:
        connection.execute(
            text(f"INSERT INTO observation_revision ({columns}) VALUES ({row.format(**good)})")
        )
    for version, (check, change) in enumerate(
        (
            ("action", {"action": "created"}),
            ("qualifier_before", {"before": "'Exact'"}),
            ("qualifier_after", {"after": "exact "}),
            ("qualifier_after", {"after": ""}),
        ),
        start=2,
    ):
        values = row.format(**{**good, "version": version, **change})
        with (
            pytest.raises(IntegrityError, match=f"ck_observation_revision_{check}"),
            fresh.begin() as connection,
        ):
            connection.execute(text(f"INSERT INTO observation_revision ({columns}) VALUES ({values})"))
    with pytest.raises(IntegrityError, match="ck_observation_qualifier"), fresh.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO observation (indicator_id, department_id, year, version, value, qualifier, "
                "updated_at, updated_by) VALUES (1, 1, 2021, 1, '1', 'roughly', '2026-11-28 00:00:00', 't')"
            )
        )
