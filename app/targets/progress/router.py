from typing import Annotated

from fastapi import Query, Request
from starlette.responses import Response

from app.auth.dependencies import SessionDep, Viewer
from app.core.fields import YEAR_MAX, YEAR_MIN, Code
from app.core.http import conditional
from app.core.json import dumps
from app.core.pagination import Limit, decode_cursor, encode_cursor
from app.core.problems import BadRequest, FieldError, InvalidValue
from app.core.routing import api_router
from app.core.tables import FILES_OR_304, FormatQuery, requested_format, table
from app.targets.progress import report as progress
from app.targets.progress.schemas import ProgressRead

router = api_router("/progress", "progress")

YearRequired = Annotated[int, Query(ge=YEAR_MIN, le=YEAR_MAX, description="the targets' year")]
BaseYear = Annotated[
    int | None,
    Query(
        ge=YEAR_MIN,
        le=YEAR_MAX,
        description="measure from the first figure of this year on (not after `year`); "
        "default: each cell's earliest figure",
    ),
]


def _page(limit: int, cursor: str | None) -> progress.Page:
    after = decode_cursor(cursor) if cursor else None
    if after is not None and not (
        isinstance(after, list) and len(after) == 2 and all(isinstance(c, str) for c in after)
    ):
        raise BadRequest("The cursor is not one this service gave out")
    return progress.Page(limit=limit, after=(after[0], after[1]) if after else None)


@router.get("", response_model=ProgressRead, responses=FILES_OR_304)
def get_progress(
    request: Request,
    session: SessionDep,
    _: Viewer,
    year: YearRequired,
    base_year: BaseYear = None,
    department: Annotated[list[Code], Query(description="with every department below it")] = [],  # noqa: B006
    indicator: Annotated[list[Code], Query()] = [],  # noqa: B006
    section: Annotated[list[Code], Query()] = [],  # noqa: B006
    limit: Limit = 100,
    cursor: str | None = None,
    format: FormatQuery = None,
) -> Response:
    """Progress of each target of `year` toward it, by Open SDG's method; ETag and 304.

    From the base figure (the first from `base_year` on, by default the earliest) to the latest
    figure up to `year`: the observed compound annual growth, the growth needed to reach the target
    by `year`, their ratio (signed by the indicator's direction) and the status: `target_achieved`
    when the latest figure meets the target, else `substantial_progress` (ratio ≥ 0.95),
    `moderate_progress` (≥ 0.6), `limited_progress` (≥ 0), `deterioration` (< 0), or
    `not_available` (fewer than two figures). Numbers to 6 places, rounded half away from zero.
    Items go by indicator code then department code, `limit` at a time (follow `next_cursor`);
    filters repeat, `department` includes every department below it. `?format=csv` (or
    `Accept: text/csv`) and `?format=xlsx` give every item as a file, unpaged, nested fields
    flattened (`base_year`, `latest_value`, `target_operator`).
    """
    wanted = requested_format(request, format)
    if base_year is not None and base_year > year:
        raise InvalidValue(
            f"base_year ({base_year}) is after year ({year})",
            errors=[FieldError(["query", "base_year"], "must not be after year")],
        )
    filters = progress.Filters(departments=department, indicators=indicator, sections=section)
    if wanted != "json":
        content = progress.report(session, year=year, base_year=base_year, filters=filters)
        rows = progress.item_rows(content)
        return table(request, progress.ITEM_COLUMNS, rows, format=wanted, name=f"progress-{year}")
    content = progress.report(
        session, year=year, base_year=base_year, filters=filters, page=_page(limit, cursor)
    )
    if content["next_cursor"] is not None:
        content["next_cursor"] = encode_cursor(content["next_cursor"])
    return conditional(request, dumps(content), headers={"Vary": "Accept"})
