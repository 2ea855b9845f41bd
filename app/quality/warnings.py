"""The warnings a write answers: the rules its figures break, and the outliers they are.

A warning never refuses a write. A figure is checked by the default algorithm (modified z-score,
threshold 3.5) against its department's other years, and by the indicator's `expected_min` /
`expected_max` when it has them; its department-year by every rule that reads its indicator.
"""

import builtins
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.orm import Session

from app.core.db.rows import DriverQuery
from app.departments.models import Department
from app.indicators.models import Indicator
from app.quality import outliers, service, validation
from app.quality.judge import Breach, Status
from app.quality.models import Operator, RuleOperand

CHECKED = ("modified_z_score", "min_max")
_SYMBOL = {
    Operator.equal_to: "=",
    Operator.not_equal_to: "≠",
    Operator.greater_than: ">",
    Operator.greater_than_or_equal_to: "≥",
    Operator.less_than: "<",
    Operator.less_than_or_equal_to: "≤",
}
_ALGORITHM = {"modified_z_score": "修正 Z 分数", "z_score": "Z 分数", "min_max": "预期范围"}


def _plain(value: Decimal | None) -> str:
    """A value as people write it: 412, not 412.000000."""
    return "—" if value is None else format(value.normalize(), "f")


def rule_warning(breach: Breach) -> dict[str, Any]:
    rule = breach.rule
    if rule.operator is Operator.compulsory_pair:
        said = "两边须同时有值或同时无值"
    elif rule.operator is Operator.exclusive_pair:
        said = "两边不得同时有值"
    else:
        said = f"{_plain(breach.left_value)} {_SYMBOL[rule.operator]} {_plain(breach.right_value)}"
    verdict = "不成立" if breach.status is Status.violated else "因限定词无法确定"
    return {
        "type": "rule",
        "msg": f"校验规则 {rule.code}（{rule.importance.value}）：{said} {verdict}",
        "rule": rule.code,
        "importance": rule.importance,
        "status": breach.status,
    }


def outlier_warning(algorithm: str, found: dict[str, Any]) -> dict[str, Any]:
    low, high = found["lower_bound"], found["upper_bound"]
    span = f"{'—' if low is None else low} ~ {'—' if high is None else high}"
    return {
        "type": "outlier",
        "msg": f"{found['value']} 为异常值（{_ALGORITHM[algorithm]}，正常范围 {span}）",
        "algorithm": algorithm,
        "lower_bound": low,
        "upper_bound": high,
    }


# One query: the cell's other years, its indicator's bounds, and whether a rule reads the indicator
# (a row even without other years, read by position): a write of a figure no rule reads asks nothing
# more. Sent by the driver itself (DriverQuery): through SQLAlchemy's execution and result machinery
# it cost a PUT a third of its instructions. A write of one figure may read it in its own statement,
# with more columns after these (app.observations.service.put).
_OBSERVED = outliers.RAW.alias("o")
CELL = (
    select(
        Indicator.expected_min,
        Indicator.expected_max,
        exists().where(RuleOperand.indicator_id == Indicator.id),
        _OBSERVED.c.year,
        _OBSERVED.c.value,
    )
    .select_from(
        Indicator.__table__.outerjoin(
            _OBSERVED,
            # The indicator by its parameter, not by Indicator.id: PostgreSQL's generic plan of the
            # prepared statement then finds the cell's years by the (indicator, department, year)
            # index, where with the join column it read every figure of the department (500 of
            # bench.api's data) and kept one indicator's (BENCHMARKS.md).
            and_(
                _OBSERVED.c.indicator_id == bindparam("indicator_id"),
                _OBSERVED.c.department_id == bindparam("department_id"),
            ),
        )
    )
    .where(Indicator.id == bindparam("indicator_id"))
)
_CELL = DriverQuery(CELL)


def _exact(value: Any) -> Decimal | None:
    """A value as the driver gives it (text on SQLite, Decimal on PostgreSQL), exactly."""
    return value if value is None or type(value) is Decimal else Decimal(value)


def _cell(session: Session, indicator_id: int, department_id: int) -> builtins.list[Any]:
    return _CELL.rows(session, {"indicator_id": indicator_id, "department_id": department_id})


