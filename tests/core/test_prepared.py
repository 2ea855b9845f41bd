"""A GET's prepared plan (app.core.prepared) answers as FastAPI's own way does, and is taken.

Each request is sent twice to the real app on the real unit of work, once as served and once with the
plans turned off, and the two answers are compared byte for byte: status, body, media type, ETag.
The requests cover the reads dashboards repeat most and the others, well formed and not (a missing,
refused, repeated or unknown parameter, no token, a bad token, a 304), and Hypothesis builds more.
"""

from collections.abc import Iterator
from typing import Any

import fastapi.dependencies.utils
import fastapi.routing
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import Role
from app.auth.schemas import TokenCreate
from app.core import prepared
from app.core.db import migrate
from app.core.db import session as database
from app.main import create_app
from seed.loader import load
from tests.helpers import thread_trips

ONE = "/api/v1/observations/service-items-on-time/zone/2021"
SERIES = "/api/v1/series?indicator=service-items-on-time&department=zone&year_from=2019&year_to=2021"
COMPARISON = "/api/v1/comparison?indicator=expert-hazards-found&year=2021&base_year=2020"
COMPLIANCE = "/api/v1/compliance?year=2021&department=zone"
COMPLETENESS = "/api/v1/completeness?year=2021&department=zone"
HOT = (ONE, SERIES, COMPARISON, COMPLIANCE, COMPLETENESS)

# Well formed, each answered by its plan.
PLANNED = (
    *HOT,
    "/api/v1/observations/seals-per-new-firm/zone/2021",  # derived: computed, no version
    "/api/v1/observations/service-items-on-time/zone/2021/history",
    "/api/v1/observations?indicator=free-seals",
    "/api/v1/series?indicator=free-seals&indicator=new-firms-sealed&rollup=true",
    "/api/v1/series?indicator=service-items-on-time&department=zone&format=csv",
    "/api/v1/comparison?indicator=free-seals&year=2021&base_year=2020&department=zone&format=csv",
    "/api/v1/compliance?year=2021&status=met&status=not_met&lang=en&limit=2",
    "/api/v1/compliance?year_from=2019&year_to=2021",
    "/api/v1/completeness?year=2021",
    "/api/v1/indicators",
    "/api/v1/indicators/free-seals",
    "/api/v1/departments",
    "/api/v1/targets?year=2021",
    "/api/v1/progress?year=2021",
    "/api/v1/validation?year=2021",
    "/api/v1/whoami",
    "/api/v1/observations/service-items-on-time/zone/1999",  # 404: no figure
    "/api/v1/observations/no-such-indicator/zone/2021",  # 404 naming the code
    # 422, by the route itself
    "/api/v1/series?indicator=service-items-on-time&department=zone&year_from=2022&year_to=2020",
)
# Refused before the endpoint runs, by FastAPI (its 422s) or by the route class (unknown, repeated).
HANDED_ON = (
    "/api/v1/observations/service-items-on-time/zone/99999",
    "/api/v1/observations/service-items-on-time/Not%20A%20Code/2021",
    "/api/v1/series",
    "/api/v1/series?indicator=",
    "/api/v1/series?indicator=free-seals&rollup=perhaps",
    "/api/v1/comparison?indicator=free-seals&year=2021",
    "/api/v1/comparison?indicator=free-seals&year=twenty&base_year=2020",
    "/api/v1/compliance?year=2021&status=wonderful",
    "/api/v1/compliance?year=2021&limit=0",
    "/api/v1/completeness",
)
REFUSED_FIRST = (
    "/api/v1/series?indicator=free-seals&yaer=2021",
    "/api/v1/comparison?indicator=free-seals&indicator=x&year=2021&base_year=2020",
)


