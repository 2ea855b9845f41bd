"""Series and comparisons: read-only views of the observations for dashboards.

Each answer is one query over the observations (plus the lookups of the codes named). A rolled-up
series maps every department to the roots asked for with a recursive CTE; PostgreSQL then sums,
counts and takes min/max exactly over NUMERIC, while on SQLite, whose values are text, the rows are
gathered in Python with Decimals (see app.analytics.rollup).
"""

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, Select, and_, bindparam, func, select, true
from sqlalchemy.orm import Session

from app.analytics import computed, schemas
from app.analytics.rollup import Group, Partial, Parts, combine, gather
from app.auth import tokens
from app.cells.http import unknown_codes
from app.core.db.rows import DriverQuery
from app.core.decimals import WIDE, round_div
from app.core.fields import YEAR_MAX, YEAR_MIN
from app.core.problems import FieldError, InvalidValue
from app.core.tables import columns
from app.departments.models import Department
from app.indicators.models import Aggregation, Direction, Indicator
from app.observations.models import Observation, Qualifier

PCT_PLACES = 2
_O = Observation.__table__.c
_D = Department.__table__.c

# A series file has a row per point: the series' fields, then the point's.
SERIES_COLUMNS = (*(c for c in columns(schemas.Series) if c != "points"), *columns(schemas.Point))
COMPARISON_COLUMNS = columns(schemas.ComparisonRow)

Point = tuple[int, Decimal, Qualifier]
Years = tuple[int | None, int | None]
Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")


class Chosen(NamedTuple):
    """What a series or a comparison needs of an indicator asked for."""

    id: int
    code: str
    unit: str | None
    aggregation: Aggregation
    direction: Direction
    name: str
    formula: str | None  # (v2) derived: computed from its operands (app.analytics.computed)


_I = Indicator.__table__.c
# Built once, as columns: every series and comparison starts with these lookups, and building an
# ORM query and loading entities cost more than half of a one-cell series.
_INDICATORS_BY_CODE = select(
    _I.id, _I.code, _I.unit, _I.aggregation, _I.direction, _I.name, _I.formula
).where(_I.code.in_(bindparam("codes", expanding=True)))
_DEPARTMENTS_BY_CODE = select(_D.code, _D.id, _D.name).where(_D.code.in_(bindparam("codes", expanding=True)))


# A series of a few cells named by their codes, in one statement: each indicator asked with each
# department named, and their figures (none: a row of NULLs). The years' bounds default to the
# whole range a year may take (the tables' CHECK), so that a shape is one statement, compiled once,
# run straight on the driver (DriverQuery): by the number of indicators and departments named, and
# whether it checks the reader's token in it (app.auth.tokens.TOKEN_USE), as GET one observation does.
_CELLS: dict[tuple[int, int, bool], DriverQuery] = {}


def _codes_in(column: Any, prefix: str, count: int) -> ColumnElement[bool]:
    """column = :prefix0, or column IN (:prefix0, :prefix1, ...): one parameter per code."""
    if count == 1:
        return cast(ColumnElement[bool], column == bindparam(f"{prefix}0"))
    return cast(ColumnElement[bool], column.in_([bindparam(f"{prefix}{k}") for k in range(count)]))


def _cells(indicators: int, departments: int, token: bool) -> DriverQuery:
    found = _CELLS.get((indicators, departments, token))
    if found is None:
        query = (
            select(
                *(_I.id, _I.code, _I.unit, _I.name, _I.formula),
                *(_D.id, _D.code, _D.name, _O.year, _O.value, _O.qualifier),
            )
            .select_from(
                Indicator.__table__.join(Department.__table__, true()).outerjoin(
                    Observation.__table__,
                    and_(
                        _O.indicator_id == _I.id,
                        _O.department_id == _D.id,
                        _O.year >= bindparam("year_from"),
                        _O.year <= bindparam("year_to"),
                    ),
                )
            )
            .where(_codes_in(_I.code, "i", indicators), _codes_in(_D.code, "d", departments))
            .order_by(_O.year)
        )
        if token:
            query = query.add_columns(tokens.TOKEN_USE)
        found = _CELLS[indicators, departments, token] = DriverQuery(query)
    return found


