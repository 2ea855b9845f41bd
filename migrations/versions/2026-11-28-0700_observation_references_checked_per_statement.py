"""PostgreSQL: observation's references checked once per statement, not once per row

A foreign key checks each row it is given on its own: a query and a row lock on the indicator and
on the department for every one of a batch's rows. For 100,000 new cells that was half of the COPY
into observation (1.05-1.15 s -> 0.50-0.54 s of it without). In their place, statement triggers do
the same check for a whole statement at once, from its transition table:

- INSERT: each distinct indicator and department the new rows name is locked FOR KEY SHARE, as a
  foreign key locks it, so that a concurrent DELETE of it waits for this transaction; a row naming
  one that is not there (or was deleted meanwhile) fails the statement with foreign_key_violation
  (23503), as the foreign key did, under the foreign key's name.
- UPDATE of a cell's indicator or department: refused; the service never moves a cell (a row
  trigger whose WHEN costs nothing when neither changes).
- DELETE of an indicator or a department that observations still name, or a change of its id:
  refused with foreign_key_violation, as ON DELETE RESTRICT did.

A one-row INSERT (a PUT creating a cell) pays the trigger's few queries instead: 268-287 -> 307 µs
for the statement and its COMMIT; an UPDATE is unchanged (268-273 µs). bench.batch, 100,000 new
cells over HTTP: 45,570 -> 65,104 rows/s as JSON, PostgreSQL's CPU 1.69 -> 1.03 s.

SQLite keeps its foreign keys: it checks a row's references with two lookups that cost little.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, referenced table, the foreign key's name)
REFERENCES = (
    ("indicator_id", "indicator", "fk_observation_indicator_id_indicator"),
    ("department_id", "department", "fk_observation_department_id_department"),
)

# For each reference: lock what the new rows name, as a foreign key would, and count it.
CHECKED = """
    SELECT count(DISTINCT {column}) INTO wanted FROM new_rows;
    SELECT count(*) INTO found FROM (
        SELECT 1 FROM {table} WHERE id IN (SELECT {column} FROM new_rows) FOR KEY SHARE
    ) AS locked;
    IF found < wanted THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'insert or update on table "observation" violates foreign key constraint '
                || '"{name}": the {table} a row names is not there',
            CONSTRAINT = '{name}', TABLE = 'observation';
    END IF;"""

INSERTED = """
CREATE FUNCTION observation_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted integer;
    found integer;
BEGIN{checks}
    RETURN NULL;
END
$$
""".format(checks="".join(CHECKED.format(column=c, table=t, name=n) for c, t, n in REFERENCES))

MOVED = """
CREATE FUNCTION observation_cell_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE integrity_constraint_violation USING
        MESSAGE = 'an observation''s indicator and department do not change; write the other cell',
        TABLE = 'observation';
END
$$
"""

STILL_NAMED = """
CREATE FUNCTION {table}_not_named_by_observations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR OLD.id IS DISTINCT FROM NEW.id)
            AND EXISTS (SELECT 1 FROM observation WHERE {column} = OLD.id) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'update or delete on table "{table}" violates foreign key constraint '
                || '"{name}" on table "observation"',
            CONSTRAINT = '{name}', TABLE = 'observation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for _, _, name in REFERENCES:
        op.drop_constraint(name, "observation", type_="foreignkey")
    op.execute(INSERTED)
    op.execute(
        "CREATE TRIGGER observation_references_exist AFTER INSERT ON observation "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION observation_references_exist()"
    )
    op.execute(MOVED)
    op.execute(
        "CREATE TRIGGER observation_cell_moved BEFORE UPDATE ON observation FOR EACH ROW "
        "WHEN (OLD.indicator_id IS DISTINCT FROM NEW.indicator_id "
        "OR OLD.department_id IS DISTINCT FROM NEW.department_id) "
        "EXECUTE FUNCTION observation_cell_moved()"
    )
    for column, table, name in REFERENCES:
        op.execute(STILL_NAMED.format(table=table, column=column, name=name))
        op.execute(
            f"CREATE TRIGGER {table}_not_named_by_observations BEFORE DELETE OR UPDATE OF id ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_not_named_by_observations()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for _, table, _ in REFERENCES:
        op.execute(f"DROP TRIGGER {table}_not_named_by_observations ON {table}")
        op.execute(f"DROP FUNCTION {table}_not_named_by_observations()")
    op.execute("DROP TRIGGER observation_cell_moved ON observation")
    op.execute("DROP FUNCTION observation_cell_moved()")
    op.execute("DROP TRIGGER observation_references_exist ON observation")
    op.execute("DROP FUNCTION observation_references_exist()")
    for column, table, name in REFERENCES:
        op.create_foreign_key(name, "observation", table, [column], ["id"], ondelete="RESTRICT")
