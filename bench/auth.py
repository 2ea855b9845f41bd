"""What authentication costs: a GET with a bearer token against the same GET with public read.

The server runs with INDICATORS_PUBLIC_READ=true; the same observation is read with a viewer's
token (looked up by its hash on every request) and with no token. Runs alternate, A B A B ..., so a
busy machine disturbs both alike; the ratio of the medians is the figure (issue 3: within 10%).

    python -m bench.auth [--backends sqlite,postgresql] [--rounds 4] [--seconds 2] [--connections 8]
"""

import argparse
import statistics

from app.auth.models import Role
from bench.data import populate
from bench.harness import Server, Skip, make_token, prepare, throwaway
from bench.load import Workload, client_name, run_load


def measure(backend: str, rounds: int, seconds: float, connections: int, workers: int) -> tuple[float, float]:
    """Median req/s with a token and without one."""
    with throwaway(backend) as url:
        prepare(url)
        data = populate(url)
        make_token(url, "bench-admin", Role.admin)
        viewer = make_token(url, "bench-viewer", Role.viewer)
        unit = data.units[data.bureaus[0]][0]
        path = f"/api/v1/observations/{data.indicators[0]}/{unit}/{data.scale.last_year}"
        authed = Workload("GET", [path], {"Authorization": f"Bearer {viewer}"})
        public = Workload("GET", [path])
        with Server(url, workers=workers, env={"INDICATORS_PUBLIC_READ": "true"}) as server:
            for work in (authed, public):  # warm-up
                run_load(server.base, work, connections=connections, seconds=1)
            a, p = [], []
            for _ in range(rounds):
                a.append(run_load(server.base, authed, connections=connections, seconds=seconds).rps)
                p.append(run_load(server.base, public, connections=connections, seconds=seconds).rps)
    return statistics.median(a), statistics.median(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print(
        f"authenticated GET vs public-read GET ({client_name()}, {args.connections} connections, "
        f"{args.workers} worker(s), median of {args.rounds} alternating {args.seconds:g} s runs)"
    )
    for backend in args.backends.split(","):
        try:
            token, public = measure(backend, args.rounds, args.seconds, args.connections, args.workers)
        except Skip as exc:
            print(exc)
            continue
        print(
            f"  {backend:<10} token {token:7.0f} req/s   public {public:7.0f} req/s   "
            f"authenticated at {token / public * 100:5.1f}% of public (goal >= 90%)"
        )


if __name__ == "__main__":
    main()
