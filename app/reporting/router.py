"""HTTP for the reporting cycle: assignments, periods, approvals."""

import datetime as dt
from typing import Annotated, Any

from fastapi import Path, Query, Request
from starlette.responses import Response

from app.audit.http import record
from app.audit.models import AuditAction
from app.auth.dependencies import Clerk, Commission, SessionDep, Viewer
from app.cells.http import YearPath, YearQuery, filter_id
from app.core.fields import Code
from app.core.json import json_response
from app.core.pagination import Limit, Page, decode_cursor, encode_cursor
from app.core.routing import api_router
from app.core.tables import FILE_RESPONSES, Format, requested_format, table
from app.reporting import approvals, assignments, periods
from app.reporting.models import State, Step
from app.reporting.schemas import (
    ActionWrite,
    ApprovalRead,
    AssignmentBatch,
    AssignmentRead,
    AssignmentWrite,
    BatchSummary,
    ExceptionWrite,
    PeriodRead,
    PeriodWrite,
)

router = api_router("", "reporting")
PAIR = "/assignments/{indicator}/{department}"
CREATED: dict[int | str, dict[str, Any]] = {201: {"description": "Created"}}
ASSIGNMENT_COLUMNS = ("indicator", "department", "from_year", "to_year")
APPROVAL_COLUMNS = (
    "department",
    "year",
    "state",
    "submitted_at",
    "submitted_by",
    "approved_at",
    "approved_by",
)


def _when(at: dt.datetime | None) -> str | None:
    """A time as the JSON answer gives it: a workbook cell holds no time zone."""
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def _after(cursor: str | None) -> int | None:
    return int(decode_cursor(cursor, int)) if cursor else None


@router.get("/assignments", response_model=Page[AssignmentRead], responses=FILE_RESPONSES)
def list_assignments(
    request: Request,
    session: SessionDep,
    _: Viewer,
    department: Code | None = None,
    indicator: Code | None = None,
    year: YearQuery = None,
    limit: Limit = 100,
    cursor: str | None = None,
    format: Annotated[Format | None, Query(description="json (default), csv or xlsx")] = None,
) -> Response:
    """A page of assignments (`year`: those in force that year); CSV or a workbook with `format`."""
    items, last = assignments.list(
        session,
        department_id=filter_id(session, "department", department),
        indicator_id=filter_id(session, "indicator", indicator),
        year=year,
        limit=limit,
        after_id=_after(cursor),
    )
    if (kind := requested_format(request, format)) != "json":
        rows = ([a.indicator, a.department, a.from_year, a.to_year] for a in items)
        return table(request, ASSIGNMENT_COLUMNS, rows, format=kind, name="assignments")
    return json_response(Page(items=items, next_cursor=encode_cursor(last) if last else None))


@router.post(
    "/assignments", response_model=BatchSummary, responses={422: {"description": "A row rejected (atomic)"}}
)
def assignment_batch(
    data: AssignmentBatch, request: Request, session: SessionDep, actor: Commission
) -> Response:
    """Many assignments at once, with the batch summary; `dry_run` writes nothing, `atomic` (default)
    writes nothing when one row is rejected."""
    summary = assignments.batch(session, data=data)
    if not data.dry_run and (summary.created or summary.updated):
        rows = len(data.assignments)
        detail = {"rows": rows, "created": summary.created, "updated": summary.updated}
        action = AuditAction.assignment_batch
        record(request, session, actor=actor.name, action=action, target=f"{rows} rows", detail=detail)
    return json_response(summary)


@router.get(PAIR, response_model=AssignmentRead)
def get_assignment(indicator: Code, department: Code, session: SessionDep, _: Viewer) -> Response:
    """One assignment."""
    return json_response(assignments.get(session, indicator=indicator, department=department))


@router.put(
    PAIR,
    response_model=AssignmentRead,
    responses={
        **CREATED,
        422: {"description": "A derived indicator (computed, never reported), or a bad value"},
    },
)
def put_assignment(
    indicator: Code,
    department: Code,
    data: AssignmentWrite,
    request: Request,
    session: SessionDep,
    actor: Commission,
) -> Response:
    """Assign an indicator to a department from `from_year` to `to_year` (null: open-ended)."""
    read, created = assignments.put(session, indicator=indicator, department=department, data=data)
    target = f"{indicator}/{department}"
    record(request, session, actor=actor.name, action=AuditAction.assignment_put, target=target, detail=data)
    return json_response(read, status_code=201 if created else 200)


@router.delete(PAIR, status_code=204)
def delete_assignment(
    indicator: Code, department: Code, request: Request, session: SessionDep, actor: Commission
) -> Response:
    """Remove an assignment."""
    assignments.delete(session, indicator=indicator, department=department)
    target = f"{indicator}/{department}"
    record(request, session, actor=actor.name, action=AuditAction.assignment_delete, target=target)
    return Response(status_code=204)


