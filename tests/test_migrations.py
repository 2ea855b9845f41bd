"""The schema changes only through Alembic: upgrade head gives the models' schema, downgrade undoes it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

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
