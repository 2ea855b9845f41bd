"""A serving worker's heap set aside from the garbage collector once its first requests are served.

CPython's full collection walks every object a process holds: in a worker of this service, the
imports, the app, its routes and models, and what its first requests build lazily (compiled
queries, kept answers). At a couple of thousand requests a second one came every 17-18 s
and took about 100 ms, and with one worker every request in flight waited it out: those runs' p99
was the collection's length (`python -m bench.pauses`, BENCHMARKS.md, the eighteenth session).

`gc.freeze()` moves every object then alive to a generation the collector no longer walks; later
full collections walk only what was made since (about 1 ms). What was frozen and later becomes
cyclic garbage stays, which bounds the cost by the heap of the moment it was frozen.
"""

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette

# Seconds after a worker starts: its first requests have built most of what is built lazily.
FREEZE_AFTER = 10.0


def freeze() -> None:
    """Collect what is garbage now, then set everything left aside."""
    gc.collect()
    gc.freeze()


def freeze_later(app: Starlette, seconds: float | None = None) -> None:
    """Have `app`'s start-up schedule freeze() `seconds` (FREEZE_AFTER) later on its event loop, once;
    a shutdown before then cancels it."""
    delay = FREEZE_AFTER if seconds is None else seconds
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        later = asyncio.get_running_loop().call_later(delay, freeze)
        try:
            async with inner(served) as state:
                yield state
        finally:
            later.cancel()

    app.router.lifespan_context = lifespan