def _cell_outliers(
    value: Decimal, others: builtins.list[Decimal], expected: tuple[Any, Any]
) -> builtins.list[dict[str, Any]]:
    found = []
    for algorithm in CHECKED:
        item = outliers.judge(value, others, algorithm, outliers.DEFAULT_THRESHOLDS[algorithm], expected)
        if item is not None:
            found.append(outlier_warning(algorithm, item))
    return found


def for_figure(
    session: Session,
    *,
    indicator_id: int,
    department_id: int,
    year: int,
    value: Decimal,
    rows: builtins.list[Any] | None = None,
) -> builtins.list[dict[str, Any]]:
    """The warnings of one figure just written (a PUT or PATCH), in the write's transaction. `rows`:
    the cell's CELL, when the write read it already (its other years, which the write leaves as
    they were); each row may carry more columns after CELL's."""
    warnings: builtins.list[dict[str, Any]] = []
    if rows is None:
        rows = _cell(session, indicator_id, department_id)
    if not rows:
        return warnings
    low, high, ruled = _exact(rows[0][0]), _exact(rows[0][1]), rows[0][2]
    if ruled:
        rules = service.rules(session, reading=[indicator_id])
        report = validation.evaluate(session, year=year, rules=rules, department_ids={department_id})
        warnings += [rule_warning(b) for b, _ in report.breaches]
    others = [row[4] for row in rows if row[3] is not None and row[3] != year]
    if len(others) < outliers.MIN_OTHER_YEARS or not outliers.screen(
        float(value),
        [float(v) for v in others],
        "modified_z_score",
        3.5,
    ):
        others = []  # certainly no statistical outlier: only the bounds remain to check
    elif type(others[0]) is not Decimal:
        others = [Decimal(v) for v in others]
    return warnings + _cell_outliers(value, others, (low, high))


def for_batch(
    session: Session, written: Iterable[tuple[int, int, int, int]], limit: int
) -> builtins.list[dict[str, Any]]:
    """The warnings of a batch's rows (row, indicator id, department id, year) once written,
    at most `limit`, in row order; a rule's breach is told at the first row of its department-year
    among the rows that write one of its operands."""
    rows = builtins.list(written)
    if not rows:
        return []
    indicator_ids = {r[1] for r in rows}
    codes = dict(
        session.execute(select(Indicator.id, Indicator.code).where(Indicator.id.in_(indicator_ids))).all()
    )
    department_codes = dict(
        session.execute(
            select(Department.id, Department.code).where(Department.id.in_({r[2] for r in rows}))
        ).all()
    )
    found: builtins.list[tuple[int, dict[str, Any]]] = []
    by_cell = {(r[1], r[2], r[3]): r[0] for r in reversed(rows)}  # the first row of each cell
    cell_of = {row: cell for cell, row in by_cell.items()}
    dep_of = {c: i for i, c in department_codes.items()}
    rules = service.rules(session, reading=indicator_ids)
    # each department-year's first row writing each indicator: a breach is told at the first one
    # writing an operand of its rule
    firsts: dict[int, dict[int, dict[str, int]]] = {}
    if rules:
        for (i, d, y), row in by_cell.items():
            firsts.setdefault(y, {}).setdefault(d, {})[codes[i]] = row
    for year, of_year in sorted(firsts.items()):
        report = validation.evaluate(session, year=year, rules=rules, department_ids=set(of_year))
        for breach, department in report.breaches:
            first_of = of_year[dep_of[department]]
            rows_of = [first_of[c] for c in breach.rule.operands if c in first_of]
            if rows_of:
                found.append((min(rows_of), rule_warning(breach)))
    years_of: dict[tuple[int, int], builtins.list[int]] = {}
    for i, d, y in by_cell:
        years_of.setdefault((i, d), []).append(y)
    for i, d, y, algorithm, item in outliers.of_cells(session, years_of, CHECKED):
        found.append((by_cell[(i, d, y)], outlier_warning(algorithm, item)))
    found.sort(key=lambda entry: entry[0])
    answer = []
    for row, warning in found[:limit]:
        i, d, y = cell_of[row]
        answer.append(
            {
                "row": row,
                "indicator": codes[i],
                "department": department_codes[d],
                "year": y,
                "loc": ["value"],
            }
            | warning
        )
    return answer
