"""What the observation and target routers share: cell paths, their resolution, preconditions."""

import functools
from collections.abc import Callable, Sequence
from typing import Annotated, Any, NamedTuple, Protocol, TypeVar

from fastapi import Path, Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, bindparam, exists, select, true
from sqlalchemy.orm import Session, aliased
from starlette.responses import Response

from app.auth import tokens
from app.auth.dependencies import WriteToken, check_role
from app.auth.models import ApiToken, Role
from app.auth.principal import Principal
from app.cells.key import Cell
from app.cells.store import CellStore, Outcome, Precondition
from app.core.config import get_settings
from app.core.db.rows import DriverQuery
from app.core.db.session import run_write
from app.core.fields import REASON_MAX, YEAR_MAX, YEAR_MIN
from app.core.http import check_if_match
from app.core.json import json_response
from app.core.problems import FieldError, InvalidValue, NotFound
from app.core.text import CONTROL_PATTERN
from app.departments import service as departments
from app.departments.models import Department
from app.departments.scope import out_of_scope
from app.indicators import service as indicators
from app.indicators.models import Indicator, ValueType

T = TypeVar("T")
W = TypeVar("W", bound=BaseModel)

MERGE_PATCH = "application/merge-patch+json"
# DELETE's reason travels in the query string: a DELETE's body is not one every client can send.
ReasonQuery = Annotated[
    str | None,
    Query(
        max_length=REASON_MAX,
        pattern=CONTROL_PATTERN,
        description="why: kept in the history with the deletion",
    ),
]

CELL = "/{indicator}/{department}/{year}"
YearPath = Annotated[int, Path(ge=YEAR_MIN, le=YEAR_MAX)]
YearQuery = Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)]


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


def etag(row: _Versioned) -> str:
    return f'"{row.version}"'


class _Indicator(NamedTuple):
    id: int
    code: str
    value_type: ValueType
    formula: str | None  # a derived indicator's (v2): its figures cannot be written


class _Department(NamedTuple):
    id: int
    code: str


# Both halves of a cell's path in one query, built once, as the columns a cell needs: loading them
# as ORM objects cost a tenth of a one-cell PUT.
_BOTH = (
    select(
        Indicator.id, Indicator.code, Indicator.value_type, Indicator.formula, Department.id, Department.code
    )
    .join(Department, true())  # two independent lookups by unique code: a row only when both exist
    .where(Indicator.code == bindparam("indicator"), Department.code == bindparam("department"))
)


def resolve(session: Session, indicator: str, department: str, year: int) -> Cell:
    """The cell a path names; 404 for an unknown indicator or department."""
    params = {"indicator": indicator, "department": department}
    found = session.connection().execute(_BOTH, params).first()
    if found is None:  # one of them is unknown: say which, looking them up in the usual order
        return Cell(
            indicator=indicators.get_by_code(session, indicator),
            department=departments.get_by_code(session, department),
            year=year,
        )
    indicator_id, indicator_code, value_type, formula, department_id, department_code = found
    return Cell(
        indicator=_Indicator(indicator_id, indicator_code, value_type, formula),
        department=_Department(department_id, department_code),
        year=year,
    )


@functools.cache
def _for_write(store: CellStore[Any], also: "tuple[ColumnElement[Any], ...]" = ()) -> DriverQuery:
    """A write's first query, built once per store: the token's holder (no row: 401), the path's
    indicator and department (NULL: unknown), whether the department lies within the holder's own
    (a clerk's scope, walking up its short chain of parents), and the cell's current row in `store`,
    locked (NULL: none yet), in this order (read by position), `also` between the last two (a
    domain's own, such as the reporting lock a write of figures takes: app.reporting.locks.HELD).
    One round trip where these were three, sent by the driver itself."""
    table = store.table
    indicator_id = select(Indicator.id).where(Indicator.code == bindparam("indicator")).scalar_subquery()
    department_id = select(Department.id).where(Department.code == bindparam("department")).scalar_subquery()
    current = (
        select(table)
        .where(
            table.c.indicator_id == indicator_id,
            table.c.department_id == department_id,
            table.c.year == bindparam("year"),
        )
        .with_for_update()  # in a subquery of its own: PostgreSQL locks no row of an outer join's NULL side
        .subquery("current")
    )
    own = aliased(Department, name="own")
    chain = departments.chain_up(Department.code == bindparam("department"))
    return DriverQuery(
        select(
            ApiToken.name,
            ApiToken.role,
            ApiToken.department_id,
            own.code,
            Indicator.id,
            Indicator.code,
            Indicator.value_type,
            Indicator.formula,
            Department.id,
            Department.code,
            exists().where(chain.c.id == ApiToken.department_id).label("within"),
            tokens.RECENTLY_USED,
            *also,
            *current.c,
        )
        .select_from(
            ApiToken.__table__.outerjoin(own, own.id == ApiToken.department_id)
            .outerjoin(Indicator, Indicator.code == bindparam("indicator"))
            .outerjoin(Department, Department.code == bindparam("department"))
            .outerjoin(current, true())
        )
        .where(tokens.PRESENTED)
    )


