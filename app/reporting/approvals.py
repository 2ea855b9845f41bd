"""Approval of one department's figures of one year: draft -> submitted -> approved, and back."""

import builtins
from typing import Any

from sqlalchemy import Integer, SmallInteger, column, exists, select, table
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.auth.principal import Principal
from app.core.db.types import utcnow
from app.core.problems import Conflict, FieldError, Forbidden, InvalidValue
from app.departments import service as departments
from app.departments.models import Department
from app.departments.scope import may_write
from app.indicators.models import Indicator
from app.quality import validation
from app.quality.judge import Status
from app.quality.models import Importance
from app.reporting.assignments import in_force
from app.reporting.locks import lock_for_approval
from app.reporting.models import Approval, ApprovalAction, Assignment, State, Step
from app.reporting.schemas import ActionWrite, ApprovalRead, HistoryItem

# The figures, named as their table names them: reporting lies below the observations whose writes
# it locks, so it reads which assigned figures exist without importing their model.
OBSERVATION = table(
    "observation",
    column("indicator_id", Integer),
    column("department_id", Integer),
    column("year", SmallInteger),
)

# action -> the states it may start from, and the state it leads to
MOVES: dict[Step, tuple[tuple[State, ...], State]] = {
    Step.submit: ((State.draft,), State.submitted),
    Step.return_: ((State.submitted,), State.draft),
    Step.approve: ((State.draft, State.submitted), State.approved),
    Step.reopen: ((State.approved,), State.draft),
}


def missing(session: Session, *, department_id: int, year: int) -> builtins.list[str]:
    """The codes of the indicators assigned to the department for the year with no figure, in code order."""
    has_figure = exists().where(
        OBSERVATION.c.indicator_id == Assignment.indicator_id,
        OBSERVATION.c.department_id == department_id,
        OBSERVATION.c.year == year,
    )
    return builtins.list(
        session.scalars(
            select(Indicator.code)
            .join(Assignment, Assignment.indicator_id == Indicator.id)
            .where(Assignment.department_id == department_id, in_force(year), ~has_figure)
            .order_by(Indicator.code)
        )
    )


def _row(session: Session, department_id: int, year: int) -> Approval | None:
    return session.scalar(
        select(Approval).where(Approval.department_id == department_id, Approval.year == year)
    )


def read(session: Session, department: Department, year: int) -> ApprovalRead:
    row = _row(session, department.id, year)
    history = [
        HistoryItem(action=a.action, by=a.by, at=a.at, reason=a.reason)
        for a in session.scalars(
            select(ApprovalAction)
            .where(ApprovalAction.department_id == department.id, ApprovalAction.year == year)
            .order_by(ApprovalAction.id)
        )
    ]
    if row is None:
        return ApprovalRead(department=department.code, year=year, state=State.draft, history=history)
    return ApprovalRead(
        department=department.code,
        year=year,
        state=row.state,
        submitted_at=row.submitted_at,
        submitted_by=row.submitted_by,
        approved_at=row.approved_at,
        approved_by=row.approved_by,
        history=history,
    )


def get(session: Session, *, department: str, year: int) -> ApprovalRead:
    return read(session, departments.get_by_code(session, department), year)


def list(
    session: Session,
    *,
    year: int | None,
    department_id: int | None,
    state: State | None,
    limit: int,
    after_id: int | None,
) -> tuple[builtins.list[ApprovalRead], int | None]:
    """A page of the approvals recorded (a department-year never acted on is draft and not listed)."""
    query = select(Approval, Department).join(Department, Department.id == Approval.department_id)
    if year is not None:
        query = query.where(Approval.year == year)
    if department_id is not None:
        query = query.where(Approval.department_id == department_id)
    if state is not None:
        query = query.where(Approval.state == state)
    if after_id is not None:
        query = query.where(Approval.id > after_id)
    rows = session.execute(query.order_by(Approval.id).limit(limit)).all()
    items = [read(session, d, a.year) for a, d in rows]
    return items, rows[-1][0].id if len(rows) == limit else None


