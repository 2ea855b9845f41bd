"""The dashboard's pages on the analytics data: 1,000 departments x 100 indicators x 10 years.

    .venv/bin/python -m bench.dashboard [--backend sqlite|postgresql|both] [--runs N] [--compare DIR]

Builds the data set of bench.analytics into a throwaway database, serves it with `indicators serve`
(public read off: the pages send a viewer's token), and opens each page in headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright). It prints, per page, the API requests the page
made and each one's p50/p99 over --runs sequential requests (goal: <= 100 ms p50), and the median of
--runs page loads: the load event and the moment the data is shown (goal for the overview's load
event: <= 2 s). It never fails on a timing.

--compare DIR serves the same database with the code in DIR as well (`git archive main | tar -x -C
DIR`: its `app` put first on PYTHONPATH), and alternates every page load and every timed request
between the two servers, so that the ratios new/old are measured under the same load.
"""

import argparse
import statistics
import sys
import time
from contextlib import ExitStack
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
    "department (the root: 100,000 targets below it)": f"/dashboard/departments/root?year={TARGET_YEAR}",
}
TIMED = 12  # distinct requests timed per page; a page making more has the rest counted, not timed
LOAD_EVENT = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"


def _load(browser: Any, base: str, path: str, secret: str) -> tuple[float, float, list[str]]:
    """One page load in a fresh browser session: load event (ms), data shown (ms), API requests."""
    from playwright.sync_api import Request

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(f"sessionStorage.setItem('indicators-token', {secret!r})")
    page = context.new_page()
    seen: list[str] = []

    def record(request: Request) -> None:
        if "/api/" in request.url:
            seen.append(request.url.removeprefix(base))

    page.on("request", record)
    started = time.perf_counter()
    page.goto(base + path)
    page.wait_for_selector("body[data-ready]", state="attached", timeout=300_000)
    ready = (time.perf_counter() - started) * 1000
    load = float(page.evaluate(LOAD_EVENT))
    context.close()
    return load, ready, seen


def _browse(bases: dict[str, str], secret: str, runs: int) -> dict[str, dict[str, Any]]:
    """Per page and server: the API requests it made, the median load event and data-shown times (ms);
    the servers' loads alternate."""
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, Any]] = {name: {} for name in PAGES}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for name, path in PAGES.items():
                loads: dict[str, list[float]] = {code: [] for code in bases}
                readies: dict[str, list[float]] = {code: [] for code in bases}
                for run in range(runs + 1):  # the first run warms the caches and is not counted
                    for code, base in bases.items():
                        load, ready, requests = _load(browser, base, path, secret)
                        if run:
                            loads[code].append(load)
                            readies[code].append(ready)
                        results[name][code] = {"requests": requests}
                for code in bases:
                    results[name][code] |= {
                        "load": statistics.median(loads[code]),
                        "ready": statistics.median(readies[code]),
                    }
        finally:
            browser.close()
    return results


def _request_times(
    bases: dict[str, str], requests: dict[str, list[str]], secret: str, runs: int
) -> dict[str, list[tuple[str, float, float]]]:
    """Per server: p50 and p99 (ms) of each of its page's first TIMED distinct requests over `runs`
    sequential requests after one warm-up, the servers' requests taken in turn."""
    timed = {code: list(dict.fromkeys(requests[code]))[:TIMED] for code in bases}
    samples: dict[str, list[list[float]]] = {code: [[] for _ in timed[code]] for code in bases}
    with httpx.Client(headers={"Authorization": f"Bearer {secret}"}, timeout=300) as client:
        for round_ in range(runs + 1):
            for index in range(max(len(urls) for urls in timed.values())):
                for code, base in bases.items():
                    if index >= len(timed[code]):
                        continue
                    started = time.perf_counter()
                    client.get(base + timed[code][index]).raise_for_status()
                    if round_:
                        samples[code][index].append((time.perf_counter() - started) * 1000)
    out: dict[str, list[tuple[str, float, float]]] = {}
    for code in bases:
        out[code] = []
        for url, got in zip(timed[code], samples[code], strict=True):
            got.sort()
            out[code].append((url, statistics.median(got), got[min(len(got) - 1, int(len(got) * 0.99))]))
    return out


def _report(backend: str, name: str, code: str, page: dict[str, Any], times: list[Any]) -> float:
    """Print one page's figures from one server; return the slowest request's p50."""
    load_goal = f" (goal {LOAD_GOAL_MS:.0f} ms: ratio {page['load'] / LOAD_GOAL_MS:.2f})"
    print(f"  {code}: load event {page['load']:.0f} ms{load_goal}, data shown {page['ready']:.0f} ms")
    slowest = max((p50 for _, p50, _ in times), default=0.0)
    distinct = len(set(page["requests"]))
    print(
        f"    {len(page['requests'])} API requests ({distinct} distinct, {len(times)} timed); slowest p50"
        f" {slowest:.1f} ms (goal {REQUEST_GOAL_MS:.0f} ms: ratio {slowest / REQUEST_GOAL_MS:.2f})"
    )
    for url, p50, p99 in times:
        print(f"      p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  ratio {p50 / REQUEST_GOAL_MS:.2f}  {url}")
    return slowest


def run(backend: str, runs: int, compare: Path | None) -> None:
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
        with ExitStack() as stack:
            bases = {}
            if compare is not None:
                old_env = {**env, "PYTHONPATH": str(compare.resolve())}
                bases["old"] = stack.enter_context(Server(url, env=old_env)).base
            bases["new" if compare is not None else "this"] = stack.enter_context(Server(url, env=env)).base
            pages = _browse(bases, secret, runs)
            for name, by_server in pages.items():
                print(f"[{backend}] {name}: {PAGES[name]}")
                requests = {code: by_server[code]["requests"] for code in bases}
                times = _request_times(bases, requests, secret, runs * 4)
                slowest = {code: _report(backend, name, code, by_server[code], times[code]) for code in bases}
                if compare is not None:
                    old, new = by_server["old"], by_server["new"]
                    print(
                        f"    new/old: load event {new['load'] / old['load']:.2f}, data shown"
                        f" {new['ready'] / old['ready']:.2f}, requests {len(old['requests'])} ->"
                        f" {len(new['requests'])}, slowest p50 {slowest['new'] / slowest['old']:.2f}"
                    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--runs", type=int, default=5, help="page loads per page (requests: 4x as many)")
    parser.add_argument("--compare", type=Path, help="the other code to serve, alternating (see above)")
    args = parser.parse_args(argv)
    if args.compare is not None and not (args.compare / "app" / "__init__.py").is_file():
        print(f"--compare {args.compare}: no app/ there", file=sys.stderr)
        return 1
    if not CHROMIUM.exists():
        print(f"no Chromium at {CHROMIUM}: apt-get install -y chromium fonts-noto-cjk", file=sys.stderr)
        return 1
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        try:
            run(backend, args.runs, args.compare)
        except Skip as skip:
            print(f"[{backend}] {skip}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
