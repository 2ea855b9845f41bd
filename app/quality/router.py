"""HTTP for data quality: rules, the validation report, outliers."""

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.audit.http import record
from app.audit.models import AuditAction
from app.auth.dependencies import Commission, SessionDep, Viewer
from app.cells.http import department_filter, unknown_codes
from app.core.fields import YEAR_MAX, YEAR_MIN, Code
from app.core.json import json_response, paused_gc
from app.core.pagination import Limit, Page, decode_cursor, encode_cursor, page_by_code
from app.core.problems import BadRequest
from app.core.routing import api_router
from app.core.tables import FILE_RESPONSES, FormatQuery, model_table, requested_format, table
from app.indicators.models import Indicator
from app.quality import outliers, service, validation
from app.quality.models import Importance
from app.quality.schemas import Algorithm, OutliersRead, RuleRead, RuleWrite, ValidationRead

router = api_router("", "quality")
RULE = "/rules/{code}"
YearRequired = Annotated[int, Query(ge=YEAR_MIN, le=YEAR_MAX)]


@router.get("/rules", response_model=Page[RuleRead], responses=FILE_RESPONSES)
def list_rules(
    request: Request,
    session: SessionDep,
    _: Viewer,
    limit: Limit = 100,
    cursor: str | None = None,
    format: FormatQuery = None,
) -> Response:
    """Validation rules in code order; `?format=csv|xlsx`: all of them as a file."""
    if (wanted := requested_format(request, format)) != "json":
        return model_table(request, RuleRead, service.list(session, limit=None), format=wanted, name="rules")
    after = decode_cursor(cursor, str) if cursor else None
    return json_response(page_by_code(service.list(session, limit=limit, after=after), limit))


@router.get(RULE, response_model=RuleRead)
def get_rule(code: Code, session: SessionDep, _: Viewer) -> Response:
    """One validation rule."""
    return json_response(service.read(service.get_by_code(session, code)))


@router.put(RULE, response_model=RuleRead, responses={201: {"model": RuleRead, "description": "Created"}})
def put_rule(
    request: Request, code: Code, data: RuleWrite, session: SessionDep, actor: Commission
) -> Response:
    """Create or replace a validation rule (commission, admin): `left` `operator` `right`, formulas over
    stored indicators as a derived indicator's; 422 naming `left` or `right` for a syntax error, an
    unknown code or a derived operand."""
    rule, created = service.put(session, code=code, data=data)
    action = AuditAction.rule_create if created else AuditAction.rule_update
    record(request, session, actor=actor.name, action=action, target=code, detail=data)
    return json_response(service.read(rule), status_code=201 if created else 200)


@router.delete(RULE, status_code=204)
def delete_rule(request: Request, code: Code, session: SessionDep, actor: Commission) -> Response:
    """Remove a validation rule (commission, admin)."""
    service.delete(session, code=code)
    record(request, session, actor=actor.name, action=AuditAction.rule_delete, target=code)
    return Response(status_code=204)


def _indicator_ids(session: Session, codes: list[str]) -> set[int] | None:
    if not codes:
        return None
    found = dict(session.execute(select(Indicator.code, Indicator.id).where(Indicator.code.in_(codes))).all())
    missing = [c for c in codes if c not in found]
    if missing:
        raise unknown_codes("indicator", missing)
    return set(found.values())


# A year's report and outliers are tens of thousands of small objects without cycles: the collector
# waits until the answer is bytes and they are freed (app.core.json.paused_gc), as compliance's does.
@router.get("/validation", response_model=ValidationRead, responses=FILE_RESPONSES)
@paused_gc()
def get_validation(
    request: Request,
    session: SessionDep,
    _: Viewer,
    year: YearRequired,
    department: Annotated[list[Code], Query(description="with every department below it")] = [],  # noqa: B006
    rule: Annotated[list[Code], Query()] = [],  # noqa: B006
    importance: Annotated[list[Importance], Query()] = [],  # noqa: B006
    limit: Limit = 100,
    cursor: str | None = None,
    format: FormatQuery = None,
) -> Response:
    """The breaches of the validation rules in `year`: each rule judged for each department, exactly;
    `indeterminate` when a figure's qualifier leaves it open. In rule then department code order, a
    page of `limit` at a time; the summary counts them all. Filters repeat (`rule=a&rule=b`);
    `?format=csv|xlsx` gives every breach as a file."""
    wanted = requested_format(request, format)
    if rule:
        known = {r.code for r in service.rules(session, codes=rule)}
        if missing := [c for c in rule if c not in known]:
            raise unknown_codes("rule", missing)
    rules = service.rules(session, codes=rule, importance=importance)
    report = validation.evaluate(
        session, year=year, rules=rules, department_ids=department_filter(session, department)
    )
    breaches = report.breaches
    if wanted != "json":
        items = (validation.item(b, d, year) for b, d in breaches)
        rows = ([i[c] for c in validation.COLUMNS] for i in items)
        return table(request, validation.COLUMNS, rows, format=wanted, name=f"validation-{year}")
    if cursor:
        after = decode_cursor(cursor)
        if not (isinstance(after, list) and len(after) == 2 and all(isinstance(c, str) for c in after)):
            raise BadRequest("The cursor is not one this service gave out")
        breaches = [(b, d) for b, d in breaches if (b.rule.code, d) > (after[0], after[1])]
    page = [validation.item(b, d, year) for b, d in breaches[: limit + 1]]  # rounded: this page only
    more = len(page) > limit
    page = page[:limit]
    content: dict[str, Any] = {
        "year": year,
        "summary": report.counts(),
        "items": page,
        "next_cursor": encode_cursor([page[-1]["rule"], page[-1]["department"]]) if more else None,
    }
    return json_response(content)


@router.get("/outliers", response_model=OutliersRead, responses=FILE_RESPONSES)
@paused_gc()
def get_outliers(
    request: Request,
    session: SessionDep,
    _: Viewer,
    year: YearRequired,
    indicator: Annotated[list[Code], Query()] = [],  # noqa: B006
    department: Annotated[list[Code], Query(description="with every department below it")] = [],  # noqa: B006
    algorithm: Algorithm = "modified_z_score",
    threshold: Annotated[
        Decimal | None,
        Query(gt=0, le=1000, description="default 3.5 (modified_z_score), 3 (z_score); min_max takes none"),
    ] = None,
    format: FormatQuery = None,
) -> Response:
    """The figures of `year` that are outliers against the same department's other years of the same
    indicator (at least 4 of them): `modified_z_score` (0.6745 × |x − median| / MAD, default threshold
    3.5), `z_score` (|x − mean| / std_dev, default 3), or `min_max` (outside the indicator's
    expected_min / expected_max). A zero spread judges nothing. `?format=csv|xlsx`: the items as a file."""
    wanted = requested_format(request, format)
    if algorithm == "min_max":
        threshold = None
    elif threshold is None:
        threshold = outliers.DEFAULT_THRESHOLDS[algorithm]
    items = outliers.find(
        session,
        year=year,
        algorithm=algorithm,
        threshold=threshold,
        indicator_ids=_indicator_ids(session, indicator),
        department_ids=department_filter(session, department),
    )
    if wanted != "json":
        rows = ([i[c] for c in outliers.COLUMNS] for i in items)
        return table(request, outliers.COLUMNS, rows, format=wanted, name=f"outliers-{year}")
    content = {
        "metadata": {"algorithm": algorithm, "threshold": threshold, "count": len(items)},
        "items": items,
    }
    return json_response(content)
