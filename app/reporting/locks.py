"""What a write of figures asks first: is that department-year locked, is its period closed?

- `approved`: nobody writes (409 `locked`); `submitted`: only the commission and admin do.
- Outside the year's period (before `opens`, after `closes` or the department's exception `until`),
  a clerk's write is 409 `period-closed`; no period: always open.

On PostgreSQL a write holds a transaction-scoped advisory lock on its department-year, shared, taken
before it reads the state: an approve takes the same lock exclusively, so a write either commits
before the approval reads the figures or reads the approval after it committed (READ COMMITTED: the
state is read by a statement after the lock). On SQLite writes are serialised by BEGIN IMMEDIATE.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.auth.models import Role
from app.auth.principal import Principal
from app.core.config import get_settings
from app.core.db.rows import DriverQuery
from app.core.problems import Conflict
from app.departments.models import Department
from app.reporting.models import Approval, Period, PeriodException, State


class Locked(Conflict):
    slug, title = "locked", "Figures locked"


class PeriodClosed(Conflict):
    slug, title = "period-closed", "Entry period closed"


_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:department_id, :year)")
_SHARED = text("SELECT pg_advisory_xact_lock_shared(:department_id, :year)")


class _Held(FunctionElement[Any]):
    """The shared lock of a department-year (department id, year), taken by the query that selects
    it: on PostgreSQL pg_advisory_xact_lock_shared, which a write's first query selects (HELD), so that
    the lock costs no round trip of its own; NULL elsewhere (SQLite serialises writers)."""

    inherit_cache = True
    name = "held"


@compiles(_Held)
def _held(element: _Held, compiler: SQLCompiler, **kw: Any) -> str:
    return "NULL"


@compiles(_Held, "postgresql")
def _held_postgresql(element: _Held, compiler: SQLCompiler, **kw: Any) -> str:
    return f"pg_advisory_xact_lock_shared({compiler.process(element.clauses, **kw)})"


# For app.cells.http.write_cell's `also`: the department-year of the path written, locked by the
# query that resolves it (its department is that query's Department, its year the path's). A write
# that selected it says so to check() (held=True), which then reads the state alone.
HELD = _Held(Department.id, bindparam("year")).label("held")
# A batch's department-years in one statement (in one order, as every batch takes them).
_SHARED_MANY = text(
    "SELECT count(pg_advisory_xact_lock_shared(d, y)) FROM (SELECT d, y FROM "
    "unnest(CAST(:departments AS integer[]), CAST(:years AS integer[])) AS t(d, y) ORDER BY d, y) AS s"
)

_D: BindParameter[int] = bindparam("department_id")
_Y: BindParameter[int] = bindparam("year")
# A department-year's state, period and exception, as five columns bound to `department_id` and
# `year`, for check_state: another query may select them beside its own, once the lock is held by
# an earlier statement (app.observations.service.put).
STATE = (
    select(Approval.state).where(Approval.department_id == _D, Approval.year == _Y).scalar_subquery(),
    select(Approval.approved_by).where(Approval.department_id == _D, Approval.year == _Y).scalar_subquery(),
    select(Period.opens).where(Period.year == _Y).scalar_subquery(),
    select(Period.closes).where(Period.year == _Y).scalar_subquery(),
    select(PeriodException.until)
    .where(PeriodException.year == _Y, PeriodException.department_id == _D)
    .scalar_subquery(),
)
_STATE = select(*STATE)


def lock_for_approval(session: Session, department_id: int, year: int) -> None:
    """PostgreSQL: wait for the writes of this department-year under way, and keep new ones out
    until this transaction ends."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_EXCLUSIVE, {"department_id": department_id, "year": year})


def refusal(
    actor: Principal,
    state: str | None,
    approved_by: str | None,
    opens: dt.date | None,
    closes: dt.date | None,
    until: dt.date | None,
    today: dt.date,
) -> tuple[type[Conflict], str, dict[str, object]] | None:
    """Why the actor may not write a department-year in this state and period; None: they may."""
    if state == State.approved:
        return (
            Locked,
            f"approved by {approved_by}; reopen it first",
            {"state": state, "approved_by": approved_by},
        )
    commission = actor.has(Role.commission)
    if state == State.submitted and not commission:
        return (
            Locked,
            "submitted; only the commission may write it now",
            {"state": state, "approved_by": None},
        )
    if commission or opens is None or closes is None:
        return None
    if today < opens:
        return (
            PeriodClosed,
            f"the entry period opens on {opens.isoformat()}",
            {"opens": opens, "closes": closes},
        )
    last = max(closes, until) if until is not None else closes
    if today > last:
        return (
            PeriodClosed,
            f"the entry period closed on {last.isoformat()}",
            {"opens": opens, "closes": last},
        )
    return None


_STATE_READ = DriverQuery(_STATE)


def _state(session: Session, department_id: int, year: int, held: bool) -> Sequence[Any]:
    params = {"department_id": department_id, "year": year}
    if not held and session.connection().dialect.name == "postgresql":
        # Under READ COMMITTED the state's statement, after the lock's, sees whatever an approve
        # waited for by the lock committed. (A PUT's first query takes it: HELD.)
        session.connection().execute(_SHARED, params)
    # By the driver itself (no SQLAlchemy compile or result processing on the write's hot path);
    # prepared by psycopg once it has run a few times. SQLite serialises writers.
    return _STATE_READ.rows(session, params)[0]


def check(
    session: Session, actor: Principal, *, department_id: int, department: str, year: int, held: bool = False
) -> None:
    """409 `locked` or `period-closed` when the actor may not write figures of this department-year.
    `held`: the write's first query took its lock (HELD); else it is taken here, first."""
    check_state(actor, _state(session, department_id, year, held), department=department, year=year)


def check_state(actor: Principal, read: Sequence[Any], *, department: str, year: int) -> None:
    """check(), the state read already: STATE's five columns, in its order."""
    state, approved_by, opens, closes, until = read
    found = refusal(actor, state, approved_by, opens, closes, until, get_settings().today())
    if found is not None:
        kind, why, extra = found
        raise kind(
            f"The figures of {department!r} for {year} cannot be written: {why}",
            extra={"department": department, "year": year, **extra},
        )


def refusals(
    session: Session, actor: Principal, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], tuple[str, str]]:
    """For a batch: each (department_id, year) the actor may not write, with the problem's type and why."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        departments, years_ = [d for d, _ in wanted], [y for _, y in wanted]
        connection.execute(_SHARED_MANY, {"departments": departments, "years": years_})
    years = sorted({y for _, y in wanted})
    states = {
        (d, y): (s, by)
        for d, y, s, by in connection.execute(
            select(Approval.department_id, Approval.year, Approval.state, Approval.approved_by).where(
                Approval.year.in_(years), Approval.state != State.draft
            )
        )
    }
    periods = {
        y: (o, c)
        for y, o, c in connection.execute(
            select(Period.year, Period.opens, Period.closes).where(Period.year.in_(years))
        )
    }
    exceptions = {
        (d, y): u
        for y, d, u in connection.execute(
            select(PeriodException.year, PeriodException.department_id, PeriodException.until).where(
                PeriodException.year.in_(years)
            )
        )
    }
    today = get_settings().today()
    out: dict[tuple[int, int], tuple[str, str]] = {}
    for pair in wanted:
        state, by = states.get(pair, (None, None))
        opens, closes = periods.get(pair[1], (None, None))
        found = refusal(actor, state, by, opens, closes, exceptions.get(pair), today)
        if found is not None:
            out[pair] = (found[0].slug, found[1])
    return out
