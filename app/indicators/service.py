"""Indicators: what is measured, its type, which way is better and how departments roll up."""

import builtins
from typing import Protocol

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.db.types import utcnow
from app.core.formula import Formula, FormulaError, parse
from app.core.problems import Conflict, FieldError, InvalidValue, NotFound
from app.indicators.models import Indicator
from app.indicators.schemas import IndicatorCreate, IndicatorRead, IndicatorUpdate

_NOT_NULL = ("name", "value_type", "direction", "aggregation")


def get_by_code(session: Session, code: str) -> Indicator:
    indicator = find_by_code(session, code)
    if indicator is None:
        raise unknown(code)
    return indicator


def unknown(code: str) -> NotFound:
    return NotFound(f"No indicator with code {code!r}")


# Built once: building a statement costs more than running it, and every write resolves its indicator.
_BY_CODE = select(Indicator).where(Indicator.code == bindparam("code"))


def find_by_code(session: Session, code: str) -> Indicator | None:
    return session.scalar(_BY_CODE, {"code": code})


def by_code(session: Session) -> dict[str, Indicator]:
    """Every indicator by code: batches check thousands of rows against them at once."""
    return {i.code: i for i in session.scalars(select(Indicator))}


def read(indicator: Indicator) -> IndicatorRead:
    return IndicatorRead.model_validate(indicator)


def list(
    session: Session,
    *,
    section: str | None = None,
    q: str | None = None,
    limit: int | None = 100,
    after: str | None = None,
) -> builtins.list[IndicatorRead]:
    query = select(Indicator).order_by(Indicator.code).limit(limit)
    if section is not None:
        query = query.where(Indicator.section == section)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            or_(
                Indicator.code.contains(q.lower(), autoescape=True),
                func.lower(Indicator.name_en).like(pattern),
                Indicator.name.contains(q, autoescape=True),
            )
        )
    if after is not None:
        query = query.where(Indicator.code > after)
    return [read(i) for i in session.scalars(query)]


def create(session: Session, *, data: IndicatorCreate, actor: str) -> Indicator:
    if find_by_code(session, data.code) is not None:
        raise Conflict(f"An indicator with code {data.code!r} already exists")
    check_formula(session, code=data.code, formula=data.formula)
    _check_bounds(data.expected_min, data.expected_max)
    indicator = Indicator(**data.model_dump(), updated_by=actor)
    session.add(indicator)
    session.flush()
    return indicator


def update(
    session: Session, *, indicator: Indicator, data: IndicatorUpdate, actor: str, has_data: bool
) -> None:
    """Apply the fields sent; `has_data` says whether observations already use the indicator."""
    changes = data.model_dump(exclude_unset=True)
    nulls = [f for f in _NOT_NULL if f in changes and changes[f] is None]
    if nulls:
        raise InvalidValue(
            f"These fields may not be null: {', '.join(nulls)}",
            errors=[FieldError(["body", f], "may not be null") for f in nulls],
        )
    new_type = changes.get("value_type")
    if new_type is not None and new_type != indicator.value_type and has_data:
        raise Conflict(
            f"Indicator {indicator.code!r} has observations; its value_type cannot change "
            f"from {indicator.value_type} to {new_type}"
        )
    if "formula" in changes:
        check_formula(session, code=indicator.code, formula=changes["formula"])
        if changes["formula"] is not None and indicator.formula is None and has_data:
            raise Conflict(
                f"Indicator {indicator.code!r} has observations: it cannot become derived "
                "(its figures would be computed, and the stored ones hidden)"
            )
    _check_bounds(
        changes.get("expected_min", indicator.expected_min),
        changes.get("expected_max", indicator.expected_max),
    )
    for field, value in changes.items():
        setattr(indicator, field, value)
    indicator.updated_at = utcnow()
    indicator.updated_by = actor
    session.flush()


class Referenced(Protocol):
    """Whether figures' history still refers to an indicator: a question of the layers above, which
    the caller passes in (app.observations.service.has_history)."""

    def __call__(self, session: Session, *, indicator_id: int) -> bool: ...


class _StillReferenced(Exception):
    """Raised inside a delete's savepoint to roll the delete back."""


