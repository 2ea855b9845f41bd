"""The figures an export holds, read as `GET /api/v1/observations` reads them, and the catalogue."""

import builtins
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.cells.http import filter_id, year_range
from app.cells.key import CellFilters
from app.core.problems import FieldError, InvalidValue
from app.departments import service as departments
from app.indicators import service as indicators
from app.indicators.models import Indicator
from app.observations import listing
from app.observations.schemas import ObservationRead


@dataclass(frozen=True)
class Wanted:
    """An export's filters by code, with the query parameter each came from (for a 422 naming it)."""

    indicator: str | None = None
    department: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    names: tuple[str, str] = ("indicator", "department")


def filters(session: Session, wanted: Wanted) -> CellFilters:
    year_range(wanted.year_from, wanted.year_to)
    ids = []
    for kind, code, name in (
        ("indicator", wanted.indicator, wanted.names[0]),
        ("department", wanted.department, wanted.names[1]),
    ):
        try:
            ids.append(filter_id(session, kind, code))
        except InvalidValue as exc:
            raise InvalidValue(
                exc.detail, errors=[FieldError(["query", name], f"unknown {kind} {code!r}", "unknown_code")]
            ) from exc
    return CellFilters(
        indicator_id=ids[0], department_id=ids[1], year_from=wanted.year_from, year_to=wanted.year_to
    )


def read(session: Session, wanted: Wanted) -> builtins.list[ObservationRead]:
    """Every matching figure, in the order they were first recorded, then (v2) the derived ones,
    computed (app.observations.listing)."""
    chosen = filters(session, wanted)
    indicator = None if wanted.indicator is None else indicators.find_by_code(session, wanted.indicator)
    items, _ = listing.list(session, filters=chosen, limit=None, indicator=indicator)
    assert isinstance(items, builtins.list)
    return items


def catalogue(session: Session) -> dict[str, Indicator]:
    return indicators.by_code(session)


def department_names(session: Session) -> builtins.list[tuple[str, str, str | None]]:
    """Every department's code, name and English name, in code order."""
    codes = {id_: code for code, id_ in departments.code_map(session).items()}
    return sorted((codes[id_], name, name_en) for id_, name, name_en in departments.names(session))
