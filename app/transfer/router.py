"""HTTP for observations in and out: many at once from a file or JSON, and all of them as a file."""

from collections.abc import Iterator
from typing import IO, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from app.auth.dependencies import Clerk, SessionDep, Viewer
from app.cells.http import YearQuery, filter_id, filter_row, year_range
from app.cells.key import CellFilters
from app.core.config import Settings, get_settings
from app.core.db.session import get_session
from app.core.fields import Code
from app.core.json import json_response
from app.core.pagination import Limit, Page, decode_cursor, encode_cursor
from app.core.routing import api_router
from app.core.tables import FILE_RESPONSES, FormatQuery, requested_format
from app.indicators.models import Indicator
from app.observations import listing
from app.observations.schemas import ObservationRead
from app.transfer import batch, export
from app.transfer import formats as files
from app.transfer.http import RawBody, batch_body, run_batch
from app.transfer.schemas import BatchSummary, BatchWrite

router = api_router("/observations", "observations")


# An export is streamed after the route returns, so its session lives until the answer is sent.
StreamSession = Annotated[Session, Depends(get_session, scope="request")]


@router.get("", response_model=Page[ObservationRead], responses=FILE_RESPONSES)
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
    format: FormatQuery = None,
) -> Response:
    """A page of observations, filtered by indicator, department and years; or all of them as a file.

    With `Accept: text/csv` or `?format=csv`, every matching row as UTF-8 CSV (with a BOM, for
    spreadsheet programs); with `?format=xlsx` (or the .xlsx media type in Accept), as a workbook.
    Both have the import columns `indicator,department,year,value,qualifier,note,source`, so a file
    edited and sent back to `POST /api/v1/observations` changes exactly the rows that were edited.

    (v2) Derived indicators' figures, computed when read (`version` and `updated_by` null), follow
    the stored ones: pages of stored figures first, then the derived ones by indicator, department
    and year. Filtered by a stored indicator, nothing is computed.
    """
    year_range(year_from, year_to)
    chosen = filter_row(session, "indicator", indicator)
    assert chosen is None or isinstance(chosen, Indicator)
    filters = CellFilters(
        indicator_id=None if chosen is None else chosen.id,
        department_id=filter_id(session, "department", department),
        year=year,
        year_from=year_from,
        year_to=year_to,
    )
    wanted = requested_format(request, format)
    if wanted == "xlsx":
        file = export.xlsx_file(export_session, filters, chosen)
        return _file_answer(_read_all(file), files.XLSX, "xlsx")
    if wanted == "csv":
        chunks = export.csv_chunks(export_session, filters, chosen)
        return _file_answer(chunks, "text/csv; charset=utf-8", "csv")
    after = decode_cursor(cursor) if cursor else None
    items, last = listing.list(session, filters=filters, limit=limit, after=after, indicator=chosen)
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
the display columns of templates (`indicator_name`, `unit`, `previous_value`; 指标名称, 单位,
上年数值) are ignored, and blank lines are skipped. CSV may be UTF-8, UTF-8 with a BOM, or
GB 18030/GBK: the encoding is detected. `?dry_run=` and `?atomic=` carry the options for every
format. With a JSON body's own fields as well, a dry run asked for by either is a dry run, and the
body's `atomic` wins (as for `indicators import`).

Files as people fill them in:

- `indicator` and `department` may be the code, the Chinese name or the English name (exact
  match after trimming spaces; a name two of them share names neither: write the code);
  `qualifier` the code or 精确, 至少, 超过, 约. JSON batches take names too.
- A file's row whose value is empty is skipped and counted in `skipped`: a template uploads with
  its blank rows. (In JSON a value is required.)
- A workbook cell formatted as a percentage holds what it shows: `78%` is 78.
- A workbook number is a binary float: read as the shortest decimal that gives it back, then
  rounded to 6 decimals half away from zero, with a warning naming the row, when it has more
  (`=200/3` becomes 66.666667). A formula saved without its result is an error saying so. CSV and
  JSON values are exact text: more than 6 decimals there is an error.

The answer is an import summary: `created`, `updated`, `unchanged`, `skipped`, `rejected` (rows),
`dry_run`, `errors` (`{row, indicator, department, year, loc, msg, type}`, at most 1000;
`error_count` has them all) and `warnings` (the same shape). `row` is the row a spreadsheet program
shows (the header is row 1, the first data row 2); in JSON, the position in `observations` from 1.
`indicator`, `department` and `year` are the row's as written, null where they could not be read.

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


_BATCH_BODY = batch_body(BatchWrite)


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
    return run_batch(
        request,
        body,
        session,
        actor,
        settings,
        dry_run=dry_run,
        atomic=atomic,
        layout=files.OBSERVATIONS,
        cells=batch.FIGURES,
    )
