"""`python -m bench` (`make bench`): every benchmark module there is, one after another.

Each runs in its own process with a time limit, so one that breaks or hangs does not stop the
others; the exit status is 0 unless a module could not run at all (figures never fail a run).

    python -m bench [api auth batch analytics]     # a subset, in that order
"""

import importlib.util
import subprocess
import sys
import time

# (module, time limit in seconds). bench.api: the service against its ceilings, one table;
# bench.auth: a token against public read, in alternating runs; bench.batch and bench.analytics
# come with the batch and the analytics issues.
MODULES = [("api", 1500), ("auth", 300), ("batch", 900), ("analytics", 900)]


def main(argv: list[str]) -> int:
    wanted = argv or [name for name, _ in MODULES]
    limits = dict(MODULES)
    failed = []
    for name in wanted:
        module = f"bench.{name}"
        if importlib.util.find_spec(module) is None:
            print(f"== {module}: not written yet, skipped", flush=True)
            continue
        print(f"== {module}", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run([sys.executable, "-m", module], timeout=limits.get(name, 900)).returncode
        except subprocess.TimeoutExpired:
            code = -1
            print(f"== {module}: stopped after {limits.get(name, 900)} s", flush=True)
        print(f"== {module}: {time.monotonic() - started:.0f} s, exit {code}", flush=True)
        if code != 0:
            failed.append(module)
    if failed:
        print(f"could not run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
