"""HTTP for the exchange formats: SDMX out, DHIS2 data value sets out and in."""

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from starlette.responses import Response

from app.auth.dependencies import Clerk, SessionDep, Viewer
from app.cells.http import YearQuery
from app.core.config import Settings, get_settings
from app.core.fields import Code
from app.core.json import json_response
from app.core.problems import UnsupportedMediaType
from app.core.routing import api_router
from app.exchange import dhis2, dhis2_import, sdmx
from app.exchange.figures import Wanted
from app.exchange.schemas import AtomicMode, DataValueSet, DataValueSetIn, ImportStrategy, ImportSummary
from app.transfer.http import RawBody, inline

router = api_router("/exchange", "exchange")

_PROBLEM_SUMMARY = "a problem carrying the import summary (status ERROR) as `response`; nothing written"


@router.get(
    "/sdmx",
    response_class=Response,
    responses={200: {"content": {sdmx.CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
def sdmx_data(
    session: SessionDep,
    _: Viewer,
    indicator: Code | None = None,
    department: Code | None = None,
    year_from: YearQuery = None,
    year_to: YearQuery = None,
) -> Response:
    """The figures as SDMX-CSV 2.0 (dataflow INDICATORS:DF_INDICATORS(1.0)), filtered like series.

    Columns `STRUCTURE,STRUCTURE_ID,ACTION,INDICATOR,DEPARTMENT,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,
    OBS_STATUS,QUALIFIER,COMMENT`; OBS_VALUE is the exact decimal; OBS_STATUS `A` for an exact figure,
    `E` otherwise. UTF-8 without a BOM. Its structure is `GET /api/v1/exchange/sdmx/structure`.
    """
    wanted = Wanted(indicator, department, year_from, year_to)
    body = sdmx.csv_bytes(session, wanted)
    headers = {"Content-Disposition": 'attachment; filename="indicators.sdmx.csv"'}
    return Response(body, media_type=sdmx.CSV_MEDIA_TYPE, headers=headers)


@router.get(
    "/sdmx/structure",
    response_class=Response,
    responses={200: {"content": {sdmx.XML_MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
def sdmx_structure(session: SessionDep, _: Viewer) -> Response:
    """The dataflow, data structure, codelists and concepts of the SDMX data, as an SDMX-ML 3.0
    structure message."""
    return Response(sdmx.structure_bytes(session), media_type=sdmx.XML_MEDIA_TYPE)


DhisFormat = Annotated[
    Literal["json", "csv"] | None,
    Query(description="json (the default) or csv; `Accept: text/csv` asks for CSV too"),
]


@router.get(
    "/dhis2/dataValueSets",
    response_model=DataValueSet,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def dhis2_data_values(
    request: Request,
    session: SessionDep,
    _: Viewer,
    dataElement: Code | None = None,  # noqa: N803 (DHIS2's parameter names)
    orgUnit: Code | None = None,  # noqa: N803
    startYear: YearQuery = None,  # noqa: N803
    endYear: YearQuery = None,  # noqa: N803
    format: DhisFormat = None,
) -> Response:
    """The figures as a DHIS2 data value set: `dataElement` the indicator code, `orgUnit` the
    department code, `period` the year, `value` the exact decimal, `comment` the note, `storedBy`
    and `lastUpdated` who and when. As CSV (`?format=csv` or `Accept: text/csv`), DHIS2's columns
    `dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,storedby,lastupdated,
    comment,followup,deleted`, UTF-8 without a BOM."""
    wanted = Wanted(dataElement, orgUnit, startYear, endYear, names=("dataElement", "orgUnit"))
    accept = request.headers.get("accept", "")
    if format == "csv" or (format is None and "text/csv" in accept and "application/json" not in accept):
        headers = {"Content-Disposition": 'attachment; filename="dataValueSets.csv"', "Vary": "Accept"}
        return Response(
            dhis2.csv_bytes(session, wanted), media_type="text/csv; charset=utf-8", headers=headers
        )
    return json_response(dhis2.json_body(session, wanted), headers={"Vary": "Accept"})


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline(DataValueSetIn.model_json_schema())},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}
_KINDS = {"application/json": "json", "text/csv": "csv", "application/csv": "csv"}


@router.post(
    "/dhis2/dataValueSets",
    response_model=ImportSummary,
    openapi_extra=_BODY,
    responses={
        403: {"description": f"A data value for a department the token may not write: {_PROBLEM_SUMMARY}"},
        415: {"description": "A body neither JSON nor CSV"},
        422: {"description": f"Conflicts in an atomic import (atomicMode=ALL): {_PROBLEM_SUMMARY}"},
    },
)
def dhis2_import_values(
    request: Request,
    body: RawBody,  # read first: SQLite's write lock is not held while a slow client uploads
    session: SessionDep,
    actor: Clerk,
    settings: Annotated[Settings, Depends(get_settings)],
    dryRun: bool = False,  # noqa: N803
    importStrategy: ImportStrategy = ImportStrategy.CREATE_AND_UPDATE,  # noqa: N803
    atomicMode: AtomicMode = AtomicMode.ALL,  # noqa: N803
    idScheme: Literal["code", "CODE"] = "code",  # noqa: N803
    dataElementIdScheme: Literal["code", "CODE"] = "code",  # noqa: N803
    orgUnitIdScheme: Literal["code", "CODE"] = "code",  # noqa: N803
) -> Response:
    """Import a DHIS2 data value set (JSON, or CSV by position with a header line), as an observation
    batch: roles, department scope, reporting locks and atomicity are the batch's.

    `importStrategy`: CREATE_AND_UPDATE (default), CREATE (existing figures ignored), UPDATE (new ones
    ignored), DELETE (the figures named are deleted, each deletion kept as a version). Identifiers are
    codes (`idScheme=code`). Periods are years: `2021Q1` or `202101` is a conflict. A stored figure's
    qualifier is kept while its value is unchanged, so an export imported back is all `ignored`; a new
    or changed value is `exact`; the source is kept. The answer is DHIS2's import summary: `status`,
    `importCount` {imported, updated, ignored, deleted}, `conflicts` [{object, value, property,
    errorCode, indexes}] (indexes from 0 in the order sent; at most 1000 errors, `conflictCount` all).
    """
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    kind = _KINDS.get(media)
    if kind is None:
        raise UnsupportedMediaType(
            f"A data value set is application/json or text/csv, not {media or 'untyped'}"
        )
    answer = dhis2_import.run(
        session,
        kind=kind,
        body=body,
        actor=actor,
        settings=settings,
        dry_run=dryRun,
        atomic=atomicMode is AtomicMode.ALL,
        strategy=importStrategy,
    )
    return json_response(answer)
