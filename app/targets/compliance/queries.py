"""The queries compliance runs: each target's status decided by the database, next to its figure.

The status is one CASE expression, the same for both databases, equivalent to `rules.judge` (a status
needs only comparisons). On PostgreSQL values are NUMERIC, so the comparisons are exact. On SQLite
they are decimal text and are compared as REAL, which is exact for decimals of at most 15 significant
digits: two different ones lie at least 4 units of a double's last place apart, more than SQLite's
conversion errs by, and equal ones written with different trailing zeros convert alike (SQLite drops
a significand's trailing zeros before scaling). A row where any value may have more digits (more than
15 characters) is given CHECK instead, and is judged in Python with `rules.judge`.
tests/targets/test_compliance_exact.py holds both sides of that line.

The year's figures come from the covering index ix_observation_year_cells: a hash join over an
index-only scan on PostgreSQL, one index probe per target on SQLite.
"""

import functools
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    REAL,
    BigInteger,
    ColumnElement,
    CursorResult,
    Select,
    String,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, Qualifier
from app.targets.models import Operator, Target
from app.targets.rules import Status

_T = Target.__table__.c
_O = Observation.__table__.c
_I = Indicator.__table__.c
_D = Department.__table__.c

CHECK = "check"  # SQLite only: a value with too many digits for REAL, judged in Python instead
MET, NOT_MET, INDETERMINATE, NO_DATA = Status.met, Status.not_met, Status.indeterminate, Status.no_data
SAFE_LENGTH = 15  # characters: at most 15 digits whatever the sign and point
CHUNK = 5000


@dataclass(frozen=True)
class Scope:
    """The selected targets by id; None selects all."""

    department_ids: set[int] | None
    indicator_ids: set[int] | None


def _text(outcome: str) -> ColumnElement[Any]:
    return literal_column(f"'{outcome}'", String)


@functools.cache
def status(dialect: str, outcome: Callable[[str], ColumnElement[Any]] = _text) -> ColumnElement[Any]:
    """The status of the target joined with its figure: a Status value, or CHECK (SQLite only).

    `outcome` gives what the expression yields for each: by default the status as text. Built once
    per dialect and outcome: building it, and SQLAlchemy walking it for its cache key, cost a third
    of a one-department compliance request."""
    actual: ColumnElement[Any] = _O.value
    value: ColumnElement[Any] = _T.value
    upper: ColumnElement[Any] = _T.upper
    whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = [(actual.is_(None), outcome(NO_DATA))]
    if dialect == "sqlite":
        too_long = or_(*(func.length(c) > SAFE_LENGTH for c in (actual, value, upper)))
        whens.append((too_long, outcome(CHECK)))
        actual, value, upper = (sql_cast(c, REAL) for c in (actual, value, upper))
    op, qualifier = _T.operator, _O.qualifier
    met_exactly = or_(
        and_(op == Operator.at_least, actual >= value),
        and_(op == Operator.at_most, actual <= value),
        and_(op == Operator.exactly, actual == value),
        and_(op == Operator.between, actual >= value, actual <= upper),
    )
    high = func.coalesce(upper, value)  # the target's upper end: at_most, exactly, between
    whens += [
        (qualifier == Qualifier.approximately, outcome(INDETERMINATE)),
        (qualifier == Qualifier.exact, case((met_exactly, outcome(MET)), else_=outcome(NOT_MET))),
        # at_least / more_than: the figure allows [actual, ∞) or (actual, ∞)
        (op == Operator.at_least, case((actual >= value, outcome(MET)), else_=outcome(INDETERMINATE))),
        (or_(actual > high, and_(actual == high, qualifier == Qualifier.more_than)), outcome(NOT_MET)),
    ]
    return case(*whens, else_=outcome(INDETERMINATE))


def _in_years(column: ColumnElement[int], year_from: int, year_to: int) -> ColumnElement[bool]:
    return column == year_from if year_from == year_to else column.between(year_from, year_to)


def _selected(query: Select[Any], scope: Scope, year_from: int, year_to: int) -> Select[Any]:
    """`query` over every selected target of the years, each with its figure if it has one."""
    join = and_(
        _O.indicator_id == _T.indicator_id,
        _O.department_id == _T.department_id,
        _O.year == _T.year,
        _in_years(_O.year, year_from, year_to),  # stated, so that both planners use the year's index
    )
    query = query.select_from(Target.__table__.outerjoin(Observation.__table__, join)).where(
        _in_years(_T.year, year_from, year_to)
    )
    if scope.indicator_ids is not None:
        query = query.where(_T.indicator_id.in_(scope.indicator_ids))
    if scope.department_ids is not None:
        query = query.where(_T.department_id.in_(scope.department_ids))
    return query


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# counts() adds up three statuses in one integer per group: each target adds 1 if met, 2**21 if
# not met, 2**42 if indeterminate (0 otherwise), and the sum holds each count in its own 21 bits.
# One sum instead of GROUP BY status: grouped by indicator (and year), SQLite reads a year's targets
# in its index's order and sorts nothing (a quarter of the query's time), and PostgreSQL aggregates
# in parallel. A group holds at most one target per department, so no count reaches 2**21.
FIELD = 21
_WEIGHTS: dict[str, int] = {MET: 1, NOT_MET: 1 << FIELD, INDETERMINATE: 1 << (2 * FIELD)}
_MASK = (1 << FIELD) - 1


