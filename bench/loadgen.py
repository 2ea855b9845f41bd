"""A keep-alive HTTP/1.1 load generator on raw asyncio sockets, for machines without wrk.

`python -m bench.loadgen SPEC SECONDS` prints one line of figures in the same form as the wrk script
of bench.load. It is several times slower than wrk: on a 2-core machine it may itself be the limit
(bench.api's bare-ASGI ceiling shows that), so bench.load prefers wrk.
"""

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from bench.load import MARK


def _requests(work: dict[str, Any], host: str) -> tuple[list[bytes], str | None]:
    """Request heads (without body) for every path, and the body template."""
    heads = []
    for path in work["paths"]:
        lines = [f"{work['method']} {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in work["headers"].items()]
        heads.append("\r\n".join(lines).encode())
    return heads, work["body"]


async def _connection(
    host: str,
    port: int,
    heads: list[bytes],
    body: str | None,
    base: int,
    deadline: float,
    offset: int,
    stride: int,
    latencies: list[int],
    counts: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    n = len(heads)
    counter = offset
    try:
        while time.perf_counter() < deadline:
            head = heads[counter % n]
            if body is not None:
                payload = (body % (base + counter // n)).encode()
                message = head + b"\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload
            else:
                message = head + b"\r\n\r\n"
            counter += stride
            start = time.perf_counter_ns()
            writer.write(message)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter_ns() - start)
            if int(status_line.split()[1]) >= 400:
                counts["http_errors"] += 1
    except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
        counts["socket_errors"] += 1
    finally:
        writer.close()


async def main(spec: dict[str, Any], seconds: float) -> dict[str, Any]:
    url = urlsplit(spec["base_url"])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    work = spec["work"]
    heads, body = _requests(work, f"{host}:{port}")
    conns = int(spec["connections"])
    latencies: list[int] = []
    counts = {"http_errors": 0, "socket_errors": 0}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(host, port, heads, body, work["base"], deadline, i, conns, latencies, counts)
            for i in range(conns)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> int:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] // 1000 if latencies else 0

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "p50_us": pct(0.5),
        "p99_us": pct(0.99),
        **counts,
    }


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    result = asyncio.run(main(json.loads(sys.argv[1]), float(sys.argv[2])))
    print(MARK + json.dumps(result), flush=True)
