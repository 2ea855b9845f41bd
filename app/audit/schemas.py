import datetime as dt
from typing import Any

from pydantic import BaseModel

from app.audit.models import AuditAction


class AuditRead(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: AuditAction
    target: str
    detail: dict[str, Any] | None = None
    address: str | None = None
