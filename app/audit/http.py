"""What the routers that record events take from a request: the client's address."""

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.requests import Request

from app.audit import service
from app.audit.models import AuditAction


def address(request: Request) -> str | None:
    """The client's address (behind a proxy, what uvicorn's --forwarded-allow-ips lets it read)."""
    return request.client.host if request.client else None


def record(
    request: Request,
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    target: str,
    detail: BaseModel | Mapping[str, Any] | None = None,
) -> None:
    """service.record with the request's address."""
    service.record(
        session, actor=actor, action=action, target=target, detail=detail, address=address(request)
    )
