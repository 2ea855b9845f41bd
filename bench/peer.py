"""The service side by side with a peer a user could pick instead: Datasette on the same SQLite file.

Both serve one throwaway SQLite file (the 2021 report plus bench.data's departments, indicators and
ten years of figures), one process each, with their default settings (the service's access log on;
the service asks for a token, as it does by default). wrk drives each in turn at the same connections,
alternating rounds, with the same rows asked of both:

- one figure: the service's `GET /api/v1/observations/{i}/{d}/{y}`; Datasette's SQL joining the codes;
- a 10-year series of one indicator and department;
- a comparison of one indicator across every department (100) for two years: the service's
  `/api/v1/comparison` (which also computes change, change_pct, improved and rank); Datasette's SQL
  returning the two years' values.

    python -m bench.peer [--rounds 3] [--seconds 3] [--connections 32]

It prints each round's figures and, per request, the median ratio service / Datasette against the
goal (1.5x). It also prints each server's CPU time per request (its processes' user and system time
over the run): on a machine shared with other work, where req/s moves with the load, the ratio of
CPU per request (Datasette's over the service's) is the steadier figure of the two. Datasette is a
dependency of the bench only (`pip install -e '.[bench]'`).
"""

import argparse
import shutil
import statistics
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.auth.models import Role
from bench.data import sqlite_figures
from bench.harness import BIN, HOST, Server, Skip, cpu_seconds, machine, make_token
from bench.load import LoadResult, Workload, client_name, run_load

GOAL = 1.5

_COLUMNS = (
    "i.code AS indicator, d.code AS department, o.year, o.value, o.qualifier, o.note, o.source, "
    "o.version, o.updated_at, o.updated_by"
)
_FROM = (
    "FROM observation o JOIN indicator i ON i.id = o.indicator_id JOIN department d ON d.id = o.department_id"
)
ONE_SQL = f"SELECT {_COLUMNS} {_FROM} WHERE i.code = :indicator AND d.code = :department AND o.year = :year"
SERIES_SQL = f"SELECT {_COLUMNS} {_FROM} WHERE i.code = :indicator AND d.code = :department ORDER BY o.year"
COMPARISON_SQL = (
    f"SELECT d.code AS department, o.year, o.value, o.qualifier {_FROM} "
    "WHERE i.code = :indicator AND o.year IN (:year, :base_year) ORDER BY d.code, o.year"
)


@dataclass(frozen=True)
class Pair:
    key: str
    label: str
    service: str
    peer: str
    rows: int


def datasette_path(database: str, sql: str, **params: object) -> str:
    query = urllib.parse.urlencode({"sql": sql, "_shape": "array", **{k: str(v) for k, v in params.items()}})
    return f"/{database}.json?{query}"


def pairs(database: str, indicator: str, unit: str, year: int, departments: int) -> list[Pair]:
    return [
        Pair(
            "one",
            "one figure",
            f"/api/v1/observations/{indicator}/{unit}/{year}",
            datasette_path(database, ONE_SQL, indicator=indicator, department=unit, year=year),
            1,
        ),
        Pair(
            "series",
            "10-year series",
            f"/api/v1/series?indicator={indicator}&department={unit}",
            datasette_path(database, SERIES_SQL, indicator=indicator, department=unit),
            10,
        ),
        Pair(
            "comparison",
            f"comparison, {departments} departments x 2 years",
            f"/api/v1/comparison?indicator={indicator}&year={year}&base_year={year - 1}",
            datasette_path(database, COMPARISON_SQL, indicator=indicator, year=year, base_year=year - 1),
            2 * departments,
        ),
    ]


