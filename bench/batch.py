"""Batches: 100,000 rows over HTTP as JSON and as CSV (observation batches, then DHIS2 data value
sets of the same cells through /api/v1/exchange/dhis2/dataValueSets), and a 1,000,000-row CSV
through the command line.

    .venv/bin/python -m bench.batch [--rows 100000] [--cli-rows 1000000] [--backends sqlite,postgresql]

For each database (SQLite, then PostgreSQL in a throwaway database): the real server (`indicators
serve`) on loopback gets one POST of `--rows` new cells, as JSON and as CSV, then the same batch again
(all unchanged) and one with every value changed (all updated). Each figure is printed with its ratio
to the ceiling: SQLAlchemy Core executemany inserting the same rows (current rows and their first
revisions) into the same kind of database, as bench.api measures it. Then `indicators import` of a
generated CSV of `--cli-rows` rows runs in a subprocess, with its peak RSS (getrusage of that child).
Figures only: nothing here fails on a timing.
"""

import argparse
import csv
import datetime as dt
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, delete, insert, make_url, select

from app.auth.models import Role
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, ObservationRevision
from bench.data import Scale, populate
from bench.harness import (
    BIN,
    Server,
    Skip,
    cpu_seconds,
    engine_for,
    machine,
    make_token,
    postgres_version,
    prepare,
    throwaway,
)

# 200 departments x 100 indicators: 20,000 cells a year; the batches go into the years after 2021.
SCALE = Scale(bureaus=10, units_per_bureau=19, indicators=100, years=1, last_year=2021)
FIRST_YEAR = SCALE.last_year + 1
Cell = tuple[str, str, int, int]
CEILING_CPU: list[float] = []  # this process's CPU seconds of each Core ceiling run


@dataclass
class Figure:
    backend: str
    work: str
    rows: int
    seconds: float
    ceiling_seconds: float | None = None
    peak_rss_mb: float | None = None
    note: str = ""
    cpu_seconds: float | None = None  # the server process's CPU time for this request
    db_cpu_seconds: float | None = None  # PostgreSQL's backends' CPU time for it

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        ratio = f"{self.ceiling_seconds / self.seconds:6.2f}" if self.ceiling_seconds else "     -"
        rss = f"{self.peak_rss_mb:8.0f}" if self.peak_rss_mb is not None else "       -"
        per_cpu = f"{self.rows / self.cpu_seconds:>11,.0f}" if self.cpu_seconds else "          -"
        note = self.note
        if self.db_cpu_seconds is not None and self.cpu_seconds:
            note += f"; CPU s: server {self.cpu_seconds:.2f}, PostgreSQL {self.db_cpu_seconds:.2f}"
        return (
            f"{self.backend:<10} {self.work:<34} {self.rows:>9,} {self.seconds:8.2f} "
            f"{self.rows_per_s:>10,.0f} {ratio} {per_cpu} {rss}  {note}"
        )


HEADER = (
    f"{'database':<10} {'work':<34} {'rows':>9} {'seconds':>8} {'rows/s':>10} {'ratio':>6} "
    f"{'rows/cpu-s':>11} {'RSS MB':>8}  note\n" + "-" * 112
)


def cells(data_departments: list[str], indicators: list[str], count: int, shift: int = 0) -> Iterator[Cell]:
    """`count` cells that do not exist yet: every department and indicator, year after year."""
    n = 0
    year = FIRST_YEAR
    while True:
        for d, department in enumerate(data_departments):
            for i, indicator in enumerate(indicators):
                yield indicator, department, year, (i * 7919 + d * 104729 + year * 31 + shift) % 100_000
                n += 1
                if n == count:
                    return
        year += 1


def json_body(rows: list[Cell]) -> bytes:
    items = [{"indicator": i, "department": d, "year": y, "value": v} for i, d, y, v in rows]
    return orjson.dumps({"observations": items})


def csv_body(rows: list[Cell]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("indicator", "department", "year", "value"))
    writer.writerows(rows)
    return out.getvalue().encode()


def dhis2_json_body(rows: list[Cell]) -> bytes:
    items = [{"dataElement": i, "orgUnit": d, "period": str(y), "value": str(v)} for i, d, y, v in rows]
    return orjson.dumps({"dataValues": items})


