"""Recording administrative actions, and reading them back a page at a time."""

import builtins
import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditAction, AuditEvent
from app.audit.schemas import AuditRead
from app.core.db.types import utcnow
from app.core.json import dumps, loads

TARGET_MAX = 300


def record(
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    target: str,
    detail: BaseModel | Mapping[str, Any] | None = None,
    address: str | None = None,
) -> None:
    """Keep one event in the session's transaction: it is committed with the action, or not at all."""
    if isinstance(detail, BaseModel):
        # As Python values: `dumps` writes a Decimal as its digits (pydantic's JSON mode makes it a
        # string, and warns of the exact-decimal fields it cannot serialize as declared).
        detail = detail.model_dump(mode="python", exclude_unset=True)
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor,
            action=action.value,
            target=target[:TARGET_MAX],
            detail=None if detail is None else dumps(detail).decode(),
            address=address,
        )
    )


def read(event: AuditEvent) -> AuditRead:
    return AuditRead(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=AuditAction(event.action),
        target=event.target,
        detail=None if event.detail is None else loads(event.detail),  # numbers stay exact
        address=event.address,
    )


def list(
    session: Session,
    *,
    since: dt.datetime | None = None,
    actor: str | None = None,
    action: AuditAction | None = None,
    limit: int | None = 100,
    after_id: int | None = None,
) -> tuple[builtins.list[AuditRead], int | None]:
    """Events oldest first (`since`: at or after that time), and the id to page on from when the page
    is full."""
    query = select(AuditEvent)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action == action.value)
    if after_id is not None:
        query = query.where(AuditEvent.id > after_id)
    events = builtins.list(session.scalars(query.order_by(AuditEvent.id).limit(limit)))
    last = events[-1].id if limit is not None and len(events) == limit else None
    return [read(e) for e in events], last
