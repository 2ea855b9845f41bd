"""A cell's store: its current row and every version of it, written with Core statements built once."""

import datetime as dt
import enum
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Select,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.cells.tables import Action
from app.core.db.rows import DriverQuery
from app.core.db.types import utcnow

if TYPE_CHECKING:
    pass


class NotRead(enum.Enum):
    """A cell's current row not read yet (Cell.current)."""

    NOT_READ = "not read"


NOT_READ = NotRead.NOT_READ


class Outcome(enum.StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


class Current(Protocol):
    id: int
    version: int
    note: str | None
    source: str | None
    updated_at: dt.datetime
    updated_by: str


M = TypeVar("M", bound=Current)
Precondition = Callable[[Any], None]


def _written(table: Any) -> list[Any]:
    """The columns a revision row is written with: all but its generated id."""
    return [column for column in table.c if not column.primary_key]


def _by_key(table: Any) -> tuple[ColumnElement[bool], ...]:
    """The conditions that pick one cell of `table`, bound to `indicator_id`, `department_id`, `year`."""
    return (
        table.c.indicator_id == bindparam("indicator_id"),
        table.c.department_id == bindparam("department_id"),
        table.c.year == bindparam("year"),
    )


class CellStore(Generic[M]):
    """Versioned writes to one kind of cell (observations, targets).

    The current row lives in `model`; every create, change and deletion adds a row to `revision`
    holding `<field>_before` and `<field>_after` for each of `fields`, with the note and source.
    """

    def __init__(self, model: type[M], revision: type[Any], fields: tuple[str, ...]) -> None:
        self.model = model
        self.table = cast(Any, model).__table__
        self._new: Callable[..., M] = model
        self.revision = revision
        self.fields = fields
        self._compared = (*fields, "note", "source")
        # Built once: every write looks its cell up, and building a statement costs more than running it.
        table, history = self.table, revision.__table__
        # The current row as another query read it (app.cells.http.write_cell): like a row of
        # `table`, its fields by name.
        self.row = namedtuple(f"{model.__name__}Row", [c.name for c in table.c])  # type: ignore[misc]
        self._find = select(model).where(*_by_key(table))
        self._current_for_update = select(table).where(*_by_key(table)).with_for_update()
        self._last_version = select(func.max(history.c.version)).where(*_by_key(history))
        self._insert = insert(table)
        self._update = update(table).where(table.c.id == bindparam("current_id"))
        self._delete = delete(table).where(table.c.id == bindparam("current_id"))
        self._insert_revision = insert(history)
        # PostgreSQL: the revision and the change of the current row in one statement, one round trip
        # fewer per write (SQLite has no INSERT or DELETE inside WITH, and no round trips to save).
        # Sent by the driver itself (DriverQuery): through SQLAlchemy's execution it cost a PUT a tenth
        # of its instructions.
        revise = insert(history).values(
            {c.name: bindparam(f"r_{c.name}", type_=c.type) for c in _written(history)}
        )
        # The columns a change sets, each bound as `n_<column>` (a name of its own: SQLAlchemy keeps
        # the columns' names for the values a statement is executed with).
        changed = (*self._compared, "version", "updated_at", "updated_by")
        update_all = self._update.values({c: bindparam(f"n_{c}", type_=table.c[c].type) for c in changed})
        self._update_with_revision = DriverQuery(update_all.add_cte(revise.cte("revision")))
        self._delete_with_revision = DriverQuery(self._delete.add_cte(revise.cte("revision")))
        self._revise, self._update_all = revise, update_all
        # By the query read along (put): the change with its revision, as CTEs of that query.
        self._update_reading: dict[Select[Any], DriverQuery] = {}

    def find(self, session: Session, key: dict[str, int]) -> M | None:
        return session.scalar(self._find, key)

    def put(
        self,
        session: Session,
        *,
        key: dict[str, int],
        data: dict[str, Any],
        actor: str,
        precondition: Precondition | None = None,
        current: Any = NOT_READ,
        reason: str | None = None,
        along: Select[Any] | None = None,
    ) -> tuple[M, Outcome, list[Sequence[Any]] | None]:
        """Create or replace a cell; the same content again changes nothing (and keeps no `reason`).

        `along`: a query bound to the cell's key (and nothing the change binds: `current_id`, `n_*`,
        `r_*`) whose rows the change reads in the very statement that writes it, on PostgreSQL, one
        round trip fewer than a statement of its own: its rows are the third item, None where
        nothing was written that way (a cell created, or left unchanged, or SQLite). They are read
        in the statement's snapshot, as they were before the change.

        `precondition` sees the current row, locked, and may refuse (If-Match): two writers racing
        with the same ETag cannot both pass it. `current` is that row (None: there is none) when the
        caller has read and locked it already (Cell.current); else it is read here.

        Written by Core statements built once: one statement per row, in the order written here. The
        row returned is a detached copy of what was stored.
        """
        connection = session.connection()
        if current is NOT_READ:
            current = connection.execute(self._current_for_update, key).first()
        if precondition is not None:
            precondition(current)
        if current is None:
            try:
                with session.begin_nested():
                    # The connection asked for inside the nested transaction: that is what makes the
                    # session emit its SAVEPOINT, so that a failed insert rolls back to it.
                    created = self._create(session.connection(), key, data, actor, reason)
                    return created, Outcome.created, None
            except IntegrityError:
                # Another writer created the cell between our read and our insert: update theirs.
                current = connection.execute(self._current_for_update, key).first()
                if current is None:
                    raise
                if precondition is not None:
                    precondition(current)
        stored = current._asdict()
        if all(stored[f] == data[f] for f in self._compared):
            return self._new(**stored), Outcome.unchanged, None
        now = utcnow()
        version = current.version + 1
        revision = self._revision_values(key, version, Action.update, stored, data, actor, now, reason)
        changes = {f: data[f] for f in self._compared} | {
            "version": version,
            "updated_at": now,
            "updated_by": actor,
        }
        read = None
        if along is not None and connection.dialect.name == "postgresql":
            read = self._change_reading(along).rows(
                session, {**key, **self._bound(current.id, revision, changes)}
            )
        else:
            self._write(connection, self._update, self._update_with_revision, current.id, revision, changes)
        self._forget(session, current.id)
        return self._new(**(stored | changes)), Outcome.updated, read

    def _change_reading(self, along: Select[Any]) -> DriverQuery:
        """`along`, with the revision and the change of the current row as its CTEs (PostgreSQL runs a
        data-modifying CTE whether or not the query refers to it)."""
        found = self._update_reading.get(along)
        if found is None:
            statement = along.add_cte(self._revise.cte("revision")).add_cte(self._update_all.cte("changed"))
            found = self._update_reading[along] = DriverQuery(statement)
        return found

    @staticmethod
    def _bound(current_id: int, revision: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """The parameters of a change with its revision in one statement, by their names there."""
        revised = {f"r_{name}": value for name, value in revision.items()}
        return {"current_id": current_id, **{f"n_{name}": value for name, value in values.items()}, **revised}

    def _create(
        self,
        connection: Connection,
        key: dict[str, int],
        data: dict[str, Any],
        actor: str,
        reason: str | None,
    ) -> M:
        now = utcnow()
        last = connection.execute(self._last_version, key).scalar()
        version = (last or 0) + 1
        values = {**key, **data, "version": version, "updated_at": now, "updated_by": actor}
        created_id = connection.execute(self._insert, values).inserted_primary_key
        connection.execute(
            self._insert_revision,
            self._revision_values(key, version, Action.create, None, data, actor, now, reason),
        )
        return self._new(id=created_id[0] if created_id else None, **values)

    def _write(
        self,
        connection: Connection,
        change: Executable,
        change_with_revision: DriverQuery,
        current_id: int,
        revision: dict[str, Any],
        values: dict[str, Any],
    ) -> None:
        """Record the revision, then change (or delete) the current row: one statement on PostgreSQL."""
        if connection.dialect.name == "postgresql":
            change_with_revision.execute(connection, self._bound(current_id, revision, values))
            return
        connection.execute(self._insert_revision, revision)
        connection.execute(change, {"current_id": current_id, **values})

    def _forget(self, session: Session, id_: int) -> None:
        """Drop the session's copy of a row written behind its back, if it holds one: a later query
        then reads what is stored."""
        held = session.identity_map.get(identity_key(self.model, id_))
        if held is not None:
            session.expunge(held)

    def delete(
        self,
        session: Session,
        *,
        key: dict[str, int],
        actor: str,
        precondition: Precondition | None = None,
        current: Any = NOT_READ,
        reason: str | None = None,
    ) -> M | None:
        """Remove a cell, keeping the deletion as a version; None when there was nothing to delete.
        `current` as for put."""
        connection = session.connection()
        if current is NOT_READ:
            current = connection.execute(self._current_for_update, key).first()
        if current is None:
            return None
        if precondition is not None:
            precondition(current)
        stored = current._asdict()
        revision = self._revision_values(
            key, current.version + 1, Action.delete, stored, None, actor, utcnow(), reason
        )
        self._write(connection, self._delete, self._delete_with_revision, current.id, revision, {})
        self._forget(session, current.id)
        return self._new(**stored)

    def history(
        self, session: Session, *, key: dict[str, int], limit: int | None, after_version: int = 0
    ) -> Sequence[Any]:
        return session.scalars(
            select(self.revision)
            .filter_by(**key)
            .where(self.revision.version > after_version)
            .order_by(self.revision.version)
            .limit(limit)
        ).all()

    def _revision_values(
        self,
        key: dict[str, int],
        version: int,
        action: Action,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        actor: str,
        at: dt.datetime,
        reason: str | None,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            **key,
            "version": version,
            "action": action,
            "changed_at": at,
            "changed_by": actor,
            "reason": reason,
        }
        for field in self.fields:
            values[f"{field}_before"] = before[field] if before is not None else None
            values[f"{field}_after"] = after[field] if after is not None else None
        kept = after if after is not None else before
        assert kept is not None
        values["note"], values["source"] = kept["note"], kept["source"]
        return values
