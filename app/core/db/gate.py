"""How many requests work with the database at once, per worker process; on SQLite, one writer at a time.

Without a bound, every waiting request holds a worker thread and, once it has queried, a pooled
connection: past pool size + thread count, threads wait for connections that only threads can give
back (a 30 s stall, then 503s), and well before that, dozens of threads fighting over the GIL make
every request slower. Requests over the bound wait here instead, in the event loop, at no cost.

SQLite writers in the same process also queue here rather than in SQLite's busy handler, which
sleeps in steps of up to 100 ms and makes the tail latency of concurrent writes seconds long.

A request is admitted once, at its first session; a second session of the same request (a streamed
export's) rides on that admission, and the last one to close lets the next request in.
"""

import asyncio
import weakref
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

_KEY = "indicators.admission"


@dataclass
class _Gates:
    limit: int
    slots: asyncio.Semaphore
    writer: asyncio.Lock


@dataclass
class _Admitted:
    gates: _Gates
    writer: bool
    sessions: int = 1


# Per event loop: asyncio's primitives belong to the loop they first wait on (tests run several).
_gates: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gates]" = weakref.WeakKeyDictionary()


def _for_this_loop(limit: int) -> _Gates:
    loop = asyncio.get_running_loop()
    gates = _gates.get(loop)
    if gates is None or gates.limit != limit:
        gates = _gates[loop] = _Gates(limit, asyncio.Semaphore(limit), asyncio.Lock())
    return gates


async def enter(scope: MutableMapping[str, Any], *, limit: int, sqlite_writer: bool) -> None:
    """Wait for this request's turn (`limit` at once; one SQLite writer); a no-op for its second session."""
    admitted: _Admitted | None = scope.get(_KEY)
    if admitted is not None:
        admitted.sessions += 1
        return
    gates = _for_this_loop(limit)
    if sqlite_writer:
        await gates.writer.acquire()  # first, so that waiting writers hold no slot readers could use
    try:
        await gates.slots.acquire()
    except BaseException:
        if sqlite_writer:
            gates.writer.release()
        raise
    scope[_KEY] = _Admitted(gates, sqlite_writer)


def leave(scope: MutableMapping[str, Any]) -> None:
    """One session of the request closed; the last one lets the next request in."""
    admitted: _Admitted = scope[_KEY]
    admitted.sessions -= 1
    if admitted.sessions:
        return
    del scope[_KEY]
    admitted.gates.slots.release()
    if admitted.writer:
        admitted.gates.writer.release()
