"""A read sees one snapshot: what commits while it runs stays out of it, on both databases.

Compliance answers with a summary and a page from two statements; they must agree."""

import asyncio

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from app.auth.models import ApiToken, Role
from app.core.db import migrate
from app.core.db import session as database


def _request(method: str) -> Request:
    return Request({"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""})


def _tokens(session: Session) -> int:
    return session.execute(select(func.count()).select_from(ApiToken)).scalar_one()


def _commit_a_token_elsewhere(engine: Engine, name: str) -> None:
    with Session(engine) as other, other.begin():
        other.add(ApiToken(name=name, role=Role.viewer, token_hash=name.ljust(64, "0"), created_by="test"))


def _counts_around_a_commit(engine: Engine, method: str, monkeypatch: object) -> tuple[int, int]:
    migrate.upgrade(engine)
    maker = database.sessionmaker_for(engine)
    monkeypatch.setattr(database, "sessionmaker_for_requests", lambda: maker)  # type: ignore[attr-defined]

    async def scenario() -> tuple[int, int]:
        unit_of_work = aiter(database.get_session(_request(method)))
        session = await anext(unit_of_work)
        before = _tokens(session)
        _commit_a_token_elsewhere(engine, f"elsewhere-{method.lower()}")
        after = _tokens(session)
        await unit_of_work.aclose()  # type: ignore[attr-defined]
        return before, after

    return asyncio.run(scenario())


def test_a_read_does_not_see_what_commits_while_it_runs(fresh: Engine, monkeypatch: object) -> None:
    before, after = _counts_around_a_commit(fresh, "GET", monkeypatch)
    assert after == before
    with Session(fresh) as later:  # the next read sees it
        assert _tokens(later) == before + 1
