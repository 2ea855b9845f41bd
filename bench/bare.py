"""The framework ceiling: a bare ASGI app that answers with bytes held in memory; and FastAPI's floor.

It runs on the same server as the service (`app.core.server.run`, `app.cli.server_options`, same workers) and
answers each request with the very bytes and headers the service gave for the same method and path,
so the difference between the two is what FastAPI, our code and the database cost.

With --fastapi, the same answers come from a FastAPI app with one catch-all async route: the least
any FastAPI service pays per request, so that the table shows which part of the gap is the
framework's own and which is ours.

With --stack, that app also runs Core's statements before it answers, as the service runs its
database work: in a worker thread (asyncio's own trip, run_in_executor; the service's,
app.core.threads, is a pool of its own), at most INDICATORS_DB_CONCURRENCY at once a worker, on an
engine made as the service's. For a PUT, a write of the figure the body gives to the cell the path
names (bench.core's put_observation); for a GET, the Core twin its saved answer names (bench.core's
get_observation, series, ...). The stack's own PUT and reads: the framework's floor and the
database's work, composed for real, and nothing of ours.

    python -m bench.bare BODIES.json --port P --workers N [--fastapi [--stack]]
"""

import argparse
import base64
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from app.cli import server_options
from app.core import server

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
ENV = "BENCH_BARE_BODIES"


def save(path: Path, answers: list[dict[str, Any]]) -> None:
    """answers: [{"method", "path", "status", "headers": [[name, value]], "body": bytes}], a read's
    with "core": [its Core twin's name (bench.core.QUERIES), its arguments] for --stack."""
    rows = [{**a, "body": base64.b64encode(a["body"]).decode()} for a in answers]
    path.write_text(json.dumps(rows))


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _saved() -> list[dict[str, Any]]:
    """The answers `save` wrote, as saved."""
    return list(json.loads(Path(os.environ[ENV]).read_text()))


def _answers() -> Callable[[str, str], Answer]:
    """The saved answers: for a method and a path with its query, the answer the service gave."""
    rows = _saved()
    exact: dict[tuple[str, str], Answer] = {}
    by_method: dict[str, Answer] = {}
    for row in rows:
        body = base64.b64decode(row["body"])
        headers = [(k.lower().encode(), v.encode()) for k, v in row["headers"]]
        headers.append((b"content-length", str(len(body)).encode()))
        answer = (int(row["status"]), headers, body)
        exact[(row["method"], row["path"])] = answer
        by_method.setdefault(row["method"], answer)

    def answer_for(method: str, path: str) -> Answer:
        return exact.get((method, path)) or by_method.get(method) or (404, [(b"content-length", b"0")], b"")

    return answer_for


def _twins() -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """For a method and a path with its query, the Core twin its saved answer names."""
    return {
        (row["method"], row["path"]): (row["core"][0], row["core"][1]) for row in _saved() if row.get("core")
    }


def _response(answer: Answer) -> Response:
    status, headers, body = answer
    response = Response(body, status_code=status)
    response.raw_headers = headers
    return response


def create_fastapi_app() -> FastAPI:
    """The framework's own floor: FastAPI with one async route for every path, answering the same
    stored bytes. No dependency, no validation, no database: what any FastAPI service pays first."""
    answer_for = _answers()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=["GET", "PUT", "POST", "DELETE"])
    async def answer(request: Request) -> Response:
        await request.body()
        query = request.url.query
        return _response(answer_for(request.method, request.url.path + ("?" + query if query else "")))

    return app


def create_stack_app() -> FastAPI:
    """The FastAPI floor, with Core's statements before the stored answer: for a PUT of the figure
    the body gives to the cell the path ends with (`.../INDICATOR/DEPARTMENT/YEAR`), for a GET its
    saved answer's Core twin."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from app.core.config import get_settings
    from app.core.db.engine import make_engine
    from bench.core import QUERIES

    answer_for = _answers()
    twins = _twins()
    settings = get_settings()
    engine = make_engine(settings.database_url)
    put_observation, _ = QUERIES["put_observation"]
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    gate = asyncio.Semaphore(settings.db_concurrency)
    # asyncio's own trip to a thread: the stack's, not the service's pool (app.core.threads)
    threads = ThreadPoolExecutor(settings.db_concurrency)

    def write(cell: tuple[str, str, int], value: int) -> None:
        with engine.connect() as conn:
            put_observation(conn, {"cells": [cell], "base": value}, 0)
            conn.commit()

    def read(name: str, args: dict[str, Any]) -> None:
        with engine.connect() as conn:
            QUERIES[name][0](conn, args, 0)
            conn.commit()

    async def in_thread(work: Callable[..., None], *args: Any) -> None:
        async with gate:
            await asyncio.get_running_loop().run_in_executor(threads, work, *args)

    @app.api_route("/{path:path}", methods=["PUT"])
    async def put(path: str, request: Request) -> Response:
        indicator, department, year = path.rsplit("/", 3)[1:]
        value = json.loads(await request.body())["value"]
        await in_thread(write, (indicator, department, int(year)), value)
        return _response(answer_for(request.method, request.url.path))

    @app.api_route("/{path:path}", methods=["GET"])
    async def get(request: Request) -> Response:
        query = request.url.query
        target = request.url.path + ("?" + query if query else "")
        twin = twins.get(("GET", target))  # none for /healthz, which the harness waits on
        if twin is not None:
            await in_thread(read, *twin)
        return _response(answer_for("GET", target))

    return app


def create_app() -> ASGI:
    answer_for = _answers()

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
        status, headers, body = answer_for(scope["method"], path)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bodies")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--fastapi", action="store_true", help="the FastAPI floor instead of bare ASGI")
    parser.add_argument("--stack", action="store_true", help="with --fastapi: Core's statements too")
    args = parser.parse_args()
    os.environ[ENV] = str(Path(args.bodies).resolve())
    factory = "bench.bare:create_app"
    if args.fastapi:
        factory = "bench.bare:create_stack_app" if args.stack else "bench.bare:create_fastapi_app"
    server.run(factory, host=args.host, port=args.port, **server_options(args.workers))


if __name__ == "__main__":
    main()
