"""HTTP for targets in bulk: a batch of targets, and a year's targets copied forward."""

from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from app.auth.dependencies import Commission, SessionDep
from app.cells.http import filter_id
from app.core.config import Settings, get_settings
from app.core.json import json_response
from app.core.routing import api_router
from app.transfer import batch, forward
from app.transfer import formats as files
from app.transfer.http import RawBody, batch_body, run_batch
from app.transfer.schemas import BatchSummary, TargetBatchWrite, TargetCopy

router = api_router("/targets", "targets")


TARGETS_DESCRIPTION = """
Set many targets at once (commission and admin). The body is JSON
(`{"targets": [...], "dry_run": false, "atomic": true}`), CSV (`text/csv`: UTF-8, UTF-8 with a
BOM, or GB 18030/GBK) or an .xlsx workbook (its first sheet), with the header
`indicator,department,year,operator,value[,upper,note,source]` or
`指标,部门,年度,方式,目标值[,上限,备注,来源]`; the display columns of the targets template
(`indicator_name`, `department_name`, `unit`, `previous_target`; 指标名称, 部门名称, 单位, 上年目标)
are ignored.

`operator` is `at_least`, `at_most`, `exactly` or `between`; files may also write 不低于 (or 至少,
≥, >=) for at_least, 不高于 (至多, 不超过, ≤, <=) for at_most, 等于 (=) for exactly and 介于 (区间)
for between. The rules are PUT /targets' own: `value` and `upper` fit the indicator's value type, a
`between` target needs `upper` not below `value`, the others take no `upper`.

Everything else is as for `POST /api/v1/observations`: indicators and departments by code or name,
a file's row without a value skipped, workbook cells as they show; the same import summary; atomic
(422 with the summary as the problem's extension members, nothing written) unless `atomic=false`;
`dry_run` writes nothing; the same batch sent twice is all `unchanged`; every target written gets a
version in its history, as a PUT would.
"""

_TARGETS_BODY = batch_body(TargetBatchWrite)


@router.post(
    "",
    response_model=BatchSummary,
    description=TARGETS_DESCRIPTION,
    openapi_extra=_TARGETS_BODY,
    responses={
        422: {"description": "Atomic batch with rejected rows, or an unreadable body; nothing written"}
    },
)
def post_targets(
    request: Request,
    body: RawBody,
    session: SessionDep,
    actor: Commission,
    settings: Annotated[Settings, Depends(get_settings)],
    dry_run: bool = False,
    atomic: bool = True,
) -> Response:
    """Set many targets at once, from JSON, CSV or an .xlsx workbook."""
    return run_batch(
        request,
        body,
        session,
        actor,
        settings,
        dry_run=dry_run,
        atomic=atomic,
        layout=files.TARGETS,
        cells=batch.TARGETS,
    )


@router.post(
    "/copy",
    response_model=BatchSummary,
    responses={422: {"description": "to_year equal to from_year, or an unknown department or indicator"}},
)
def copy_targets(data: TargetCopy, session: SessionDep, actor: Commission) -> Response:
    """Copy one year's targets to another (commission and admin): the import summary.

    Every target of `from_year` (only those of `department` or `indicator`, when given) is set for
    `to_year` with the same operator, bounds, note and source, each with a version in its history.
    A target already set for `to_year` stays as it is and is counted `unchanged`, unless
    `overwrite` is true. `dry_run` counts and writes nothing. `to_year` equal to `from_year` is 422.
    """
    summary = forward.copy(
        session,
        actor=actor,
        from_year=data.from_year,
        to_year=data.to_year,
        department_id=filter_id(session, "department", data.department),
        indicator_id=filter_id(session, "indicator", data.indicator),
        overwrite=data.overwrite,
        dry_run=data.dry_run,
    )
    return json_response(summary.body())
