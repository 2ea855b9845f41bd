from typing import Annotated, Any

from fastapi import Body, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.auth.dependencies import ClerkToken, SessionDep, Viewer, ViewerToken
from app.cells.http import (
    CELL,
    MERGE_PATCH,
    Claim,
    ReasonQuery,
    YearPath,
    patch_cell,
    precondition,
    put_answer,
    resolve,
    write_cell,
)
from app.cells.key import Cell
from app.cells.store import Outcome
from app.core.config import Settings, current_settings
from app.core.db.session import one_statement
from app.core.fields import Code
from app.core.http import json_etag
from app.core.json import json_response
from app.core.pagination import Limit, Page, decode_cursor, encode_cursor
from app.core.routing import api_router
from app.core.tables import FILE_RESPONSES, FormatQuery, model_table, requested_format
from app.observations import service
from app.observations.models import Observation
from app.observations.schemas import (
    ObservationPatch,
    ObservationRead,
    ObservationWrite,
    ObservationWritten,
    RevisionRead,
)
from app.reporting import locks

router = api_router("/observations", "observations")
SettingsDep = Annotated[Settings, Depends(current_settings)]
# A write's first query takes the department-year's reporting lock (one round trip fewer).
HELD = (locks.HELD,)
_FUTURE = {"description": "A year after the current one (INDICATORS_OPEN_FUTURE_YEARS), or a bad value"}
# app.reporting.locks: the department-year submitted or approved, or its entry period closed
LOCKED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Locked (type `locked`: submitted or approved), period closed (`period-closed`), "
        "or a derived indicator's figure (`derived`: computed, never written)"
    }
}


def _put(
    session: Session, request: Request, claim: Claim, data: ObservationWrite
) -> tuple[Observation, Outcome, list[Any]]:
    """A PUT's or PATCH's write of the figure `data` to the cell claimed (its first query took the
    department-year's lock: HELD), with its warnings."""
    return service.put(
        session,
        cell=claim.cell,
        data=data,
        actor=claim.writer,
        precondition=precondition(request),
        current=claim.current,
        scope_checked=True,
        lock_held=True,
        warned=True,
    )


def _answer(cell: Cell, written: tuple[Observation, Outcome, list[Any]]) -> Response:
    observation, outcome, found = written
    # as a dict: each warning carries only the fields of its type (ObservationWritten documents them)
    body = {**service.read(cell, observation).model_dump(), "warnings": found}
    location = f"/api/v1/observations/{cell.indicator.code}/{cell.department.code}/{cell.year}"
    return put_answer(body, observation, outcome, location)


@router.put(
    CELL,
    response_model=ObservationWritten,
    responses={201: {"model": ObservationWritten, "description": "Created"}, 422: _FUTURE, **LOCKED},
)
async def put_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    data: ObservationWrite,
    request: Request,
    session: SessionDep,
    token: ClerkToken,
    settings: SettingsDep,
) -> Response:
    """Record a cell's figure, replacing the whole of it (a field left out becomes null): 201 when
    created, 200 when updated or unchanged. Not for a year after the current one (in
    INDICATORS_TIMEZONE) unless INDICATORS_OPEN_FUTURE_YEARS opens it. `reason` is kept in the history."""
    service.check_open_year(year, settings.last_open_year())
    cell, written = await write_cell(
        session,
        service.STORE,
        indicator,
        department,
        year,
        token,
        lambda claim: _put(session, request, claim, data),
        also=HELD,
    )
    return _answer(cell, written)


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
    """A cell's current figure, with an ETag. (v2) A derived indicator's figure is computed from its
    operands' figures of the same department and year: `version` and `updated_by` null."""
    # Async, its one indexed query on the event loop: the read dashboards repeat most waits on no
    # lock, and a trip to a worker thread would cost more than the query.
    observation = service.read_by_codes(session, indicator, department, year, token)
    # A derived figure has no version: its ETag is its content's.
    version = observation.version
    return json_etag(request, observation, etag=None if version is None else f'"{version}"')


@router.delete(CELL, status_code=204, responses=LOCKED)
async def delete_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    request: Request,
    session: SessionDep,
    token: ClerkToken,
    reason: ReasonQuery = None,
) -> Response:
    """Delete a cell's figure; its history keeps the deletion as a version, with `?reason=`."""
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
            lock_held=True,
            reason=reason,
        ),
        also=HELD,
    )
    return Response(status_code=204)


@router.get(
    CELL + "/history",
    response_model=Page[RevisionRead],
    responses={
        **FILE_RESPONSES,
        409: {"description": "A derived indicator's figure (`derived`): the detail names its operands"},
    },
)
def observation_history(
    indicator: Code,
    department: Code,
    year: YearPath,
    request: Request,
    session: SessionDep,
    _: Viewer,
    limit: Limit = 100,
    cursor: str | None = None,
    format: FormatQuery = None,
) -> Response:
    """Every version of a cell, oldest first: who, when, the value before and after;
    `?format=csv|xlsx`: all of them as a file. A derived figure has no history of its own: 409, the
    detail naming the operand figures and versions it is computed from."""
    cell = resolve(session, indicator, department, year)
    if (wanted := requested_format(request, format)) != "json":
        every = service.history(session, cell=cell, limit=None)
        name = f"history-{indicator}-{department}-{year}"
        return model_table(request, RevisionRead, every, format=wanted, name=name)
    after = decode_cursor(cursor, int) if cursor else 0
    items = service.history(session, cell=cell, limit=limit, after_version=int(after or 0))
    next_cursor = encode_cursor(items[-1].version) if len(items) == limit else None
    return json_response(Page(items=items, next_cursor=next_cursor))


@router.patch(
    CELL,
    response_model=ObservationWritten,
    responses={
        404: {"description": "No figure for the cell"},
        412: {"description": "If-Match failed"},
        422: _FUTURE,
        **LOCKED,
    },
)
async def patch_observation(
    indicator: Code,
    department: Code,
    year: YearPath,
    patch: Annotated[ObservationPatch, Body(media_type=MERGE_PATCH)],
    request: Request,
    session: SessionDep,
    token: ClerkToken,
    settings: SettingsDep,
) -> Response:
    """Change some fields of a cell's figure: a JSON merge patch (RFC 7396, `application/merge-patch+json`
    or `application/json`). The fields given change, `null` clears one, the figure made is checked
    whole as a PUT's would be; the same figure again makes no new version. If-Match is honoured."""
    service.check_open_year(year, settings.last_open_year())

    cell, written = await patch_cell(
        session,
        service.STORE,
        indicator,
        department,
        year,
        token,
        patch=patch,
        write=ObservationWrite,
        put=lambda claim, data: _put(session, request, claim, data),
        noun="observation",
        writable=lambda claim: service.check_writable(claim.cell),
        also=HELD,
    )
    return _answer(cell, written)
