import datetime as dt
import enum

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db.types import Base, UTCDateTime


class AuditAction(enum.StrEnum):
    """What an event records; `<thing>.<verb>`."""

    token_create = "token.create"
    token_revoke = "token.revoke"
    indicator_create = "indicator.create"
    indicator_update = "indicator.update"
    indicator_delete = "indicator.delete"
    department_create = "department.create"
    department_update = "department.update"
    department_delete = "department.delete"
    assignment_put = "assignment.put"
    assignment_delete = "assignment.delete"
    assignment_batch = "assignment.batch"
    period_put = "period.put"
    period_delete = "period.delete"
    exception_put = "period_exception.put"
    exception_delete = "period_exception.delete"
    approval_submit = "approval.submit"
    approval_return = "approval.return"
    approval_approve = "approval.approve"
    approval_reopen = "approval.reopen"
    rule_create = "rule.create"
    rule_update = "rule.update"
    rule_delete = "rule.delete"


class AuditEvent(Base):
    """One administrative action. No foreign key: `target` is text, kept when its thing is deleted."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    # Plain text, not a database enum: new actions (rules, ...) need no migration.
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON text of what was sent or changed
    address: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_event_at", "at"),)
