"""`python -m bench`: every benchmark, one after another."""

import sys


def main() -> int:
    print("no benchmarks yet", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
