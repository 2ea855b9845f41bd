"""The dashboard's pages on the analytics data: 1,000 departments x 100 indicators x 10 years.

    .venv/bin/python -m bench.dashboard [--backend sqlite|postgresql|both] [--runs N]

Builds the data set of bench.analytics into a throwaway database, serves it with `indicators serve`
(public read off: the pages send a viewer's token), and opens each page in headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright). It prints, per page, the API requests the page
made and each one's p50/p99 over --runs sequential requests (goal: <= 100 ms p50), and the median of
--runs page loads: the load event and the moment the data is shown (goal for the overview's load
event: <= 2 s). It never fails on a timing.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.auth.models import Role
from app.core.db import migrate
from bench.analytics import TARGET_YEAR, populate
from bench.harness import Server, Skip, engine_for, make_token, throwaway

CHROMIUM = Path("/usr/bin/chromium")
REQUEST_GOAL_MS = 100.0
LOAD_GOAL_MS = 2000.0
PAGES = {
    "overview": f"/dashboard/?year={TARGET_YEAR}",
    "indicator": "/dashboard/indicators/ind-001",
    "department": f"/dashboard/departments/d3-0101?year={TARGET_YEAR}",
}
LOAD_EVENT = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"


def _browse(base: str, secret: str, runs: int) -> dict[str, Any]:
    """Per page: the API requests it made, and the median load event and data-shown times (ms)."""
    from playwright.sync_api import Request, sync_playwright

    results: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for name, path in PAGES.items():
                loads, readies, requests = [], [], []
                for run in range(runs + 1):  # the first run warms the caches and is not counted
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    context.add_init_script(f"sessionStorage.setItem('indicators-token', {secret!r})")
                    page = context.new_page()
                    seen: list[str] = []

                    def record(request: Request, seen: list[str] = seen) -> None:
                        if "/api/" in request.url:
                            seen.append(request.url)

                    page.on("request", record)
                    started = time.perf_counter()
                    page.goto(base + path)
                    page.wait_for_selector("body[data-ready]", state="attached", timeout=120_000)
                    ready = (time.perf_counter() - started) * 1000
                    load = float(page.evaluate(LOAD_EVENT))
                    context.close()
                    if run:
                        loads.append(load)
                        readies.append(ready)
                    requests = seen
                results[name] = {
                    "load": statistics.median(loads),
                    "ready": statistics.median(readies),
                    "requests": requests,
                }
        finally:
            browser.close()
    return results


def _request_times(urls: list[str], secret: str, runs: int) -> list[tuple[str, float, float]]:
    """p50 and p99 (ms) of each URL over `runs` sequential requests after one warm-up."""
    out = []
    with httpx.Client(headers={"Authorization": f"Bearer {secret}"}, timeout=120) as client:
        for url in urls:
            client.get(url).raise_for_status()
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                client.get(url).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            samples.sort()
            out.append(
                (url, statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))])
            )
    return out


def run(backend: str, runs: int) -> None:
    with throwaway(backend) as url:
        print(f"[{backend}] building 1,000 departments x 100 indicators x 10 years ...", flush=True)
        with engine_for(url) as engine:
            migrate.upgrade(engine)
            populate(engine)
        secret = make_token(url, "bench-viewer", Role.viewer)
        env = {
            "INDICATORS_PUBLIC_READ": "false",
            "INDICATORS_ACCESS_LOG": "false",
            "INDICATORS_LOG_LEVEL": "warning",
        }
        with Server(url, env=env) as server:
            pages = _browse(server.base, secret, runs)
            for name, page in pages.items():
                print(f"[{backend}] {name}: {PAGES[name]}")
                print(
                    f"    load event {page['load']:.0f} ms, data shown {page['ready']:.0f} ms"
                    + (
                        f" (load goal {LOAD_GOAL_MS:.0f} ms: ratio {page['load'] / LOAD_GOAL_MS:.2f})"
                        if name == "overview"
                        else ""
                    )
                )
                print(f"    {len(page['requests'])} API requests:")
                for request, p50, p99 in _request_times(page["requests"], secret, runs * 4):
                    path = request.removeprefix(server.base)
                    ratio = p50 / REQUEST_GOAL_MS
                    print(f"      p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  ratio {ratio:.2f}  {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--runs", type=int, default=5, help="page loads per page (requests: 4x as many)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"no Chromium at {CHROMIUM}: apt-get install -y chromium fonts-noto-cjk", file=sys.stderr)
        return 1
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        try:
            run(backend, args.runs)
        except Skip as skip:
            print(f"[{backend}] {skip}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