class Claim(NamedTuple):
    """A cell resolved for a write by the query that checked its writer: the writer, found allowed to
    write it, and the cell's current row in the store written, read and locked (None: none yet)."""

    cell: Cell
    writer: Principal
    current: Any


def _resolve_for_write(
    session: Session,
    store: CellStore[Any],
    indicator: str,
    department: str,
    year: int,
    token: WriteToken,
    also: "tuple[ColumnElement[Any], ...]" = (),
) -> Claim:
    """The cell a path names, for the holder of `token` to write in `store`, with its current row
    read and locked: 401, 403 (role), 404 (path), 403 (a clerk's scope), in that order."""
    params = {"token_hash": token.hash, "indicator": indicator, "department": department, "year": year}
    rows = _for_write(store, also).rows(session, params)
    if not rows:
        raise tokens.refusal(session, token.hash)
    found = rows[0]
    name, role, own_id, own_code, indicator_id, indicator_code, value_type, formula = found[:8]
    department_id, department_code, within, recently_used = found[8:12]
    writer = Principal(name, Role(role), own_id, own_code)
    check_role(writer, token.role)
    tokens.seen(session, token.hash, recently_used)
    if indicator_id is None:
        raise indicators.unknown(indicator)
    if department_id is None:
        raise departments.unknown(department)
    if not writer.has(Role.commission) and not within:  # a clerk: their department and below
        raise out_of_scope(writer, department_code)
    current = found[12 + len(also) :]
    cell = Cell(
        indicator=_Indicator(indicator_id, indicator_code, value_type, formula),
        department=_Department(department_id, department_code),
        year=year,
    )
    return Claim(cell, writer, None if current[0] is None else store.row(*current))


async def write_cell(
    session: Session,
    store: CellStore[Any],
    indicator: str,
    department: str,
    year: int,
    token: WriteToken,
    change: Callable[[Claim], T],
    also: "tuple[ColumnElement[Any], ...]" = (),
) -> tuple[Cell, T]:
    """Resolve the cell a path names for the holder of `token`, and let them change it in `store`,
    as one short write (app.core.db.session.run_write). `change` gets the claim: the cell, its
    writer and its current row, read and locked. `also`: columns the query that resolves it selects
    too, for what they do (a lock taken), not for their values."""

    def write() -> tuple[Cell, T]:
        claim = _resolve_for_write(session, store, indicator, department, year, token, also)
        return claim.cell, change(claim)

    return await run_write(session, write)


def merge(write: type[W], fields: Sequence[str], current: Any, patch: BaseModel) -> W:
    """The body a PUT would have sent for what a merge patch (RFC 7396) makes of the current row:
    its `fields`, with each field the patch gives set (null: removed, so that the PUT's default
    applies), checked as a whole by `write`; a 422 names what is wrong in the result. The patch's
    `reason` is the write's, not the row's."""
    document = {f: getattr(current, f) for f in fields if getattr(current, f) is not None}
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    try:
        return write.model_validate(document)
    except ValidationError as exc:
        errors = [FieldError(["body", *e["loc"]], e["msg"], e["type"]) for e in exc.errors()]
        raise InvalidValue("The figure the patch makes is not valid", errors=errors) from None


