"""Fill-in workbooks: what a department reports, ready for its clerk to complete and upload."""

from typing import Annotated

from fastapi import Query
from starlette.responses import Response

from app.auth.dependencies import SessionDep, Viewer
from app.celltables import YEAR_MAX, YEAR_MIN
from app.departments import service as departments
from app.http import api_router
from app.observations import export
from app.observations.files import XLSX
from app.schemas import Code

router = api_router("/templates", "observations")


@router.get(
    "/{department}.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
def department_template(
    department: Code,
    session: SessionDep,
    _: Viewer,
    year: Annotated[int, Query(ge=YEAR_MIN, le=YEAR_MAX, description="The year the figures are for")],
) -> Response:
    """A workbook for one department and year: a row per indicator it reports, values to fill in.

    The indicators it reports are those it has figures or targets for. The columns are the import
    header (`indicator,department,year,value,qualifier,note,source`) followed by `indicator_name`
    and `unit`, which the import skips: fill in `value` (and `qualifier`, `note`, `source` if need
    be) and upload the workbook as it is to `POST /api/v1/observations`. Rows left without a value
    are rejected, so delete those you have no figure for.
    """
    found = departments.get_by_code(session, department)
    body = export.template(session, department=found, year=year)
    disposition = f'attachment; filename="{department}-{year}.xlsx"'
    return Response(body, media_type=XLSX, headers={"Content-Disposition": disposition})
