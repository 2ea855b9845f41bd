"""Real Chromium for the dashboard's tests: Debian's `chromium`, driven by Playwright for Python.

Playwright's own browser download is not reachable from the offices' networks, so the tests launch the
system's Chromium (`INDICATORS_TEST_CHROMIUM`, default /usr/bin/chromium). Where it or Playwright is
missing the browser tests are skipped and the run's header says so; under CI=true that is a failure.
"""

import importlib.util
import os
from pathlib import Path

import pytest

from tests.databases import IN_CI

CHROMIUM = Path(os.environ.get("INDICATORS_TEST_CHROMIUM", "/usr/bin/chromium"))


def chromium_problem() -> str | None:
    """Why the browser tests cannot run, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (make install installs the dev extras)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (as root: apt-get install -y chromium fonts-noto-cjk)"
    return None


def require_chromium() -> None:
    problem = chromium_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {problem}", pytrace=False)
    pytest.skip(f"browser test skipped: {problem}")