def cell_series(
    session: Session,
    *,
    indicators: Sequence[str],
    departments: Sequence[str],
    year_from: int | None = None,
    year_to: int | None = None,
    token_hash: str | None = None,
) -> dict[str, Any] | None:
    """series() of stored indicators and departments named, not rolled up, in one statement; None
    when a code is unknown or an indicator is derived: series() then answers (or names what is wrong).
    With `token_hash`, the statement checks the reader's token too (401 for one not in force); when
    it finds no row, the token is left unchecked and None returned.

    The series dashboards ask most (one indicator, one department) cost one query, not five."""
    wanted = list(dict.fromkeys(indicators))
    named = list(dict.fromkeys(departments))
    params: dict[str, Any] = {
        "year_from": YEAR_MIN if year_from is None else year_from,
        "year_to": YEAR_MAX if year_to is None else year_to,
        "token_hash": token_hash,
    }
    params.update((f"i{k}", code) for k, code in enumerate(wanted))
    params.update((f"d{k}", code) for k, code in enumerate(named))
    rows = _cells(len(wanted), len(named), token_hash is not None).rows(session, params)
    if token_hash is not None and rows:
        tokens.in_force(session, token_hash, rows[0][-1])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for _, i_code, unit, i_name, formula, _, d_code, d_name, year, value, qualifier, *_ in rows:
        if formula is not None:
            return None
        series = found.get((i_code, d_code))
        if series is None:
            series = found[i_code, d_code] = {
                "indicator": i_code,
                "department": d_code,
                "unit": unit,
                "indicator_name": i_name,
                "department_name": d_name,
                "points": [],
            }
        if year is not None:
            series["points"].append({"year": year, "value": value, "qualifier": qualifier})
    if len(found) != len(wanted) * len(named):  # an unknown code
        return None
    return {"series": [found[i, d] for i in wanted for d in named]}


def _indicators(session: Session, codes: Sequence[str]) -> list[Chosen]:
    wanted = list(dict.fromkeys(codes))
    rows = session.connection().execute(_INDICATORS_BY_CODE, {"codes": wanted})
    found = {row.code: Chosen(*row) for row in rows}
    missing = [c for c in wanted if c not in found]
    if missing:
        raise unknown_codes("indicator", missing)
    return [found[c] for c in wanted]


def _departments(session: Session, codes: Sequence[str]) -> dict[int, tuple[str, str]] | None:
    """The departments asked for, id -> (code, name) in the order asked; None when none were named."""
    if not codes:
        return None
    wanted = list(dict.fromkeys(codes))
    rows = session.connection().execute(_DEPARTMENTS_BY_CODE, {"codes": wanted})
    found = {code: (i, name) for code, i, name in rows}
    missing = [c for c in wanted if c not in found]
    if missing:
        raise unknown_codes("department", missing)
    return {found[c][0]: (c, found[c][1]) for c in wanted}


