from collections.abc import Callable

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.audit.http import record
from app.audit.models import AuditAction
from app.auth.dependencies import Admin, SessionDep, Viewer
from app.core.fields import Code
from app.core.http import json_etag
from app.core.json import json_response
from app.core.pagination import Limit, Page, decode_cursor, page_by_code
from app.core.routing import api_router
from app.core.tables import FILE_RESPONSES, FormatQuery, model_table, requested_format
from app.indicators import service
from app.indicators.schemas import IndicatorCreate, IndicatorRead, IndicatorUpdate

router = api_router("/indicators", "indicators")
# Whether an indicator has figures (its value_type is then fixed).
HasFigures = Callable[[Session, int], bool]


@router.get("", response_model=Page[IndicatorRead], responses=FILE_RESPONSES)
def list_indicators(
    request: Request,
    session: SessionDep,
    _: Viewer,
    section: Code | None = None,
    q: str | None = None,
    limit: Limit = 100,
    cursor: str | None = None,
    format: FormatQuery = None,
) -> Response:
    """Indicators in code order; `section` filters, `q` matches code and names; `?format=csv|xlsx`:
    every matching one as a file."""
    if (wanted := requested_format(request, format)) != "json":
        every = service.list(session, section=section, q=q, limit=None)
        return model_table(request, IndicatorRead, every, format=wanted, name="indicators")
    after = decode_cursor(cursor, str) if cursor else None
    items = service.list(session, section=section, q=q, limit=limit, after=after)
    return json_response(page_by_code(items, limit))


@router.post(
    "",
    status_code=201,
    response_model=IndicatorRead,
    responses={409: {"description": "An indicator with that code exists"}},
)
def create_indicator(data: IndicatorCreate, request: Request, session: SessionDep, actor: Admin) -> Response:
    """Create an indicator."""
    indicator = service.create(session, data=data, actor=actor.name)
    record(
        request, session, actor=actor.name, action=AuditAction.indicator_create, target=data.code, detail=data
    )
    return json_response(
        service.read(indicator),
        status_code=201,
        headers={"Location": f"/api/v1/indicators/{indicator.code}"},
    )


@router.get("/{code}", response_model=IndicatorRead)
def get_indicator(code: Code, request: Request, session: SessionDep, _: Viewer) -> Response:
    """One indicator."""
    return json_etag(request, service.read(service.get_by_code(session, code)))


def changes(*, has_figures: HasFigures, referenced: service.Referenced) -> APIRouter:
    """The PATCH and DELETE routes, which ask the layers above whether figures use the indicator: the
    wiring (app.main) passes those questions in."""
    changes = api_router("/indicators", "indicators")

    @changes.patch(
        "/{code}",
        response_model=IndicatorRead,
        responses={409: {"description": "value_type cannot change once there are observations"}},
    )
    def update_indicator(
        code: Code, data: IndicatorUpdate, request: Request, session: SessionDep, actor: Admin
    ) -> Response:
        """Change an indicator; its value_type is fixed once it has observations (409)."""
        indicator = service.get_by_code(session, code)
        has_data = has_figures(session, indicator.id)
        service.update(session, indicator=indicator, data=data, actor=actor.name, has_data=has_data)
        record(
            request, session, actor=actor.name, action=AuditAction.indicator_update, target=code, detail=data
        )
        return json_response(service.read(indicator))

    @changes.delete(
        "/{code}",
        status_code=204,
        responses={409: {"description": "Figures, targets or history refer to it"}},
    )
    def delete_indicator(code: Code, request: Request, session: SessionDep, actor: Admin) -> Response:
        """Delete an indicator that nothing refers to (409 otherwise)."""
        service.delete(session, indicator=service.get_by_code(session, code), referenced=referenced)
        record(request, session, actor=actor.name, action=AuditAction.indicator_delete, target=code)
        return Response(status_code=204)

    return changes
