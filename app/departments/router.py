from fastapi import Request
from starlette.responses import Response

from app.auth.dependencies import Admin, SessionDep, Viewer
from app.departments import service
from app.departments.schemas import DepartmentCreate, DepartmentRead, DepartmentUpdate
from app.http import api_router, json_etag
from app.jsonio import json_response
from app.schemas import Code, Limit, Page, decode_cursor, page_by_code

router = api_router("/departments", "departments")


@router.get("", response_model=Page[DepartmentRead])
def list_departments(
    session: SessionDep, _: Viewer, limit: Limit = 100, cursor: str | None = None
) -> Response:
    """Departments in code order, with their parents."""
    after = decode_cursor(cursor, str) if cursor else None
    items = service.list(session, limit=limit, after=after)
    return json_response(page_by_code(items, limit))


@router.post(
    "",
    status_code=201,
    response_model=DepartmentRead,
    responses={409: {"description": "A department with that code exists"}},
)
def create_department(data: DepartmentCreate, session: SessionDep, actor: Admin) -> Response:
    """Create a department, optionally below a parent."""
    department = service.create(session, data=data, actor=actor.name)
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
def update_department(code: Code, data: DepartmentUpdate, session: SessionDep, actor: Admin) -> Response:
    """Change a department's names or parent; a parent that makes a cycle is rejected (422)."""
    department = service.get_by_code(session, code)
    service.update(session, department=department, data=data, actor=actor.name)
    return json_response(service.read(session, department))


@router.delete(
    "/{code}",
    status_code=204,
    responses={409: {"description": "Departments, figures, targets or tokens refer to it"}},
)
def delete_department(code: Code, session: SessionDep, _: Admin) -> Response:
    """Delete a department that nothing refers to (409 otherwise)."""
    service.delete(session, department=service.get_by_code(session, code))
    return Response(status_code=204)
