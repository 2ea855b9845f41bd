"""A write's prepared plan (app.core.prepared: its body read and validated once) answers as FastAPI's
own way does, and leaves the same rows behind.

Two databases, migrated and seeded alike, with the same tokens: every request goes to the first as
served and to the second with the plans turned off, in the same order. The answers are compared byte
for byte (status, body, media type, ETag, Location), but for the times of writing, which differ by
the clock; so are the figures, revisions and catalogue rows each database holds afterwards.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.schemas import TokenCreate
from app.core import prepared
from app.core.db import migrate
from app.core.db import session as database
from app.main import create_app
from seed.loader import load
from tests.databases import fresh_database
from tests.helpers import TOKEN_SPECS

CELL = "/api/v1/observations/expert-hazards-found/emergency-management/2024"
JSON = {"Content-Type": "application/json"}


class Twins:
    """The app, and the two databases its requests are sent to in turn."""

    def __init__(self, engines: tuple[Engine, Engine], secrets: dict[str, str]) -> None:
        self.engines = engines
        self.makers = tuple(database.sessionmaker_for(engine) for engine in engines)
        self.maker = self.makers[0]  # the requests' unit of work's, as the app asks for it
        self.secrets = secrets
        self.client: TestClient

    def headers(self, who: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        given = {} if who is None else {"Authorization": f"Bearer {self.secrets.get(who, who)}"}
        return {**given, **(extra or {})}


@pytest.fixture
def twins(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Twins]:
    (tmp_path / "served").mkdir()
    (tmp_path / "fastapi").mkdir()
    with (
        fresh_database(backend, tmp_path / "served") as served,
        fresh_database(backend, tmp_path / "fastapi") as unplanned,
    ):
        secrets: dict[str, str] = {}
        for engine in (served, unplanned):
            migrate.upgrade(engine)
            with Session(engine) as session, session.begin():
                load(session)
                for name, (role, department) in TOKEN_SPECS.items():
                    data = TokenCreate(name=name, role=role, department=department)
                    _, secret = tokens.create(session, data=data, actor="test")
                    secrets.setdefault(name, secret)  # the first database's secret, for both
                    session.execute(
                        text("UPDATE api_token SET token_hash = :hash WHERE name = :name"),
                        {"hash": tokens.hash_secret(secrets[name]), "name": name},
                    )
        twins = Twins((served, unplanned), secrets)
        monkeypatch.setattr(database, "sessionmaker_for_requests", lambda: twins.maker)
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            twins.client = client
            yield twins


async def _never(plan: Any, request: Any) -> None:
    return None


def _answer(response: Any) -> tuple[Any, ...]:
    body: Any = response.content
    if response.headers.get("content-type", "").endswith("json") and body:
        body = json.loads(body)
        if isinstance(body, dict):
            body.pop("updated_at", None)  # the clock's, not the request's
    return (
        response.status_code,
        body,
        response.headers.get("content-type"),
        response.headers.get("etag"),
        response.headers.get("location"),
    )


def _both(
    twins: Twins,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes | None = None,
) -> tuple[tuple[Any, ...], tuple[Any, ...], int]:
    """The answer as served (first database) and FastAPI's own way (second); how many plans answered."""
    twins.maker = twins.makers[0]
    before = prepared.prepared_requests["planned"]
    planned = _answer(twins.client.request(method, url, headers=headers, content=content))
    taken = prepared.prepared_requests["planned"] - before
    twins.maker = twins.makers[1]
    with monkeypatch.context() as off:
        off.setattr(prepared, "answer", _never)
        unplanned = _answer(twins.client.request(method, url, headers=headers, content=content))
    return planned, unplanned, taken


