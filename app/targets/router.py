from typing import Annotated

from fastapi import Body, Query, Request
from starlette.responses import Response

from app.auth.dependencies import CommissionToken, SessionDep, Viewer
from app.cells.http import (
    CELL,
    MERGE_PATCH,
    Claim,
    ReasonQuery,
    YearPath,
    YearQuery,
    etag,
    filter_id,
    patch_cell,
    precondition,
    put_answer,
    resolve,
    write_cell,
    year_range,
)
from app.cells.key import CellFilters
from app.cells.store import Outcome
from app.core.fields import Code
from app.core.http import json_etag
from app.core.json import json_response
from app.core.pagination import Limit, Page, decode_cursor, encode_cursor
from app.core.routing import api_router
from app.core.tables import FILE_RESPONSES, FormatQuery, model_table, requested_format
from app.targets import service
from app.targets.models import Target
from app.targets.schemas import TargetPatch, TargetRead, TargetRevisionRead, TargetWrite

router = api_router("/targets", "targets")


@router.get("", response_model=Page[TargetRead], responses=FILE_RESPONSES)
def list_targets(
    request: Request,
    session: SessionDep,
    _: Viewer,
    indicator: Code | None = None,
    department: Annotated[
        list[Code], Query(description="repeat for the targets of any of several departments")
    ] = [],  # noqa: B006
    year: YearQuery = None,
    year_from: YearQuery = None,
    year_to: YearQuery = None,
    limit: Limit = 100,
    cursor: str | None = None,
    format: FormatQuery = None,
) -> Response:
    """A page of targets, filtered by indicator, department (repeatable: any of them) and years;
    `?format=csv|xlsx`: every matching one as a file."""
    year_range(year_from, year_to)
    department_ids = [filter_id(session, "department", code) for code in department]
    filters = CellFilters(
        indicator_id=filter_id(session, "indicator", indicator),
        department_ids=frozenset(i for i in department_ids if i is not None) if department else None,
        year=year,
        year_from=year_from,
        year_to=year_to,
    )
    if (wanted := requested_format(request, format)) != "json":
        every, _last = service.list(session, filters=filters, limit=None)
        return model_table(request, TargetRead, every, format=wanted, name="targets")
    after = decode_cursor(cursor, int) if cursor else None
    items, last = service.list(
        session, filters=filters, limit=limit, after_id=after if isinstance(after, int) else None
    )
    return json_response(Page(items=items, next_cursor=encode_cursor(last) if last else None))


@router.put(CELL, response_model=TargetRead, responses={201: {"model": TargetRead, "description": "Created"}})
async def put_target(
    indicator: Code,
    department: Code,
    year: YearPath,
    data: TargetWrite,
    request: Request,
    session: SessionDep,
    token: CommissionToken,
) -> Response:
    """Set a cell's target (commission and admin), replacing the whole of it (a field left out becomes
    null): 201 when created, 200 otherwise. Any year. `reason` is kept in the history."""
    cell, (target, outcome) = await write_cell(
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
        ),
    )
    location = f"/api/v1/targets/{indicator}/{department}/{year}"
    return put_answer(service.read(cell, target), target, outcome, location)


@router.get(CELL, response_model=TargetRead)
def get_target(
    indicator: Code,
    department: Code,
    year: YearPath,
    request: Request,
    session: SessionDep,
    _: Viewer,
) -> Response:
    """A cell's target, with an ETag."""
    cell = resolve(session, indicator, department, year)
    target = service.get(session, cell)
    return json_etag(request, service.read(cell, target), etag=etag(target))


@router.delete(CELL, status_code=204)
async def delete_target(
    indicator: Code,
    department: Code,
    year: YearPath,
    request: Request,
    session: SessionDep,
    token: CommissionToken,
    reason: ReasonQuery = None,
) -> Response:
    """Remove a cell's target; its history keeps the deletion, with `?reason=`."""
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
            reason=reason,
        ),
    )
    return Response(status_code=204)


@router.get(CELL + "/history", response_model=Page[TargetRevisionRead], responses=FILE_RESPONSES)
def target_history(
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
    """Every version of a cell's target, oldest first; `?format=csv|xlsx`: all of them as a file."""
    cell = resolve(session, indicator, department, year)
    if (wanted := requested_format(request, format)) != "json":
        every = service.history(session, cell=cell, limit=None)
        name = f"target-history-{indicator}-{department}-{year}"
        return model_table(request, TargetRevisionRead, every, format=wanted, name=name)
    after = decode_cursor(cursor, int) if cursor else 0
    items = service.history(session, cell=cell, limit=limit, after_version=int(after or 0))
    next_cursor = encode_cursor(items[-1].version) if len(items) == limit else None
    return json_response(Page(items=items, next_cursor=next_cursor))


@router.patch(
    CELL,
    response_model=TargetRead,
    responses={404: {"description": "No target for the cell"}, 412: {"description": "If-Match failed"}},
)
async def patch_target(
    indicator: Code,
    department: Code,
    year: YearPath,
    patch: Annotated[TargetPatch, Body(media_type=MERGE_PATCH)],
    request: Request,
    session: SessionDep,
    token: CommissionToken,
) -> Response:
    """Change some fields of a cell's target: a JSON merge patch (RFC 7396, `application/merge-patch+json`
    or `application/json`). The fields given change, `null` clears one, the target made is checked
    whole (`upper` with `between` only, `value` <= `upper`); the same target again makes no new
    version. If-Match is honoured."""

    def put(claim: Claim, data: TargetWrite) -> tuple[Target, Outcome]:
        return service.put(
            session,
            cell=claim.cell,
            data=data,
            actor=claim.writer,
            precondition=precondition(request),
            current=claim.current,
        )

    cell, (target, outcome) = await patch_cell(
        session,
        service.STORE,
        indicator,
        department,
        year,
        token,
        patch=patch,
        write=TargetWrite,
        put=put,
        noun="target",
    )
    location = f"/api/v1/targets/{indicator}/{department}/{year}"
    return put_answer(service.read(cell, target), target, outcome, location)
