"""Pages of figures: the stored ones in the order they were first recorded, then (v2) the derived ones,
computed when read (app.observations.derived)."""

import builtins
from typing import Any

from sqlalchemy.orm import Session

from app.cells.key import CellFilters
from app.core.problems import BadRequest
from app.indicators.models import Indicator
from app.observations import derived
from app.observations.models import Observation, Qualifier
from app.observations.schemas import ObservationRead


def list(
    session: Session,
    *,
    filters: CellFilters,
    limit: int | None,
    after: int | builtins.list[Any] | None = None,
    indicator: Indicator | None = None,
) -> tuple[builtins.list[ObservationRead], int | builtins.list[Any] | None]:
    """A page of figures and the key of the next page: the stored ones in the order they were first
    recorded (keys: ids), then (v2) the derived ones by indicator, department and year (keys:
    [indicator, department, year]). `indicator` is the indicator filtered by, if any: a stored one
    lists its stored figures only (nothing is computed), a derived one its derived figures only."""
    if after is not None and type(after) is not int and not isinstance(after, builtins.list):
        raise BadRequest("The cursor is not one this service gave out")
    computed = None if indicator is None else derived.of(session, indicator)
    items: builtins.list[ObservationRead] = []
    if indicator is not None and computed is None and isinstance(after, builtins.list):
        raise BadRequest("The cursor is not one this service gave out")  # a stored indicator's list
    if computed is None and not isinstance(after, builtins.list):
        items, last = _stored(session, filters=filters, limit=limit, after_id=after)
        if last is not None or indicator is not None:
            return items, last
        after = None
    wanted = [computed] if computed is not None else derived.catalogue(session)
    cursor = None if after is None else _derived_cursor(after)
    rest = None if limit is None else limit - len(items)
    rows, next_key = derived.page(session, wanted, filters=filters, limit=rest, after=cursor)
    items += [derived.read(i, d, y, figure) for i, d, y, figure in rows]
    return items, None if next_key is None else builtins.list(next_key)


def _derived_cursor(after: Any) -> derived.Cursor:
    valid = (
        isinstance(after, builtins.list)
        and len(after) == 3
        and isinstance(after[0], str)
        and isinstance(after[1], str)
        and type(after[2]) is int
    )
    if not valid:
        raise BadRequest("The cursor is not one this service gave out")
    return after[0], after[1], after[2]


def _stored(
    session: Session, *, filters: CellFilters, limit: int | None, after_id: int | None = None
) -> tuple[builtins.list[ObservationRead], int | None]:
    """A page of stored observations in the order they were first recorded, and the key of the next."""
    rows, last = filters.page(session, Observation, limit=limit, after_id=after_id)
    return [_read_row(o, i, d) for o, i, d in rows], last


def _read_row(o: Observation, indicator_code: str, department_code: str) -> ObservationRead:
    return ObservationRead(
        indicator=indicator_code,
        department=department_code,
        year=o.year,
        value=o.value,
        qualifier=Qualifier(o.qualifier),
        note=o.note,
        source=o.source,
        version=o.version,
        updated_at=o.updated_at,
        updated_by=o.updated_by,
    )
