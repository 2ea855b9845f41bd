"""Targets of derived indicators (app.observations.derived): judged here against the figure computed
when read, since the database holds no figure of theirs.

The queries judge such a target `no_data` (no stored row joins it) and `adjust` moves it to its true
status; the items' rows of derived indicators come whatever their status (queries.items `unfiltered`)
and `row` puts the computed figure in them before they are judged.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.observations import derived
from app.targets.compliance import queries
from app.targets.models import Target
from app.targets.rules import Status, judge

_T = Target.__table__.c


class Computed:
    """The derived figures the selected targets of `year_from`..`year_to` are judged against."""

    def __init__(
        self,
        session: Session,
        scope: queries.Scope,
        formulas: dict[int, tuple[str, str]],
        year_from: int,
        year_to: int,
    ) -> None:
        wanted = [
            (i, code, formula)
            for i, (code, formula) in formulas.items()
            if scope.indicator_ids is None or i in scope.indicator_ids
        ]
        self.found = derived.resolve(session, wanted) if wanted else []
        self.ids = {d.id for d in self.found}
        self.targets: list[Any] = []
        if self.found:  # their targets first: without any, nothing is computed
            query = select(_T.indicator_id, _T.department_id, _T.year, _T.operator, _T.value, _T.upper).where(
                _T.indicator_id.in_(self.ids), _T.year.between(year_from, year_to)
            )
            if scope.department_ids is not None:
                query = query.where(_T.department_id.in_(scope.department_ids))
            self.targets = list(session.execute(query))
        self.figures: dict[derived.Key, derived.Figure] = {}
        if self.targets:
            self.figures = derived.figures(
                session,
                self.found,
                department_ids=scope.department_ids,
                year_from=year_from,
                year_to=year_to,
            )

    def row(self, row: Sequence[Any], indicator_id: int, department_id: int, year: int) -> Sequence[Any]:
        """A query's row ending in (actual, qualifier), with the computed figure of its cell."""
        figure = self.figures.get((indicator_id, department_id, year))
        if figure is None:
            return (*row[:-2], None, None)
        return (*row[:-2], figure.value, figure.qualifier.value)

    def adjust(self, counted: dict[int, dict[Status, int]], *, by_year: bool) -> None:
        """Move each selected target of a derived indicator from `no_data` (as the queries counted
        it) to its status against the computed figure."""
        for indicator, department, year, operator, value, upper in self.targets:
            figure = self.figures.get((indicator, department, year))
            if figure is None:
                continue
            status = judge(operator, value, upper, figure.value, figure.qualifier)[0]
            into = counted[year if by_year else indicator]
            into[Status.no_data] -= 1
            into[status] += 1
