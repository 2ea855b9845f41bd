"""The schema changes only through Alembic: upgrade head gives the models' schema, downgrade undoes it."""

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from app.core.db import migrate
from app.models import metadata


def test_upgrade_head_matches_the_models_and_downgrade_base_empties(fresh: Engine) -> None:
    migrate.upgrade(fresh)
    with fresh.connect() as connection:
        opts = {"compare_type": True, "include_object": migrate.schema_filter(connection.dialect.name)}
        context = MigrationContext.configure(connection, opts=opts)
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


_INSERT = (
    "INSERT INTO observation (indicator_id, department_id, year, version, value, qualifier, updated_at, "
    "updated_by) VALUES {rows}"
)
_ROW = "({indicator}, {department}, {year}, 1, '1', 'exact', '2026-11-28 00:00:00', 't')"


def _referenced(engine: Engine) -> tuple[int, int]:
    """An indicator and a department made for the test: their ids."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO department (code, name, updated_at, updated_by, created_at) "
                "VALUES ('d', 'D', '2026-11-28 00:00:00', 't', '2026-11-28 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO indicator (code, name, section, unit, value_type, direction, aggregation, "
                "updated_at, updated_by, created_at) VALUES ('i', 'I', 's', 'u', 'count', 'higher', 'sum', "
                "'2026-11-28 00:00:00', 't', '2026-11-28 00:00:00')"
            )
        )
        indicator = connection.execute(text("SELECT id FROM indicator WHERE code = 'i'")).scalar_one()
        department = connection.execute(text("SELECT id FROM department WHERE code = 'd'")).scalar_one()
    return indicator, department


def test_an_observation_names_only_indicators_and_departments_that_exist(fresh: Engine) -> None:
    """Foreign keys on SQLite, statement triggers on PostgreSQL (migration 0006): the same refusals,
    under the foreign key's name, for one row or for any row of many."""
    migrate.upgrade(fresh)
    indicator, department = _referenced(fresh)
    good = [_ROW.format(indicator=indicator, department=department, year=2000 + n) for n in range(3)]
    for bad, name in (
        (_ROW.format(indicator=indicator + 1000, department=department, year=2010), "indicator"),
        (_ROW.format(indicator=indicator, department=department + 1000, year=2010), "department"),
    ):
        for rows in ([bad], [*good, bad]):
            refused = rf"FOREIGN KEY|fk_observation_{name}_id_{name}"
            with pytest.raises(IntegrityError, match=refused), fresh.begin() as connection:
                connection.execute(text(_INSERT.format(rows=", ".join(rows))))
    with fresh.begin() as connection:
        connection.execute(text(_INSERT.format(rows=", ".join(good))))
        assert connection.execute(text("SELECT count(*) FROM observation")).scalar_one() == 3


def test_what_observations_name_cannot_be_deleted(fresh: Engine) -> None:
    migrate.upgrade(fresh)
    indicator, department = _referenced(fresh)
    with fresh.begin() as connection:
        connection.execute(
            text(_INSERT.format(rows=_ROW.format(indicator=indicator, department=department, year=2021)))
        )
    for table, id_ in (("indicator", indicator), ("department", department)):
        with pytest.raises(IntegrityError, match=r"FOREIGN KEY|fk_observation"), fresh.begin() as connection:
            connection.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": id_})
    with fresh.begin() as connection:
        connection.execute(text("DELETE FROM observation"))
        connection.execute(text("DELETE FROM indicator WHERE id = :id"), {"id": indicator})
        connection.execute(text("DELETE FROM department WHERE id = :id"), {"id": department})


def test_postgresql_checks_copy_and_refuses_moving_a_cell(fresh: Engine) -> None:
    if fresh.dialect.name != "postgresql":
        pytest.skip("SQLite's foreign keys check each row")
    migrate.upgrade(fresh)
    indicator, department = _referenced(fresh)
    with fresh.begin() as connection:
        connection.execute(
            text(_INSERT.format(rows=_ROW.format(indicator=indicator, department=department, year=2021)))
        )
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fk_observation_indicator_id"):
        _copy(fresh, [(indicator, department, 2022), (indicator + 1000, department, 2023)])
    moved = "UPDATE observation SET year = 2020, indicator_id = indicator_id + 1"
    with pytest.raises(IntegrityError, match="do not change"), fresh.begin() as connection:
        connection.execute(text(moved))
    with fresh.begin() as connection:
        connection.execute(text("UPDATE observation SET year = 2020"))  # the same cell's key: fine
        assert connection.execute(text("SELECT count(*) FROM observation")).scalar_one() == 1


def _copy(engine: Engine, cells: list[tuple[int, int, int]]) -> None:
    """COPY observation rows, as a batch writes them; rolled back."""
    columns = "indicator_id, department_id, year, version, value, qualifier, updated_at, updated_by"
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY observation ({columns}) FROM STDIN") as copy:
            for indicator, department, year in cells:
                copy.write_row((indicator, department, year, 1, 1, "exact", "2026-11-28 00:00:00", "t"))
    finally:
        raw.rollback()
        raw.close()