def dhis2_csv_body(rows: list[Cell]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ("dataelement", "period", "orgunit", "categoryoptioncombo", "attributeoptioncombo", "value")
    )
    writer.writerows((i, y, d, "", "", v) for i, d, y, v in rows)
    return out.getvalue().encode()


def _batch_count(summary: dict[str, Any], expect: str) -> int:
    return int(summary[expect])


def _dhis2_count(summary: dict[str, Any], expect: str) -> int:
    # DHIS2's import summary: new values are `imported`, unchanged ones `ignored`.
    name = {"created": "imported", "unchanged": "ignored", "updated": "updated"}[expect]
    return int(summary["importCount"][name])


BATCHES = "/api/v1/observations"
DHIS2 = "/api/v1/exchange/dhis2/dataValueSets"
# The observation batch and the DHIS2 import of the same cells, one after the other in the same run.
FORMATS = (
    ("JSON", BATCHES, "application/json", json_body, _batch_count),
    ("CSV", BATCHES, "text/csv", csv_body, _batch_count),
    ("DHIS2 JSON", DHIS2, "application/json", dhis2_json_body, _dhis2_count),
    ("DHIS2 CSV", DHIS2, "text/csv", dhis2_csv_body, _dhis2_count),
)


def drop_batch(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(ObservationRevision).where(ObservationRevision.year >= FIRST_YEAR))
        conn.execute(delete(Observation).where(Observation.year >= FIRST_YEAR))


def core_ceiling(engine: Engine, rows: list[Cell]) -> float:
    """Seconds for SQLAlchemy Core executemany to insert the same rows and their first revisions."""
    with engine.connect() as conn:
        ids_i: dict[str, int] = dict(conn.execute(select(Indicator.code, Indicator.id)).all())
        ids_d: dict[str, int] = dict(conn.execute(select(Department.code, Department.id)).all())
    now = dt.datetime.now(dt.UTC)
    current: list[dict[str, Any]] = [
        {
            "indicator_id": ids_i[i],
            "department_id": ids_d[d],
            "year": y,
            "value": Decimal(v),
            "qualifier": "exact",
            "version": 1,
            "note": None,
            "source": None,
            "updated_at": now,
            "updated_by": "core",
        }
        for i, d, y, v in rows
    ]
    history = [
        {
            **{k: r[k] for k in ("indicator_id", "department_id", "year", "version", "note", "source")},
            "action": "create",
            "value_before": None,
            "value_after": r["value"],
            "qualifier_before": None,
            "qualifier_after": "exact",
            "changed_at": now,
            "changed_by": "core",
        }
        for r in current
    ]
    started, cpu = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        conn.execute(insert(Observation), current)
        conn.execute(insert(ObservationRevision), history)
    seconds = time.perf_counter() - started
    CEILING_CPU.append(time.process_time() - cpu)
    drop_batch(engine)
    return seconds


def postgres_cpu(url: str) -> float | None:
    """CPU seconds so far of the PostgreSQL backends serving this database (None for SQLite)."""
    if not url.startswith("postgresql"):
        return None
    name = make_url(url).database or ""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                title = handle.read()
        except OSError:
            continue
        if title.startswith(b"postgres:") and f" {name} ".encode() in title:
            pids.append(int(entry))
    return cpu_seconds(pids)


