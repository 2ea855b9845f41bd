"""Targets: what a cell's figure must reach. Versioned like observations; set by the commission."""

import builtins
from typing import Any

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.cells.key import Cell, CellFilters
from app.cells.store import NOT_READ, CellStore, Outcome, Precondition
from app.core.problems import NotFound
from app.observations.service import check_value
from app.targets.models import Target, TargetRevision
from app.targets.schemas import TargetRead, TargetRevisionRead, TargetWrite

STORE = CellStore(Target, TargetRevision, ("operator", "value", "upper"))


def read(cell: Cell, target: Target) -> TargetRead:
    return _read_row(target, cell.indicator.code, cell.department.code)


def _read_row(t: Target, indicator_code: str, department_code: str) -> TargetRead:
    return TargetRead(
        indicator=indicator_code,
        department=department_code,
        year=t.year,
        operator=t.operator,
        value=t.value,
        upper=t.upper,
        note=t.note,
        source=t.source,
        version=t.version,
        updated_at=t.updated_at,
        updated_by=t.updated_by,
    )


def find(session: Session, cell: Cell) -> Target | None:
    return STORE.find(session, cell.key)


def get(session: Session, cell: Cell) -> Target:
    target = find(session, cell)
    if target is None:
        raise NotFound(f"No target for {cell.describe()}")
    return target


def put(
    session: Session,
    *,
    cell: Cell,
    data: TargetWrite,
    actor: Principal,
    precondition: Precondition | None = None,
    current: Any = NOT_READ,
) -> tuple[Target, Outcome]:
    """Set a cell's target; the bounds must fit the indicator's value_type."""
    check_value(cell.indicator, data.value, ["body", "value"])
    if data.upper is not None:
        check_value(cell.indicator, data.upper, ["body", "upper"])
    fields = data.model_dump()
    reason = fields.pop("reason")  # kept with the version, not part of the figure
    target, outcome, _ = STORE.put(
        session,
        key=cell.key,
        data=fields,
        actor=actor.name,
        precondition=precondition,
        current=current,
        reason=reason,
    )
    return target, outcome


def delete(
    session: Session,
    *,
    cell: Cell,
    actor: Principal,
    precondition: Precondition | None = None,
    current: Any = NOT_READ,
    reason: str | None = None,
) -> None:
    deleted = STORE.delete(
        session, key=cell.key, actor=actor.name, precondition=precondition, current=current, reason=reason
    )
    if deleted is None:
        raise NotFound(f"No target for {cell.describe()}")


def history(
    session: Session, *, cell: Cell, limit: int | None, after_version: int = 0
) -> builtins.list[TargetRevisionRead]:
    rows = STORE.history(session, key=cell.key, limit=limit, after_version=after_version)
    if not rows and after_version == 0:
        raise NotFound(f"No target for {cell.describe()} has ever been set")
    return [TargetRevisionRead.model_validate(r) for r in rows]


def list(
    session: Session, *, filters: CellFilters, limit: int | None, after_id: int | None = None
) -> tuple[builtins.list[TargetRead], int | None]:
    """A page of targets in the order they were first set, and the key of the next page."""
    rows, last = filters.page(session, Target, limit=limit, after_id=after_id)
    return [_read_row(t, i, d) for t, i, d in rows], last
