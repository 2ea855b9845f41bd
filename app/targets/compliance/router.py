from typing import Annotated

from fastapi import Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.auth.dependencies import ReaderFirst, SessionDep, ViewerToken, check_reader
from app.cells.http import YearQuery, year_range
from app.core.fields import Code
from app.core.http import conditional, etag_of
from app.core.json import dumps, paused_gc
from app.core.memo import Memo, committed_only
from app.core.pagination import Limit, decode_cursor, encode_cursor
from app.core.problems import BadRequest, FieldError, InvalidValue
from app.core.routing import api_router
from app.core.tables import FILES_OR_304, Format, FormatQuery, requested_format, table
from app.core.threads import in_thread
from app.targets.compliance import report as compliance
from app.targets.compliance.generation import generation
from app.targets.compliance.messages import Lang
from app.targets.compliance.reasons import add_reasons
from app.targets.rules import Status
from app.targets.schemas import ComplianceRead, ComplianceTrendRead

router = api_router("/compliance", "compliance")
# A year's JSON answers, by what was asked and the generation of the data (app.core.memo).
MEMO: Memo[tuple[bytes, str]] = Memo(size=16)


def _years(year: int | None, year_from: int | None, year_to: int | None) -> None:
    if year is not None and (year_from is not None or year_to is not None):
        raise InvalidValue(
            "Give either year, or year_from and year_to, not both",
            errors=[FieldError(["query", "year"], "not allowed together with year_from/year_to")],
        )
    if year is None:
        missing = [name for name, v in (("year_from", year_from), ("year_to", year_to)) if v is None]
        if len(missing) == 2:
            raise InvalidValue(
                "Give year, or year_from and year_to",
                errors=[FieldError(["query", "year"], "required unless year_from and year_to are given")],
            )
        if missing:
            raise InvalidValue(
                f"{missing[0]} is needed with the other end of the range",
                errors=[FieldError(["query", missing[0]], "required with year_from/year_to")],
            )
        year_range(year_from, year_to)


def _page(limit: int, cursor: str | None) -> compliance.Page:
    after = decode_cursor(cursor) if cursor else None
    if after is not None and not (
        isinstance(after, list) and len(after) == 2 and all(isinstance(c, str) for c in after)
    ):
        raise BadRequest("The cursor is not one this service gave out")
    return compliance.Page(limit=limit, after=(after[0], after[1]) if after else None)


@router.get(
    "",
    response_model=ComplianceRead | ComplianceTrendRead,
    responses=FILES_OR_304,
)
async def get_compliance(
    request: Request,
    session: SessionDep,
    token: ViewerToken,
    year: YearQuery = None,
    year_from: YearQuery = None,
    year_to: YearQuery = None,
    department: Annotated[list[Code], Query(description="with every department below it")] = [],  # noqa: B006
    below: Annotated[
        bool, Query(description="false: only the departments named, not those below them")
    ] = True,
    indicator: Annotated[list[Code], Query()] = [],  # noqa: B006
    section: Annotated[list[Code], Query()] = [],  # noqa: B006
    status: Annotated[list[Status], Query(description="narrows the items, not the summary")] = [],  # noqa: B006
    limit: Limit = 100,
    cursor: str | None = None,
    lang: Annotated[Lang, Query(description="the language of each item's `reason`")] = "zh",
    format: FormatQuery = None,
) -> Response:
    """Targets against figures: met, not_met, indeterminate or no_data, the gap, and the rates.

    With `year`: the selected targets of that year, a page of `limit` items at a time (follow
    `next_cursor`), and the summary of all of them. With `year_from` and `year_to` instead: one
    summary per year (`status` does not apply). Filters repeat (`indicator=a&indicator=b`);
    `department` includes every department below it, unless `below=false`. Each item's `reason` says
    why in one sentence, in Chinese (`lang=zh`, the default) or English (`lang=en`). `rate` is
    met / (met + not_met), `reported_rate` targets with a figure / targets. `?format=csv` (or
    `Accept: text/csv`) and `?format=xlsx` give every item (or the yearly summaries) as a file,
    unpaged, the target's fields as `target_operator`, `target_value`, `target_upper`.
    """
    with ReaderFirst(session, token):
        wanted = requested_format(request, format)
        _years(year, year_from, year_to)
        page = _page(limit, cursor)
    filters = compliance.Filters(
        departments=department, indicators=indicator, sections=section, statuses=status, below=below
    )
    if year is not None and wanted == "json":
        # A year's answer kept (app.core.memo) is found by one statement, the generation's, run on the
        # event loop as a series is read, without BEGIN and COMMIT: a trip to a worker thread would
        # cost more. One not kept is computed in a worker thread.
        body, etag = await MEMO.answer_by_generation(
            session,
            lambda: _key(session, year, filters, page, lang, token),
            lambda: _year(session, year, filters, page, lang),
        )
        return conditional(request, body, etag=etag, headers={"Vary": "Accept"})
    check_reader(session, token)
    return await in_thread(_answer, request, session, (year, year_from, year_to), filters, lang, wanted)


@paused_gc()
def _answer(
    request: Request,
    session: Session,
    years: tuple[int | None, int | None, int | None],
    filters: compliance.Filters,
    lang: Lang,
    format: Format,
) -> Response:
    """A year's items or a range's summaries as a file, or the summaries as JSON."""
    year, year_from, year_to = years
    if year is not None:
        content = compliance.report(session, year=year, filters=filters)
        rows = compliance.item_rows(content, lang)
        return table(request, compliance.ITEM_COLUMNS, rows, format=format, name=f"compliance-{year}")
    assert year_from is not None and year_to is not None
    content = compliance.trend(session, year_from=year_from, year_to=year_to, filters=filters)
    if format != "json":
        header, rows = ("year", *compliance.SUMMARY_COLUMNS), compliance.summary_rows(content)
        return table(request, header, rows, format=format, name=f"compliance-{year_from}-{year_to}")
    return conditional(request, dumps(content), headers={"Vary": "Accept"})


def _key(
    session: Session,
    year: int,
    filters: compliance.Filters,
    page: compliance.Page,
    lang: Lang,
    token: str | None,
) -> tuple[tuple[object, ...], bool]:
    """The memo's key: the request's parameters, normalized (filters are sets), and the data's
    generation, read from the database on every request; and whether the answer may be kept."""
    marks, quiet = generation(session, token)  # the token checked by the same statement
    asked = (
        year,
        tuple(sorted(set(filters.departments))),
        filters.below,
        tuple(sorted(set(filters.indicators))),
        tuple(sorted(set(filters.sections))),
        tuple(sorted(set(filters.statuses))),
        page.limit,
        page.after,
        lang,
    )
    return (asked, marks), quiet and committed_only(session)


@paused_gc()
def _year(
    session: Session, year: int, filters: compliance.Filters, page: compliance.Page, lang: Lang
) -> tuple[bytes, str]:
    """The answer's JSON and its ETag. The collector stays paused until the answer is bytes and its
    100,000 items are freed again: resumed while they were alive, its first pass would walk them all
    for nothing (70 ms)."""
    content = compliance.report(session, year=year, filters=filters, page=page)
    add_reasons(content["items"], lang)
    if content["next_cursor"] is not None:
        content["next_cursor"] = encode_cursor(content["next_cursor"])
    body = dumps(content)
    return body, etag_of(body)
