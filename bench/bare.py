"""The framework ceiling: a bare ASGI app that answers with bytes held in memory.

It runs on the same server as the service (uvicorn, `app.cli.server_options`, same workers) and
answers each request with the very bytes and headers the service gave for the same method and path,
so the difference between the two is what FastAPI, our code and the database cost.

    python -m bench.bare BODIES.json --port P --workers N
"""

import argparse
import base64
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from app.cli import server_options

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
ENV = "BENCH_BARE_BODIES"


def save(path: Path, answers: list[dict[str, Any]]) -> None:
    """answers: [{"method", "path", "status", "headers": [[name, value]], "body": bytes}]."""
    rows = [{**a, "body": base64.b64encode(a["body"]).decode()} for a in answers]
    path.write_text(json.dumps(rows))


def create_app() -> ASGI:
    rows = json.loads(Path(os.environ[ENV]).read_text())
    exact: dict[tuple[str, str], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
    by_method: dict[str, tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
    for row in rows:
        body = base64.b64decode(row["body"])
        headers = [(k.lower().encode(), v.encode()) for k, v in row["headers"]]
        headers.append((b"content-length", str(len(body)).encode()))
        answer = (int(row["status"]), headers, body)
        exact[(row["method"], row["path"])] = answer
        by_method.setdefault(row["method"], answer)

    async def app(
        scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the request body, as the service has to
            message = await receive()
            more = message.get("more_body", False)
        path = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        answer = exact.get((scope["method"], path)) or by_method.get(scope["method"])
        status, headers, body = answer or (404, [(b"content-length", b"0")], b"")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bodies")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[ENV] = str(Path(args.bodies).resolve())
    uvicorn.run(
        "bench.bare:create_app", factory=True, host=args.host, port=args.port, **server_options(args.workers)
    )


if __name__ == "__main__":
    main()
