"""Departments form a tree; codes are their public names."""

import builtins
from typing import Protocol

from sqlalchemy import CTE, ColumnElement, bindparam, exists, literal, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from app.core.db.types import utcnow
from app.core.problems import Conflict, FieldError, InvalidValue, NotFound
from app.departments.models import Department
from app.departments.schemas import DepartmentCreate, DepartmentRead, DepartmentUpdate

# Statements every request may run are built once: building one costs more than running it.
_BY_CODE = select(Department).where(Department.code == bindparam("code"))


def get_by_code(session: Session, code: str) -> Department:
    department = find_by_code(session, code)
    if department is None:
        raise unknown(code)
    return department


def unknown(code: str) -> NotFound:
    return NotFound(f"No department with code {code!r}")


def find_by_code(session: Session, code: str) -> Department | None:
    return session.scalar(_BY_CODE, {"code": code})


def code_map(session: Session) -> dict[str, int]:
    """Every department's code and id: batches resolve thousands of rows against it at once."""
    return dict(session.execute(select(Department.code, Department.id)).all())


def names(session: Session) -> builtins.list[tuple[int, str, str | None]]:
    """Every department's id, name and English name: files may name departments by either."""
    return [
        (i, n, e) for i, n, e in session.execute(select(Department.id, Department.name, Department.name_en))
    ]


def read(session: Session, department: Department) -> DepartmentRead:
    parent = None
    if department.parent_id is not None:
        parent = session.scalar(select(Department.code).where(Department.id == department.parent_id))
    return DepartmentRead(
        code=department.code, name=department.name, name_en=department.name_en, parent=parent
    )


def list(
    session: Session, *, limit: int | None = 100, after: str | None = None
) -> builtins.list[DepartmentRead]:
    """A page of departments in code order, starting after the code `after` (all of them without a
    limit)."""
    parent = aliased(Department)
    query = (
        select(Department.code, Department.name, Department.name_en, parent.code)
        .outerjoin(parent, Department.parent_id == parent.id)
        .order_by(Department.code)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Department.code > after)
    rows = session.execute(query).all()
    return [DepartmentRead(code=c, name=n, name_en=e, parent=p) for c, n, e, p in rows]


_tree = select(Department.id).where(Department.id == bindparam("root")).cte(recursive=True)
_tree = _tree.union_all(select(Department.id).where(Department.parent_id == _tree.c.id))
_SUBTREE = select(_tree.c.id)


def chain_up(start: ColumnElement[bool]) -> CTE:
    """The department `start` picks and every department above it: a recursive CTE `chain` of
    (id, parent_id), walking up the short chain of parents."""
    chain = select(Department.id, Department.parent_id).where(start).cte("chain", recursive=True)
    return chain.union_all(
        select(Department.id, Department.parent_id).where(Department.id == chain.c.parent_id)
    )


_chain = chain_up(Department.id == bindparam("department"))
_WITHIN = select(_chain.c.id).where(_chain.c.id == bindparam("root")).limit(1)


def subtree_ids(session: Session, department_id: int) -> set[int]:
    """The department and every department below it."""
    return {id_ for (id_,) in session.connection().execute(_SUBTREE, {"root": department_id})}


def is_within(session: Session, department_id: int, root_id: int) -> bool:
    """Whether the department is `root_id` or lies below it (walks up the short chain of parents)."""
    if department_id == root_id:
        return True
    found = session.connection().execute(_WITHIN, {"department": department_id, "root": root_id})
    return found.first() is not None


def ancestor_ids(session: Session, department_id: int) -> builtins.list[int]:
    """The department and every department above it, nearest first."""
    chain = (
        select(Department.id, Department.parent_id, literal(0).label("depth"))
        .where(Department.id == department_id)
        .cte(recursive=True)
    )
    chain = chain.union_all(
        select(Department.id, Department.parent_id, (chain.c.depth + 1).label("depth")).where(
            Department.id == chain.c.parent_id
        )
    )
    return builtins.list(session.scalars(select(chain.c.id).order_by(chain.c.depth)))


def _resolve_parent(session: Session, code: str | None) -> Department | None:
    if code is None:
        return None
    parent = find_by_code(session, code)
    if parent is None:
        raise InvalidValue(
            f"No department with code {code!r} to be the parent",
            errors=[FieldError(["body", "parent"], f"unknown department {code!r}")],
        )
    return parent


def create(session: Session, *, data: DepartmentCreate, actor: str) -> Department:
    if find_by_code(session, data.code) is not None:
        raise Conflict(f"A department with code {data.code!r} already exists")
    parent = _resolve_parent(session, data.parent)
    department = Department(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        parent_id=parent.id if parent else None,
        updated_by=actor,
    )
    session.add(department)
    session.flush()
    return department


def update(session: Session, *, department: Department, data: DepartmentUpdate, actor: str) -> None:
    fields = data.model_fields_set
    if "name" in fields:
        if data.name is None:
            raise InvalidValue(
                "A department must have a name",
                errors=[FieldError(["body", "name"], "may not be null")],
            )
        department.name = data.name
    if "name_en" in fields:
        department.name_en = data.name_en
    if "parent" in fields:
        parent = _resolve_parent(session, data.parent)
        if parent is not None and parent.id in subtree_ids(session, department.id):
            raise InvalidValue(
                f"{data.parent!r} is {department.code!r} or lies below it: that would make a cycle",
                errors=[FieldError(["body", "parent"], "would create a cycle", "cycle")],
            )
        department.parent_id = parent.id if parent else None
    department.updated_at = utcnow()
    department.updated_by = actor
    session.flush()


class Referenced(Protocol):
    """Whether figures' history still refers to a department: a question of the layers above, which
    the caller passes in (app.observations.service.has_history)."""

    def __call__(self, session: Session, *, department_id: int) -> bool: ...


class _StillReferenced(Exception):
    """Raised inside a delete's savepoint to roll the delete back."""


def delete(session: Session, *, department: Department, referenced: Referenced) -> None:
    """Delete a department nothing refers to: no sub-departments, figures, targets, history or tokens."""
    if session.scalar(select(exists().where(Department.parent_id == department.id))):
        raise Conflict(f"Department {department.code!r} has departments below it")
    try:
        with session.begin_nested():
            session.execute(sql_delete(Department).where(Department.id == department.id))
            # The history has no foreign key of its own: what refers to it there is asked after the
            # DELETE, which on PostgreSQL waits for writers still holding the row.
            if referenced(session, department_id=department.id):
                raise _StillReferenced
    except (IntegrityError, _StillReferenced):
        raise Conflict(
            f"Department {department.code!r} has observations, targets, history or tokens"
        ) from None
