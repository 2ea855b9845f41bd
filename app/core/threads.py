"""A trip to a worker thread for blocking work (a query, a COMMIT), at less cost than anyio's.

Starlette's `run_in_threadpool` (anyio's `to_thread.run_sync`) first yields to the event loop once
(a checkpoint), then takes its capacity limiter and enters a cancel scope: about 100-130 µs of CPU a
trip on the machines of BENCHMARKS.md, against 65-80 µs for `loop.run_in_executor` on a thread pool
of our own. A PUT on PostgreSQL makes one trip.

As anyio's, a trip cannot be cut short: a task cancelled while its work runs waits for the work to
end before the cancellation goes on, so that whatever the work holds (a session, a pooled connection)
is given back by its owner after it, never while it still runs. Work that had not started yet does
not run at all.
"""

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# As many as anyio's default limiter lets run at once; app.core.db.gate keeps database work far below.
MAX_THREADS = 40

_executor: ThreadPoolExecutor | None = None
_made = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _made:
            if _executor is None:
                _executor = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="indicators-work")
    return _executor


async def _wait_out(done: "Future[T]") -> None:
    """Wait for `done` to end, whatever cancels the waiting task meanwhile."""
    while not done.done():
        try:
            await asyncio.wait([asyncio.wrap_future(done)])
        except asyncio.CancelledError:
            continue


async def in_thread(work: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)` in a worker thread, in this task's context (its context variables)."""
    context = contextvars.copy_context()
    done = _pool().submit(context.run, work, *args, **kwargs)
    try:
        return await asyncio.wrap_future(done)
    except asyncio.CancelledError:
        await _wait_out(done)
        raise
