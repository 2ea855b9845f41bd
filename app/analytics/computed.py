"""Series and comparisons of derived indicators (app.observations.derived): computed when read.

A series point of a derived indicator is the formula over its operands' figures of the department and
year. Rolled up, the operands are rolled up first, each by its own aggregation, and the formula applied
to the results: a ratio of sums, not a mean of ratios. The operands are rolled up by the same query
as stored indicators (app.analytics.service._rolled), in one go with them.
"""

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.core.problems import FieldError, InvalidValue
from app.indicators.models import Aggregation
from app.observations import derived
from app.observations.models import Qualifier

Point = tuple[int, Decimal, Qualifier]
Groups = dict[tuple[int, int], list[Point]]


class Asked(Protocol):
    """What a series needs of an indicator (app.analytics.service.Chosen)."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def aggregation(self) -> Aggregation: ...
    @property
    def formula(self) -> str | None: ...


def prepare(
    asked: Sequence[Asked], lookup: Callable[[Sequence[str]], Sequence[Any]]
) -> tuple[list[derived.Derived], list[Any]]:
    """The derived indicators among those asked, and their operands as `lookup` (codes -> Chosen,
    in the order asked) gives them: one lookup for all."""
    formulas = [(a.id, a.code, derived.parse_stored(a.formula)) for a in asked if a.formula is not None]
    codes = list(dict.fromkeys(c for _, _, f in formulas for c in f.operands))
    operands = list(lookup(codes)) if codes else []
    ids = {o.code: o.id for o in operands}
    found = [derived.Derived(i, code, f, {c: ids[c] for c in f.operands}) for i, code, f in formulas]
    return found, operands


def check_rollup(found: Sequence[derived.Derived], operands: Sequence[Asked]) -> None:
    """422 naming `indicator` when an operand of a derived indicator cannot be rolled up."""
    flat = {o.code for o in operands if o.aggregation is Aggregation.none}
    bad = [(d.code, c) for d in found for c in d.operands if c in flat]
    if bad:
        raise InvalidValue(
            "A derived indicator is rolled up by rolling up its operands first; "
            + ", ".join(f"{code!r} reads {c!r}" for code, c in bad)
            + ", aggregated by 'none'",
            errors=[
                FieldError(
                    ["query", "indicator"],
                    f"{code!r} reads {c!r}, which has aggregation 'none'; use rollup=false",
                )
                for code, c in bad
            ],
        )


def plain(
    session: Session,
    found: Sequence[derived.Derived],
    department_ids: Sequence[int] | None,
    years: tuple[int | None, int | None],
) -> Groups:
    """Each derived indicator's points per department: (indicator id, department id) -> points."""
    figures = derived.figures(
        session, found, department_ids=department_ids, year_from=years[0], year_to=years[1]
    )
    groups: Groups = {}
    for (indicator, department, year), figure in sorted(figures.items()):
        groups.setdefault((indicator, department), []).append((year, figure.value, figure.qualifier))
    return groups


def rolled(found: Sequence[derived.Derived], operand_groups: Groups) -> Groups:
    """Each derived indicator's rolled-up points per root, from its operands' rolled-up points
    (`operand_groups`: (operand id, root id) -> points)."""
    cells: dict[tuple[int, int], dict[int, tuple[Decimal, Qualifier]]] = {}
    wanted = {i for d in found for i in d.operand_ids}
    for (indicator, root), points in operand_groups.items():
        if indicator in wanted:
            for year, value, qualifier in points:
                cells.setdefault((root, year), {})[indicator] = (value, qualifier)
    groups: Groups = {}
    for (indicator, root, year), figure in sorted(derived.compute(found, cells).items()):
        groups.setdefault((indicator, root), []).append((year, figure.value, figure.qualifier))
    return groups


def values(
    session: Session, one: derived.Derived, department_ids: Sequence[int] | None, years: Sequence[int]
) -> dict[tuple[int, int], Decimal]:
    """(department id, year) -> the derived figure's value, for a comparison."""
    found = derived.figures(session, [one], department_ids=department_ids, years=years)
    return {(department, year): figure.value for (_, department, year), figure in found.items()}
