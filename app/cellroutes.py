"""What the observation and target routers share: cell paths, their resolution, preconditions."""

from collections.abc import Callable, Sequence
from typing import Annotated, NamedTuple, Protocol, TypeVar

from fastapi import Path, Query, Request
from sqlalchemy import bindparam, exists, select, true
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.auth.principal import Principal, needs_scope, out_of_scope
from app.cells import Cell, Outcome, Precondition
from app.celltables import YEAR_MAX, YEAR_MIN
from app.config import get_settings
from app.database import run_write
from app.departments import service as departments
from app.departments.models import Department
from app.http import check_if_match
from app.indicators import service as indicators
from app.indicators.models import Indicator, ValueType
from app.jsonio import json_response
from app.problems import FieldError, InvalidValue

T = TypeVar("T")

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


class _Department(NamedTuple):
    id: int
    code: str


# Both halves of a cell's path in one query, built once (every write resolves its cell), as the
# columns a cell needs: loading them as ORM objects cost a tenth of a one-cell PUT.
_BOTH = (
    select(Indicator.id, Indicator.code, Indicator.value_type, Department.id, Department.code)
    .join(Department, true())  # two independent lookups by unique code: a row only when both exist
    .where(Indicator.code == bindparam("indicator"), Department.code == bindparam("department"))
)
# The same, and whether the department is the `root` department or lies below it (walking up its
# short chain of parents): a clerk's scope, checked by the query that resolves the path rather than
# by one more round trip (app.auth.principal.may_write).
_chain = departments.chain_up(Department.code == bindparam("department"))
_BOTH_WITHIN = _BOTH.add_columns(exists().where(_chain.c.id == bindparam("root")).label("within"))


def resolve(
    session: Session, indicator: str, department: str, year: int, writer: Principal | None = None
) -> Cell:
    """The cell a path names; 404 for an unknown indicator or department.

    With a `writer` who is a clerk writing below their own department, the same query says whether
    the department lies within theirs: 403 when it does not, and the cell says it was checked
    (Cell.writer), so that the service does not ask again."""
    root = writer.department_id if writer is not None and needs_scope(writer, department) else None
    params: dict[str, object] = {"indicator": indicator, "department": department}
    if root is not None:
        params["root"] = root
    found = session.connection().execute(_BOTH if root is None else _BOTH_WITHIN, params).first()
    if found is None:  # one of them is unknown: say which, looking them up in the usual order
        return Cell(
            indicator=indicators.get_by_code(session, indicator),
            department=departments.get_by_code(session, department),
            year=year,
        )
    indicator_id, indicator_code, value_type, department_id, department_code = found[:5]
    if writer is not None and root is not None and not found.within:
        raise out_of_scope(writer, department_code)
    return Cell(
        indicator=_Indicator(indicator_id, indicator_code, value_type),
        department=_Department(department_id, department_code),
        year=year,
        writer=writer if root is not None else None,
    )


async def write_cell(
    session: Session,
    indicator: str,
    department: str,
    year: int,
    writer: Principal,
    change: Callable[[Cell], T],
) -> tuple[Cell, T]:
    """Resolve the cell a path names for `writer` and change it, as one short write
    (app.database.run_write)."""

    def write() -> tuple[Cell, T]:
        cell = resolve(session, indicator, department, year, writer)
        return cell, change(cell)

    return await run_write(session, write)


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
    if code is None:
        return None
    finder = indicators.find_by_code if kind == "indicator" else departments.find_by_code
    found: Indicator | Department | None = finder(session, code)
    if found is None:
        raise InvalidValue(
            f"No {kind} with code {code!r}",
            errors=[FieldError(["query", kind], f"unknown {kind} {code!r}")],
        )
    return found.id


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


def unknown_codes(kind: str, codes: Sequence[str]) -> InvalidValue:
    """The 422 for query filters naming a department or indicator that does not exist."""
    missing = list(dict.fromkeys(codes))
    return InvalidValue(
        f"No {kind} with code {', '.join(map(repr, missing))}",
        errors=[FieldError(["query", kind], f"unknown {kind} {code!r}") for code in missing],
    )
