"""Every endpoint x every principal: the right status, and nothing changed when refused.

OWASP API Security Top 10 (2023) covered here: API1 broken object-level authorization (clerks write
only their own department subtree), API2 broken authentication (missing, malformed, unknown and revoked
tokens get 401), API5 broken function-level authorization (each role reaches only its functions).
API3 broken object property-level authorization is in test_tokens.py (a body cannot set updated_by,
version or another department).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import tokens
from app.models import metadata
from tests.helpers import Tokens

ROLE_LEVEL = {"anonymous": -1, "viewer": 0, "clerk": 1, "commission": 2, "admin": 3}
PRINCIPALS = {
    # name: (role, departments it may write observations for)
    "anonymous": ("anonymous", set()),
    "revoked": ("anonymous", set()),
    "garbage": ("anonymous", set()),
    "viewer": ("viewer", set()),
    "clerk-zone": ("clerk", {"zone", "emergency-management", "urban-management"}),
    "clerk-em": ("clerk", {"emergency-management"}),
    "commission": ("commission", None),
    "admin": ("admin", None),
}
Setup = Callable[[TestClient, Tokens], None]


@dataclass
class Case:
    method: str
    path: str
    role: str
    ok: int = 200
    body: dict[str, Any] | None = None
    department: str | None = None  # an observation write: clerks need this department in scope
    setup: Setup | None = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _make_department(session_client: TestClient, auth: Tokens) -> None:
    session_client.post("/api/v1/departments", json={"code": "temp", "name": "临时"}, headers=auth["admin"])


def _make_indicator(session_client: TestClient, auth: Tokens) -> None:
    body = {"code": "temp-ind", "name": "临时", "value_type": "count"}
    session_client.post("/api/v1/indicators", json=body, headers=auth["admin"])


def _make_token(session_client: TestClient, auth: Tokens) -> None:
    session_client.post("/api/v1/tokens", json={"name": "spare", "role": "viewer"}, headers=auth["admin"])


def _reopen_2021(session_client: TestClient, auth: Tokens) -> None:
    """The seed approves 2021, which locks its figures: reopen it (the zone first) to write them."""
    for department in ("zone", "emergency-management", "urban-management"):
        body = {"reason": "matrix"}
        session_client.post(f"/api/v1/approvals/{department}/2021/reopen", json=body, headers=auth["admin"])


def _make_period(session_client: TestClient, auth: Tokens) -> None:
    body = {"opens": "2023-01-01", "closes": "2023-01-31"}
    session_client.put("/api/v1/periods/2022", json=body, headers=auth["admin"])


def _make_exception(session_client: TestClient, auth: Tokens) -> None:
    _make_period(session_client, auth)
    body = {"until": "2023-02-15", "reason": "迟报"}
    session_client.put("/api/v1/periods/2022/exceptions/zone", json=body, headers=auth["admin"])


def _submit_2022(session_client: TestClient, auth: Tokens) -> None:
    body = {"allow_missing": True, "reason": "测试"}
    session_client.post("/api/v1/approvals/zone/2022/submit", json=body, headers=auth["admin"])


ANYWAY = {"allow_missing": True, "reason": "尚未填报"}
OBS = "/api/v1/observations"
TGT = "/api/v1/targets"
CASES = [
    Case("GET", "/api/v1/departments", "viewer"),
    Case("POST", "/api/v1/departments", "admin", 201, {"code": "new-dept", "name": "新"}),
    Case("GET", "/api/v1/departments/zone", "viewer"),
    Case("PATCH", "/api/v1/departments/urban-management", "admin", body={"name_en": "Urban"}),
    Case("DELETE", "/api/v1/departments/temp", "admin", 204, setup=_make_department),
    Case("GET", "/api/v1/indicators", "viewer"),
    Case("POST", "/api/v1/indicators", "admin", 201, {"code": "x-new", "name": "新", "value_type": "count"}),
    Case("GET", "/api/v1/indicators/free-seals", "viewer"),
    Case("PATCH", "/api/v1/indicators/free-seals", "admin", body={"unit": "个"}),
    Case("DELETE", "/api/v1/indicators/temp-ind", "admin", 204, setup=_make_indicator),
    Case("GET", OBS, "viewer"),
    Case("GET", f"{OBS}/free-seals/zone/2021", "viewer"),
    Case("GET", f"{OBS}/free-seals/zone/2021/history", "viewer"),
    Case(
        "PUT",
        f"{OBS}/free-seals/zone/2021",
        "clerk",
        body={"value": 1600},
        department="zone",
        setup=_reopen_2021,
    ),
    Case(
        "PUT",
        f"{OBS}/expert-inspections/emergency-management/2021",
        "clerk",
        body={"value": 30},
        department="emergency-management",
        setup=_reopen_2021,
    ),
    Case(
        "PUT",
        f"{OBS}/service-work-share/urban-management/2021",
        "clerk",
        201,
        {"value": 70},
        department="urban-management",
        setup=_reopen_2021,
    ),
    Case("DELETE", f"{OBS}/free-seals/zone/2021", "clerk", 204, department="zone", setup=_reopen_2021),
    Case(
        "DELETE",
        f"{OBS}/expert-inspections/emergency-management/2021",
        "clerk",
        204,
        department="emergency-management",
        setup=_reopen_2021,
    ),
    Case("GET", TGT, "viewer"),
    Case("GET", f"{TGT}/deadline-compression/zone/2021", "viewer"),
    Case("GET", f"{TGT}/deadline-compression/zone/2021/history", "viewer"),
    Case(
        "PUT",
        f"{TGT}/deadline-compression/zone/2021",
        "commission",
        body={"operator": "at_least", "value": 80},
    ),
    Case("DELETE", f"{TGT}/deadline-compression/zone/2021", "commission", 204),
    Case("GET", "/api/v1/tokens", "admin"),
    Case("POST", "/api/v1/tokens", "admin", 201, {"name": "new-token", "role": "viewer"}),
    Case("DELETE", "/api/v1/tokens/spare", "admin", 204, setup=_make_token),
    Case("GET", "/api/v1/series?indicator=free-seals&rollup=true", "viewer"),
    Case("GET", "/api/v1/comparison?indicator=free-seals&year=2021&base_year=2020", "viewer"),
    Case("GET", "/api/v1/compliance?year=2021", "viewer"),
    Case("GET", "/api/v1/progress?year=2021", "viewer"),
    Case("GET", "/api/v1/completeness?year=2021", "viewer"),
    Case("GET", "/api/v1/assignments", "viewer"),
    Case(
        "POST",
        "/api/v1/assignments",
        "commission",
        body={
            "assignments": [{"indicator": "free-seals", "department": "urban-management", "from_year": 2022}]
        },
    ),
    Case("GET", "/api/v1/assignments/free-seals/zone", "viewer"),
    Case("PUT", "/api/v1/assignments/free-seals/urban-management", "commission", 201, {"from_year": 2022}),
    Case("DELETE", "/api/v1/assignments/free-seals/zone", "commission", 204),
    Case("GET", "/api/v1/periods/2022", "viewer", setup=_make_period),
    Case("PUT", "/api/v1/periods/2023", "commission", 201, {"opens": "2024-01-01", "closes": "2024-01-31"}),
    Case("DELETE", "/api/v1/periods/2022", "commission", 204, setup=_make_period),
    Case(
        "PUT",
        "/api/v1/periods/2022/exceptions/zone",
        "commission",
        201,
        {"until": "2023-02-15", "reason": "迟报"},
        setup=_make_period,
    ),
    Case("DELETE", "/api/v1/periods/2022/exceptions/zone", "commission", 204, setup=_make_exception),
    Case("GET", "/api/v1/approvals", "viewer"),
    Case("GET", "/api/v1/approvals/zone/2021", "viewer"),
    Case(
        "POST",
        "/api/v1/approvals/emergency-management/2022/submit",
        "clerk",
        body=ANYWAY,
        department="emergency-management",
    ),
    Case("POST", "/api/v1/approvals/zone/2022/submit", "clerk", body=ANYWAY, department="zone"),
    Case("POST", "/api/v1/approvals/urban-management/2022/approve", "commission", body=ANYWAY),
    Case(
        "POST",
        "/api/v1/approvals/zone/2022/return",
        "commission",
        body={"reason": "退回"},
        setup=_submit_2022,
    ),
    Case("POST", "/api/v1/approvals/zone/2021/reopen", "commission", body={"reason": "更正"}),
    Case("GET", "/api/v1/exchange/sdmx", "viewer"),
    Case("GET", "/api/v1/exchange/sdmx/structure", "viewer"),
    Case("GET", "/api/v1/exchange/dhis2/dataValueSets", "viewer"),
    Case(
        "POST",
        "/api/v1/exchange/dhis2/dataValueSets",
        "clerk",
        body={
            "dataValues": [{"dataElement": "free-seals", "orgUnit": "zone", "period": "2021", "value": "1"}]
        },
        department="zone",
        setup=_reopen_2021,
    ),
    Case(
        "POST",
        "/api/v1/exchange/dhis2/dataValueSets",
        "clerk",
        body={
            "dataValues": [
                {"dataElement": "expert-inspections", "orgUnit": "emergency-management", "period": "2021"}
                | {"value": "31"}
            ]
        },
        department="emergency-management",
        setup=_reopen_2021,
    ),
]


def expected(case: Case, principal: str) -> int:
    role, scope = PRINCIPALS[principal]
    if role == "anonymous":
        return 401
    if ROLE_LEVEL[role] < ROLE_LEVEL[case.role]:
        return 403
    if case.department is not None and scope is not None and case.department not in scope:
        return 403
    return case.ok


def fingerprint(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: what 'nothing changed' is checked against."""
    session.expire_all()
    out = {}
    for table in metadata.sorted_tables:
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out


