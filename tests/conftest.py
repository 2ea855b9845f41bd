"""Every database test runs on SQLite and on PostgreSQL.

A database per backend is migrated and seeded once per run; each test works inside a transaction
(the app's commits become savepoints) that is rolled back at its end.
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from fastapi.testclient import TestClient  # noqa: E402

from app.auth import tokens  # noqa: E402
from app.auth.schemas import TokenCreate  # noqa: E402
from app.core.config import Settings, current_settings, get_settings  # noqa: E402
from app.core.db import migrate  # noqa: E402
from app.core.db.engine import get_engine  # noqa: E402
from app.core.db.session import get_session  # noqa: E402
from app.main import create_app  # noqa: E402
from seed.loader import load  # noqa: E402
from tests.browsers import CHROMIUM, chromium_problem  # noqa: E402
from tests.databases import IN_CI, POSTGRES_URL, fresh_database, postgres_problem  # noqa: E402
from tests.helpers import TOKEN_SPECS, Tokens  # noqa: E402
from tests.pooler import PGBOUNCER, pgbouncer_problem  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


def pytest_report_header() -> list[str]:
    lines = []
    problem = postgres_problem()
    if problem is None:
        lines.append(f"PostgreSQL: answering at {POSTGRES_URL}; every database test runs on both backends")
    else:
        verdict = "CI=true: PostgreSQL tests will FAIL" if IN_CI else "PostgreSQL tests will be SKIPPED"
        lines += [f"PostgreSQL: {problem}", f"*** {verdict} ***"]
    browser = chromium_problem()
    if browser is None:
        lines.append(f"Chromium: {CHROMIUM}; the dashboard's browser tests run")
    else:
        verdict = "CI=true: browser tests will FAIL" if IN_CI else "browser tests will be SKIPPED"
        lines += [f"Chromium: {browser}", f"*** {verdict} ***"]
    pooler = pgbouncer_problem()
    if pooler is None:
        lines.append(f"PgBouncer: {PGBOUNCER}; two instances through a transaction-mode pooler are tested")
    else:
        verdict = "CI=true: pooler tests will FAIL" if IN_CI else "pooler tests will be SKIPPED"
        lines += [f"PgBouncer: {pooler}", f"*** {verdict} ***"]
    return lines


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database with the 2021 report loaded."""
    with fresh_database(backend, tmp_path_factory.mktemp(backend)) as engine:
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            load(session)
        yield engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(scope="session")
def app() -> FastAPI:
    return create_app()


@pytest.fixture
def settings() -> Settings:
    return Settings()


@contextmanager
def client_in_session(
    app: FastAPI, session: Session, engine: Engine, settings: Settings
) -> Iterator[TestClient]:
    """`app` as a client calls it, each request in the test's own `session` (session_client)."""

    def use_test_session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = use_test_session
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[current_settings] = lambda: settings
    try:
        with TestClient(app, raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.clear()


@pytest.fixture
def session_client(
    app: FastAPI, session: Session, engine: Engine, settings: Settings
) -> Iterator[TestClient]:
    """The app as a client calls it, each request in the test's own `session` rather than the app's
    unit of work (get_session): what a request writes is there for the test to check, and rolled back
    after it. Tests of the unit of work itself serve the app on a database of their own."""
    with client_in_session(app, session, engine, settings) as test_client:
        yield test_client


@pytest.fixture
def auth(session: Session) -> Tokens:
    headers = {}
    for name, (role, department) in TOKEN_SPECS.items():
        _, secret = tokens.create(
            session, data=TokenCreate(name=name, role=role, department=department), actor="test"
        )
        headers[name] = {"Authorization": f"Bearer {secret}"}
    session.commit()
    return Tokens(headers)


@pytest.fixture
def fresh(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty, unmigrated database of the current backend."""
    with fresh_database(backend, tmp_path) as engine:
        yield engine


@pytest.fixture
def reopened_2021(session_client: TestClient, auth: Tokens) -> None:
    """The seed's 2021 reopened (the zone first, then the departments below it), for tests that
    write 2021 figures: the seed approves 2021, and approved figures are locked."""
    for department in ("zone", "emergency-management", "urban-management"):
        r = session_client.post(
            f"/api/v1/approvals/{department}/2021/reopen",
            json={"reason": "test writes 2021 figures"},
            headers=auth["admin"],
        )
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "draft"
