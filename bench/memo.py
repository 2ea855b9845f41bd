"""The memo of the overview's two year-level reads (app.core.memo): miss, hit, and the generation query.

    .venv/bin/python -m bench.memo [--backend sqlite|postgresql|both] [--runs N]

On the data of bench.analytics (1,000 departments x 100 indicators x 10 years), over HTTP in-process
(the real app, auth and serialization included), per request: p50 of a miss (the memo emptied just
before: the generation query, the report, its JSON), of a hit, and of the generation query alone
(service call), each round taking the three in turn. A miss is today's work plus the generation
query; the ratio generation/miss is what the memo adds to a miss. It never fails on a timing.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.analytics import completeness_generation
from app.analytics.router import COMPLETENESS
from app.core.db import migrate
from app.targets.compliance import generation as compliance_generation
from app.targets.compliance.router import MEMO
from bench.analytics import TARGET_YEAR, _http, populate
from bench.harness import Skip, engine_for, throwaway

REQUESTS: list[tuple[str, str, Any, Callable[[Session], Any]]] = [
    (
        "compliance",
        f"/api/v1/compliance?year={TARGET_YEAR}&limit=1",
        MEMO,
        compliance_generation.generation,
    ),
    (
        "completeness",
        f"/api/v1/completeness?year={TARGET_YEAR}",
        COMPLETENESS,
        lambda s: completeness_generation.generation(s, TARGET_YEAR),
    ),
]


def _ms(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def run(backend: str, runs: int) -> None:
    with throwaway(backend) as url, engine_for(url) as engine:
        migrate.upgrade(engine)
        print(f"[{backend}] building 1,000 departments x 100 indicators x 10 years ...", flush=True)
        populate(engine)
        with _http(engine) as (client, headers), Session(engine) as session:
            for name, path, memo, generation in REQUESTS:

                def get(path: str = path) -> None:
                    response = client.get(path, headers=headers)
                    assert response.status_code == 200, response.text[:300]

                def marks(generation: Callable[[Session], Any] = generation) -> None:
                    generation(session)
                    session.rollback()

                get()  # warm: plans cached, pages in memory
                marks()
                miss, hit, gen, kept = [], [], [], 0
                for _ in range(runs):
                    memo.clear()
                    miss.append(_ms(get))
                    kept += len(memo)  # 0: a writer was in flight somewhere (PostgreSQL), not kept
                    hit.append(_ms(get))
                    gen.append(_ms(marks))
                m, h, g = (statistics.median(x) for x in (miss, hit, gen))
                print(
                    f"[{backend}] {name}: miss p50 {m:.1f} ms, hit p50 {h:.1f} ms, generation query"
                    f" p50 {g:.2f} ms (generation/miss {g / m:.3f}, hit/miss {h / m:.3f});"
                    f" kept {kept}/{runs}",
                    flush=True,
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        try:
            run(backend, args.runs)
        except Skip as skip:
            print(f"[{backend}] {skip}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
