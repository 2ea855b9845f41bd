"""A cell's key: which indicator, which department, which year; and the filters of a list of cells."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Select, select

from app.departments.models import Department
from app.indicators.models import Indicator

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.indicators.models import ValueType


class IndicatorRef(Protocol):
    """What a cell needs of its indicator: an Indicator, or the columns resolving a path reads."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def value_type(self) -> "ValueType": ...
    @property
    def formula(self) -> str | None: ...


class DepartmentRef(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...


@dataclass(frozen=True)
class Cell:
    """One indicator, one department, one year: what a figure or a target is of."""

    indicator: IndicatorRef
    department: DepartmentRef
    year: int

    @property
    def key(self) -> dict[str, int]:
        return {
            "indicator_id": self.indicator.id,
            "department_id": self.department.id,
            "year": self.year,
        }

    def describe(self) -> str:
        return f"{self.indicator.code}/{self.department.code}/{self.year}"


S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True)
class CellFilters:
    """The filters of a list of cells; `apply` narrows a query over `model`."""

    indicator_id: int | None = None
    department_id: int | None = None
    year: int | None = None
    year_from: int | None = None
    year_to: int | None = None
    department_ids: frozenset[int] | None = None  # any of these (with department_id: and that one)

    def apply(self, query: S, model: Any) -> S:
        if self.indicator_id is not None:
            query = query.where(model.indicator_id == self.indicator_id)
        if self.department_id is not None:
            query = query.where(model.department_id == self.department_id)
        if self.department_ids is not None:
            query = query.where(model.department_id.in_(self.department_ids))
        if self.year is not None:
            query = query.where(model.year == self.year)
        if self.year_from is not None:
            query = query.where(model.year >= self.year_from)
        if self.year_to is not None:
            query = query.where(model.year <= self.year_to)
        return query

    def page(
        self, session: "Session", model: Any, *, limit: int | None, after_id: int | None = None
    ) -> tuple[list[Any], int | None]:
        """A page of `model`'s current rows in the order they were first written, as (row, indicator
        code, department code), and the id to continue after (None: the last page)."""
        query = (
            select(model, Indicator.code, Department.code)
            .join(Indicator, Indicator.id == model.indicator_id)
            .join(Department, Department.id == model.department_id)
            .order_by(model.id)
            .limit(limit)
        )
        query = self.apply(query, model)
        if after_id is not None:
            query = query.where(model.id > after_id)
        rows = list(session.execute(query).all())
        last = rows[-1][0].id if limit is not None and len(rows) == limit else None
        return rows, last