def check_same_rows(service: Server, peer: Server, pair: Pair, headers: dict[str, str]) -> None:
    """Both answer, and with the same figures: the comparison is of equal work."""
    ours = httpx.get(service.base + pair.service, headers=headers, timeout=30)
    theirs = httpx.get(peer.base + pair.peer, timeout=30)
    ours.raise_for_status()
    theirs.raise_for_status()
    body = ours.json()
    peer_rows = theirs.json()
    if pair.key == "one":
        counted = 1 if "value" in body else 0
    elif pair.key == "series":
        counted = sum(len(s["points"]) for s in body["series"])
    else:
        counted = sum((r["value"] is not None) + (r["base_value"] is not None) for r in body["rows"])
    if counted != len(peer_rows):
        raise SystemExit(f"{pair.label}: the service answered {counted} figures, Datasette {len(peer_rows)}")


def timed(
    server: Server, work: Workload, connections: int, seconds: float, client: str
) -> tuple[LoadResult, float]:
    """One run of wrk against `server`, and its processes' CPU microseconds per request."""
    pids = server.pids
    before = cpu_seconds(pids)
    result = run_load(server.base, work, connections=connections, seconds=seconds, client=client)
    used = cpu_seconds(pids) - before
    return result, (used / result.requests * 1e6 if result.requests else 0.0)


def datasette_command(file: Path) -> list[str]:
    exe = shutil.which("datasette", path=str(BIN)) or shutil.which("datasette")
    if exe is None:
        raise Skip("Datasette is not installed: pip install -e '.[bench]'")
    return [exe, "serve", str(file), "--host", HOST]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    client = client_name()
    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"load: {client}, {args.connections} connections, {args.seconds:g} s a run, {args.rounds} rounds")
    with sqlite_figures() as (url, data, _):
        make_token(url, "bench-admin", Role.admin)
        viewer = make_token(url, "bench-viewer", Role.viewer)
        file = Path(url.removeprefix("sqlite:///"))
        unit = data.units[data.bureaus[0]][0]
        headers = {"Authorization": f"Bearer {viewer}"}
        work = pairs(file.stem, data.indicators[0], unit, data.scale.last_year, data.scale.departments)
        peer_command = datasette_command(file)
        ratios: dict[str, list[float]] = {p.key: [] for p in work}
        cpu_ratios: dict[str, list[float]] = {p.key: [] for p in work}
        with (
            Server(url, workers=1) as service,
            Server(
                url, command=lambda port: [*peer_command, "--port", str(port)], ready_path="/-/versions.json"
            ) as peer,
        ):
            for pair in work:
                check_same_rows(service, peer, pair, headers)
            for round_ in range(1, args.rounds + 1):
                for pair in work:
                    ours, our_cpu = timed(
                        service,
                        Workload("GET", [pair.service], headers),
                        args.connections,
                        args.seconds,
                        client,
                    )
                    theirs, their_cpu = timed(
                        peer, Workload("GET", [pair.peer]), args.connections, args.seconds, client
                    )
                    errors = ours.http_errors + ours.socket_errors + theirs.http_errors + theirs.socket_errors
                    ratio = ours.rps / theirs.rps if theirs.rps else float("inf")
                    ratios[pair.key].append(ratio)
                    cpu_ratio = their_cpu / our_cpu if our_cpu else float("inf")
                    cpu_ratios[pair.key].append(cpu_ratio)
                    print(
                        f"round {round_} {pair.label:<38} service {ours.rps:7.0f} req/s "
                        f"p99 {ours.p99_ms:6.1f} ms {our_cpu:5.0f} µs CPU | "
                        f"Datasette {theirs.rps:7.0f} req/s p99 {theirs.p99_ms:6.1f} ms "
                        f"{their_cpu:5.0f} µs CPU | "
                        f"{ratio:4.2f}x, CPU {cpu_ratio:4.2f}x" + (f" | {errors} errors" if errors else ""),
                        flush=True,
                    )
        print(f"\nservice / Datasette, median of {args.rounds} rounds (goal >= {GOAL}x)")
        print(f"  {'':<40} {'req/s':>6}  {'CPU/req':>7}")
        for pair in work:
            median = statistics.median(ratios[pair.key])
            cpu = statistics.median(cpu_ratios[pair.key])
            verdict = "met" if median >= GOAL else "NOT met"
            print(f"  {pair.label:<40} {median:5.2f}x  {cpu:6.2f}x  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
