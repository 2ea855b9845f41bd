"""Series, comparison, compliance, completeness, progress, validation and outliers at scale: 1,000
departments x 100 indicators x 10 years.

    .venv/bin/python -m bench.analytics [--backend sqlite|postgresql|both] [--runs N] [--no-http]
                                        [--only NAME,...]

Into a throwaway SQLite file and a throwaway PostgreSQL database (migrated, nothing else): a four-level
department tree (1 root, 9, 90, 900), 100 indicators cycling through the aggregations, 1,000,000
observations (2012-2021, some `at_least`, `more_than` and `approximately`) and a target for every
indicator and department in 2021 (100,000, every operator), and every indicator assigned to every
department from 2012 (100,000 assignments), and 50 validation rules. PostgreSQL takes them by COPY, SQLite by
Core executemany. Then it times the service functions directly and, unless --no-http, the same
requests over HTTP in-process (auth, JSON serialization, ETag included), and prints p50/p99 and the
ratio of each p50 to its goal. It never fails on a timing.
"""

import argparse
import datetime as dt
import logging
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert
from sqlalchemy.orm import Session

from app.analytics import completeness
from app.analytics import service as analytics
from app.core.db import migrate
from app.core.json import paused_gc
from app.departments.models import Department
from app.indicators.models import Aggregation, Direction, Indicator, ValueType
from app.observations.models import Observation, Qualifier
from app.quality import outliers, validation
from app.quality import service as rules
from app.quality.models import Importance, Missing
from app.quality.models import Operator as RuleOperator
from app.quality.schemas import RuleWrite
from app.reporting.models import Assignment
from app.targets.compliance import report as compliance
from app.targets.models import Operator, Target
from app.targets.progress import report as progress
from bench.harness import Skip, engine_for, settle, throwaway

YEARS = range(2012, 2022)
TARGET_YEAR = 2021
INDICATORS = 100
FANOUT = (9, 10, 10)  # root -> 9 -> 90 -> 900: 1,000 departments
CHUNK = 20_000
AGGREGATIONS = (Aggregation.sum, Aggregation.mean, Aggregation.min, Aggregation.max)
DIRECTIONS = (Direction.higher, Direction.lower, Direction.none)
GOALS_MS = {
    "validation (50 rules)": 300.0,
    "outliers (modified_z_score)": 1000.0,
    "compliance": 300.0,
    "completeness": 300.0,
    "progress": 300.0,
    "series-rollup-root": 50.0,
    "series-one-department": 10.0,
}


def _tree() -> list[tuple[int, str, int | None]]:
    """(id, code, parent id) of every department, parents first."""
    rows: list[tuple[int, str, int | None]] = [(1, "root", None)]
    level = [1]
    for depth, fan in enumerate(FANOUT, start=1):
        below = []
        for parent in level:
            for _ in range(fan):
                new_id = len(rows) + 1
                rows.append((new_id, f"d{depth}-{new_id:04d}", parent))
                below.append(new_id)
        level = below
    return rows


