from fastapi import APIRouter, Request
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
from app.departments import service
from app.departments.schemas import DepartmentCreate, DepartmentRead, DepartmentUpdate

router = api_router("/departments", "departments")


@router.get("", response_model=Page[DepartmentRead], responses=FILE_RESPONSES)
def list_departments(
    request: Request,
    session: SessionDep,
    _: Viewer,
    limit: Limit = 100,
    cursor: str | None = None,
    format: FormatQuery = None,
) -> Response:
    """Departments in code order, with their parents; `?format=csv|xlsx`: all of them as a file."""
    if (wanted := requested_format(request, format)) != "json":
        every = service.list(session, limit=None)
        return model_table(request, DepartmentRead, every, format=wanted, name="departments")
    after = decode_cursor(cursor, str) if cursor else None
    items = service.list(session, limit=limit, after=after)
    return json_response(page_by_code(items, limit))


@router.post(
    "",
    status_code=201,
    response_model=DepartmentRead,
    responses={409: {"description": "A department with that code exists"}},
)
def create_department(
    data: DepartmentCreate, request: Request, session: SessionDep, actor: Admin
) -> Response:
    """Create a department, optionally below a parent."""
    department = service.create(session, data=data, actor=actor.name)
    record(
        request,
        session,
        actor=actor.name,
        action=AuditAction.department_create,
        target=data.code,
        detail=data,
    )
    return json_response(
        service.read(session, department),
        status_code=201,
        headers={"Location": f"/api/v1/departments/{department.code}"},
    )


@router.get("/{code}", response_model=DepartmentRead)
def get_department(code: Code, request: Request, session: SessionDep, _: Viewer) -> Response:
    """One department."""
    return json_etag(request, service.read(session, service.get_by_code(session, code)))


@router.patch("/{code}", response_model=DepartmentRead)
def update_department(
    code: Code, data: DepartmentUpdate, request: Request, session: SessionDep, actor: Admin
) -> Response:
    """Change a department's names or parent; a parent that makes a cycle is rejected (422)."""
    department = service.get_by_code(session, code)
    service.update(session, department=department, data=data, actor=actor.name)
    record(request, session, actor=actor.name, action=AuditAction.department_update, target=code, detail=data)
    return json_response(service.read(session, department))


def deletion(*, referenced: service.Referenced) -> APIRouter:
    """The DELETE route, which asks the layers above whether figures refer to the department: the
    wiring (app.main) passes that question in."""
    deletions = api_router("/departments", "departments")

    @deletions.delete(
        "/{code}",
        status_code=204,
        responses={409: {"description": "Departments, figures, targets or tokens refer to it"}},
    )
    def delete_department(code: Code, request: Request, session: SessionDep, actor: Admin) -> Response:
        """Delete a department that nothing refers to (409 otherwise)."""
        service.delete(session, department=service.get_by_code(session, code), referenced=referenced)
        record(request, session, actor=actor.name, action=AuditAction.department_delete, target=code)
        return Response(status_code=204)

    return deletions
