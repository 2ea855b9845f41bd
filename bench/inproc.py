"""Microseconds per request inside one process: the app called as ASGI, no server, no sockets.

A profiling aid, steadier than the HTTP figures on a busy machine: it measures the work the service
itself does per request (FastAPI, auth, the session, the queries, the JSON) one request at a time.

    python -m bench.inproc [get|public|put|series|comparison|compliance|completeness]
                           [--backend sqlite|postgresql] [-n 3000]
                           [--profile out.prof]   # cProfile; or run it under py-spy
"""

import argparse
import asyncio
import cProfile
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import make_url

from app.auth.models import Role
from bench.data import Dataset, Scale, populate
from bench.harness import make_token, prepare, throwaway

Message = dict[str, Any]


async def call(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """One request through the ASGI app; the status and the body."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"bench"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def tokens_for(url: str, data: Dataset) -> tuple[str, str]:
    """A viewer's and a clerk's token (of the first bureau); BENCH_TOKENS="viewer clerk" reuses two."""
    if os.environ.get("BENCH_TOKENS"):
        viewer, clerk = os.environ["BENCH_TOKENS"].split()
        return viewer, clerk
    tag = uuid.uuid4().hex[:8]
    return (
        make_token(url, f"bench-viewer-{tag}", Role.viewer),
        make_token(url, f"bench-clerk-{tag}", Role.clerk, data.bureaus[0]),
    )


def requests_for(
    kind: str, url: str, data: Dataset | None = None
) -> Callable[[int], tuple[str, str, dict[str, str], bytes]]:
    """The n-th request of a kind; `data` names a database populated before (else it is populated)."""
    if data is None:
        data = populate(url)
        make_token(url, "bench-admin", Role.admin)
    viewer_token, clerk_token = tokens_for(url, data)
    viewer = {"Authorization": f"Bearer {viewer_token}"}
    clerk = {"Authorization": f"Bearer {clerk_token}", "Content-Type": "application/json"}
    unit = data.units[data.bureaus[0]][0]
    indicator, year = data.indicators[0], data.scale.last_year
    cells = data.cells(unit)
    one = f"/api/v1/observations/{indicator}/{unit}/{year}"
    base = random.randrange(10**12) * 1000  # a value no earlier run wrote: every PUT really writes

    def request(i: int) -> tuple[str, str, dict[str, str], bytes]:
        if kind == "get":
            return "GET", one, viewer, b""
        if kind == "public":
            return "GET", one, {}, b""
        if kind == "health":  # no database, no dependency: the framework's own share
            return "GET", "/healthz", {}, b""
        if kind == "series":
            return "GET", f"/api/v1/series?indicator={indicator}&department={unit}", viewer, b""
        if kind == "comparison":  # one indicator across every department, two years
            return (
                "GET",
                f"/api/v1/comparison?indicator={indicator}&year={year}&base_year={year - 1}",
                viewer,
                b"",
            )
        if kind == "completeness":
            return "GET", f"/api/v1/completeness?year={year}&department={unit}", viewer, b""
        if kind == "compliance":
            return "GET", f"/api/v1/compliance?year={year}&department={unit}", viewer, b""
        ind, dep, y = cells[i % len(cells)]
        body = b'{"value": %d, "source": "bench"}' % (base + i // len(cells))
        return "PUT", f"/api/v1/observations/{ind}/{dep}/{y}", clerk, body

    return request


async def drive(
    app: Any, request: Callable[[int], tuple[str, str, dict[str, str], bytes]], n: int, warmup: int = 300
) -> tuple[float, float]:
    """Wall and CPU microseconds per request (CPU of every thread: steadier on a busy machine)."""
    for i in range(warmup):  # warm caches and the pool
        status, body = await call(app, *request(i))
        if status >= 400:
            raise RuntimeError(f"{status}: {body[:300]!r}")
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await call(app, *request(1000 + i))
    return (time.perf_counter() - started) / n * 1e6, (time.process_time() - cpu) / n * 1e6


def serve_inproc(kind: str, url: str, data: Dataset | None, n: int, warmup: int, profile: str | None) -> None:
    request = requests_for(kind, url, data)
    os.environ["INDICATORS_DATABASE_URL"] = url
    os.environ["INDICATORS_PUBLIC_READ"] = "true"
    from app.core.config import get_settings
    from app.core.db.engine import get_engine
    from app.main import create_app

    get_settings.cache_clear()  # read the environment again: this database, public read
    get_engine.cache_clear()
    app = create_app()

    async def run() -> tuple[float, float]:
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            result = await drive(app, request, n, warmup)
            profiler.disable()
            profiler.dump_stats(profile)
            return result
        return await drive(app, request, n, warmup)

    wall, cpu = uvloop.run(run())
    get_engine().dispose()
    print(f"{kind} on {make_url(url).get_backend_name()}: {cpu:.0f} µs CPU, {wall:.0f} µs wall per request")


def instructions(kind: str, url: str, small: int = 30, large: int = 230) -> float:
    """Instructions per request under callgrind, a count a busy machine does not disturb: two runs of
    different lengths, the difference divided by the extra requests, so that start-up and warm-up
    cancel out."""
    # The tokens are made here, so that the runs write nothing before they start; runs that write
    # go one after the other (under callgrind, a SQLite writer holds the lock for long).
    env = {**os.environ, "BENCH_TOKENS": " ".join(tokens_for(url, Dataset.named(Scale.from_env())))}
    at_once = kind not in ("put",)
    with tempfile.TemporaryDirectory() as folder:
        runs = []
        for n in (small, large):
            runs.append(
                subprocess.Popen(
                    [
                        *("valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/{n}.out"),
                        *(sys.executable, "-m", "bench.inproc", kind, "--url", url),
                        *("-n", str(n), "--warmup", "30"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
            if not at_once:
                runs[-1].wait()
        for run in runs:
            _, err = run.communicate()
            if run.returncode != 0:
                said = "\n".join(line for line in err.splitlines() if not line.startswith("=="))
                raise RuntimeError(f"a callgrind run failed: {said[-3000:]}")
        totals = []
        for n in (small, large):
            found = re.search(r"^(?:totals|summary): (\d+)", Path(f"{folder}/{n}.out").read_text(), re.M)
            assert found is not None
            totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) / (large - small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", nargs="?", default="get")
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--profile", default=None, help="write a cProfile of the timed requests here")
    parser.add_argument("--url", default=None, help="a database populated by --prepare: no set-up")
    parser.add_argument("--prepare", default=None, help="migrate, seed and populate this database, then stop")
    parser.add_argument("--instructions", action="store_true", help="count instructions (callgrind)")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare)
        populate(args.prepare)
        make_token(args.prepare, "bench-admin", Role.admin)
        return
    if args.url:
        if args.instructions:
            print(f"{args.kind}: {instructions(args.kind, args.url) / 1e6:.2f} M instructions per request")
            return
        serve_inproc(args.kind, args.url, Dataset.named(Scale.from_env()), args.n, args.warmup, args.profile)
        return
    with throwaway(args.backend) as url:
        prepare(url)
        if args.instructions:
            populate(url)
            make_token(url, "bench-admin", Role.admin)
            print(f"{args.kind}: {instructions(args.kind, url) / 1e6:.2f} M instructions per request")
            return
        serve_inproc(args.kind, url, None, args.n, args.warmup, args.profile)


if __name__ == "__main__":
    main()
