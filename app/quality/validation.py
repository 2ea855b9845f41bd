"""The validation report: every rule judged for every department-year of a year, the breaches listed.

One query reads the year's figures of every indicator the rules read; each department's figures are
then judged by each rule in memory (app.quality.judge). `never_skip` rules judge every department in
scope, the others only departments with a figure of one of their operands.
"""

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, SmallInteger, column, select, table
from sqlalchemy.orm import Session

from app.core.db.rows import driver_rows
from app.departments.models import Department
from app.indicators.models import Indicator
from app.quality import service
from app.quality.columns import judge_columns
from app.quality.judge import Breach, Parsed, Status
from app.quality.models import Importance, Missing

# The figures, named as their table names them: quality lies below the observations whose writes
# ask it for warnings (as app.reporting does for completeness). Read as the driver gives them: the
# value is text on SQLite, and made a Decimal here.
OBSERVATION = table(
    "observation",
    column("indicator_id", Integer),
    column("department_id", Integer),
    column("year", SmallInteger),
    column("value"),
    column("qualifier"),
)
COLUMNS = ("rule", "department", "year", "left_value", "operator", "right_value", "importance", "status")


@dataclass
class Report:
    year: int
    rules: int = 0
    breaches: builtins.list[tuple[Breach, str]] = field(default_factory=builtins.list)  # with department

    def counts(self) -> dict[str, int]:
        violated = sum(1 for b, _ in self.breaches if b.status is Status.violated)
        return {"rules": self.rules, "violated": violated, "indeterminate": len(self.breaches) - violated}


def item(breach: Breach, department: str, year: int) -> dict[str, Any]:
    rule = breach.rule
    return {
        "rule": rule.code,
        "department": department,
        "year": year,
        "left_value": breach.left_value,
        "operator": rule.operator,
        "right_value": breach.right_value,
        "importance": rule.importance,
        "status": breach.status,
    }


Columns = dict[str, builtins.list[Any]]


def figures(
    session: Session,
    *,
    year: int,
    indicator_ids: Mapping[int, str],
    departments: Sequence[int],
    all_departments: bool,
) -> tuple[Columns, Columns, builtins.list[int]]:
    """The year's figures of these indicators as columns: code -> the value, and code -> the
    qualifier, of each of `departments` (ids, in their order; None where it has no figure); and the
    positions of the departments with a figure. `all_departments`: they are every department (no
    filter to send)."""
    position = {d: k for k, d in enumerate(departments)}
    size = len(departments)
    values: Columns = {c: [None] * size for c in indicator_ids.values()}
    qualifiers: Columns = {c: [None] * size for c in indicator_ids.values()}
    if not indicator_ids or not size:
        return values, qualifiers, []
    o = OBSERVATION.c
    query = select(o.department_id, o.indicator_id, o.value, o.qualifier).where(
        o.year == year, o.indicator_id.in_(builtins.list(indicator_ids))
    )
    if not all_departments:
        query = query.where(o.department_id.in_(builtins.list(departments)))
    columns_of = {i: (values[c], qualifiers[c]) for i, c in indicator_ids.items()}
    reporting = bytearray(size)
    exact = session.get_bind().dialect.name == "postgresql"  # Decimal from the driver, else text
    for department_id, indicator_id, value, qualifier in driver_rows(session, query):
        k = position[department_id]
        value_column, qualifier_column = columns_of[indicator_id]
        value_column[k] = value if exact else Decimal(value)
        qualifier_column[k] = qualifier
        reporting[k] = 1
    return values, qualifiers, [k for k, reports in enumerate(reporting) if reports]


def operand_ids(session: Session, rules: Iterable[Parsed]) -> dict[int, str]:
    codes = {c for r in rules for c in r.operands}
    if not codes:
        return {}
    return dict(session.execute(select(Indicator.id, Indicator.code).where(Indicator.code.in_(codes))).all())


def evaluate(
    session: Session, *, year: int, rules: builtins.list[Parsed], department_ids: set[int] | None
) -> Report:
    """Every breach of `rules` in `year` among `department_ids` (None: every department), in rule
    then department code order."""
    report = Report(year=year, rules=len(rules))
    if not rules:
        return report
    codes_query = select(Department.id, Department.code)
    if department_ids is not None:
        codes_query = codes_query.where(Department.id.in_(builtins.list(department_ids)))
    codes = dict(session.execute(codes_query).all())
    order = sorted(codes, key=codes.__getitem__)
    values, qualifiers, reporting = figures(
        session,
        year=year,
        indicator_ids=operand_ids(session, rules),
        departments=order,
        all_departments=department_ids is None,
    )
    every = range(len(order))
    names = [codes[d] for d in order]
    for rule in rules:
        # never_skip judges every department in scope, the others only those reporting a figure
        positions = every if rule.missing is Missing.never_skip else reporting
        answers = judge_columns(rule, values, qualifiers, positions)
        report.breaches += [(b, names[k]) for b, k in zip(answers, positions, strict=True) if b is not None]
    return report


def breaches_of(
    session: Session, *, department_id: int, year: int, importance: Iterable[Importance] = ()
) -> builtins.list[dict[str, Any]]:
    """The breaches of one department-year (the submission's check), as report items."""
    rules = service.rules(session, importance=importance)
    report = evaluate(session, year=year, rules=rules, department_ids={department_id})
    return [item(b, d, year) for b, d in report.breaches]