def post(
    server: Server, token: str, body: bytes, media: str, path: str = BATCHES
) -> tuple[float, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": media}
    started = time.perf_counter()
    r = httpx.post(server.base + path, content=body, headers=headers, timeout=900)
    seconds = time.perf_counter() - started
    if r.status_code != 200:
        raise RuntimeError(f"batch answered {r.status_code}: {r.text[:300]}")
    summary: dict[str, Any] = r.json()
    return seconds, summary


def http_figures(backend: str, url: str, count: int) -> list[Figure]:
    data = populate(url, SCALE)
    departments = data.bureaus + [u for b in data.bureaus for u in data.units[b]]
    rows = list(cells(departments, data.indicators, count))
    changed = list(cells(departments, data.indicators, count, shift=1))
    token = make_token(url, "bench-batch", Role.commission)
    figures = []
    with engine_for(url) as engine:
        CEILING_CPU.clear()
        ceiling = min(core_ceiling(engine, rows) for _ in range(2))
        figures.append(
            Figure(
                backend, "Core executemany (ceiling)", count, ceiling, ceiling, cpu_seconds=min(CEILING_CPU)
            )
        )
        print(figures[-1].line(), flush=True)
        with Server(url) as server:
            for kind, path, media, make, counted in FORMATS:
                for work, batch, expect in (
                    (f"POST {kind}, all new", rows, "created"),
                    (f"POST {kind}, all unchanged", rows, "unchanged"),
                    (f"POST {kind}, all changed", changed, "updated"),
                ):
                    body = make(batch)
                    cpu, db_cpu = cpu_seconds(server.pids), postgres_cpu(url)
                    with server.rss_sampler() as rss:
                        seconds, summary = post(server, token, body, media, path)
                    cpu = cpu_seconds(server.pids) - cpu
                    db_cpu = None if db_cpu is None else (postgres_cpu(url) or 0.0) - db_cpu
                    done = counted(summary, expect)
                    note = f"{done:,} {expect}, body {len(body) / 1e6:.1f} MB"
                    if done != count:
                        note += f" (expected {count:,}: {summary})"
                    figure = Figure(backend, work, count, seconds, ceiling, rss.peak, note, cpu, db_cpu)
                    figures.append(figure)
                    print(figure.line(), flush=True)
                drop_batch(engine)
    return figures


_MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def cli_figure(backend: str, url: str, count: int, folder: Path) -> Figure:
    """`indicators import` of a `count`-row CSV in a subprocess: its time and its peak RSS."""
    with engine_for(url) as engine, engine.connect() as conn:
        departments = list(conn.scalars(select(Department.code).order_by(Department.id)))
        indicators = list(conn.scalars(select(Indicator.code).where(Indicator.code.like("metric-%"))))
    path = folder / f"batch-{count}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("indicator", "department", "year", "value"))
        writer.writerows(cells(departments, indicators, count))
    env = {**os.environ, "INDICATORS_DATABASE_URL": url}
    report = folder / "maxrss"
    # A child's ru_maxrss counts the pages it inherited at fork, so the command is started by a
    # small Python of its own rather than by this process, which holds the HTTP batches.
    command = [sys.executable, "-c", _MEASURE, str(report), str(BIN / "indicators"), "import", str(path)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    seconds = time.perf_counter() - started
    summary = orjson.loads(done.stdout) if done.stdout.strip() else {}
    peak_mb = int(report.read_text()) / 1024
    size = path.stat().st_size / 1e6
    note = f"exit {done.returncode}, {summary.get('created', 0):,} created, file {size:.0f} MB"
    path.unlink()
    return Figure(backend, "indicators import CSV (CLI)", count, seconds, None, peak_mb, note)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows per HTTP batch")
    parser.add_argument(
        "--cli-rows", type=int, default=1_000_000, help="rows of the command-line CSV (0: skip)"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    info = machine()
    pg = postgres_version()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + (f", postgresql {pg}" if pg else ""))
    print(HEADER, flush=True)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        for backend in args.backends.split(","):
            try:
                with throwaway(backend, Path(tmp)) as url:
                    prepare(url)
                    figures += http_figures(backend, url, args.rows)
                    if args.cli_rows:
                        figures.append(cli_figure(backend, url, args.cli_rows, Path(tmp)))
                        print(figures[-1].line(), flush=True)
            except Skip as skip:
                print(f"{backend}: {skip}", flush=True)
    print("\nratio: the Core ceiling's time over the batch's (1.0 = as fast as a bare insert; >1 faster).")
    print(
        "rows/cpu-s: rows per CPU-second of the server process, what an idle machine would reach when\n"
        "that process is the bottleneck (SQLite runs inside it; PostgreSQL's own CPU is not counted)."
    )
    print("goals: >= 50,000 rows/s SQLite, >= 30,000 rows/s PostgreSQL over HTTP; CLI peak RSS <= 300 MB.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
