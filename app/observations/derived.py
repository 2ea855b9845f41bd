"""Derived indicators' figures: computed from the stored figures of their operands whenever read.

A *derived* indicator has a `formula` over other (stored) indicators (app.core.formula). Its figure for
a department and a year is the formula over that department's figures of that year, to 6 decimals
half away from zero; with an operand missing, or a division by zero, there is none. Nothing is kept:
a changed operand changes the derived figure at its next read. Its qualifier is `exact` when every
operand is exact, else `approximately` (a bound on an operand says nothing simple about a ratio).

Every read of figures asks here only when it touches a derived indicator: one query reads the operands'
figures of the department-years it needs, and Python evaluates the formulas.
"""

import builtins
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.formula import Formula, parse
from app.core.problems import Conflict
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, Qualifier
from app.observations.schemas import ObservationRead

_O = Observation.__table__.c
_I = Indicator.__table__.c
_D = Department.__table__.c
EXACT, APPROXIMATELY = Qualifier.exact, Qualifier.approximately


@functools.lru_cache(maxsize=512)
def parse_stored(text: str) -> Formula:
    """A stored formula, parsed once: it was checked when stored (indicators.service.check_formula)."""
    return parse(text)


@dataclass(frozen=True)
class Derived:
    """A derived indicator as its reads need it: the parsed formula and its operands' ids by code."""

    id: int
    code: str
    formula: Formula
    operands: dict[str, int]

    @property
    def operand_ids(self) -> builtins.list[int]:
        return builtins.list(self.operands.values())


class Figure(NamedTuple):
    value: Decimal
    qualifier: Qualifier
    updated_at: dt.datetime | None = None  # the latest of its operands' figures, where read


def qualifier(qualifiers: Iterable[Qualifier | str]) -> Qualifier:
    """A derived figure's qualifier: exact when every operand is, else approximately."""
    return EXACT if all(q == EXACT for q in qualifiers) else APPROXIMATELY


def evaluate(derived: "Derived", operands: Mapping[str, Sequence[Any]]) -> Figure | None:
    """The figure from the operands' (value, qualifier[, updated_at]) by code; None when one is
    missing or a division is by zero."""
    values = {code: operands[code][0] for code in derived.operands if code in operands}
    value = derived.formula.value(values)
    if value is None:
        return None
    used = [operands[code] for code in derived.operands]
    times = [u[2] for u in used if len(u) > 2]
    return Figure(value, qualifier(u[1] for u in used), max(times) if times else None)


def resolve(session: Session, found: Iterable[tuple[int, str, str]]) -> builtins.list[Derived]:
    """Derived indicators from (id, code, formula) rows, their operands' ids looked up in one query."""
    rows = builtins.list(found)
    if not rows:
        return []
    formulas = [(i, code, parse_stored(text)) for i, code, text in rows]
    codes = {c for _, _, f in formulas for c in f.operands}
    ids = dict(session.execute(select(_I.code, _I.id).where(_I.code.in_(codes))).all())
    return [Derived(i, code, f, {c: ids[c] for c in f.operands}) for i, code, f in formulas]


def catalogue(session: Session) -> builtins.list[Derived]:
    """Every derived indicator, in code order."""
    found = session.execute(
        select(_I.id, _I.code, _I.formula).where(_I.formula.is_not(None)).order_by(_I.code)
    )
    return resolve(session, ((i, c, f) for i, c, f in found if f is not None))


def of(session: Session, indicator: Any) -> Derived | None:
    """The indicator (anything with id, code and formula) as a derived one; None when it is stored."""
    if getattr(indicator, "formula", None) is None:
        return None
    return resolve(session, [(indicator.id, indicator.code, indicator.formula)])[0]


Key = tuple[int, int, int]  # indicator id, department id, year


def figures(
    session: Session,
    derived: Sequence[Derived],
    *,
    department_ids: Iterable[int] | None = None,
    years: Iterable[int] | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
) -> dict[Key, Figure]:
    """The derived figures of `derived` for the departments and years asked (None: every one), by
    (indicator id, department id, year): one query over the operands' figures."""
    if not derived:
        return {}
    operand_ids = {i for d in derived for i in d.operand_ids}
    query = select(_O.department_id, _O.year, _O.indicator_id, _O.value, _O.qualifier, _O.updated_at).where(
        _O.indicator_id.in_(operand_ids)
    )
    if department_ids is not None:
        query = query.where(_O.department_id.in_(builtins.list(department_ids)))
    if years is not None:
        query = query.where(_O.year.in_(builtins.list(years)))
    if year_from is not None:
        query = query.where(_O.year >= year_from)
    if year_to is not None:
        query = query.where(_O.year <= year_to)
    cells: dict[tuple[int, int], dict[int, tuple[Any, ...]]] = defaultdict(dict)
    for department, year, indicator, *figure in session.execute(query):
        cells[department, year][indicator] = tuple(figure)
    return compute(derived, cells)


