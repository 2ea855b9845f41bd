"""HTTP for fill-in templates: a department's figures, or a year's targets, as a workbook."""

from typing import Annotated, Any, Literal

from fastapi import Query
from starlette.responses import Response

from app.auth.dependencies import SessionDep, Viewer
from app.core.fields import YEAR_MAX, YEAR_MIN, Code
from app.core.routing import api_router
from app.departments import service as departments
from app.transfer import formats as files
from app.transfer import templates

router = api_router("/templates", "observations")


TemplateLang = Annotated[
    Literal["zh", "en"],
    Query(description="zh (the default): the Chinese header and words; en: the English header and codes"),
]
TemplateYear = Annotated[int, Query(ge=YEAR_MIN, le=YEAR_MAX, description="The year the workbook is for")]
_WORKBOOK: dict[int | str, dict[str, Any]] = {
    200: {"content": {files.XLSX: {"schema": {"type": "string", "format": "binary"}}}}
}


def _workbook_answer(body: bytes, name: str) -> Response:
    disposition = f'attachment; filename="{name}.xlsx"'
    return Response(body, media_type=files.XLSX, headers={"Content-Disposition": disposition})


# Before /{department}.xlsx, which would take "targets" for a department's code.
@router.get("/targets.xlsx", response_class=Response, responses=_WORKBOOK, tags=["targets"])
def targets_template(
    session: SessionDep, _: Viewer, year: TemplateYear, lang: TemplateLang = "zh"
) -> Response:
    """A workbook of a year's targets to fill in: a row per indicator and department to set one for.

    The rows are the (indicator, department) pairs with a figure or a target in the year before or
    in that year, derived indicators excluded. Columns: the targets import header (Chinese,
    `指标,部门,年度,方式,目标值,上限,备注,来源`, by default; English with `lang=en`), the operator of
    last year's target filled in (a drop-down offers 不低于, 不高于, 等于, 介于, or the codes), then the
    indicator's and department's names, the unit and last year's target, which the import skips.
    Fill in `目标值`/`value` (and `上限`/`upper` for 介于/between) and upload it as it is to
    `POST /api/v1/targets`: rows left without a value are skipped. (A department coded `targets`
    has no department template at /templates/targets.xlsx: this one is there.)
    """
    return _workbook_answer(templates.targets_workbook(session, year=year, lang=lang), f"targets-{year}")


@router.get("/{department}.xlsx", response_class=Response, responses=_WORKBOOK)
def department_template(
    department: Code, session: SessionDep, _: Viewer, year: TemplateYear, lang: TemplateLang = "zh"
) -> Response:
    """A workbook for one department and year: a row per indicator it reports, values to fill in.

    The indicators it reports are those it has figures or targets for, derived ones excluded. The
    columns are the import header (Chinese, `指标,部门,年度,数值,限定,备注,来源`, by default; English,
    `indicator,department,year,value,qualifier,note,source`, with `lang=en`) followed by the
    indicator's name, its unit and the department's figure of the year before, which the import
    skips. The qualifier column offers 精确, 至少, 超过, 约 (the codes in English). Fill in the values
    and upload the workbook as it is to `POST /api/v1/observations`: rows left without a value are
    skipped.
    """
    found = departments.get_by_code(session, department)
    body = templates.workbook(session, department=found, year=year, lang=lang)
    return _workbook_answer(body, f"{department}-{year}")
