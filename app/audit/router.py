"""HTTP for the audit log: admins read it a page at a time, or as a file."""

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BeforeValidator, WithJsonSchema
from starlette.responses import Response

from app.audit import service
from app.audit.models import AuditAction
from app.audit.schemas import AuditRead
from app.core.db.session import get_session
from app.core.json import dumps, json_response
from app.core.pagination import Limit, Page, decode_cursor, encode_cursor
from app.core.routing import api_router
from app.core.tables import FILE_RESPONSES, FormatQuery, model_table, requested_format

RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _moment(value: object) -> dt.datetime:
    """A time with its offset, as RFC 3339 text: a number is not read as a timestamp, and a time
    without an offset would mean a different moment in each office."""
    if not isinstance(value, str) or not re.fullmatch(RFC3339, value):
        raise ValueError("a time as RFC 3339 text with an offset, as 2026-12-05T09:00:00+08:00")
    try:
        moment = dt.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ValueError("not a time that exists") from None


Moment = Annotated[
    dt.datetime,
    BeforeValidator(_moment),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339}),
]


def routes(*, admin: Any) -> APIRouter:
    """The audit routes; `admin` is the dependency that lets only admins through (app.auth lies
    above this package, so the wiring passes it in)."""
    router = api_router("/audit", "audit")
    session_dep = Depends(get_session, scope="function")

    @router.get("", response_model=Page[AuditRead], responses=FILE_RESPONSES)
    def list_audit(
        request: Request,
        session: Any = session_dep,
        _: Any = admin,
        since: Annotated[Moment | None, Query(description="events at or after this time")] = None,
        actor: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")] = None,
        action: AuditAction | None = None,
        limit: Limit = 100,
        cursor: str | None = None,
        format: FormatQuery = None,
    ) -> Response:
        """Administrative actions, oldest first: who (the token's name), what, on what, when and
        from which address; `?format=csv|xlsx`: every event the filters select, as a file."""
        if (wanted := requested_format(request, format)) != "json":
            every, _last = service.list(session, since=since, actor=actor, action=action, limit=None)
            rows = [{**e.model_dump(mode="json"), "detail": _text(e.detail)} for e in every]
            return model_table(request, AuditRead, rows, format=wanted, name="audit")
        after = int(decode_cursor(cursor, int)) if cursor else None
        items, last = service.list(
            session, since=since, actor=actor, action=action, limit=limit, after_id=after
        )
        return json_response(Page(items=items, next_cursor=encode_cursor(last) if last else None))

    return router


def _text(detail: dict[str, Any] | None) -> str | None:
    return None if detail is None else dumps(detail).decode()