def _qualifier(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.90:
        return "exact"
    if roll < 0.95:
        return "at_least"
    return "more_than" if roll < 0.975 else "approximately"


def _value(rng: random.Random) -> Decimal:
    return Decimal(rng.randrange(0, 10_000_000)).scaleb(-2)  # 0.00 .. 99,999.99


def _observation_rows(departments: int, seed: int = 7) -> Iterator[tuple[int, int, int, Decimal, str]]:
    rng = random.Random(seed)
    for indicator in range(1, INDICATORS + 1):
        for department in range(1, departments + 1):
            for year in YEARS:
                yield indicator, department, year, _value(rng), _qualifier(rng)


def _target_rows(departments: int, seed: int = 11) -> Iterator[tuple[int, int, str, Decimal, Decimal | None]]:
    rng = random.Random(seed)
    operators = list(Operator)
    for indicator in range(1, INDICATORS + 1):
        for department in range(1, departments + 1):
            operator = operators[(indicator + department) % len(operators)]
            low = _value(rng)
            upper = (
                low + Decimal(rng.randrange(0, 5_000_000)).scaleb(-2)
                if operator is Operator.between
                else None
            )
            yield indicator, department, operator.value, low, upper


def populate(engine: Engine) -> None:
    """The whole data set; on PostgreSQL by COPY, on SQLite by Core executemany."""
    now = dt.datetime.now(dt.UTC)
    tree = _tree()
    with engine.begin() as conn:
        conn.execute(
            insert(Department),
            [
                {
                    "id": i,
                    "code": c,
                    "name": c,
                    "parent_id": p,
                    "created_at": now,
                    "updated_at": now,
                    "updated_by": "bench",
                }
                for i, c, p in tree
            ],
        )
        conn.execute(
            insert(Indicator),
            [
                {
                    "id": i,
                    "code": f"ind-{i:03d}",
                    "name": f"指标 {i}",
                    "section": f"section-{i % 5}",
                    "unit": "件",
                    "value_type": ValueType.amount,
                    "direction": DIRECTIONS[i % len(DIRECTIONS)],
                    "aggregation": AGGREGATIONS[i % len(AGGREGATIONS)],
                    "formula": None,  # every row names the same columns (one executemany)
                    "created_at": now,
                    "updated_at": now,
                    "updated_by": "bench",
                }
                for i in range(1, INDICATORS + 1)
            ]
            + [
                {
                    "id": DERIVED_ID,
                    "code": DERIVED,
                    "name": "派生指标",
                    "section": "section-0",
                    "unit": "件/件",
                    "value_type": ValueType.amount,
                    "direction": Direction.higher,
                    "aggregation": Aggregation.none,
                    "formula": DERIVED_FORMULA,
                    "created_at": now,
                    "updated_at": now,
                    "updated_by": "bench",
                }
            ],
        )
        if engine.dialect.name == "postgresql":
            _copy(conn, len(tree), now)
        else:
            _executemany(conn, len(tree), now)
        assignments = [
            {"indicator_id": i, "department_id": d, "from_year": YEARS[0], "to_year": None}
            for i in range(1, INDICATORS + 1)
            for d in range(1, len(tree) + 1)
        ]
        for start in range(0, len(assignments), CHUNK):
            conn.execute(insert(Assignment), assignments[start : start + CHUNK])
    with Session(engine) as session, session.begin():
        for code, data in _rules():
            rules.put(session, code=code, data=data)
    settle(engine)


RULES = 50


def _rules() -> Iterator[tuple[str, RuleWrite]]:
    """50 rules over pairs of indicators: comparisons, sums, ratios, pairs; every missing strategy."""
    comparisons = [o for o in RuleOperator if "pair" not in o.value]
    for k in range(RULES):
        a, b, c = (k * 2) % INDICATORS + 1, (k * 2 + 1) % INDICATORS + 1, (k * 7 + 3) % INDICATORS + 1
        if k % 10 == 9:
            operator, left, right = RuleOperator.compulsory_pair, f"#{{ind-{a:03d}}}", f"#{{ind-{b:03d}}}"
        elif k % 5 == 3:
            operator = comparisons[k % len(comparisons)]
            left, right = f"#{{ind-{a:03d}}} / #{{ind-{b:03d}}}", "2"
        else:
            operator = comparisons[k % len(comparisons)]
            left, right = f"#{{ind-{a:03d}}} + #{{ind-{c:03d}}}", f"#{{ind-{b:03d}}} * 1.5 + 10000"
        yield (
            f"rule-{k:02d}",
            RuleWrite(
                name=f"规则 {k}",
                left=left,
                operator=operator,
                right=right,
                importance=list(Importance)[k % 3],
                missing=list(Missing)[k % 3],
            ),
        )


def _copy(conn: Connection, departments: int, now: dt.datetime) -> None:
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(
            "COPY observation (indicator_id, department_id, year, value, qualifier, version, updated_at,"
            " updated_by) FROM STDIN"
        ) as copy:
            for row in _observation_rows(departments):
                copy.write_row((*row, 1, now, "bench"))
        with cursor.copy(
            "COPY target (indicator_id, department_id, year, operator, value, upper, version, updated_at,"
            " updated_by) FROM STDIN"
        ) as copy:
            for ind, dep, op, value, upper in _target_rows(departments):
                copy.write_row((ind, dep, TARGET_YEAR, op, value, upper, 1, now, "bench"))


def _executemany(conn: Connection, departments: int, now: dt.datetime) -> None:
    common = {"version": 1, "updated_at": now, "updated_by": "bench"}
    chunk: list[dict[str, Any]] = []
    for ind, dep, year, value, qualifier in _observation_rows(departments):
        chunk.append(
            {
                "indicator_id": ind,
                "department_id": dep,
                "year": year,
                "value": value,
                "qualifier": Qualifier(qualifier),
                **common,
            }
        )
        if len(chunk) == CHUNK:
            conn.execute(insert(Observation), chunk)
            chunk = []
    if chunk:
        conn.execute(insert(Observation), chunk)
    targets = [
        {
            "indicator_id": ind,
            "department_id": dep,
            "year": TARGET_YEAR,
            "operator": Operator(op),
            "value": value,
            "upper": upper,
            **common,
        }
        for ind, dep, op, value, upper in _target_rows(departments)
    ]
    for start in range(0, len(targets), CHUNK):
        conn.execute(insert(Target), targets[start : start + CHUNK])


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _as_routers_call(work: Callable[[], Any]) -> Callable[[], None]:
    """The call as the compliance router makes it: the collector paused until the answer is freed."""

    def call() -> None:
        with paused_gc():
            answer = work()
            del answer

    return call


def _time(work: Callable[[], Any], runs: int) -> tuple[float, float, float]:
    """p50 and p99 of the wall time, and p50 of this process's CPU time, in ms (the answer's freeing
    included)."""
    work()  # warm: plans cached, pages in memory
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), _p99(wall), statistics.median(cpu)


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


