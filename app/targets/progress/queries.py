"""The SQL of progress, all of it: which targets, in what order, and the figures of their cells.

Figures are read here from the observation table and nowhere else in progress, so that figures
computed rather than stored (derived indicators) need a change in `ends` only.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations import derived
from app.observations.models import Observation
from app.targets.models import Target

_T = Target.__table__.c
_O = Observation.__table__.c
_I = Indicator.__table__.c
_D = Department.__table__.c


@dataclass(frozen=True)
class Scope:
    """The selected targets of one year, by id; None selects all."""

    year: int
    department_ids: set[int] | None = None
    indicator_ids: set[int] | None = None


def _selected(query: Select[Any], scope: Scope) -> Select[Any]:
    query = query.where(_T.year == scope.year)
    if scope.indicator_ids is not None:
        query = query.where(_T.indicator_id.in_(scope.indicator_ids))
    if scope.department_ids is not None:
        query = query.where(_T.department_id.in_(scope.department_ids))
    return query


def counts(session: Session, scope: Scope) -> dict[int, int]:
    """Selected targets per indicator id."""
    query = _selected(select(_T.indicator_id, func.count()).select_from(Target.__table__), scope)
    return dict(session.execute(query.group_by(_T.indicator_id)).all())


def _by_code(column: ColumnElement[str], session: Session) -> ColumnElement[str]:
    """Codes in code point order, as Python sorts them: PostgreSQL's own collation may differ."""
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


TARGET_COLUMNS = (_I.code, _D.code, _T.indicator_id, _T.department_id, _T.operator, _T.value, _T.upper)


def targets(
    session: Session,
    scope: Scope,
    *,
    indicator_ids: Collection[int],
    after: tuple[str, str] | None,
    limit: int,
) -> list[Sequence[Any]]:
    """(indicator code, department code, indicator id, department id, operator, value, upper) of the
    selected targets of these indicators, by indicator code then department code, after the cell
    `after`; driver tuples (values as text on SQLite)."""
    indicator, department = _by_code(_I.code, session), _by_code(_D.code, session)
    query = (
        _selected(select(*TARGET_COLUMNS), Scope(scope.year, scope.department_ids, None))
        .select_from(Target.__table__)
        .join(Indicator.__table__, _I.id == _T.indicator_id)
        .join(Department.__table__, _D.id == _T.department_id)
        .where(_T.indicator_id.in_(indicator_ids))
    )
    if after is not None:
        query = query.where(or_(indicator > after[0], and_(indicator == after[0], department > after[1])))
    query = query.order_by(indicator, department).limit(limit)
    return list(cast(CursorResult[Any], session.execute(query)).cursor.fetchall())


def every_target(session: Session, scope: Scope) -> list[Sequence[Any]]:
    """The same columns for every selected target, in no order."""
    query = (
        _selected(select(*TARGET_COLUMNS), scope)
        .select_from(Target.__table__)
        .join(Indicator.__table__, _I.id == _T.indicator_id)
        .join(Department.__table__, _D.id == _T.department_id)
    )
    return list(cast(CursorResult[Any], session.execute(query)).cursor.fetchall())


def ends(
    session: Session,
    *,
    indicator_ids: Collection[int] | None,
    department_ids: Collection[int] | None,
    year_from: int | None,
    year_to: int,
) -> list[Sequence[Any]]:
    """(indicator id, department id, first year, value, qualifier, last year, value, qualifier): the
    first and the last figure from year_from to year_to of each cell of these indicators and
    departments (None: all) with a figure; driver tuples (values as text on SQLite).

    The cells' first and last years are grouped from the index of (indicator, department, year),
    then the two figures read by it: a year of 100,000 cells reads 200,000 figures, not 1,000,000.
    """
    years = select(
        _O.indicator_id.label("indicator_id"),
        _O.department_id.label("department_id"),
        func.min(_O.year).label("first"),
        func.max(_O.year).label("last"),
    ).where(_O.year <= year_to)
    if year_from is not None:
        years = years.where(_O.year >= year_from)
    if indicator_ids is not None:
        years = years.where(_O.indicator_id.in_(indicator_ids))
    if department_ids is not None:
        years = years.where(_O.department_id.in_(department_ids))
    span = years.group_by(_O.indicator_id, _O.department_id).subquery("span")
    first, last = Observation.__table__.alias("first_figure"), Observation.__table__.alias("last_figure")

    def at(figure: Any, year: Any) -> ColumnElement[bool]:
        return and_(
            figure.c.indicator_id == span.c.indicator_id,
            figure.c.department_id == span.c.department_id,
            figure.c.year == year,
        )

    query = (
        select(
            span.c.indicator_id,
            span.c.department_id,
            first.c.year,
            first.c.value,
            first.c.qualifier,
            last.c.year,
            last.c.value,
            last.c.qualifier,
        )
        .select_from(span)
        .join(first, at(first, span.c.first))
        .join(last, at(last, span.c.last))
    )
    stored = list(cast(CursorResult[Any], session.execute(query)).cursor.fetchall())
    return stored + _derived_ends(session, indicator_ids, department_ids, year_from, year_to)


def _derived_ends(
    session: Session,
    indicator_ids: Collection[int] | None,
    department_ids: Collection[int] | None,
    year_from: int | None,
    year_to: int,
) -> list[Sequence[Any]]:
    """The same rows for derived indicators (app.observations.derived), their figures computed:
    nothing is read when none of these indicators is derived."""
    query = select(_I.id, _I.code, _I.formula).where(_I.formula.is_not(None))
    if indicator_ids is not None:
        query = query.where(_I.id.in_(indicator_ids))
    found = derived.resolve(session, [(i, code, formula) for i, code, formula in session.execute(query)])
    if not found:
        return []
    figures = derived.figures(
        session, found, department_ids=department_ids, year_from=year_from, year_to=year_to
    )
    cells: dict[tuple[int, int], list[tuple[int, derived.Figure]]] = {}
    for (indicator, department, year), figure in sorted(figures.items()):
        cells.setdefault((indicator, department), []).append((year, figure))
    out: list[Sequence[Any]] = []
    for (indicator, department), years in cells.items():
        (y0, f0), (y1, f1) = years[0], years[-1]
        out.append(
            (indicator, department, y0, f0.value, f0.qualifier.value, y1, f1.value, f1.qualifier.value)
        )
    return out
