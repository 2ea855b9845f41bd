from collections.abc import Hashable
from typing import Annotated, Any

from fastapi import Query, Request
from starlette.responses import Response

from app.analytics import completeness, service
from app.analytics.completeness_generation import generation
from app.analytics.figures_generation import generation as figures_generation
from app.analytics.schemas import ComparisonRead, CompletenessRead, SeriesRead
from app.auth.dependencies import ReaderFirst, SessionDep, ViewerToken, check_reader
from app.cells.http import YearQuery, year_range
from app.core.config import get_settings
from app.core.db.session import one_statement_now
from app.core.fields import YEAR_MAX, YEAR_MIN, Code
from app.core.http import conditional, etag_of
from app.core.json import dumps
from app.core.memo import Memo, committed_only
from app.core.routing import api_router
from app.core.tables import FILE_RESPONSES, FILES_OR_304, Format, FormatQuery, requested_format, table
from app.core.threads import in_thread

router = api_router("", "analytics")
# Completeness's JSON answers, by what was asked and the generation of the data (app.core.memo).
COMPLETENESS: Memo[tuple[bytes, str]] = Memo(size=16)
# Comparisons' JSON answers, the same way: a dashboard asks the same few again and again.
COMPARISONS: Memo[tuple[bytes, str]] = Memo(size=64)

YearRequired = Annotated[int, Query(ge=YEAR_MIN, le=YEAR_MAX)]
# A series of at most this many cells (indicators x departments named) is read on the event loop, in
# one indexed statement (service.cell_series): a trip to a worker thread costs more than its query.
ON_LOOP_CELLS = 20


def _json(request: Request, content: Any) -> Response:
    return conditional(request, dumps(content), headers={"Vary": "Accept"})


@router.get("/series", response_model=SeriesRead, responses=FILES_OR_304)
async def get_series(
    request: Request,
    session: SessionDep,
    token: ViewerToken,
    indicator: Annotated[list[Code], Query(min_length=1, max_length=100)],
    department: Annotated[list[Code], Query(max_length=1000)] = [],  # noqa: B006
    year_from: YearQuery = None,
    year_to: YearQuery = None,
    rollup: bool = False,
    format: FormatQuery = None,
) -> Response:
    """Yearly series of several indicators and departments, for dashboards; ETag and 304.

    Without `department`, every department with data. `rollup=true` aggregates each department with
    every department below it by the indicator's `aggregation` (422 for an indicator aggregated by
    `none`); a mean keeps 6 decimals (rounded half away from zero). A rolled-up point's qualifier is
    `exact` when every figure in it is exact (for `min`: when an exact figure is the minimum) and
    nothing was rounded; `approximately` when any figure is approximate or the mean was rounded;
    otherwise all figures are lower bounds and so is the result: `at_least`, or `more_than` when
    strict. Each series carries its indicator's and department's names. `?format=csv` (or
    `Accept: text/csv`) and `?format=xlsx` give a file with one row per point.
    """
    # The token is checked by the series' one statement (service.cell_series); a request refused
    # before it, or answered otherwise, has its token checked first, as Viewer would have.
    with ReaderFirst(session, token):
        wanted = requested_format(request, format)
        year_range(year_from, year_to)
    if (
        wanted == "json"
        and not rollup
        and department
        and len(set(indicator)) * len(set(department)) <= ON_LOOP_CELLS
    ):
        one_statement_now(session)  # PostgreSQL: no BEGIN, no COMMIT
        content = service.cell_series(
            session,
            indicators=indicator,
            departments=department,
            year_from=year_from,
            year_to=year_to,
            token_hash=token,
        )
        if content is not None:
            return _json(request, content)

    def answer() -> Response:  # the general case, and files: in a worker thread
        check_reader(session, token)
        content = service.series(
            session,
            indicators=indicator,
            departments=department,
            year_from=year_from,
            year_to=year_to,
            rollup=rollup,
        )
        if wanted != "json":
            return table(
                request, service.SERIES_COLUMNS, service.series_rows(content), format=wanted, name="series"
            )
        return _json(request, content)

    return await in_thread(answer)


@router.get("/comparison", response_model=ComparisonRead, responses=FILES_OR_304)
async def get_comparison(
    request: Request,
    session: SessionDep,
    token: ViewerToken,
    indicator: Code,
    year: YearRequired,
    base_year: YearRequired,
    department: Annotated[list[Code], Query(max_length=1000)] = [],  # noqa: B006
    format: FormatQuery = None,
) -> Response:
    """One indicator in `year` against `base_year` across departments: change, improved, rank.

    Without `department`, every department with a value in either year. `change_pct` is change over
    |base_value| in percent, 2 places (null when base_value is 0); `improved` follows the indicator's
    direction (null for `none` or missing data); `rank` is best first by value with ties sharing a rank,
    null without a value or for direction `none`. `?format=csv` (or `Accept: text/csv`) and
    `?format=xlsx` give the rows as a file.
    """
    # The token is checked by the generation's statement (JSON), or first (files, refusals).
    with ReaderFirst(session, token):
        wanted = requested_format(request, format)
    if wanted == "json":
        # The generation is one statement, on the event loop; an answer not kept is computed in a
        # worker thread (Memo.answer_by_generation).
        def key() -> tuple[Hashable, bool]:
            marks, quiet = figures_generation(session, token)
            return (indicator, year, base_year, tuple(department), marks), quiet and committed_only(session)

        def compute() -> tuple[bytes, str]:
            content = service.comparison(
                session, indicator=indicator, year=year, base_year=base_year, departments=department
            )
            body = dumps(content)
            return body, etag_of(body)

        body, etag = await COMPARISONS.answer_by_generation(session, key, compute)
        return conditional(request, body, etag=etag, headers={"Vary": "Accept"})

    def rows() -> Response:
        check_reader(session, token)
        content = service.comparison(
            session, indicator=indicator, year=year, base_year=base_year, departments=department
        )
        rows = service.comparison_rows(content)
        return table(request, service.COMPARISON_COLUMNS, rows, format=wanted, name="comparison")

    return await in_thread(rows)


@router.get("/completeness", response_model=CompletenessRead, responses=FILE_RESPONSES)
async def get_completeness(
    request: Request,
    session: SessionDep,
    token: ViewerToken,
    year: YearRequired,
    department: Code | None = None,
    section: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[Format | None, Query(description="json (default), csv or xlsx")] = None,
) -> Response:
    """What each department was assigned for the year, what it reported, what is missing (codes, in
    code order), the rate to 6 places, its approval state and whether it was late; `department`
    includes the departments below it."""
    with ReaderFirst(session, token):
        kind = requested_format(request, format)
    if kind == "json":
        settings = get_settings()

        def key() -> tuple[Hashable, bool]:
            marks, quiet = generation(session, year, token)
            asked = (year, department, section, settings.timezone, settings.today(), marks)
            return asked, quiet and committed_only(session)

        def compute() -> tuple[bytes, str]:
            body = dumps(completeness.report(session, year=year, department=department, section=section))
            return body, etag_of(body)

        body, etag = await COMPLETENESS.answer_by_generation(session, key, compute)
        return conditional(request, body, etag=etag, headers={"Vary": "Accept"})

    def rows() -> Response:
        check_reader(session, token)
        content = completeness.report(session, year=year, department=department, section=section)
        rows = completeness.item_rows(content)
        return table(request, completeness.ITEM_COLUMNS, rows, format=kind, name=f"completeness-{year}")

    return await in_thread(rows)
