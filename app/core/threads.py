"""A trip to a worker thread for blocking work (a query, a COMMIT), at less cost than anyio's.

Starlette's `run_in_threadpool` (anyio's `to_thread.run_sync`) first yields to the event loop once
(a checkpoint), then takes its capacity limiter and enters a cancel scope, on every trip; asyncio's
`run_in_executor` makes a `concurrent.futures.Future` (a Condition) and chains it to an asyncio one.
A trip here is one queue put, and one `call_soon_threadsafe` back. A PUT on PostgreSQL, which makes
one trip, went from 2.83 M instructions (anyio) to 2.67 M (asyncio's executor) and 2.63 M (this);
a 10-year series from 1.47 M to 1.45 M, compliance from 1.40 M to 1.32 M (`python -m bench.inproc
KIND --backend postgresql --instructions`, BENCHMARKS.md).

As many threads as trips at once, up to MAX_THREADS (anyio's default limit); app.core.db.gate keeps
database work far below it. Every trip is handed to a thread of its own, idle or new, so that no
trip waits behind another's work until MAX_THREADS are busy.

A trip cannot be cut short: a task cancelled while its work runs waits for the work to end before
the cancellation goes on, so that whatever the work holds (a session, a pooled connection) is given
back by its owner after it, never while it still runs. Work that had not begun does not run at all.
"""

import asyncio
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

MAX_THREADS = 40


class _Trip:
    """One piece of work sent to a thread: where its answer goes, and who has claimed it."""

    __slots__ = ("claim", "delivered", "ended", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        # taken by the thread that runs the work, or by the cancelled caller before it begins
        self.claim = threading.Lock()
        self.delivered = False  # the answer has reached the loop
        self.ended: asyncio.Future[None] | None = None  # a cancelled caller waiting for the end


_Item = tuple[_Trip, contextvars.Context, Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_queue: "SimpleQueue[_Item]" = SimpleQueue()
_lock = threading.Lock()
_idle = 0  # threads waiting on the queue and not promised to a trip, less trips queued for none
_threads = 0


def _reset_after_fork() -> None:
    """A forked child has none of its parent's threads, and a queue of its own."""
    global _queue, _lock, _idle, _threads
    _queue, _lock, _idle, _threads = SimpleQueue(), threading.Lock(), 0, 0


os.register_at_fork(after_in_child=_reset_after_fork)


def _deliver(trip: _Trip, result: Any, error: BaseException | None) -> None:
    """On the loop: the answer to its caller, and word to a cancelled caller that the work ended."""
    trip.delivered = True
    future = trip.future
    if not future.done():
        if error is None:
            future.set_result(result)
        elif isinstance(error, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(error)
    if trip.ended is not None and not trip.ended.done():
        trip.ended.set_result(None)


def _work_on(queue: "SimpleQueue[_Item]") -> None:
    global _idle
    while True:
        trip, context, work, args, kwargs = queue.get()
        ran = trip.claim.acquire(blocking=False)  # else its caller was cancelled before it began
        result, error = None, None
        if ran:
            try:
                result = context.run(work, *args, **kwargs)
            except BaseException as exc:
                error = exc
        # idle from here: the next trip, which the answer may send at once, is promised this thread
        with _lock:
            _idle += 1
        if ran:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits for the answer
                trip.loop.call_soon_threadsafe(_deliver, trip, result, error)
        del trip, context, work, args, kwargs, result, error  # an idle thread holds nothing


def _submit(item: _Item) -> None:
    """Queue the trip, with a thread promised to it: an idle one, or a new one."""
    global _idle, _threads
    with _lock:
        start = _idle <= 0 and _threads < MAX_THREADS
        if start:
            _threads += 1
        else:
            _idle -= 1  # below 0 (all MAX_THREADS busy): trips waiting in the queue
        queue = _queue
    if start:
        name = f"indicators-work-{_threads}"
        threading.Thread(target=_work_on, args=(queue,), name=name, daemon=True).start()
    queue.put(item)


async def _wait_out(ended: "asyncio.Future[None]") -> None:
    """Wait for `ended`, whatever cancels the waiting task meanwhile."""
    while not ended.done():
        try:
            await asyncio.wait([ended])
        except asyncio.CancelledError:
            continue


async def in_thread(work: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)` in a worker thread, in this task's context (its context variables)."""
    trip = _Trip(asyncio.get_running_loop())
    _submit((trip, contextvars.copy_context(), work, args, kwargs))
    try:
        result: T = await trip.future
    except asyncio.CancelledError:
        if trip.claim.acquire(blocking=False):
            raise  # it had not begun, and now it never will
        if not trip.delivered:
            trip.ended = trip.loop.create_future()
            await _wait_out(trip.ended)
        raise
    return result
