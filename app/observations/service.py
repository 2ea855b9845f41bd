"""Observations one cell at a time: every change leaves a revision, nothing is ever lost."""

import builtins
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, exists, literal, select
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.principal import Principal
from app.cells.key import Cell, IndicatorRef
from app.cells.store import NOT_READ, CellStore, Outcome, Precondition
from app.core.db.rows import DriverQuery
from app.core.problems import FieldError, InvalidValue, NotFound
from app.departments import service as departments
from app.departments.models import Department
from app.departments.scope import check_department
from app.indicators import service as indicators
from app.indicators.models import Indicator
from app.observations import derived
from app.observations.models import Observation, ObservationRevision
from app.observations.rules import future_year_message, violation
from app.observations.schemas import ObservationRead, ObservationWrite, RevisionRead
from app.quality import warnings
from app.reporting import locks


def read(cell: Cell, observation: Observation) -> ObservationRead:
    return ObservationRead(
        indicator=cell.indicator.code,
        department=cell.department.code,
        year=cell.year,
        value=observation.value,
        qualifier=observation.qualifier,
        note=observation.note,
        source=observation.source,
        version=observation.version,
        updated_at=observation.updated_at,
        updated_by=observation.updated_by,
    )


STORE = CellStore(Observation, ObservationRevision, ("value", "qualifier"))


def find(session: Session, cell: Cell) -> Observation | None:
    return STORE.find(session, cell.key)


def get(session: Session, cell: Cell) -> Observation:
    observation = find(session, cell)
    if observation is None:
        raise NotFound(f"No observation for {cell.describe()}")
    return observation


# A cell's current figure by the codes in its path, in one query built once and run straight on the
# driver (reads are the hot path): without, and with the check of the reader's token in it.
_CURRENT_BY_CODES = (
    select(
        Observation.value,
        Observation.qualifier,
        Observation.note,
        Observation.source,
        Observation.version,
        Observation.updated_at,
        Observation.updated_by,
    )
    .join(Indicator, Indicator.id == Observation.indicator_id)
    .join(Department, Department.id == Observation.department_id)
    .where(
        Indicator.code == bindparam("indicator"),
        Department.code == bindparam("department"),
        Observation.year == bindparam("year"),
    )
)


_CURRENT = DriverQuery(_CURRENT_BY_CODES)
_CURRENT_FOR_TOKEN = DriverQuery(_CURRENT_BY_CODES.add_columns(tokens.TOKEN_USE))


def read_by_codes(
    session: Session, indicator: str, department: str, year: int, token_hash: str | None
) -> ObservationRead:
    """A cell's current figure in one query, which also checks the reader's token (None: public
    read); 401 for a token unknown, revoked or expired. When there is no figure, the 404 says which code is
    unknown, as resolving the cell step by step would."""
    params: dict[str, object] = {"indicator": indicator, "department": department, "year": year}
    if token_hash is None:
        rows = _CURRENT.rows(session, params)
    else:
        rows = _CURRENT_FOR_TOKEN.rows(session, {**params, "token_hash": token_hash})
        if rows:
            tokens.in_force(session, token_hash, rows[0][-1])
    if not rows:
        if token_hash is not None:
            tokens.check_token(session, token_hash)
        known = indicators.get_by_code(session, indicator), departments.get_by_code(session, department)
        computed = derived.of(session, known[0])
        if computed is not None:
            figure = derived.one(session, computed, department_id=known[1].id, year=year).figure
            if figure is not None:
                return derived.read(indicator, department, year, figure)
        raise NotFound(f"No observation for {Cell(*known, year).describe()}")
    value, qualifier, note, source, version, updated_at, updated_by, *_ = rows[0]
    return ObservationRead(
        indicator=indicator,
        department=department,
        year=year,
        value=value,
        qualifier=qualifier,
        note=note,
        source=source,
        version=version,
        updated_at=updated_at,
        updated_by=updated_by,
    )


def check_writable(cell: Cell) -> None:
    """409 `derived` for a write to a derived indicator's figure."""
    formula = getattr(cell.indicator, "formula", None)
    if formula is not None:
        raise derived.refused(cell.indicator.code, formula, cell.describe())