def _stored(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return [
            sorted(tuple(map(str, row)) for row in connection.execute(text(query)))
            for query in (
                "SELECT indicator_id, department_id, year, value, qualifier, note, source, version,"
                " updated_by FROM observation",
                "SELECT indicator_id, department_id, year, version, action, value_before, value_after,"
                " qualifier_after, note, source, reason, changed_by FROM observation_revision",
                "SELECT code, name, unit, direction FROM indicator",
                "SELECT code, name FROM department",
            )
        ]


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


# (method, url, who, extra headers, body, planned?): in order, each on the state the ones before left.
WRITES: list[tuple[str, str, str | None, dict[str, str], bytes | None, bool]] = [
    ("PUT", CELL, "clerk-em", JSON, _body({"value": 12, "source": "test"}), True),  # 201
    ("PUT", CELL, "clerk-em", JSON, _body({"value": 12, "source": "test"}), True),  # 200, unchanged
    ("PUT", CELL, "clerk-em", JSON, b'{"value": 20.0, "qualifier": "at_least", "note": "n"}', True),
    ("PUT", CELL, "clerk-zone", {**JSON, "If-Match": '"1"'}, _body({"value": 13}), True),  # 412
    ("PUT", CELL, "clerk-zone", {**JSON, "If-Match": '"2"'}, _body({"value": 13, "reason": "fixed"}), True),
    ("PUT", CELL, "clerk-um", JSON, _body({"value": 14}), True),  # 403: another department
    ("PUT", CELL, "viewer", JSON, _body({"value": 14}), True),  # 403: a viewer
    ("PUT", CELL, "ind_" + "x" * 43, JSON, _body({"value": 14}), True),  # 401
    ("PUT", CELL, None, JSON, _body({"value": 14}), True),  # 401
    ("PUT", CELL.replace("2024", "2021"), "clerk-em", JSON, _body({"value": 14}), True),  # 409: approved
    ("PUT", CELL.replace("2024", "2099"), "clerk-em", JSON, _body({"value": 14}), True),  # 422: a future year
    ("PUT", CELL.replace("expert-hazards-found", "nope"), "clerk-em", JSON, _body({"value": 1}), True),  # 404
    ("PUT", "/api/v1/observations/seals-per-new-firm/zone/2024", "admin", JSON, _body({"value": 1}), True),
    # refused by FastAPI, with its own 422 (the plan hands them on before anything has run)
    ("PUT", CELL, "clerk-em", JSON, _body({"value": "lots"}), False),
    ("PUT", CELL, "clerk-em", JSON, _body({"value": 1, "colour": "red"}), False),
    ("PUT", CELL, "clerk-em", JSON, _body({"qualifier": "exact"}), False),
    ("PUT", CELL, "clerk-em", JSON, b"null", False),
    ("PUT", CELL, "clerk-em", JSON, b"[1, 2]", False),
    ("PUT", CELL, "clerk-em", JSON, b'{"value": 1,', False),
    ("PUT", CELL, "clerk-em", JSON, b"\xff\xfe", False),
    ("PUT", CELL, "clerk-em", JSON, b'{"value": 1, "note": "a\\u0000b"}', False),
    ("PUT", CELL, "clerk-em", JSON, b"", False),
    ("PUT", CELL, "ind_" + "x" * 43, JSON, _body({"value": "lots"}), False),
    ("PUT", CELL.replace("2024", "99999"), "clerk-em", JSON, _body({"value": 1}), False),
    # refused by the route class, before the plan (415, unknown or repeated query parameters)
    ("PUT", CELL, "clerk-em", {"Content-Type": "text/plain"}, b'{"value": 1}', False),
    ("PUT", CELL, "clerk-em", {}, b'{"value": 1}', False),
    ("PUT", CELL + "?colour=red", "clerk-em", JSON, _body({"value": 1}), False),
    # a merge patch of an indicator, and deletions (no body), by the admin
    ("PATCH", "/api/v1/indicators/free-seals", "admin", JSON, _body({"unit": "seals"}), True),
    ("PATCH", "/api/v1/indicators/free-seals", "admin", JSON, _body({"unit": 5}), False),
    ("PATCH", "/api/v1/indicators/free-seals", "viewer", JSON, _body({"unit": "x"}), True),
    ("DELETE", CELL + "?reason=entered+twice", "clerk-em", {}, None, True),
    ("DELETE", CELL, "clerk-em", {}, None, True),  # 404: deleted already
    ("DELETE", "/api/v1/indicators/free-seals", "admin", {}, None, True),  # 409: it has figures
]


def test_writes_are_answered_and_stored_as_fastapi_does(
    twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses = []
    for method, url, who, extra, content, planned_expected in WRITES:
        headers = twins.headers(who, extra)
        planned, unplanned, taken = _both(twins, monkeypatch, method, url, headers, content)
        assert planned == unplanned, (method, url, content)
        assert taken == int(planned_expected), (method, url, content, planned[:2])
        assert planned[0] < 500, planned
        statuses.append(planned[0])
    assert {200, 201, 204, 401, 403, 404, 409, 412, 415, 422} <= set(statuses), statuses
    assert _stored(twins.engines[0]) == _stored(twins.engines[1])
    with twins.engines[0].connect() as connection:  # the writes did happen
        count = connection.execute(
            text(
                "SELECT count(*) FROM observation_revision r JOIN indicator i ON i.id = r.indicator_id"
                " WHERE i.code = 'expert-hazards-found' AND r.year = 2024"
            )
        ).scalar()
    assert count == 4  # created, updated, updated, deleted