@pytest.fixture
def served(fresh: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app on a migrated, seeded database of its own, its real unit of work; a viewer's token."""
    migrate.upgrade(fresh)
    with Session(fresh) as session, session.begin():
        load(session)
        _, secret = tokens.create(session, data=TokenCreate(name="reader", role=Role.viewer), actor="test")
    maker = database.sessionmaker_for(fresh)
    monkeypatch.setattr(database, "sessionmaker_for_requests", lambda: maker)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {secret}"}


def _answer(response: Any) -> tuple[int, bytes, str | None, str | None]:
    return (
        response.status_code,
        response.content,
        response.headers.get("content-type"),
        response.headers.get("etag"),
    )


async def _never(plan: Any, request: Any) -> None:
    return None


def _both(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, url: str, headers: dict[str, str]
) -> tuple[tuple[Any, ...], tuple[Any, ...], int]:
    """The answer as served and as FastAPI's own way gives it; how many plans answered the first."""
    before = prepared.prepared_requests["planned"]
    planned = _answer(client.get(url, headers=headers))
    taken = prepared.prepared_requests["planned"] - before

    with monkeypatch.context() as off:
        off.setattr(prepared, "answer", _never)
        unplanned = _answer(client.get(url, headers=headers))
    return planned, unplanned, taken


@pytest.mark.parametrize("url", PLANNED)
def test_a_plan_answers_as_fastapi_does(
    served: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    client, viewer = served
    planned, unplanned, taken = _both(client, monkeypatch, url, viewer)
    assert planned == unplanned
    assert taken == 1, "the plan did not answer"
    assert planned[0] in (200, 404, 422)


@pytest.mark.parametrize("url", HANDED_ON + REFUSED_FIRST)
def test_a_refused_parameter_gets_fastapis_own_422(
    served: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    client, viewer = served
    planned, unplanned, taken = _both(client, monkeypatch, url, viewer)
    assert planned == unplanned
    assert planned[0] == 422, planned
    assert taken == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer ind_not-a-token"}, {"Authorization": "Basic abc"}],
    ids=["no token", "unknown token", "another scheme"],
)
@pytest.mark.parametrize("url", HOT)
def test_a_refused_token_is_refused_alike(
    served: tuple[TestClient, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    headers: dict[str, str],
) -> None:
    client, _ = served
    planned, unplanned, _ = _both(client, monkeypatch, url, headers)
    assert planned == unplanned
    assert planned[0] == 401


# Reads whose token is checked by their own statement (ViewerToken): every other way through them
# checks it first.
OTHER_WAYS = (
    "/api/v1/comparison?indicator=free-seals&year=2021&base_year=2020&format=csv",
    "/api/v1/completeness?year=2021&format=xlsx",
    "/api/v1/compliance?year=2021&format=csv",
    "/api/v1/compliance?year_from=2019&year_to=2021",
    "/api/v1/compliance?year=2021&cursor=not-a-cursor",  # 400 for a viewer
    "/api/v1/compliance?year=2021&year_from=2019",  # 422 by the route
    "/api/v1/series?indicator=free-seals&rollup=true&format=csv",
    "/api/v1/series?indicator=free-seals&year_from=2022&year_to=2020",  # 422 by the route
    "/api/v1/comparison?indicator=free-seals&year=2021&base_year=2020&format=pdf",  # 406
    "/api/v1/completeness?year=2021&format=pdf",  # 422 by FastAPI
)


@pytest.mark.parametrize("url", OTHER_WAYS)
def test_every_way_through_a_read_checks_the_token_first(
    served: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    client, viewer = served
    assert client.get(url, headers=viewer).status_code in (200, 400, 406, 422)
    for headers in ({}, {"Authorization": "Bearer ind_not-a-token"}):
        planned, unplanned, _ = _both(client, monkeypatch, url, headers)
        assert planned == unplanned
        assert planned[0] == 401, (url, planned)


@pytest.mark.parametrize("url", HOT)
def test_a_kept_answer_is_not_given_to_a_token_revoked_since(
    served: tuple[TestClient, dict[str, str]], fresh: Engine, url: str
) -> None:
    client, _ = served
    with Session(fresh) as session, session.begin():
        _, secret = tokens.create(session, data=TokenCreate(name="leaving", role=Role.viewer), actor="test")
    leaving = {"Authorization": f"Bearer {secret}"}
    first = client.get(url, headers=leaving)
    assert first.status_code == 200
    assert client.get(url, headers=leaving).content == first.content  # kept, where the read keeps any
    with Session(fresh) as session, session.begin():
        tokens.revoke(session, name="leaving")
    assert client.get(url, headers=leaving).status_code == 401


@pytest.mark.parametrize("url", HOT)
def test_a_known_etag_gets_304_from_the_plan(
    served: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    client, viewer = served
    etag = client.get(url, headers=viewer).headers["etag"]
    planned, unplanned, taken = _both(client, monkeypatch, url, {**viewer, "If-None-Match": etag})
    assert planned == unplanned
    assert planned[0] == 304
    assert taken == 1


def test_the_hot_reads_do_not_solve_dependencies_fastapis_way(
    served: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, viewer = served
    solved: list[Any] = []
    solve = fastapi.dependencies.utils.solve_dependencies

    async def counted(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs.get("dependant"))
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    for url in HOT:
        assert client.get(url, headers=viewer).status_code == 200, url
    assert solved == []
    assert client.get("/api/v1/series", headers=viewer).status_code == 422  # FastAPI's way, and its 422
    assert len(solved) == 1


_NAMES = (
    "indicator",
    "department",
    "year",
    "year_from",
    "year_to",
    "base_year",
    "rollup",
    "format",
    "below",
    "status",
    "limit",
    "lang",
    "section",
)
_VALUES = (
    "free-seals",
    "zone",
    "emergency-management",
    "service-items-on-time",
    "2021",
    "2020",
    "1999",
    "0",
    "-1",
    "true",
    "false",
    "csv",
    "json",
    "met",
    "en",
    "functions",
    "",
    "Zone",
    "x" * 70,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        ["/api/v1/series", "/api/v1/comparison", "/api/v1/compliance", "/api/v1/completeness"]
    ),
    query=st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(_VALUES)), max_size=5),
)
def test_any_query_is_answered_as_fastapi_answers_it(
    served: tuple[TestClient, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    query: list[tuple[str, str]],
) -> None:
    client, viewer = served
    url = path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    planned, unplanned, _ = _both(client, monkeypatch, url, viewer)
    assert planned == unplanned
    assert planned[0] < 500


@pytest.mark.parametrize("url", HOT)
def test_a_repeated_read_takes_no_trip_to_a_worker_thread(
    served: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """One figure and the series are one statement on the event loop; a comparison, compliance and
    completeness answered before are found by one (app.core.memo.Memo.answer_by_generation)."""
    client, viewer = served
    first = client.get(url, headers=viewer)
    trips = thread_trips(monkeypatch)
    again = client.get(url, headers=viewer)
    assert (again.status_code, again.content) == (first.status_code, first.content) == (200, first.content)
    assert trips == []
    monkeypatch.setattr(prepared, "answer", _never)  # FastAPI's way: the same answer, the same trips
    assert client.get(url, headers=viewer).content == first.content
    assert trips == []