def check_scope(session: Session, actor: Principal, cell: Cell, *, checked: bool) -> None:
    """403 unless the actor may write the cell's department; no query when the query that resolved
    the cell for this actor checked it already (app.cells.http.write_cell)."""
    if not checked:
        check_department(session, actor, cell.department.id, cell.department.code)


def check_open_year(year: int, last_year: int) -> None:
    """422 naming `year` when it is after the last year observations may be for
    (Settings.last_open_year: the current year in INDICATORS_TIMEZONE plus INDICATORS_OPEN_FUTURE_YEARS)."""
    if year > last_year:
        message = future_year_message(last_year)
        raise InvalidValue(
            f"{year}: {message}", errors=[FieldError(["path", "year"], message, "year_future")]
        )


def check_value(indicator: IndicatorRef, value: Decimal, loc: builtins.list[str | int]) -> None:
    rule = violation(indicator.value_type, value)
    if rule is not None:
        raise InvalidValue(
            f"{value} does not fit indicator {indicator.code!r}: {rule}",
            errors=[FieldError(loc, rule, f"value_type.{indicator.value_type}")],
        )


# After the write's first query took the lock (locks.HELD): the department-year's state (locks.STATE)
# read with the cell's rows that its warnings are judged by (warnings.CELL), in one statement. Other
# years' figures only: what the write changes is not among them. On PostgreSQL the statement that
# writes a change reads them too (CellStore.put, `along`), one round trip fewer per PUT again.
_STATE_AND_CELL_QUERY = warnings.CELL.add_columns(*locks.STATE)
_STATE_AND_CELL = DriverQuery(_STATE_AND_CELL_QUERY)
_STATE_FROM = len(warnings.CELL.selected_columns)  # where the state's columns begin in its rows


def put(
    session: Session,
    *,
    cell: Cell,
    data: ObservationWrite,
    actor: Principal,
    precondition: Precondition | None = None,
    current: Any = NOT_READ,
    scope_checked: bool = False,
    lock_held: bool = False,
    warned: bool = False,
) -> tuple[Observation, Outcome, builtins.list[dict[str, Any]]]:
    """Create or replace a cell's figure: 201-created, updated, or unchanged for the same figure.
    `lock_held`: the query that read `current` took the department-year's lock (locks.HELD).
    `warned`: with the warnings of the figure written (app.quality.warnings.for_figure), asked in
    the write's transaction, a PUT's or PATCH's answer (else none).

    On PostgreSQL, with the lock held and `current` read, the department-year's state is read by the
    statement that writes the change, and checked after it: a refusal (409) rolls the change back
    with the whole transaction, and answers as it would have before the change was sent. A refusal
    comes before a failed precondition (RFC 9110, 13.2.1), as it does when the state is read first."""
    check_writable(cell)
    check_scope(session, actor, cell, checked=scope_checked)
    check_value(cell.indicator, data.value, ["body", "value"])
    department, year = cell.department, cell.year
    key = cell.key
    rows = None
    along = None
    if warned and lock_held:
        if current is not NOT_READ and session.connection().dialect.name == "postgresql":
            along = _STATE_AND_CELL_QUERY
            if precondition is not None:
                precondition = _refusal_first(session, actor, cell, precondition)
        else:
            rows = _STATE_AND_CELL.rows(session, key) or None  # none: the indicator is gone since
            _check_state(session, actor, cell, rows)
    else:
        locks.check(
            session, actor, department_id=department.id, department=department.code, year=year, held=lock_held
        )
    fields = data.model_dump()
    reason = fields.pop("reason")  # kept with the version, not part of the figure
    observation, outcome, read = STORE.put(
        session,
        key=key,
        data=fields,
        actor=actor.name,
        precondition=precondition,
        current=current,
        reason=reason,
        along=along,
    )
    if along is not None:
        # read with the change; else (created, unchanged) read now, in the same transaction
        rows = (read if read is not None else _STATE_AND_CELL.rows(session, key)) or None
        _check_state(session, actor, cell, rows)
    if not warned:
        return observation, outcome, []
    found = warnings.for_figure(
        session,
        indicator_id=cell.indicator.id,
        department_id=department.id,
        year=year,
        value=observation.value,
        rows=rows,
    )
    return observation, outcome, found