def _weight(outcome: str) -> ColumnElement[Any]:
    return literal_column(str(_WEIGHTS.get(outcome, 0)), BigInteger)


def counts(
    session: Session, scope: Scope, year_from: int, year_to: int
) -> list[tuple[int, int, dict[str, int]]]:
    """(indicator id, year, targets by status, CHECK included) for each indicator and year."""
    keys = (_T.indicator_id, _T.year)
    packed = func.sum(status(_dialect(session), _weight))
    query = _selected(select(*keys, func.count(), func.count(_O.value), packed), scope, year_from, year_to)
    query = query.group_by(*keys)
    groups = []
    for indicator, year, targets, with_data, total in session.execute(query):
        total = int(total or 0)
        if targets > _MASK:
            raise OverflowError(f"{targets} targets in one group: counts() packs at most {_MASK}")
        met, not_met, indeterminate = total & _MASK, (total >> FIELD) & _MASK, total >> (2 * FIELD)
        by_status: dict[str, int] = {
            MET: met,
            NOT_MET: not_met,
            INDETERMINATE: indeterminate,
            NO_DATA: targets - with_data,
        }
        by_status[CHECK] = with_data - met - not_met - indeterminate
        groups.append((indicator, year, by_status))
    return groups


def to_check(session: Session, scope: Scope, year_from: int, year_to: int) -> list[Sequence[Any]]:
    """(indicator id, year, operator, value, upper, actual, qualifier) of the targets whose status is
    CHECK, as the driver gives them. Narrow `scope` to the indicators `counts` found some in: the
    query reads every target it selects."""
    columns = (
        _T.indicator_id,
        _T.year,
        _T.operator,
        _T.value,
        _T.upper,
        _O.value,
        _O.qualifier,
    )
    query = _selected(select(*columns), scope, year_from, year_to)
    query = query.where(status(_dialect(session)) == CHECK)
    return list(cast(CursorResult[Any], session.execute(query)).cursor.fetchall())


def every_row(session: Session, scope: Scope, year: int) -> Iterator[Sequence[Any]]:
    """Chunks of (indicator id, department id, operator, value, upper, actual, qualifier) of every
    selected target of the year, in no order; driver tuples (values as text on SQLite)."""
    columns = (_T.indicator_id, _T.department_id, _T.operator, _T.value, _T.upper, _O.value, _O.qualifier)
    result = cast(CursorResult[Any], session.execute(_selected(select(*columns), scope, year, year)))
    try:
        # In chunks: each chunk's tuples and strings are freed before the next arrives, so their
        # memory is reused instead of fresh pages faulted in for all 100,000 rows at once.
        while chunk := result.cursor.fetchmany(CHUNK):
            yield chunk
    finally:
        result.close()


def _by_code(column: ColumnElement[str], dialect: str) -> ColumnElement[str]:
    """Codes in code point order, as Python sorts them: PostgreSQL's own collation may differ."""
    return column.collate("C") if dialect == "postgresql" else column


def items(
    session: Session,
    scope: Scope,
    year: int,
    *,
    indicator_ids: Collection[int],
    statuses: Collection[str] = (),
    after: tuple[str, str] | None = None,
    limit: int | None = None,
    unfiltered: Collection[int] = (),
) -> list[Sequence[Any]]:
    """(indicator code, department code, indicator id, department id, operator, value, upper, actual,
    qualifier) of the year's selected targets of these indicators, by indicator code then department
    code, after the cell `after`, with one of `statuses` (or CHECK) if any are given, whatever their
    status for the `unfiltered` indicators (derived ones, judged in Python); driver tuples."""
    dialect = _dialect(session)
    indicator, department = _by_code(_I.code, dialect), _by_code(_D.code, dialect)
    columns = (
        _I.code,
        _D.code,
        _T.indicator_id,
        _T.department_id,
        _T.operator,
        _T.value,
        _T.upper,
        _O.value,
        _O.qualifier,
    )
    query = (
        _selected(select(*columns), Scope(scope.department_ids, None), year, year)
        .join_from(Target.__table__, Indicator.__table__, _I.id == _T.indicator_id)
        .join_from(Target.__table__, Department.__table__, _D.id == _T.department_id)
        .where(_T.indicator_id.in_(indicator_ids))
    )
    if statuses:
        judged = status(dialect).in_([*statuses, CHECK])
        query = query.where(or_(judged, _T.indicator_id.in_(unfiltered)) if unfiltered else judged)
    if after is not None:
        query = query.where(or_(indicator > after[0], and_(indicator == after[0], department > after[1])))
    query = query.order_by(indicator, department).limit(limit)
    return list(cast(CursorResult[Any], session.execute(query)).cursor.fetchall())
