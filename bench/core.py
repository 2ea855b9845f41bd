"""The database ceiling: the same queries by raw SQLAlchemy Core, no HTTP, no ORM, no validation.

Each query runs as the service runs it (one pooled connection and one transaction per request, the
engine from app.core.db.session with its SQLite pragmas) in a loop, in as many processes as the server has
workers, so the figure is what the database and the driver alone allow on this machine.
"""

import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from app import models
from app.core.db.engine import make_engine
from app.core.db.types import utcnow
from bench.harness import database_cpu_seconds

_TABLES = models.metadata.tables
OBS = _TABLES["observation"]
REV = _TABLES["observation_revision"]
IND = _TABLES["indicator"]
DEP = _TABLES["department"]
TGT = _TABLES["target"]
ASG = _TABLES["assignment"]


@dataclass(frozen=True)
class CoreResult:
    operations: int
    seconds: float
    p50_ms: float
    p99_ms: float
    rows: int
    cpu_seconds: float = 0.0  # of the processes' loops, the database's excluded
    database_cpu_seconds: float = 0.0  # of the PostgreSQL server's processes (0 on SQLite)

    @property
    def rps(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_operation(self) -> float:
        return self.cpu_seconds / self.operations * 1e6 if self.operations else 0.0


def _get_observation(conn: Connection, args: dict[str, Any], _: int) -> int:
    row = conn.execute(
        select(
            OBS.c.value,
            OBS.c.qualifier,
            OBS.c.note,
            OBS.c.source,
            OBS.c.version,
            OBS.c.updated_at,
            OBS.c.updated_by,
        )
        .select_from(OBS.join(IND, IND.c.id == OBS.c.indicator_id).join(DEP, DEP.c.id == OBS.c.department_id))
        .where(IND.c.code == args["indicator"], DEP.c.code == args["department"], OBS.c.year == args["year"])
    ).first()
    return 0 if row is None else 1


def _series(conn: Connection, args: dict[str, Any], _: int) -> int:
    rows = conn.execute(
        select(OBS.c.year, OBS.c.value, OBS.c.qualifier)
        .select_from(OBS.join(IND, IND.c.id == OBS.c.indicator_id).join(DEP, DEP.c.id == OBS.c.department_id))
        .where(IND.c.code == args["indicator"], DEP.c.code == args["department"])
        .order_by(OBS.c.year)
    ).all()
    return len(rows)


def _comparison(conn: Connection, args: dict[str, Any], _: int) -> int:
    """One indicator's figures in two years across every department, with the departments' codes."""
    rows = conn.execute(
        select(DEP.c.code, OBS.c.year, OBS.c.value)
        .select_from(OBS.join(IND, IND.c.id == OBS.c.indicator_id).join(DEP, DEP.c.id == OBS.c.department_id))
        .where(IND.c.code == args["indicator"], OBS.c.year.in_([args["year"], args["base_year"]]))
    ).all()
    return len(rows)


def _completeness(conn: Connection, args: dict[str, Any], _: int) -> int:
    """One department's assignments in force in a year, counted with those that have a figure."""
    year = args["year"]
    figure = and_(
        OBS.c.indicator_id == ASG.c.indicator_id,
        OBS.c.department_id == ASG.c.department_id,
        OBS.c.year == year,
    )
    rows = conn.execute(
        select(ASG.c.department_id, func.count(), func.count(OBS.c.id))
        .select_from(ASG.join(DEP, DEP.c.id == ASG.c.department_id).outerjoin(OBS, figure))
        .where(
            DEP.c.code == args["department"],
            ASG.c.from_year <= year,
            or_(ASG.c.to_year.is_(None), ASG.c.to_year >= year),
        )
        .group_by(ASG.c.department_id)
    ).all()
    return len(rows)


def _compliance(conn: Connection, args: dict[str, Any], _: int) -> int:
    on = and_(
        OBS.c.indicator_id == TGT.c.indicator_id,
        OBS.c.department_id == TGT.c.department_id,
        OBS.c.year == TGT.c.year,
    )
    rows = conn.execute(
        select(IND.c.code, DEP.c.code, TGT.c.operator, TGT.c.value, TGT.c.upper, OBS.c.value, OBS.c.qualifier)
        .select_from(
            TGT.join(IND, IND.c.id == TGT.c.indicator_id)
            .join(DEP, DEP.c.id == TGT.c.department_id)
            .outerjoin(OBS, on)
        )
        .where(TGT.c.year == args["year"], DEP.c.code == args["department"])
    ).all()
    return len(rows)


def _put_observation(conn: Connection, args: dict[str, Any], i: int) -> int:
    cells = args["cells"]
    indicator, department, year = cells[i % len(cells)]
    value = Decimal(args["base"] + i // len(cells))
    current = conn.execute(
        select(OBS.c.id, OBS.c.indicator_id, OBS.c.department_id, OBS.c.version, OBS.c.value, OBS.c.qualifier)
        .select_from(OBS.join(IND, IND.c.id == OBS.c.indicator_id).join(DEP, DEP.c.id == OBS.c.department_id))
        .where(IND.c.code == indicator, DEP.c.code == department, OBS.c.year == year)
        .with_for_update(of=OBS)
    ).one()
    now = utcnow()
    conn.execute(
        update(OBS)
        .where(OBS.c.id == current.id)
        .values(value=value, version=current.version + 1, updated_at=now, updated_by="bench-core")
    )
    conn.execute(
        insert(REV).values(
            indicator_id=current.indicator_id,
            department_id=current.department_id,
            year=year,
            version=current.version + 1,
            action="update",
            value_before=current.value,
            value_after=value,
            qualifier_before=current.qualifier,
            qualifier_after=current.qualifier,
            source="bench",
            changed_at=now,
            changed_by="bench-core",
        )
    )
    return 1


QUERIES: dict[str, tuple[Callable[[Connection, dict[str, Any], int], int], bool]] = {
    # name: (one request's work, writes?)
    "get_observation": (_get_observation, False),
    "series": (_series, False),
    "comparison": (_comparison, False),
    "compliance": (_compliance, False),
    "completeness": (_completeness, False),
    "put_observation": (_put_observation, True),
}


_ENGINES: dict[str, Engine] = {}


def _loop(
    url: str, name: str, args: dict[str, Any], seconds: float, offset: int, stride: int
) -> tuple[int, int, list[int], float]:
    work, writes = QUERIES[name]
    # One engine a process, kept from the warm-up pass to the timed one: its connections stay open
    # until the pool of processes ends, so that their server processes' CPU is still theirs to read
    # when the run is measured (and the timed pass connects no more).
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    options = {"sqlite_begin": "IMMEDIATE"} if writes and engine.dialect.name == "sqlite" else {}
    latencies: list[int] = []
    rows = 0
    i = offset
    cpu = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        with engine.connect().execution_options(**options) as conn:
            rows += work(conn, args, i)
            conn.commit()
        latencies.append(time.perf_counter_ns() - start)
        i += stride  # process p takes requests p, p + stride, ...: no two write the same value
    cpu = time.process_time() - cpu
    return len(latencies), rows, latencies, cpu


def run_core(url: str, name: str, args: dict[str, Any], *, processes: int, seconds: float) -> CoreResult:
    """`name`'s query in a loop for `seconds`, in `processes` processes at once."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        # One short pass first, so that every process has imported and connected before timing.
        pool.starmap(_loop, [(url, name, args, 0.2, p, processes) for p in range(processes)])
        started, database = time.perf_counter(), database_cpu_seconds()
        parts = pool.starmap(_loop, [(url, name, args, seconds, p, processes) for p in range(processes)])
        elapsed, database = time.perf_counter() - started, database_cpu_seconds() - database
    latencies = sorted(x for _, _, lat, _ in parts for x in lat)
    count = sum(n for n, _, _, _ in parts)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] / 1e6 if latencies else 0.0

    rows = sum(r for _, r, _, _ in parts)
    cpu = sum(c for _, _, _, c in parts)
    if not url.startswith("postgresql"):
        database = 0.0
    return CoreResult(count, elapsed, pct(0.5), pct(0.99), rows, cpu, database)
