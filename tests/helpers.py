"""What tests share that is not a fixture: token specs, problem checks, what is stored."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, ObservationRevision

if TYPE_CHECKING:  # bench/ imports this module too, and needs no test client
    import pytest
    from fastapi.testclient import TestClient


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert the answer is a problem+json of that status, and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


def stored(session: Session, indicator: str, department: str, year: int) -> Observation | None:
    """The observation row as the database has it now."""
    session.expire_all()
    return session.scalar(
        select(Observation)
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .join(Department, Department.id == Observation.department_id)
        .where(Indicator.code == indicator, Department.code == department, Observation.year == year)
    )


def revisions(session: Session, indicator: str, department: str, year: int) -> list[ObservationRevision]:
    session.expire_all()
    return list(
        session.scalars(
            select(ObservationRevision)
            .join(Indicator, Indicator.id == ObservationRevision.indicator_id)
            .join(Department, Department.id == ObservationRevision.department_id)
            .where(
                Indicator.code == indicator,
                Department.code == department,
                ObservationRevision.year == year,
            )
            .order_by(ObservationRevision.version)
        )
    )


@dataclass
class Tokens:
    """Bearer headers for one token of each role, and clerks of two departments."""

    headers: dict[str, dict[str, str]]

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.headers[name]


TOKEN_SPECS: dict[str, tuple[Role, str | None]] = {
    "admin": (Role.admin, None),
    "commission": (Role.commission, None),
    "viewer": (Role.viewer, None),
    "clerk-zone": (Role.clerk, "zone"),
    "clerk-em": (Role.clerk, "emergency-management"),
    "clerk-um": (Role.clerk, "urban-management"),
}


def put(
    client: "TestClient",
    auth: Tokens,
    indicator: str,
    department: str,
    year: int,
    value: str,
    qualifier: str = "exact",
) -> None:
    """Record a figure from its exact text (no float on the way)."""
    r = client.put(
        f"/api/v1/observations/{indicator}/{department}/{year}",
        content=f'{{"value": {value}, "qualifier": "{qualifier}"}}',
        headers={**auth["commission"], "content-type": "application/json"},
    )
    assert r.status_code in (200, 201), r.text


def bom_stripped(response: httpx.Response) -> str:
    """A CSV answer's text after checking that it starts with the BOM Excel and WPS need."""
    assert response.content.startswith(b"\xef\xbb\xbf"), response.content[:20]
    return response.content[3:].decode("utf-8")


def reopen_2021(session: Session) -> None:
    """Reopen the seed's approved 2021 (the zone first), as the commission would, to write its figures."""
    from app.auth.principal import SYSTEM
    from app.reporting import approvals
    from app.reporting.models import Step
    from app.reporting.schemas import ActionWrite

    for department in ("zone", "emergency-management", "urban-management"):
        data = ActionWrite(reason="tests write 2021 figures")
        approvals.act(session, department=department, year=2021, action=Step.reopen, data=data, actor=SYSTEM)


def thread_trips(monkeypatch: "pytest.MonkeyPatch") -> list[Any]:
    """The functions sent to a worker thread from now on, in order: by app.core.threads.in_thread,
    and by anyio's run_sync (which Starlette's run_in_threadpool and FastAPI use)."""
    import anyio.to_thread

    from app.core import threads

    trips: list[Any] = []
    run_sync = anyio.to_thread.run_sync
    submit = threads._submit

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(func)
        return await run_sync(func, *args, **kwargs)

    def counted_submit(item: Any) -> None:
        trips.append(item[2])  # (trip, context, work, args, kwargs)
        submit(item)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    monkeypatch.setattr(threads, "_submit", counted_submit)
    return trips
