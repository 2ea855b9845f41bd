"""Real test databases: a SQLite file and a PostgreSQL database made and dropped per run."""

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from app.core.db.engine import make_engine

POSTGRES_URL = os.environ.get(
    "INDICATORS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        return f"no PostgreSQL answers at {make_url(POSTGRES_URL).render_as_string()}: {exc.orig}"
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {problem}", pytrace=False)
    pytest.skip(f"PostgreSQL half skipped: {problem}")


class NoPostgres(Exception):
    """No PostgreSQL answers; the message says why."""


@contextmanager
def empty_database(
    backend: str, tmp: Path | None = None, *, prefix: str = "indicators_test"
) -> Iterator[str]:
    """The URL of an empty database of `backend`, removed afterwards: a SQLite file in a folder of its own
    (its WAL and lock files go with it), or a PostgreSQL database. NoPostgres when none answers."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=tmp))
        try:
            yield f"sqlite:///{folder / 'indicators.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    problem = postgres_problem()
    if problem is not None:
        raise NoPostgres(problem)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_database(backend: str, tmp: Path) -> Iterator[Engine]:
    """An empty database of the given backend, dropped afterwards; PostgreSQL's absence skips the test
    (fails it under CI=true)."""
    if backend == "postgresql":
        require_postgres()
    with empty_database(backend, tmp) as url:
        engine = (
            make_engine(url, pool_size=4, max_overflow=4) if backend == "postgresql" else make_engine(url)
        )
        try:
            yield engine
        finally:
            engine.dispose()


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)