def act(
    session: Session, *, department: str, year: int, action: Step, data: ActionWrite, actor: Principal
) -> ApprovalRead:
    """Move a department-year's approval by one action, keeping who, when and why."""
    d = departments.get_by_code(session, department)
    if action is Step.submit:
        if not may_write(session, actor, d.id):
            scope = actor.department_code or "no department"
            raise Forbidden(f"{actor.name!r} may submit only for {scope} and the departments below it")
    elif not actor.has(Role.commission):
        raise Forbidden(f"Only the commission and admin may {action.value}")
    if action in (Step.return_, Step.reopen) and not data.reason:
        raise InvalidValue(
            f"{action.value} needs a reason", errors=[FieldError(["body", "reason"], "须填写原因", "missing")]
        )
    if data.allow_missing and not data.reason:
        raise InvalidValue(
            "allow_missing needs a reason",
            errors=[FieldError(["body", "reason"], "允许缺报时须填写原因", "missing")],
        )
    lock_for_approval(session, d.id, year)
    row = _row(session, d.id, year)
    current = row.state if row is not None else State.draft
    sources, target = MOVES[action]
    if current not in sources:
        raise Conflict(
            f"{department} {year} 当前状态为 {current.value}，不能执行 {action.value}",
            extra={"state": current.value},
        )
    extra: dict[str, Any] = {"state": current.value}
    if action in (Step.submit, Step.approve):
        absent = missing(session, department_id=d.id, year=year)
        if absent and not data.allow_missing:
            raise Conflict(
                f"{department} {year} 尚缺 {len(absent)} 项已分配指标的数据：{'、'.join(absent)}"
                "（如确需提交，请设 allow_missing 并说明原因）",
                extra={**extra, "missing": absent},
            )
    if action is Step.submit:
        broken = [
            b
            for b in validation.breaches_of(
                session, department_id=d.id, year=year, importance=[Importance.high]
            )
            if b["status"] is Status.violated
        ]
        if broken:
            raise Conflict(
                f"{department} {year} 违反 {len(broken)} 条重要（high）校验规则："
                f"{'、'.join(b['rule'] for b in broken)}（请先更正数据）",
                extra={**extra, "breaches": broken},
            )
    if action is Step.approve:
        below = departments.subtree_ids(session, d.id) - {d.id}
        approved = set(
            session.scalars(
                select(Approval.department_id).where(
                    Approval.department_id.in_(below), Approval.year == year, Approval.state == State.approved
                )
            )
        )
        pending = sorted(session.scalars(select(Department.code).where(Department.id.in_(below - approved))))
        if pending:
            raise Conflict(
                f"{department} {year} 的下级部门尚未审核通过：{'、'.join(pending)}",
                extra={**extra, "departments": pending},
            )
    if action is Step.reopen and d.parent_id is not None:
        parent = _row(session, d.parent_id, year)
        if parent is not None and parent.state == State.approved:
            code = session.scalar(select(Department.code).where(Department.id == d.parent_id))
            raise Conflict(
                f"上级部门 {code} {year} 已审核通过，请先重新打开上级部门",
                extra={**extra, "parent": code},
            )
    now = utcnow()
    if row is None:
        row = Approval(department_id=d.id, year=year, state=target)
        session.add(row)
    row.state = target
    if action is Step.submit:
        row.submitted_at, row.submitted_by = now, actor.name
    elif action is Step.approve:
        row.approved_at, row.approved_by = now, actor.name
    else:
        row.approved_at = row.approved_by = None
        if action is Step.return_ or target is State.draft:
            row.submitted_at = row.submitted_by = None
    session.add(
        ApprovalAction(
            department_id=d.id, year=year, action=action.value, by=actor.name, at=now, reason=data.reason
        )
    )
    session.flush()
    return read(session, d, year)