def delete(session: Session, *, indicator: Indicator, referenced: Referenced) -> None:
    """Delete an indicator nothing refers to: no figures, targets or history, no formula."""
    users = [d.code for d in derived_using(session, indicator.code)]
    if users:
        names = ", ".join(users)
        raise Conflict(f"Indicator {indicator.code!r} is an operand of derived indicator(s) {names}")
    try:
        with session.begin_nested():
            session.execute(sql_delete(Indicator).where(Indicator.id == indicator.id))
            # The history has no foreign key of its own: what refers to it there is asked after the
            # DELETE, which on PostgreSQL waits for writers still holding the row.
            if referenced(session, indicator_id=indicator.id):
                raise _StillReferenced
    except (IntegrityError, _StillReferenced):
        raise Conflict(f"Indicator {indicator.code!r} has observations, targets or history") from None


def _formula_error(message: str) -> InvalidValue:
    return InvalidValue(f"formula: {message}", errors=[FieldError(["body", "formula"], message)])


def check_formula(session: Session, *, code: str, formula: str | None) -> Formula | None:
    """A derived indicator's formula, parsed and checked against the catalogue: every operand a stored
    (not derived) indicator other than itself, and the indicator itself no operand of another formula
    (which would make that one's operand derived). 422 naming `formula` otherwise."""
    if formula is None:
        return None
    try:
        parsed = parse(formula)
    except FormulaError as error:
        raise _formula_error(str(error)) from None
    if code in parsed.operands:
        raise _formula_error(f"#{{{code}}} refers to the indicator itself (a cycle)")
    found = {
        i.code: i.formula
        for i in session.scalars(select(Indicator).where(Indicator.code.in_(parsed.operands)))
    }
    unknown_codes = [c for c in parsed.operands if c not in found]
    if unknown_codes:
        raise _formula_error("no indicator with code " + ", ".join(f"{c!r}" for c in unknown_codes))
    derived = [c for c in parsed.operands if found[c] is not None]
    if derived:
        raise _formula_error(
            "operands must be stored indicators; derived: " + ", ".join(f"{c!r}" for c in derived)
        )
    users = [d.code for d in derived_using(session, code)]
    if users:
        raise _formula_error(
            f"{code!r} is an operand of derived indicator(s) {', '.join(users)}: it cannot be derived itself"
        )
    return parsed


def derived(session: Session) -> builtins.list[Indicator]:
    """Every derived indicator (an indicator with a formula), in code order."""
    return builtins.list(
        session.scalars(select(Indicator).where(Indicator.formula.is_not(None)).order_by(Indicator.code))
    )


def derived_using(session: Session, code: str) -> builtins.list[Indicator]:
    """The derived indicators whose formula reads `code`."""
    return [d for d in derived(session) if d.formula is not None and code in parse(d.formula).operands]


def _check_bounds(low: object, high: object) -> None:
    if low is not None and high is not None and low > high:  # type: ignore[operator]
        message = "expected_min may not be above expected_max"
        raise InvalidValue(
            message,
            errors=[
                FieldError(["body", "expected_min"], message),
                FieldError(["body", "expected_max"], message),
            ],
        )


def check_operands(session: Session, *, formula: str, field: str) -> tuple[Formula, dict[str, int]]:
    """A formula of another domain (a validation rule's side), parsed and checked as a derived
    indicator's operands are: every `#{code}` a stored (not derived) indicator. 422 naming `field`;
    the operands' ids by code otherwise."""

    def refused(message: str) -> InvalidValue:
        return InvalidValue(f"{field}: {message}", errors=[FieldError(["body", field], message)])

    try:
        parsed = parse(formula)
    except FormulaError as error:
        raise refused(str(error)) from None
    found = {
        i.code: (i.id, i.formula)
        for i in session.scalars(select(Indicator).where(Indicator.code.in_(parsed.operands)))
    }
    unknown_codes = [c for c in parsed.operands if c not in found]
    if unknown_codes:
        raise refused("no indicator with code " + ", ".join(f"{c!r}" for c in unknown_codes))
    derived_codes = [c for c in parsed.operands if found[c][1] is not None]
    if derived_codes:
        raise refused(
            "operands must be stored indicators; derived: " + ", ".join(f"{c!r}" for c in derived_codes)
        )
    return parsed, {c: found[c][0] for c in parsed.operands}
