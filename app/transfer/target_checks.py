"""Checking a batch's rows of targets: the cell checks of figures, then operator, value and upper bound
as `PUT /targets` checks them."""

from decimal import Decimal
from typing import Any

from app.core.fields import YEAR_MAX
from app.targets.models import Operator
from app.targets.rules import bounds_problem
from app.transfer import words
from app.transfer.checks import Checker, Valid, blank
from app.transfer.formats import MISSING

_OPERATOR_MSG = "must be one of " + ", ".join(o.value for o in Operator) + " (or 不低于, 不高于, 等于, 介于)"


class TargetChecker(Checker):
    """Checks rows of targets: the same cells as figures, with an operator, a value and an upper bound
    that must fit the indicator's value type, as `PUT /targets` checks them. Targets may be for any
    year."""

    @staticmethod
    def open_until(last_year: int | None) -> int:
        return YEAR_MAX

    def _row(self, n: int, values: tuple[Any, ...]) -> Valid | None:
        ind_raw, dep_raw, year_raw, operator_raw, value_raw, upper_raw, note_raw, source_raw = values
        if not self.strict and blank(value_raw):
            self.summary.skipped += 1  # a template's row left without a target
            return None
        indicator, department, year = self._where(n, ind_raw, dep_raw, year_raw)
        value_type = indicator[1] if indicator else None
        operator: str | None = None
        if operator_raw is MISSING or operator_raw is None or (not self.strict and blank(operator_raw)):
            self._error(n, ("operator",), "required", "missing")
        else:
            operator = self._word(n, "operator", operator_raw, words.OPERATORS, _OPERATOR_MSG)
        value = self._value(n, value_raw, value_type)
        upper = None
        if not (upper_raw is MISSING or upper_raw is None or (not self.strict and blank(upper_raw))):
            upper = self._value(n, upper_raw, value_type, "upper")
            if upper is None:
                operator = None  # its error is recorded: the row fails
        if operator is not None and value is not None:
            problem = bounds_problem(
                Operator(operator), Decimal(value), None if upper is None else Decimal(upper)
            )
            if problem is not None:
                self._error(n, ("upper",), problem, "bounds")
                operator = None
        note, source = self._note_and_source(n, note_raw, source_raw)
        key = self._claim(n, indicator, department, year)
        if key is None or operator is None or value is None:
            return None
        return key, n, indicator[0], department, year, operator, value, upper, note, source  # type: ignore[index]
