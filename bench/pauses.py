"""The garbage collector's full collections in a serving worker, and what they do to the p99.

The service (`indicators serve`) runs on a throwaway SQLite file of bench.data's figures, with a
`sitecustomize` on its PYTHONPATH that has each of its processes log the start and the end of every
full collection (`gc.callbacks`, generation 2) to a file of its own. wrk drives one figure and the
10-year series by turns, a pause between runs; each run's line gives its rate, p50 and p99 and the
full collections that fell in it, with their length.

    python -m bench.pauses [--workers 1] [--connections 32] [--runs 8] [--seconds 3]
                           [--freeze-after SECONDS]

Since ec22ebf the service sets each worker's heap aside itself, 10 s after the worker starts
(app.core.heap): full collections after that walk only what was made since. `--freeze-after` has
the same `sitecustomize` run `gc.collect()` then `gc.freeze()` in each serving process at another
time as well, to see what an earlier or later freeze would give; the figures before ec22ebf
(BENCHMARKS.md) were taken at aa23421, where only this option froze the heap.

With one worker, every request in flight waits out a collection: at 32 connections and about 2,000
req/s that is about 1% of a 3-s run, so a run's p99 becomes the collection's length (BENCHMARKS.md,
the eighteenth session). It prints figures and never fails on a timing.
"""

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from app.auth.models import Role
from bench.data import sqlite_figures
from bench.harness import Server, machine, make_token
from bench.load import Workload, client_name, run_load

# Imported by every Python process started with its folder on PYTHONPATH: the server and its workers.
SITECUSTOMIZE = """
import gc, os, time

_log = open(os.path.join({folder!r}, f"{{os.getpid()}}.log"), "a", buffering=1)
_started = []


def _full(phase, info):
    if info["generation"] != 2:
        return
    if phase == "start":
        _started[:] = [time.time()]
    elif _started:
        _log.write(f"{{_started[0]:.6f}} {{time.time():.6f}} {{info['collected']}}\\n")


gc.callbacks.append(_full)
"""
# With --freeze-after: each process that serves sets its heap aside once, that many seconds in.
FREEZE = """
import sys, threading

if "serve" in " ".join(sys.argv) or "multiprocessing" in " ".join(sys.argv):

    def _freeze():
        gc.collect()
        gc.freeze()

    _timer = threading.Timer({seconds}, _freeze)
    _timer.daemon = True
    _timer.start()
"""


@dataclass(frozen=True)
class Collection:
    pid: int
    start: float
    end: float
    collected: int

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


def collections(folder: Path) -> list[Collection]:
    found = []
    for log in folder.glob("*.log"):
        for line in log.read_text().splitlines():
            start, end, collected = line.split()
            found.append(Collection(int(log.stem), float(start), float(end), int(collected)))
    return sorted(found, key=lambda c: c.start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pauses", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between runs")
    parser.add_argument(
        "--freeze-after", type=float, default=None, help="gc.collect() and gc.freeze() this many seconds in"
    )
    args = parser.parse_args(argv)
    client = client_name(None)
    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"load: {client}, {args.connections} connections, {args.seconds:g} s a run; workers {args.workers}")
    with sqlite_figures() as (url, data, tmp):
        viewer = make_token(url, "bench-viewer", Role.viewer)
        unit = data.units[data.bureaus[0]][0]
        indicator = data.indicators[0]
        headers = {"Authorization": f"Bearer {viewer}"}
        works = [
            ("one figure", f"/api/v1/observations/{indicator}/{unit}/{data.scale.last_year}"),
            ("series", f"/api/v1/series?indicator={indicator}&department={unit}"),
        ]
        folder = tmp / "collections"
        folder.mkdir()
        code = SITECUSTOMIZE.format(folder=str(folder))
        if args.freeze_after is not None:
            code += FREEZE.format(seconds=args.freeze_after)
            print(f"each serving process: gc.collect(), gc.freeze() {args.freeze_after:g} s after it starts")
        (folder / "sitecustomize.py").write_text(code)
        path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
        with_pause: list[float] = []
        without: list[float] = []
        with Server(url, workers=args.workers, env={"PYTHONPATH": path}) as service:
            started = time.time()
            for n in range(args.runs):
                label, target = works[n % len(works)]
                begin = time.time()
                result = run_load(
                    service.base,
                    Workload("GET", [target], headers),
                    connections=args.connections,
                    seconds=args.seconds,
                    client=client,
                )
                end = time.time()
                during = [c for c in collections(folder) if begin <= c.start < end]
                (with_pause if during else without).append(result.p99_ms)
                pauses = ", ".join(f"{c.ms:.1f} ms at {c.start - begin:.1f} s (pid {c.pid})" for c in during)
                print(
                    f"run {n + 1} at {begin - started:5.1f} s {label:<11} {result.rps:7.0f} req/s "
                    f"p50 {result.p50_ms:5.1f} ms p99 {result.p99_ms:6.1f} ms | full collections: "
                    + (pauses or "none"),
                    flush=True,
                )
                time.sleep(args.pause)
            found = collections(folder)
        workers = {c.pid for c in found}
        print(
            f"full collections over the server's life: {len(found)} in {len(workers)} process(es), "
            f"{min((c.ms for c in found), default=0):.1f}-{max((c.ms for c in found), default=0):.1f} ms"
        )
        for name, p99s in (("with a full collection", with_pause), ("without", without)):
            if p99s:
                print(f"  runs {name}: {len(p99s)}, median p99 {statistics.median(p99s):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
