"""A serving worker's heap set aside from the garbage collector (app.core.heap)."""

import gc
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import main
from app.core import heap


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Each test starts with nothing set aside, and gives back what it set aside to the collector."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _frozen_within(seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return gc.get_freeze_count()


def test_the_heap_is_set_aside_the_given_time_after_start_up_and_the_app_still_answers() -> None:
    app = FastAPI()

    @app.get("/x")
    def x() -> dict[str, int]:
        return {"x": 1}

    heap.freeze_later(app, 1.0)
    with TestClient(app) as client:
        assert gc.get_freeze_count() == 0  # not at once: after its first requests
        assert client.get("/x").json() == {"x": 1}
        assert _frozen_within(5) > 1000
        assert client.get("/x").json() == {"x": 1}


def test_a_shutdown_before_the_time_cancels_it() -> None:
    app = FastAPI()
    heap.freeze_later(app, 0.3)
    with TestClient(app):
        pass
    time.sleep(0.5)
    assert gc.get_freeze_count() == 0


def test_the_lifespan_the_app_had_still_runs() -> None:
    seen = []
    app = FastAPI(on_startup=[lambda: seen.append("up")], on_shutdown=[lambda: seen.append("down")])
    heap.freeze_later(app, 60)
    with TestClient(app):
        assert seen == ["up"]
    assert seen == ["up", "down"]


def test_the_served_app_sets_its_heap_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "FREEZE_AFTER", 0.05)
    with TestClient(main.serving_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert _frozen_within(5) > 1000
        assert client.get("/healthz").status_code == 200
