from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.auth.dependencies import ClerkToken, SessionDep, Viewer, ViewerToken
from app.cells.http import (
    CELL,
    YearPath,
    etag,
    precondition,
    put_answer,
    resolve,
    write_cell,
)
from app.core.db.session import one_statement
from app.core.fields import Code
from app.core.http import json_etag
from app.core.json import json_response
from app.core.pagination import Limit, Page, decode_cursor, encode_cursor
from app.core.routing import api_router
from app.observations import service
from app.observations.schemas import ObservationRead, ObservationWrite, RevisionRead

router = api_router("/observations", "observations")
# app.reporting.locks: the department-year submitted or approved, or its entry period closed
LOCKED: dict[int | str, dict[str, Any]] = {
    409: {"description": "Locked (type `locked`: submitted or approved) or period closed (`period-closed`)"}
}


@router.put(
    CELL,
    response_model=ObservationRead,
    responses={201: {"model": ObservationRead, "description": "Created"}, **LOCKED},
)
async def put_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    data: ObservationWrite,
    request: Request,
    session: SessionDep,
    token: ClerkToken,
) -> Response:
    """Record a cell's figure: 201 when created, 200 when updated or unchanged."""
    cell, (observation, outcome) = await write_cell(
        session,
        service.STORE,
        indicator,
        department,
        year,
        token,
        lambda claim: service.put(
            session,
            cell=claim.cell,
            data=data,
            actor=claim.writer,
            precondition=precondition(request),
            current=claim.current,
            scope_checked=True,
        ),
    )
    location = f"/api/v1/observations/{indicator}/{department}/{year}"
    return put_answer(service.read(cell, observation), observation, outcome, location)


@router.get(CELL, response_model=ObservationRead)
@one_statement
async def get_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    request: Request,
    session: SessionDep,
    token: ViewerToken,
) -> Response:
    """A cell's current figure, with an ETag."""
    # Async, its one indexed query on the event loop: the read dashboards repeat most waits on no
    # lock, and a trip to a worker thread would cost more than the query.
    observation = service.read_by_codes(session, indicator, department, year, token)
    return json_etag(request, observation, etag=etag(observation))


@router.delete(CELL, status_code=204, responses=LOCKED)
async def delete_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    request: Request,
    session: SessionDep,
    token: ClerkToken,
) -> Response:
    """Delete a cell's figure; its history keeps the deletion as a version."""
    await write_cell(
        session,
        service.STORE,
        indicator,
        department,
        year,
        token,
        lambda claim: service.delete(
            session,
            cell=claim.cell,
            actor=claim.writer,
            precondition=precondition(request),
            current=claim.current,
            scope_checked=True,
        ),
    )
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
    after = decode_cursor(cursor, int) if cursor else 0
    items = service.history(session, cell=cell, limit=limit, after_version=int(after or 0))
    next_cursor = encode_cursor(items[-1].version) if len(items) == limit else None
    return json_response(Page(items=items, next_cursor=next_cursor))