def test_token_expiry_and_last_use_go_up_and_down_with_the_tokens_kept(fresh: Engine) -> None:
    """Migration 0008: api_token gains expires_at and last_used_at (NULL for the tokens there: they
    never expire, and have not been seen), and loses them again, the tokens kept."""
    before = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0008").down_revision
    assert isinstance(before, str)
    migrate.upgrade(fresh, before)
    token = "INSERT INTO api_token (name, role, token_hash, created_at, created_by) VALUES ({})"
    with fresh.begin() as connection:
        connection.execute(text(token.format("'old', 'viewer', 'h1', '2026-11-28 00:00:00', 't'")))
    migrate.upgrade(fresh, "0008")
    with fresh.begin() as connection:
        row = connection.execute(text("SELECT name, expires_at, last_used_at FROM api_token")).one()
        assert tuple(row) == ("old", None, None)
        connection.execute(
            text(
                "INSERT INTO api_token (name, role, token_hash, created_at, created_by, expires_at, "
                "last_used_at) VALUES ('new', 'clerk', 'h2', '2026-12-05 00:00:00', 't', "
                "'2027-03-05 00:00:00', '2026-12-05 10:00:00')"
            )
        )
    migrate.downgrade(fresh, before)
    columns = {c["name"] for c in inspect(fresh).get_columns("api_token")}
    assert "expires_at" not in columns and "last_used_at" not in columns
    with fresh.connect() as connection:
        names = connection.execute(text("SELECT name, token_hash FROM api_token ORDER BY name")).all()
    assert [tuple(n) for n in names] == [("new", "h2"), ("old", "h1")]
    migrate.upgrade(fresh)
    with fresh.connect() as connection:
        assert (
            connection.execute(text("SELECT count(*) FROM api_token WHERE expires_at IS NULL")).scalar() == 2
        )


_REVISIONS = {
    "observation_revision": (
        "indicator_id, department_id, year, version, action, value_after, qualifier_after, note, "
        "changed_at, changed_by",
        "{indicator}, {department}, 2021, {version}, 'create', '1', 'exact', '注', "
        "'2026-11-28 00:00:00', 't'",
    ),
    "target_revision": (
        "indicator_id, department_id, year, version, action, operator_after, value_after, note, "
        "changed_at, changed_by",
        "{indicator}, {department}, 2021, {version}, 'create', 'at_least', '1', '注', "
        "'2026-11-28 00:00:00', 't'",
    ),
}


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_0007_adds_the_revisions_reason_and_takes_it_away_again(fresh: Engine) -> None:
    """Revisions made before 0007 keep everything and have no reason; down again, the column goes and
    the revisions stay."""
    migrate.upgrade(fresh, "0006")
    indicator, department = _referenced(fresh)
    ids = {"indicator": indicator, "department": department}
    with fresh.begin() as connection:
        for table, (columns, row) in _REVISIONS.items():
            assert "reason" not in _columns(fresh, table)
            values = row.format(**ids, version=1)
            connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"))
    migrate.upgrade(fresh, "0007")
    with fresh.begin() as connection:
        for table, (columns, row) in _REVISIONS.items():
            assert "reason" in _columns(fresh, table)
            values = row.format(**ids, version=2)
            connection.execute(
                text(f"INSERT INTO {table} ({columns}, reason) VALUES ({values}, :reason)"),
                {"reason": "审计后更正"},
            )
            got = connection.execute(text(f"SELECT version, note, reason FROM {table} ORDER BY version"))
            assert [tuple(r) for r in got] == [(1, "注", None), (2, "注", "审计后更正")]
    migrate.downgrade(fresh, "0006")
    with fresh.begin() as connection:
        for table in _REVISIONS:
            assert "reason" not in _columns(fresh, table)
            got = connection.execute(text(f"SELECT version, note FROM {table} ORDER BY version"))
            assert [tuple(r) for r in got] == [(1, "注"), (2, "注")]
    migrate.upgrade(fresh)
    assert all("reason" in _columns(fresh, table) for table in _REVISIONS)