def headers_for(principal: str, auth: Tokens, session_client: TestClient, session: Session) -> dict[str, str]:
    if principal == "anonymous":
        return {}
    if principal == "garbage":
        return {"Authorization": "Bearer not-a-token"}
    if principal == "revoked":
        headers = auth["viewer"]
        tokens.revoke(session, name="viewer")
        session.commit()
        return headers
    return auth[principal]


@pytest.mark.parametrize("principal", list(PRINCIPALS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matrix(
    case: Case, principal: str, session_client: TestClient, auth: Tokens, session: Session
) -> None:
    if case.setup is not None:
        case.setup(session_client, auth)
    headers = headers_for(principal, auth, session_client, session)
    before = fingerprint(session)
    r = session_client.request(case.method, case.path, json=case.body, headers=headers)
    want = expected(case, principal)
    assert r.status_code == want, r.text
    if want >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")
        if want == 401:
            assert r.headers["www-authenticate"] == "Bearer"
        assert fingerprint(session) == before, "a refused request changed the database"
    elif case.method != "GET":
        assert fingerprint(session) != before, "an accepted write changed nothing"


def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    """A new endpoint must be added to CASES (or EXTRA_COVERED) so its authorization is tested."""
    covered = {(c.method, c.path.split("?")[0]) for c in CASES} | EXTRA_COVERED
    routes = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/api/")
        for method in route.methods or ()
    }
    missing = {r for r in routes if not any(_same(r, c) for c in covered)}
    assert not missing, f"endpoints with no authorization test: {sorted(missing)}"


# Endpoints whose role and scope checks are tested in their own modules, as (method, concrete path).
EXTRA_COVERED: set[tuple[str, str]] = set()


def _same(route: tuple[str, str], case: tuple[str, str]) -> bool:
    method, pattern = route
    case_method, path = case
    if method != case_method:
        return False
    parts, concrete = pattern.split("/"), path.split("/")
    if len(parts) != len(concrete):
        return False
    return all(
        p == c or (p.startswith("{") and p.endswith("}")) for p, c in zip(parts, concrete, strict=True)
    )


def test_open_endpoints_need_no_token(session_client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert session_client.get(path).status_code == 200, path