# The three goals, and a few more figures for context. Each: (name, service call, HTTP path).
LEAF = "d3-0500"
# (v2) A derived indicator over two sum indicators: its rolled-up series of the root rolls both up
# (a ratio of sums). The goal: at most twice the stored indicator's series (issue 19).
DERIVED_ID, DERIVED, DERIVED_FORMULA = INDICATORS + 1, "ind-derived", "#{ind-004} / #{ind-008}"
ROLLUP_INDICATORS = {
    a: f"ind-{i:03d}"
    for i, a in ((4, Aggregation.sum), (1, Aggregation.mean), (2, Aggregation.min), (3, Aggregation.max))
}


def _work(session: Session) -> list[tuple[str, Callable[[], Any], str]]:
    sum_ind = ROLLUP_INDICATORS[Aggregation.sum]
    work: list[tuple[str, Callable[[], Any], str]] = [
        (
            "validation (50 rules)",
            lambda: validation.evaluate(
                session, year=TARGET_YEAR, rules=rules.rules(session), department_ids=None
            ),
            f"/api/v1/validation?year={TARGET_YEAR}",
        ),
        (
            "outliers (modified_z_score)",
            lambda: outliers.find(
                session,
                year=TARGET_YEAR,
                algorithm="modified_z_score",
                threshold=outliers.DEFAULT_THRESHOLDS["modified_z_score"],
            ),
            f"/api/v1/outliers?year={TARGET_YEAR}",
        ),
        (
            "outliers (z_score)",
            lambda: outliers.find(
                session,
                year=TARGET_YEAR,
                algorithm="z_score",
                threshold=outliers.DEFAULT_THRESHOLDS["z_score"],
            ),
            f"/api/v1/outliers?year={TARGET_YEAR}&algorithm=z_score",
        ),
        (
            "compliance",
            lambda: compliance.report(
                session, year=TARGET_YEAR, filters=compliance.Filters(), page=compliance.Page(limit=100)
            ),
            f"/api/v1/compliance?year={TARGET_YEAR}",
        ),
        (
            "compliance, every item (the CSV export's work)",
            lambda: compliance.report(session, year=TARGET_YEAR, filters=compliance.Filters()),
            f"/api/v1/compliance?year={TARGET_YEAR}&limit=1000",
        ),
        (
            "completeness",
            lambda: completeness.report(session, year=TARGET_YEAR),
            f"/api/v1/completeness?year={TARGET_YEAR}",
        ),
        (
            "progress",
            lambda: progress.report(
                session, year=TARGET_YEAR, filters=progress.Filters(), page=progress.Page(limit=100)
            ),
            f"/api/v1/progress?year={TARGET_YEAR}",
        ),
        (
            "progress, every item (the CSV export's work)",
            lambda: progress.report(session, year=TARGET_YEAR, filters=progress.Filters()),
            f"/api/v1/progress?year={TARGET_YEAR}&format=csv",
        ),
        (
            "progress one bureau (d1-0002, 111 departments)",
            lambda: progress.report(
                session,
                year=TARGET_YEAR,
                filters=progress.Filters(departments=["d1-0002"]),
                page=progress.Page(limit=100),
            ),
            f"/api/v1/progress?year={TARGET_YEAR}&department=d1-0002",
        ),
        (
            "series-rollup-root",
            lambda: analytics.series(session, indicators=[sum_ind], departments=["root"], rollup=True),
            f"/api/v1/series?indicator={sum_ind}&department=root&rollup=true",
        ),
        (
            "series-rollup-root, derived (ind-004 / ind-008)",
            lambda: analytics.series(session, indicators=[DERIVED], departments=["root"], rollup=True),
            f"/api/v1/series?indicator={DERIVED}&department=root&rollup=true",
        ),
        (
            "series-one-department, derived",
            lambda: analytics.series(session, indicators=[DERIVED], departments=[LEAF]),
            f"/api/v1/series?indicator={DERIVED}&department={LEAF}",
        ),
        (
            "series-one-department",
            lambda: analytics.series(session, indicators=[sum_ind], departments=[LEAF]),
            f"/api/v1/series?indicator={sum_ind}&department={LEAF}",
        ),
    ]
    for aggregation, code in ROLLUP_INDICATORS.items():
        if aggregation is not Aggregation.sum:
            work.append(
                (
                    f"series-rollup-root ({aggregation})",
                    lambda code=code: analytics.series(  # type: ignore[misc]
                        session, indicators=[code], departments=["root"], rollup=True
                    ),
                    f"/api/v1/series?indicator={code}&department=root&rollup=true",
                )
            )
    work += [
        (
            "compliance trend 2012-2021",
            lambda: compliance.trend(
                session, year_from=YEARS[0], year_to=YEARS[-1], filters=compliance.Filters()
            ),
            f"/api/v1/compliance?year_from={YEARS[0]}&year_to={YEARS[-1]}",
        ),
        (
            "compliance one bureau (d1-0002, 111 departments)",
            lambda: compliance.report(
                session,
                year=TARGET_YEAR,
                filters=compliance.Filters(departments=["d1-0002"]),
                page=compliance.Page(limit=100),
            ),
            f"/api/v1/compliance?year={TARGET_YEAR}&department=d1-0002",
        ),
        (
            "comparison all departments",
            lambda: analytics.comparison(session, indicator=sum_ind, year=2021, base_year=2020),
            f"/api/v1/comparison?indicator={sum_ind}&year=2021&base_year=2020",
        ),
    ]
    return work