def _refusal_first(
    session: Session, actor: Principal, cell: Cell, precondition: Precondition
) -> Precondition:
    """`precondition`, which checks the department-year's state before it refuses: a refusal of the
    write answers before a failed precondition (RFC 9110, 13.2.1)."""

    def checked(current: Any) -> None:
        try:
            precondition(current)
        except Exception:
            _check_state(session, actor, cell, _STATE_AND_CELL.rows(session, cell.key) or None)
            raise

    return checked


def _check_state(session: Session, actor: Principal, cell: Cell, rows: builtins.list[Any] | None) -> None:
    """409 when `actor` may not write figures of the cell's department-year (locks.check), by the
    state read with the cell's rows (_STATE_AND_CELL), the lock held; read here when there are none
    (the indicator is gone since)."""
    department = cell.department
    if rows is not None:
        locks.check_state(actor, rows[0][_STATE_FROM:], department=department.code, year=cell.year)
    else:
        locks.check(
            session, actor, department_id=department.id, department=department.code, year=cell.year, held=True
        )


def delete(
    session: Session,
    *,
    cell: Cell,
    actor: Principal,
    precondition: Precondition | None = None,
    current: Any = NOT_READ,
    reason: str | None = None,
    scope_checked: bool = False,
    lock_held: bool = False,
) -> None:
    """Remove a cell's figure; the deletion is kept as a version of its own. `lock_held` as for put."""
    check_writable(cell)
    check_scope(session, actor, cell, checked=scope_checked)
    locks.check(
        session,
        actor,
        department_id=cell.department.id,
        department=cell.department.code,
        year=cell.year,
        held=lock_held,
    )
    deleted = STORE.delete(
        session, key=cell.key, actor=actor.name, precondition=precondition, current=current, reason=reason
    )
    if deleted is None:
        raise NotFound(f"No observation for {cell.describe()}")


def history(
    session: Session, *, cell: Cell, limit: int | None, after_version: int = 0
) -> builtins.list[RevisionRead]:
    """A cell's versions; a derived figure has none of its own: 409 naming the operand figures (and
    their current versions) it is computed from, whose histories say where it came from."""
    computed = derived.of(session, cell.indicator)
    if computed is not None:
        sources = derived.one(session, computed, department_id=cell.department.id, year=cell.year)
        used = ", ".join(
            f"{code}/{cell.department.code}/{cell.year} (version {version})"
            for code, version, _ in sources.operands
        )
        raise derived.refused(
            computed.code,
            computed.formula.text,
            f"{cell.describe()} has no history of its own; it is computed from {used or 'no figures yet'}",
        )
    rows = STORE.history(session, key=cell.key, limit=limit, after_version=after_version)
    if not rows and after_version == 0:
        raise NotFound(f"No observation for {cell.describe()} has ever been recorded")
    return [RevisionRead.model_validate(r) for r in rows]


def indicator_has_data(session: Session, indicator_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Observation.indicator_id == indicator_id))))


def has_history(
    session: Session, *, indicator_id: int | None = None, department_id: int | None = None
) -> bool:
    """Whether any version of any cell of the indicator (or the department) was ever recorded.

    The history has no foreign keys (migration 0003): deleting an indicator or a department asks
    this instead, after its DELETE statement, which on PostgreSQL waits for writers still holding
    the row; a statement after it sees what they committed.
    """
    if indicator_id is None and department_id is not None:
        # No index leads with the department (migration 0005): one probe of the unique
        # (indicator, department, ...) index per indicator, a subquery with LIMIT that neither
        # database turns into a scan of the whole history. Every revision's indicator exists, since
        # an indicator with history cannot be deleted.
        probe = (
            select(literal(1))
            .where(
                ObservationRevision.indicator_id == Indicator.id,
                ObservationRevision.department_id == department_id,
            )
            .limit(1)
            .scalar_subquery()
        )
        return bool(session.scalar(select(exists(select(Indicator.id).where(probe.is_not(None))))))
    query = exists()
    if indicator_id is not None:
        query = query.where(ObservationRevision.indicator_id == indicator_id)
    if department_id is not None:
        query = query.where(ObservationRevision.department_id == department_id)
    return bool(session.scalar(select(query)))