def test_0009_reporting_tables_up_and_down_with_data(fresh: Engine) -> None:
    """Migration 0009 adds the reporting tables beside figures already there, keeps the figures
    when taken back down, and comes up again; its constraints refuse what the service refuses."""
    migrate.upgrade(fresh, "0006")
    indicator, department = _referenced(fresh)
    with fresh.begin() as connection:
        connection.execute(
            text(_INSERT.format(rows=_ROW.format(indicator=indicator, department=department, year=2021)))
        )
    migrate.upgrade(fresh, "0009")
    with fresh.begin() as connection:
        connection.execute(
            text("INSERT INTO assignment (indicator_id, department_id, from_year) VALUES (:i, :d, 2021)"),
            {"i": indicator, "d": department},
        )
        connection.execute(
            text("INSERT INTO period (year, opens, closes) VALUES (2021, '2022-01-01', '2022-01-31')")
        )
        connection.execute(
            text("INSERT INTO period_exception VALUES (2021, :d, '2022-02-15', '迟报')"), {"d": department}
        )
        connection.execute(
            text(
                "INSERT INTO approval (department_id, year, state, approved_at, approved_by) "
                "VALUES (:d, 2021, 'approved', '2026-12-05 00:00:00', 'seed')"
            ),
            {"d": department},
        )
        connection.execute(
            text(
                "INSERT INTO approval_action (department_id, year, action, by, at, reason) "
                "VALUES (:d, 2021, 'approve', 'seed', '2026-12-05 00:00:00', 'published')"
            ),
            {"d": department},
        )
        assert connection.execute(text("SELECT count(*) FROM observation")).scalar_one() == 1
    for bad, check in (
        (
            "INSERT INTO assignment (indicator_id, department_id, from_year, to_year) "
            "VALUES (:i, :d, 2022, 2021)",
            "year_order",
        ),
        ("INSERT INTO period (year, opens, closes) VALUES (2022, '2023-02-01', '2023-01-01')", "day_order"),
        ("INSERT INTO approval (department_id, year, state) VALUES (:d, 2022, 'done')", "state"),
        (
            "INSERT INTO assignment (indicator_id, department_id, from_year) VALUES (:i, :d, 2023)",
            "uq_assignment",
        ),
    ):
        with pytest.raises(IntegrityError, match=rf"{check}|UNIQUE|CHECK"), fresh.begin() as connection:
            connection.execute(text(bad), {"i": indicator, "d": department})
    migrate.downgrade(fresh, "0006")
    tables = set(inspect(fresh).get_table_names())
    assert not tables & {"assignment", "period", "period_exception", "approval", "approval_action"}
    with fresh.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM observation")).scalar_one() == 1
    migrate.upgrade(fresh)
    with fresh.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM assignment")).scalar_one() == 0


def test_0011_validation_rules_up_and_down_with_data(fresh: Engine) -> None:
    """Migration 0011 adds the rule tables beside the catalogue, refuses what the service refuses
    (an unknown operator, an indicator a rule reads deleted), and goes down and up again."""
    migrate.upgrade(fresh, "0010")
    indicator, _ = _referenced(fresh)
    migrate.upgrade(fresh, "0011")
    insert_rule = (
        "INSERT INTO validation_rule (code, name, {left}, operator, {right}, importance, missing) "
        "VALUES (:code, '规则', '#{{i}}', :operator, '0', 'high', 'never_skip')"
    )
    # "left" and "right" are SQL keywords: quoted as each dialect quotes them
    quote = fresh.dialect.identifier_preparer.quote
    statement = text(insert_rule.format(left=quote("left"), right=quote("right")))
    with fresh.begin() as connection:
        connection.execute(statement, {"code": "r", "operator": "greater_than"})
        rule = connection.execute(text("SELECT id FROM validation_rule")).scalar_one()
        connection.execute(
            text("INSERT INTO validation_rule_operand (rule_id, indicator_id) VALUES (:r, :i)"),
            {"r": rule, "i": indicator},
        )
    with pytest.raises(IntegrityError), fresh.begin() as connection:
        connection.execute(statement, {"code": "s", "operator": "about"})
    with pytest.raises(IntegrityError), fresh.begin() as connection:
        connection.execute(text("DELETE FROM indicator WHERE id = :i"), {"i": indicator})
    migrate.downgrade(fresh, "0010")
    assert not set(inspect(fresh).get_table_names()) & {"validation_rule", "validation_rule_operand"}
    with fresh.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM indicator")).scalar_one() == 1
    migrate.upgrade(fresh)
    with fresh.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM validation_rule")).scalar_one() == 0


def test_0012_audit_log_up_and_down_keeps_the_version_1_data(fresh: Engine) -> None:
    """Migration 0012 adds the audit log beside figures and tokens already there; taken back down it
    drops only its own table, and the figures stay."""
    migrate.upgrade(fresh, "0011")
    indicator, department = _referenced(fresh)
    with fresh.begin() as connection:
        connection.execute(
            text(_INSERT.format(rows=_ROW.format(indicator=indicator, department=department, year=2021)))
        )
    migrate.upgrade(fresh, "0012")
    with fresh.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_event (at, actor, action, target, detail, address) "
                "VALUES ('2026-12-05 00:00:00', 'admin', 'indicator.delete', 'gone', NULL, '10.0.0.1')"
            )
        )
    migrate.downgrade(fresh, "0011")
    assert "audit_event" not in set(inspect(fresh).get_table_names())
    with fresh.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM observation")).scalar_one() == 1
    migrate.upgrade(fresh)
    with fresh.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM observation")).scalar_one() == 1
