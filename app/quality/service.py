"""Validation rules: kept by code, their formulas checked against the catalogue when written."""

import builtins
import functools
from collections.abc import Iterable

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.formula import Formula, parse
from app.core.problems import NotFound
from app.indicators import service as indicators
from app.quality.judge import Parsed
from app.quality.models import Importance, Rule, RuleOperand
from app.quality.schemas import RuleRead, RuleWrite


def read(rule: Rule) -> RuleRead:
    return RuleRead.model_validate(rule)


def find_by_code(session: Session, code: str) -> Rule | None:
    return session.scalar(select(Rule).where(Rule.code == code))


def get_by_code(session: Session, code: str) -> Rule:
    rule = find_by_code(session, code)
    if rule is None:
        raise NotFound(f"No validation rule with code {code!r}")
    return rule


def list(session: Session, *, limit: int | None = 100, after: str | None = None) -> builtins.list[RuleRead]:
    query = select(Rule).order_by(Rule.code).limit(limit)
    if after is not None:
        query = query.where(Rule.code > after)
    return [read(r) for r in session.scalars(query)]


def put(session: Session, *, code: str, data: RuleWrite) -> tuple[Rule, bool]:
    """Create or replace a rule; (rule, created). Both formulas are checked as a derived indicator's
    are: 422 naming `left` or `right` for a syntax error, an unknown code or a derived operand."""
    _, left_ids = indicators.check_operands(session, formula=data.left, field="left")
    _, right_ids = indicators.check_operands(session, formula=data.right, field="right")
    rule = find_by_code(session, code)
    created = rule is None
    if rule is None:
        rule = Rule(code=code, **data.model_dump())
        session.add(rule)
    else:
        for field, value in data.model_dump().items():
            setattr(rule, field, value)
    session.flush()
    session.execute(sql_delete(RuleOperand).where(RuleOperand.rule_id == rule.id))
    ids = {**left_ids, **right_ids}
    if ids:
        session.add_all(RuleOperand(rule_id=rule.id, indicator_id=i) for i in sorted(set(ids.values())))
    session.flush()
    return rule, created


def delete(session: Session, *, code: str) -> None:
    rule = get_by_code(session, code)
    session.delete(rule)
    session.flush()


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Formula:
    return parse(text)


def parsed(rule: Rule) -> Parsed:
    """The rule with its formulas parsed (once per text: a formula is immutable once parsed)."""
    return Parsed(
        id=rule.id,
        code=rule.code,
        left=_parse(rule.left),
        operator=rule.operator,
        right=_parse(rule.right),
        importance=rule.importance,
        missing=rule.missing,
    )


def rules(
    session: Session,
    *,
    codes: Iterable[str] = (),
    importance: Iterable[Importance] = (),
    reading: Iterable[int] = (),
) -> builtins.list[Parsed]:
    """The rules (in code order), parsed: those named, of an importance, or reading one of the
    indicator ids `reading` (each filter applies when given)."""
    query = select(Rule).order_by(Rule.code)
    codes, importance, reading = builtins.list(codes), builtins.list(importance), builtins.list(reading)
    if codes:
        query = query.where(Rule.code.in_(codes))
    if importance:
        query = query.where(Rule.importance.in_(importance))
    if reading:
        query = query.where(
            Rule.id.in_(select(RuleOperand.rule_id).where(RuleOperand.indicator_id.in_(reading)))
        )
    return [parsed(r) for r in session.scalars(query)]