@router.get("/periods/{year}", response_model=PeriodRead)
def get_period(year: YearPath, session: SessionDep, _: Viewer) -> Response:
    """A year's entry period and its exceptions; 404 when none is set (entry always open)."""
    return json_response(periods.get(session, year=year))


@router.put("/periods/{year}", response_model=PeriodRead, responses=CREATED)
def put_period(
    year: YearPath, data: PeriodWrite, request: Request, session: SessionDep, actor: Commission
) -> Response:
    """Set a year's entry period: `opens` to `closes` (the last day of entry), in INDICATORS_TIMEZONE."""
    created = periods.put(session, year=year, data=data)
    record(request, session, actor=actor.name, action=AuditAction.period_put, target=str(year), detail=data)
    return json_response(periods.get(session, year=year), status_code=201 if created else 200)


@router.delete("/periods/{year}", status_code=204)
def delete_period(year: YearPath, request: Request, session: SessionDep, actor: Commission) -> Response:
    """Remove a year's period: entry for it is then always open."""
    periods.delete(session, year=year)
    record(request, session, actor=actor.name, action=AuditAction.period_delete, target=str(year))
    return Response(status_code=204)


@router.put("/periods/{year}/exceptions/{department}", response_model=PeriodRead, responses=CREATED)
def put_exception(
    year: YearPath,
    department: Code,
    data: ExceptionWrite,
    request: Request,
    session: SessionDep,
    actor: Commission,
) -> Response:
    """Let one department's clerks enter the year's figures until `until`."""
    created = periods.put_exception(session, year=year, department=department, data=data)
    target, action = f"{year}/{department}", AuditAction.exception_put
    record(request, session, actor=actor.name, action=action, target=target, detail=data)
    return json_response(periods.get(session, year=year), status_code=201 if created else 200)


@router.delete("/periods/{year}/exceptions/{department}", status_code=204)
def delete_exception(
    year: YearPath, department: Code, request: Request, session: SessionDep, actor: Commission
) -> Response:
    """Remove a department's exception."""
    periods.delete_exception(session, year=year, department=department)
    target, action = f"{year}/{department}", AuditAction.exception_delete
    record(request, session, actor=actor.name, action=action, target=target)
    return Response(status_code=204)


@router.get("/approvals", response_model=Page[ApprovalRead], responses=FILE_RESPONSES)
def list_approvals(
    request: Request,
    session: SessionDep,
    _: Viewer,
    year: YearQuery = None,
    department: Code | None = None,
    state: State | None = None,
    limit: Limit = 100,
    cursor: str | None = None,
    format: Annotated[Format | None, Query(description="json (default), csv or xlsx")] = None,
) -> Response:
    """A page of recorded approvals (a department-year never acted on is draft and not listed)."""
    items, last = approvals.list(
        session,
        year=year,
        department_id=filter_id(session, "department", department),
        state=state,
        limit=limit,
        after_id=_after(cursor),
    )
    if (kind := requested_format(request, format)) != "json":
        rows = (
            [
                a.department,
                a.year,
                a.state.value,
                _when(a.submitted_at),
                a.submitted_by,
                _when(a.approved_at),
                a.approved_by,
            ]
            for a in items
        )
        return table(request, APPROVAL_COLUMNS, rows, format=kind, name="approvals")
    return json_response(Page(items=items, next_cursor=encode_cursor(last) if last else None))


@router.get("/approvals/{department}/{year}", response_model=ApprovalRead)
def get_approval(department: Code, year: YearPath, session: SessionDep, _: Viewer) -> Response:
    """Where one department's figures of one year stand, with every action taken."""
    return json_response(approvals.get(session, department=department, year=year))


@router.post(
    "/approvals/{department}/{year}/{action}",
    response_model=ApprovalRead,
    responses={
        409: {"description": "A wrong transition, missing figures, or departments below not approved"}
    },
)
def approval_action(
    department: Code,
    year: YearPath,
    action: Annotated[Step, Path(description="submit, return, approve or reopen")],
    session: SessionDep,
    actor: Clerk,
    request: Request,
    data: ActionWrite | None = None,
) -> Response:
    """Submit (a clerk of the department or above), return, approve or reopen (commission, admin):
    return and reopen need a reason; `allow_missing` with a reason submits or approves with
    assigned figures missing."""
    body = data or ActionWrite()
    step = Step(action)
    read = approvals.act(session, department=department, year=year, action=step, data=body, actor=actor)
    done = AuditAction(f"approval.{step.value}")
    record(request, session, actor=actor.name, action=done, target=f"{department}/{year}", detail=data)
    return json_response(read)