@contextmanager
def _http(engine: Engine) -> Iterator[tuple[Any, dict[str, str]]]:
    """A TestClient of the real app on this database, and a viewer's bearer header."""
    import warnings

    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

    from app.auth import tokens
    from app.auth.models import Role
    from app.auth.schemas import TokenCreate
    from app.core.db.session import get_session
    from app.main import create_app

    with Session(engine) as session, session.begin():
        _, secret = tokens.create(
            session, data=TokenCreate(name="bench-viewer", role=Role.viewer), actor="bench"
        )
    app = create_app()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise

    def session_here() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as s:
            yield s
            s.commit()

    app.dependency_overrides[get_session] = session_here
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {secret}"}


Result = tuple[str, str, str, float, float, float]


def _alternated(session: Session, runs: int) -> float:
    """The derived indicator's rolled-up series of the root against the stored one's (ind-004, one of
    its operands), the two called in turn so that a busy machine slows both alike: the ratio of the
    medians of their wall times."""
    sum_ind = ROLLUP_INDICATORS[Aggregation.sum]

    def series_of(code: str) -> Callable[[], Any]:
        return lambda: analytics.series(session, indicators=[code], departments=["root"], rollup=True)

    calls = [series_of(DERIVED), series_of(sum_ind)]
    times: list[list[float]] = [[], []]
    for call in calls:
        call()
    for _ in range(runs * 2):
        for n, call in enumerate(calls):
            start = time.perf_counter()
            call()
            times[n].append(time.perf_counter() - start)
    return statistics.median(times[0]) / statistics.median(times[1])