def compute(
    derived: Sequence[Derived], cells: Mapping[tuple[int, int], Mapping[int, Sequence[Any]]]
) -> dict[Key, Figure]:
    """The derived figures over `cells`: (department, year) -> operand indicator id -> (value,
    qualifier[, updated_at])."""
    out: dict[Key, Figure] = {}
    for (department, year), stored in cells.items():
        for d in derived:
            operands = {code: stored[i] for code, i in d.operands.items() if i in stored}
            if len(operands) < len(d.operands):
                continue
            figure = evaluate(d, operands)
            if figure is not None:
                out[d.id, department, year] = figure
    return out


class Sources(NamedTuple):
    """One derived figure with what it came from: each operand's cell and current version."""

    figure: Figure | None
    operands: builtins.list[tuple[str, int, dt.datetime]]  # (code, version, updated_at)


def one(session: Session, derived: Derived, *, department_id: int, year: int) -> Sources:
    """One cell's derived figure and the versions of the operand figures it was computed from."""
    rows = session.execute(
        select(_O.indicator_id, _O.value, _O.qualifier, _O.version, _O.updated_at).where(
            _O.indicator_id.in_(derived.operand_ids), _O.department_id == department_id, _O.year == year
        )
    )
    codes = {i: code for code, i in derived.operands.items()}
    stored = {codes[i]: (value, qual, version, at) for i, value, qual, version, at in rows}
    figure = evaluate(derived, {code: (v, q, at) for code, (v, q, _, at) in stored.items()})
    used = [(code, stored[code][2], stored[code][3]) for code in derived.operands if code in stored]
    return Sources(figure, used)


class DerivedFigure(Conflict):
    slug, title = "derived", "Derived figure"


def refused(code: str, formula: str, where: str) -> DerivedFigure:
    """The 409 of a write to (or the history of) a derived indicator's figure."""
    return DerivedFigure(
        f"{where}: {code!r} is a derived indicator ({formula}): its figures are computed from its "
        "operands' figures when read, and cannot be written"
    )


def read(indicator: str, department: str, year: int, figure: Figure) -> ObservationRead:
    """A derived figure as an observation: no version, no writer, no note or source of its own."""
    assert figure.updated_at is not None  # every operand of a computed figure has a stored figure
    return ObservationRead(
        indicator=indicator,
        department=department,
        year=year,
        value=figure.value,
        qualifier=figure.qualifier,
        note=None,
        source=None,
        version=None,
        updated_at=figure.updated_at,
        updated_by=None,
    )


Row = tuple[str, str, int, Figure]  # indicator code, department code, year, figure
Cursor = tuple[str, str, int]


def rows(
    session: Session,
    derived: Sequence[Derived],
    *,
    department_id: int | None = None,
    year: int | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
) -> builtins.list[Row]:
    """Every derived figure of `derived` the filters select, by indicator code, department code, year."""
    found = figures(
        session,
        derived,
        department_ids=None if department_id is None else [department_id],
        years=None if year is None else [year],
        year_from=year_from,
        year_to=year_to,
    )
    if not found:
        return []
    codes = {d.id: d.code for d in derived}
    wanted = {dep for _, dep, _ in found}
    departments = dict(session.execute(select(_D.id, _D.code).where(_D.id.in_(wanted))).all())
    out = [(codes[i], departments[dep], year, figure) for (i, dep, year), figure in found.items()]
    out.sort(key=lambda row: row[:3])
    return out


def page(
    session: Session,
    derived: Sequence[Derived],
    *,
    filters: Any,
    limit: int | None,
    after: Cursor | None,
) -> tuple[builtins.list[Row], Cursor | None]:
    """A page of the derived figures (`rows`) after the cell `after`, and the cell the next page
    starts after (None: no more). `filters` is a CellFilters (app.cells.key)."""
    every = rows(
        session,
        derived,
        department_id=filters.department_id,
        year=filters.year,
        year_from=filters.year_from,
        year_to=filters.year_to,
    )
    if after is not None:
        every = [row for row in every if row[:3] > after]
    if limit is None or len(every) <= limit:
        return every, None
    chosen = every[:limit]
    last = chosen[-1]
    return chosen, (last[0], last[1], last[2])
