"""app.core.threads.in_thread: work in a worker thread, in the caller's context, and never cut short."""

import asyncio
import contextvars
import threading

import pytest

from app.core import threads
from app.core.threads import in_thread

REQUEST = contextvars.ContextVar("request", default="none")


def test_work_runs_in_another_thread_with_the_callers_context_and_its_answer_comes_back() -> None:
    def work(a: int, b: int) -> tuple[int, str, int]:
        return a + b, REQUEST.get(), threading.get_ident()

    async def scenario() -> tuple[int, str, int]:
        REQUEST.set("put-1")
        return await in_thread(work, 2, 3)

    total, seen, ident = asyncio.run(scenario())
    assert (total, seen) == (5, "put-1")
    assert ident != threading.get_ident()


def test_an_error_of_the_work_is_raised_to_the_caller() -> None:
    def work() -> None:
        raise LookupError("no such cell")

    with pytest.raises(LookupError, match="no such cell"):
        asyncio.run(in_thread(work))


def test_a_cancelled_caller_waits_for_the_running_work_to_end_before_its_cancellation_goes_on() -> None:
    started, release = threading.Event(), threading.Event()
    events: list[str] = []

    def work() -> None:
        started.set()
        release.wait(5)
        events.append("work ended")

    async def scenario() -> None:
        task = asyncio.create_task(in_thread(work))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # still waiting for the work: it holds the session
        task.cancel()  # cancelled again meanwhile: it still waits
        await asyncio.sleep(0.02)
        assert not task.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        events.append("caller cancelled")

    asyncio.run(scenario())
    assert events == ["work ended", "caller cancelled"]


def test_work_that_had_not_started_when_its_caller_was_cancelled_never_runs() -> None:
    release = threading.Event()
    ran: list[int] = []

    async def scenario() -> None:
        # every worker thread busy, so the last trip waits in the pool's queue
        busy = [asyncio.create_task(in_thread(release.wait, 5)) for _ in range(threads.MAX_THREADS)]
        waiting = asyncio.create_task(in_thread(ran.append, 1))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await asyncio.gather(*busy)

    asyncio.run(scenario())
    assert ran == []


def test_every_trip_has_a_thread_of_its_own_so_none_waits_behind_another() -> None:
    # ten trips that can only end together: were one queued behind another's work, none would end
    together = threading.Barrier(10, timeout=5)

    async def scenario() -> list[int]:
        return await asyncio.gather(*(in_thread(together.wait) for _ in range(10)))

    assert sorted(asyncio.run(scenario())) == list(range(10))


def test_threads_are_reused_from_one_trip_to_the_next() -> None:
    async def scenario() -> None:
        for _ in range(50):
            await in_thread(threading.get_ident)

    asyncio.run(scenario())  # threads enough for one trip at a time
    before = threads._threads
    asyncio.run(scenario())
    assert threads._threads == before  # none more


def test_after_every_thread_was_busy_a_trip_still_finds_a_thread_of_its_own() -> None:
    release = threading.Event()

    async def saturate() -> None:
        # more trips than threads: the last ones wait in the queue for a thread to come free
        busy = [asyncio.create_task(in_thread(release.wait, 5)) for _ in range(threads.MAX_THREADS + 5)]
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(*busy)

    asyncio.run(saturate())
    assert threads._idle == threads._threads  # every thread idle again, none promised twice
    test_every_trip_has_a_thread_of_its_own_so_none_waits_behind_another()