def _heavy(name: str) -> bool:
    heavy = ("compliance", "completeness", "progress", "validation", "outliers")
    return name.startswith(heavy) and "bureau" not in name


def _chosen(work: list[tuple[str, Callable[[], Any], str]], only: list[str] | None) -> list[Any]:
    return [w for w in work if only is None or any(o in w[0] for o in only)]


def run(backend: str, runs: int, http: bool, only: list[str] | None = None) -> list[Result]:
    results = []
    with throwaway(backend) as url, engine_for(url) as engine:
        migrate.upgrade(engine)
        start = time.perf_counter()
        populate(engine)
        print(
            f"[{backend}] 1,000,000 observations and 100,000 targets loaded in "
            f"{time.perf_counter() - start:.1f} s; {_load()}",
            file=sys.stderr,
        )
        with Session(engine) as session:
            for name, call, _ in _chosen(_work(session), only):
                p50, p99, cpu = _time(_as_routers_call(call), max(10, runs // 2) if _heavy(name) else runs)
                results.append((backend, "service", name, p50, p99, cpu))
                print(f"[{backend}] service {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms", file=sys.stderr)
        if only is None or any(o in "derived / stored rolled-up series" for o in only):
            with Session(engine) as session:
                ratio = _alternated(session, runs)
                name = "derived / stored rolled-up series, alternated"
                results.append((backend, "service", name, ratio, 0, 0))
                print(f"[{backend}] service {name}: {ratio:.2f}", file=sys.stderr)
        if http:
            with Session(engine) as session, _http(engine) as (client, headers):
                for name, _, path in _chosen(_work(session), only):

                    def get(path: str = path) -> None:
                        response = client.get(path, headers=headers)
                        assert response.status_code == 200, response.text[:300]

                    p50, p99, cpu = _time(get, max(10, runs // 2) if _heavy(name) else runs)
                    results.append((backend, "http", name, p50, p99, cpu))
                    print(f"[{backend}] http {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=int, default=40, help="timed runs per figure (compliance: a quarter)")
    parser.add_argument(
        "--no-http", dest="http", action="store_false", help="time the service functions only"
    )
    parser.add_argument("--only", default=None, help="comma-separated parts of the names to time")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else None
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    rows = []
    for backend in backends:
        try:
            rows += run(backend, args.runs, args.http, only)
        except Skip as exc:
            print(f"[{backend}] {exc}", file=sys.stderr)
    print(f"\nwall-clock p50/p99 over the runs; cpu: this process's CPU time (p50); {_load()}")
    line = "{:<11} {:<8} {:<50} {:>8} {:>8} {:>7} {:>5} {:>8}"
    print(line.format("backend", "via", "work", "p50 ms", "p99 ms", "cpu ms", "goal", "p50/goal"))
    for backend, via, name, p50, p99, cpu in rows:
        goal = GOALS_MS.get(name)
        ratio = f"{p50 / goal:.2f}" if goal else ""
        goal_text = f"{goal:g}" if goal else ""
        print(line.format(backend, via, name, f"{p50:.1f}", f"{p99:.1f}", f"{cpu:.1f}", goal_text, ratio))
    p50s = {(backend, via, name): p50 for backend, via, name, p50, _, _ in rows}
    for backend, via, name, p50, _, _ in rows:
        if name.startswith("derived / stored"):
            print(f"{backend} {via}: {name} = {p50:.2f} (goal <= 2)")
        if name.startswith("series-rollup-root, derived"):
            stored = p50s.get((backend, via, "series-rollup-root"))
            if stored is None:
                continue
            print(f"{backend} {via}: derived rolled-up series / stored one = {p50 / stored:.2f} (goal <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
