from fastapi import Request
from starlette.responses import Response

from app.auth.dependencies import Clerk, SessionDep, Viewer
from app.cellroutes import CELL, YearPath, YearQuery, etag, filter_id, precondition, resolve
from app.cells import CellFilters, Outcome
from app.http import api_router, json_etag
from app.jsonio import json_response
from app.observations import service
from app.observations.schemas import ObservationRead, ObservationWrite, RevisionRead
from app.schemas import Code, Limit, Page, decode_cursor, encode_cursor

router = api_router("/observations", "observations")


@router.get("", response_model=Page[ObservationRead])
def list_observations(
    session: SessionDep,
    _: Viewer,
    indicator: Code | None = None,
    department: Code | None = None,
    year: YearQuery = None,
    year_from: YearQuery = None,
    year_to: YearQuery = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> Response:
    """A page of observations, filtered by indicator, department and years."""
    filters = CellFilters(
        indicator_id=filter_id(session, "indicator", indicator),
        department_id=filter_id(session, "department", department),
        year=year,
        year_from=year_from,
        year_to=year_to,
    )
    after = decode_cursor(cursor) if cursor else None
    if after is not None and not isinstance(after, int):
        after = None
    items, last = service.list(session, filters=filters, limit=limit, after_id=after)
    return json_response(Page(items=items, next_cursor=encode_cursor(last) if last else None))


@router.put(
    CELL,
    response_model=ObservationRead,
    responses={201: {"model": ObservationRead, "description": "Created"}},
)
def put_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    data: ObservationWrite,
    request: Request,
    session: SessionDep,
    actor: Clerk,
) -> Response:
    """Record a cell's figure: 201 when created, 200 when updated or unchanged."""
    cell = resolve(session, indicator, department, year)
    observation, outcome = service.put(
        session, cell=cell, data=data, actor=actor, precondition=precondition(request)
    )
    status = 201 if outcome is Outcome.created else 200
    headers = {"ETag": etag(observation)}
    if status == 201:
        headers["Location"] = f"/api/v1/observations/{indicator}/{department}/{year}"
    return json_response(service.read(cell, observation), status_code=status, headers=headers)


@router.get(CELL, response_model=ObservationRead)
def get_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    request: Request,
    session: SessionDep,
    _: Viewer,
) -> Response:
    """A cell's current figure, with an ETag."""
    cell = resolve(session, indicator, department, year)
    observation = service.get(session, cell)
    return json_etag(request, service.read(cell, observation), etag=etag(observation))


@router.delete(CELL, status_code=204)
def delete_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    request: Request,
    session: SessionDep,
    actor: Clerk,
) -> Response:
    """Delete a cell's figure; its history keeps the deletion as a version."""
    cell = resolve(session, indicator, department, year)
    service.delete(session, cell=cell, actor=actor, precondition=precondition(request))
    return Response(status_code=204)


@router.get(CELL + "/history", response_model=Page[RevisionRead])
def observation_history(
    indicator: Code,
    department: Code,
    year: YearPath,
    session: SessionDep,
    _: Viewer,
    limit: Limit = 100,
    cursor: str | None = None,
) -> Response:
    """Every version of a cell, oldest first: who, when, the value before and after."""
    cell = resolve(session, indicator, department, year)
    after = decode_cursor(cursor) if cursor else 0
    items = service.history(session, cell=cell, limit=limit, after_version=int(after or 0))
    next_cursor = encode_cursor(items[-1].version) if len(items) == limit else None
    return json_response(Page(items=items, next_cursor=next_cursor))
