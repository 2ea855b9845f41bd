"""HTTP for batches in and files out: many observations at once, exports, templates."""

import io
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from app.auth.dependencies import Clerk, SessionDep, Viewer
from app.cells.http import YearQuery, filter_id, year_range
from app.cells.key import CellFilters
from app.core.config import Settings, get_settings
from app.core.db.session import get_session
from app.core.fields import YEAR_MAX, YEAR_MIN, Code
from app.core.json import json_response
from app.core.pagination import Limit, Page, decode_cursor, encode_cursor
from app.core.routing import api_router
from app.core.tables import requested_format
from app.departments import service as departments
from app.observations import service as observations
from app.observations.schemas import ObservationRead
from app.transfer import batch, export, templates
from app.transfer import formats as files
from app.transfer.schemas import BatchSummary, BatchWrite

router = api_router("/observations", "observations")
templates_router = api_router("/templates", "observations")


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]
# An export is streamed after the route returns, so its session lives until the answer is sent.
StreamSession = Annotated[Session, Depends(get_session, scope="request")]
Format = Annotated[
    str | None,
    Query(
        description="csv or xlsx: every matching row as a file (limit and cursor then ignored)",
        # Checked by requested_format (406 for another), so the schema lists the formats itself.
        json_schema_extra={"enum": ["json", "csv", "xlsx"]},
    ),
]
_FILE_ANSWERS = {
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        files.XLSX: {"schema": {"type": "string", "format": "binary"}},
    }
}


@router.get("", response_model=Page[ObservationRead], responses={200: _FILE_ANSWERS})
def list_observations(
    request: Request,
    session: SessionDep,
    export_session: StreamSession,
    _: Viewer,
    indicator: Code | None = None,
    department: Code | None = None,
    year: YearQuery = None,
    year_from: YearQuery = None,
    year_to: YearQuery = None,
    limit: Limit = 100,
    cursor: str | None = None,
    format: Format = None,
) -> Response:
    """A page of observations, filtered by indicator, department and years; or all of them as a file.

    With `Accept: text/csv` or `?format=csv`, every matching row as UTF-8 CSV (with a BOM, for
    spreadsheet programs); with `?format=xlsx` (or the .xlsx media type in Accept), as a workbook.
    Both have the import columns `indicator,department,year,value,qualifier,note,source`, so a file
    edited and sent back to `POST /api/v1/observations` changes exactly the rows that were edited.
    """
    year_range(year_from, year_to)
    filters = CellFilters(
        indicator_id=filter_id(session, "indicator", indicator),
        department_id=filter_id(session, "department", department),
        year=year,
        year_from=year_from,
        year_to=year_to,
    )
    wanted = requested_format(request, format)
    if wanted == "xlsx":
        return _file_answer(_read_all(export.xlsx_file(export_session, filters)), files.XLSX, "xlsx")
    if wanted == "csv":
        return _file_answer(export.csv_chunks(export_session, filters), "text/csv; charset=utf-8", "csv")
    after = decode_cursor(cursor, int) if cursor else None
    if after is not None and not isinstance(after, int):
        after = None
    items, last = observations.list(session, filters=filters, limit=limit, after_id=after)
    return json_response(Page(items=items, next_cursor=encode_cursor(last) if last else None))


def _read_all(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(1 << 16):
            yield chunk


def _file_answer(chunks: Iterator[bytes], media_type: str, suffix: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="observations.{suffix}"', "Vary": "Accept"}
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


BATCH_DESCRIPTION = """
The body is JSON (`{"observations": [...], "dry_run": false, "atomic": true}`), CSV (`text/csv`) or
an .xlsx workbook (its first sheet). CSV and sheets start with the header
`indicator,department,year,value[,qualifier,note,source]` or `指标,部门,年度,数值,限定,备注,来源`;
columns `indicator_name` and `unit` (指标名称, 单位), which templates carry, are ignored, and blank
lines are skipped. CSV may be UTF-8, UTF-8 with a BOM, or GB 18030/GBK: the encoding is detected.
`?dry_run=` and `?atomic=` carry the options for every format. With a JSON body's own fields as well,
a dry run asked for by either is a dry run, and the body's `atomic` wins (as for `indicators import`).

The answer is an import summary: `created`, `updated`, `unchanged`, `rejected` (rows), `dry_run`,
and `errors` (`{row, loc, msg, type}`, at most 1000; `error_count` has them all). `row` counts from 1:
the observations of a JSON batch, the data rows after the header of a file.

- `atomic` (the default): one rejected row and nothing is written; the answer is 422, a problem whose
  extension members are the summary's fields (the counts are then 0).
- `atomic=false`: the valid rows are written (200) and the rejected ones listed.
- `dry_run=true`: everything is checked and counted as it would be, nothing is written.
- The same batch sent twice changes nothing the second time: every row is `unchanged`.
- A row naming the same cell (indicator, department, year) as an earlier row is rejected.
- A clerk may write only its own department and those below it. A batch with any row for another
  department is refused whole with 403, whatever `atomic` says, and nothing is written: such a row
  is a wrong file, not a typo to skip. The problem carries the summary, those rows among `errors`.
- Every row written gets a version in its cell's history, as a one-cell PUT would.

Other formats are 415; a body that is not what its Content-Type says (a workbook sent as CSV, an .xls
file) is 415; a broken workbook, text in no known encoding, invalid JSON or a header missing
columns is 422; a body over INDICATORS_MAX_UPLOAD_MB is 413. Nothing is written in any of these cases.
"""


def _inline(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """A JSON schema with its $defs written in place: openapi_extra cannot add components."""
    if defs is None and isinstance(schema, dict):
        defs = schema.pop("$defs", {})
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(dict((defs or {})[schema["$ref"].rsplit("/", 1)[1]]), defs)
        return {k: _inline(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline(BatchWrite.model_json_schema())},
            "text/csv": {"schema": {"type": "string"}},
            files.XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "",
    response_model=BatchSummary,
    description=BATCH_DESCRIPTION,
    openapi_extra=_BATCH_BODY,
    responses={
        403: {"description": "The token may not write one of the rows' departments; nothing written"},
        422: {"description": "Atomic batch with rejected rows, or an unreadable body; nothing written"},
    },
)
def post_batch(
    request: Request,
    body: RawBody,  # read first: SQLite's write lock is not held while a slow client uploads
    session: SessionDep,
    actor: Clerk,
    settings: Annotated[Settings, Depends(get_settings)],
    dry_run: bool = False,
    atomic: bool = True,
) -> Response:
    """Record many observations at once, from JSON, CSV or an .xlsx workbook."""
    kind = files.kind_of(request.headers.get("content-type"))
    reading = files.read(kind, io.BytesIO(body), dry_run=dry_run, atomic=atomic)
    summary = batch.run(
        session,
        rows=reading.rows,
        actor=actor,
        dry_run=reading.dry_run,
        atomic=reading.atomic,
        strict=kind == "json",
        max_rows=settings.max_batch_rows,
        last_year=settings.last_open_year(),
    )
    return json_response(summary.body())


@templates_router.get(
    "/{department}.xlsx",
    response_class=Response,
    responses={200: {"content": {files.XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
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
    body = templates.workbook(session, department=found, year=year)
    disposition = f'attachment; filename="{department}-{year}.xlsx"'
    return Response(body, media_type=files.XLSX, headers={"Content-Disposition": disposition})
