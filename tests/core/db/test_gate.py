"""app.core.db.gate: a bounded number of requests at the database, one SQLite writer, re-entry per request."""

import asyncio
from typing import Any

from app.core.db import gate as admission

Scope = dict[str, Any]


async def _wait_a_little() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_at_most_limit_requests_at_once_the_next_waits_its_turn() -> None:
    async def scenario() -> None:
        scopes: list[Scope] = [{} for _ in range(3)]
        await admission.enter(scopes[0], limit=2, sqlite_writer=False)
        await admission.enter(scopes[1], limit=2, sqlite_writer=False)
        third = asyncio.create_task(admission.enter(scopes[2], limit=2, sqlite_writer=False))
        await _wait_a_little()
        assert not third.done()  # two are in: the third waits
        admission.leave(scopes[0])
        await asyncio.wait_for(third, 1)  # one left: the third is in
        admission.leave(scopes[1])
        admission.leave(scopes[2])

    asyncio.run(scenario())


def test_sqlite_writers_one_at_a_time_readers_pass_them() -> None:
    async def scenario() -> None:
        first: Scope = {}
        second: Scope = {}
        reader: Scope = {}
        await admission.enter(first, limit=4, sqlite_writer=True)
        waiting = asyncio.create_task(admission.enter(second, limit=4, sqlite_writer=True))
        await _wait_a_little()
        assert not waiting.done()  # a second writer waits for the first
        await asyncio.wait_for(admission.enter(reader, limit=4, sqlite_writer=False), 1)  # a reader does not
        admission.leave(first)
        await asyncio.wait_for(waiting, 1)
        admission.leave(second)
        admission.leave(reader)

    asyncio.run(scenario())


def test_a_second_session_of_the_same_request_rides_on_its_admission() -> None:
    async def scenario() -> None:
        request: Scope = {}
        other: Scope = {}
        await admission.enter(request, limit=1, sqlite_writer=False)
        # A streamed export opens a second session: with a limit of 1 it must not wait for itself.
        await asyncio.wait_for(admission.enter(request, limit=1, sqlite_writer=False), 1)
        waiting = asyncio.create_task(admission.enter(other, limit=1, sqlite_writer=False))
        admission.leave(request)  # the first session closes; the export's is still open
        await _wait_a_little()
        assert not waiting.done()
        admission.leave(request)  # the last session of the request: the next one is in
        await asyncio.wait_for(waiting, 1)
        admission.leave(other)

    asyncio.run(scenario())


def test_a_cancelled_wait_takes_no_turn() -> None:
    async def scenario() -> None:
        holder: Scope = {}
        quitter: Scope = {}
        next_one: Scope = {}
        await admission.enter(holder, limit=1, sqlite_writer=True)
        quitting = asyncio.create_task(admission.enter(quitter, limit=1, sqlite_writer=True))
        await _wait_a_little()
        quitting.cancel()  # the client went away while waiting
        await asyncio.gather(quitting, return_exceptions=True)
        admission.leave(holder)
        await asyncio.wait_for(admission.enter(next_one, limit=1, sqlite_writer=True), 1)
        admission.leave(next_one)

    asyncio.run(scenario())