async def patch_cell(
    session: Session,
    store: CellStore[Any],
    indicator: str,
    department: str,
    year: int,
    token: WriteToken,
    *,
    patch: BaseModel,
    write: type[W],
    put: Callable[[Claim, W], T],
    noun: str,
    writable: Callable[[Claim], None] | None = None,
    also: "tuple[ColumnElement[Any], ...]" = (),
) -> tuple[Cell, T]:
    """PATCH of a cell (observations and targets alike): 404 when it holds no `noun`, else the merge
    of its current row and `patch` (merge) written by `put` as a PUT of the whole would be, under
    the same lock: the same checks, and nothing new when nothing changes. `writable` may refuse the
    cell first (a derived indicator's figure: 409, not 404)."""

    def change(claim: Claim) -> T:
        if writable is not None:
            writable(claim)
        if claim.current is None:
            raise NotFound(f"No {noun} for {claim.cell.describe()}")
        return put(claim, merge(write, (*store.fields, "note", "source"), claim.current, patch))

    return await write_cell(session, store, indicator, department, year, token, change, also)


def put_answer(body: object, row: _Versioned, outcome: Outcome, location: str) -> Response:
    """A PUT's answer: 201 with its Location when the cell was created, else 200; the ETag either way."""
    headers = {"ETag": etag(row)}
    if outcome is Outcome.created:
        headers["Location"] = location
    return json_response(body, status_code=201 if outcome is Outcome.created else 200, headers=headers)


def precondition(request: Request) -> Precondition | None:
    """If-Match / If-None-Match of a write, checked against the current row once it is locked."""
    if "if-match" not in request.headers and "if-none-match" not in request.headers:
        return None

    def check(current: _Versioned | None) -> None:
        check_if_match(request, etag(current) if current else None)

    return check


def filter_id(session: Session, kind: str, code: str | None) -> int | None:
    """The id behind a filter's code; an unknown code is a 422 naming the query parameter."""
    found = filter_row(session, kind, code)
    return None if found is None else found.id


def filter_row(session: Session, kind: str, code: str | None) -> Indicator | Department | None:
    """The indicator or department a filter's code names (None: no filter); unknown: 422."""
    if code is None:
        return None
    finder = indicators.find_by_code if kind == "indicator" else departments.find_by_code
    found: Indicator | Department | None = finder(session, code)
    if found is None:
        raise InvalidValue(
            f"No {kind} with code {code!r}",
            errors=[FieldError(["query", kind], f"unknown {kind} {code!r}")],
        )
    return found


def year_range(year_from: int | None, year_to: int | None) -> None:
    """A query's year_from..year_to must run forwards and span at most INDICATORS_MAX_YEAR_SPAN years."""
    if year_from is None or year_to is None:
        return
    if year_from > year_to:
        raise InvalidValue(
            f"year_from ({year_from}) is after year_to ({year_to})",
            errors=[
                FieldError(["query", "year_to"], "must not be before year_from"),
                FieldError(["query", "year_from"], "must not be after year_to"),
            ],
        )
    span = get_settings().max_year_span
    if year_to - year_from + 1 > span:
        raise InvalidValue(
            f"{year_from}..{year_to} spans more than {span} years (INDICATORS_MAX_YEAR_SPAN)",
            errors=[
                FieldError(["query", "year_to"], f"at most {span} years after year_from", "year_span"),
                FieldError(["query", "year_from"], f"at most {span} years before year_to", "year_span"),
            ],
        )


def department_filter(session: Session, codes: Sequence[str], *, below: bool = True) -> set[int] | None:
    """The department ids a `department` query filter names: each department with every department
    below it (`below`), or only those named; None without a filter; 422 naming the unknown codes."""
    if not codes:
        return None
    found = dict(
        session.execute(select(Department.code, Department.id).where(Department.code.in_(codes))).all()
    )
    missing = [c for c in codes if c not in found]
    if missing:
        raise unknown_codes("department", missing)
    if not below:
        return set(found.values())
    ids: set[int] = set()
    for department_id in found.values():
        ids |= departments.subtree_ids(session, department_id)
    return ids


def unknown_codes(kind: str, codes: Sequence[str]) -> InvalidValue:
    """The 422 for query filters naming a department or indicator that does not exist."""
    missing = list(dict.fromkeys(codes))
    return InvalidValue(
        f"No {kind} with code {', '.join(map(repr, missing))}",
        errors=[FieldError(["query", kind], f"unknown {kind} {code!r}") for code in missing],
    )