def _departments_of(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    """id -> (code, name) of the departments `ids`."""
    if not ids:
        return {}
    rows = session.execute(select(_D.id, _D.code, _D.name).where(_D.id.in_(ids)))
    return {i: (code, name) for i, code, name in rows}


def _years(query: Q, year_from: int | None, year_to: int | None) -> Q:
    if year_from is not None:
        query = query.where(_O.year >= year_from)
    if year_to is not None:
        query = query.where(_O.year <= year_to)
    return query


def _plain(
    session: Session, indicator_ids: list[int], deps: dict[int, str] | None, years: Years
) -> dict[tuple[int, int], list[Point]]:
    query = select(_O.indicator_id, _O.department_id, _O.year, _O.value, _O.qualifier).where(
        _O.indicator_id.in_(indicator_ids)
    )
    if deps is not None:
        query = query.where(_O.department_id.in_(deps))
    query = _years(query, *years).order_by(_O.indicator_id, _O.department_id, _O.year)
    groups: dict[tuple[int, int], list[Point]] = defaultdict(list)
    for ind, dep, year, value, qualifier in session.execute(query):
        groups[ind, dep].append((year, value, qualifier))
    return groups


def _rolled(
    session: Session, indicators: list[Chosen], deps: dict[int, str] | None, years: Years
) -> dict[tuple[int, int], list[Point]]:
    base = select(_D.id.label("root_id"), _D.id.label("id"))
    if deps is not None:
        base = base.where(_D.id.in_(deps))
    tree = base.cte("tree", recursive=True)
    tree = tree.union_all(select(tree.c.root_id, _D.id).where(_D.parent_id == tree.c.id))
    key = (tree.c.root_id, _O.indicator_id, _O.year, _O.qualifier)
    in_sql = session.get_bind().dialect.name == "postgresql"
    columns = (
        (func.sum(_O.value), func.count(), func.min(_O.value), func.max(_O.value))
        if in_sql
        else (func.group_concat(_O.value),)  # each group's values as one text, "1.5,20,-3"
    )
    query = (
        select(*key, *columns)
        .select_from(Observation.__table__)
        .join(tree, _O.department_id == tree.c.id)
        .where(_O.indicator_id.in_([i.id for i in indicators]))
        .group_by(*key)
    )
    query = _years(query, *years)
    parts: dict[Group, Parts] = defaultdict(dict)
    if in_sql:
        for root, ind, year, qualifier, total, count, low, high in session.execute(query):
            parts[root, ind, year][qualifier] = Partial(total, count, low, high)
    else:
        # One row per group, not per figure, as the driver's own tuples: making a row costs the
        # driver (and SQLAlchemy) more than the rest of the work.
        parts = gather(cast(CursorResult[Any], session.execute(query)).cursor.fetchall())
    aggregation = {i.id: i.aggregation for i in indicators}
    groups: dict[tuple[int, int], list[Point]] = defaultdict(list)
    for (root, ind, year), group in sorted(parts.items()):
        groups[ind, root].append((year, *combine(aggregation[ind], group)))
    return groups


def series(
    session: Session,
    *,
    indicators: Sequence[str],
    departments: Sequence[str] = (),
    year_from: int | None = None,
    year_to: int | None = None,
    rollup: bool = False,
) -> dict[str, Any]:
    """One series per indicator and department, points in year order.

    Without departments, every department with data (for a rollup: data in it or below it), by code;
    departments named get a series even when it has no points.
    """
    chosen = _indicators(session, indicators)
    found, operands = computed.prepare(chosen, lambda codes: _indicators(session, codes))
    stored = [i for i in chosen if i.formula is None]
    if rollup:
        computed.check_rollup(found, operands)
        flat = [i.code for i in stored if i.aggregation is Aggregation.none]
        if flat:
            raise InvalidValue(
                f"Indicator {', '.join(map(repr, flat))} is aggregated by 'none': it cannot be rolled up",
                errors=[
                    FieldError(["query", "indicator"], f"{code!r} has aggregation 'none'; use rollup=false")
                    for code in flat
                ],
            )
    named = _departments(session, departments)
    deps = None if named is None else {i: code for i, (code, _) in named.items()}
    years = (year_from, year_to)
    groups: dict[tuple[int, int], list[Point]] = {}
    if rollup:
        read = list({i.id: i for i in (*stored, *operands)}.values())  # operands and stored: one query
        rolled = _rolled(session, read, deps, years) if read else {}
        groups = {k: v for k, v in rolled.items() if k[0] in {i.id for i in stored}}
        groups.update(computed.rolled(found, rolled))
    else:
        if stored:
            groups = _plain(session, [i.id for i in stored], deps, years)
        if found:
            groups.update(computed.plain(session, found, None if deps is None else list(deps), years))
    if named is None:
        named = _departments_of(session, {dep for _, dep in groups})
        order = sorted(named, key=named.__getitem__)
    else:
        order = list(named)
    out = []
    for indicator in chosen:
        for dep in order:
            points = groups.get((indicator.id, dep))
            if points is None and deps is None:
                continue
            code, name = named[dep]
            out.append(
                {
                    "indicator": indicator.code,
                    "department": code,
                    "unit": indicator.unit,
                    "indicator_name": indicator.name,
                    "department_name": name,
                    "points": [{"year": y, "value": v, "qualifier": q} for y, v, q in points or ()],
                }
            )
    return {"series": out}


def series_rows(content: dict[str, Any]) -> list[list[Any]]:
    """A series answer as the rows of a file (SERIES_COLUMNS): one row per point."""
    return [
        [
            s["indicator"],
            s["department"],
            s["unit"],
            s["indicator_name"],
            s["department_name"],
            p["year"],
            p["value"],
            p["qualifier"],
        ]
        for s in content["series"]
        for p in s["points"]
    ]


def _improved(direction: Direction, change: Decimal | None) -> bool | None:
    if change is None or direction is Direction.none:
        return None
    return change > 0 if direction is Direction.higher else change < 0


def _ranks(values: dict[str, Decimal], direction: Direction) -> dict[str, int]:
    """Competition ranking, best first: ties share a rank and the next rank skips (1, 1, 3)."""
    if direction is Direction.none:
        return {}
    ordered = sorted(values.items(), key=lambda kv: kv[1], reverse=direction is Direction.higher)
    ranks: dict[str, int] = {}
    previous: Decimal | None = None
    rank = 0
    for position, (dep, value) in enumerate(ordered, start=1):
        if value != previous:
            rank, previous = position, value
        ranks[dep] = rank
    return ranks


# A comparison's figures with their departments' codes, in one statement built once (the years as
# two parameters, not a list of literals: the same SQL each time, compiled once).
_COMPARED = (
    select(_D.code, _O.year, _O.value)
    .select_from(Observation.__table__.join(Department.__table__, _D.id == _O.department_id))
    .where(
        _O.indicator_id == bindparam("indicator"), _O.year.in_([bindparam("year"), bindparam("base_year")])
    )
)
_COMPARED_IN = _COMPARED.where(_O.department_id.in_(bindparam("departments", expanding=True)))


def comparison(
    session: Session, *, indicator: str, year: int, base_year: int, departments: Sequence[str] = ()
) -> dict[str, Any]:
    """Each department's value in `year` against `base_year`: change, change_pct, improved, rank.

    Without departments, every department with a value in either year. Rows go best first; rows
    without a rank follow by code.
    """
    chosen = _indicators(session, [indicator])[0]
    named = _departments(session, departments)
    found = computed.prepare([chosen], lambda codes: _indicators(session, codes))[0]
    rows_read: Any
    if found:  # derived: computed from its operands
        deps = None if named is None else list(named)
        figures = computed.values(session, found[0], deps, [year, base_year])
        codes = named or _departments_of(session, {dep for dep, _ in figures})
        rows_read = [(codes[dep][0], y, value) for (dep, y), value in figures.items()]
    else:
        params: dict[str, Any] = {"indicator": chosen.id, "year": year, "base_year": base_year}
        if named is None:
            result = session.connection().execute(_COMPARED, params)
        else:
            result = session.connection().execute(_COMPARED_IN, {**params, "departments": list(named)})
        # The driver's own tuples, each value made a Decimal here (SQLite's text, PostgreSQL's
        # Decimal, as ExactDecimal reads them): a row through SQLAlchemy costs more than the rest.
        rows_read = [(code, y, Decimal(value)) for code, y, value in result.cursor.fetchall()]
        result.close()
    now: dict[str, Decimal] = {}
    base: dict[str, Decimal] = {}
    for code, y, value in rows_read:
        if y == year:
            now[code] = value
        if y == base_year:
            base[code] = value
    # The departments named, in that order; else every one with a value in either year.
    listed = [code for code, _ in named.values()] if named is not None else list({**now, **base})
    ranks = _ranks(now, chosen.direction)
    direction = chosen.direction
    rows = []
    for code in listed:
        value, base_value = now.get(code), base.get(code)
        change = value - base_value if value is not None and base_value is not None else None
        pct = None
        if change is not None and base_value:
            pct = round_div(WIDE.multiply(change, 100), abs(base_value), PCT_PLACES)
        rows.append(
            {
                "department": code,
                "value": value,
                "base_value": base_value,
                "change": change,
                "change_pct": pct,
                "improved": _improved(direction, change),
                "rank": ranks.get(code),
            }
        )
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["department"]))
    return {"indicator": chosen.code, "year": year, "base_year": base_year, "rows": rows}


def comparison_rows(content: dict[str, Any]) -> list[list[Any]]:
    return [[r[c] for c in COMPARISON_COLUMNS] for r in content["rows"]]
