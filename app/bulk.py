"""Building big answers: 100,000 small dicts in one request."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while an answer of many small containers is built.

    Every 700 new containers CPython runs a collection, and the older generations it then scans hold
    everything built so far: for a 100,000-item compliance answer that is about 40% of the time. The
    objects made here hold no cycles (reference counting frees them), so nothing is lost by waiting.
    The collector is switched back on only by whoever switched it off, so threads overlapping here
    always leave it on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
