"""The audit log over HTTP: every administrative action kept with who, what, on what, when and from
which address; kept after its thing is deleted; nothing kept for a refused action or a figure."""

import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from tests.helpers import Tokens, bom_stripped, problem

AUDIT = "/api/v1/audit"


def _events(client: TestClient, auth: Tokens, **params: Any) -> list[dict[str, Any]]:
    r = client.get(AUDIT, params={"limit": 1000, **params}, headers=auth["admin"])
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_each_administrative_action_is_recorded_and_outlives_its_thing(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    c, admin, commission = session_client, auth["admin"], auth["commission"]
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = len(_events(c, auth))
    steps = [
        (c.post, "/api/v1/departments", {"code": "audit-dept", "name": "审计局", "parent": "zone"}, admin),
        (c.patch, "/api/v1/departments/audit-dept", {"name": "审计署"}, admin),
        (c.post, "/api/v1/indicators", {"code": "audit-ind", "name": "审计", "value_type": "count"}, admin),
        (c.patch, "/api/v1/indicators/audit-ind", {"unit": "件"}, admin),
        (c.put, "/api/v1/assignments/audit-ind/audit-dept", {"from_year": 2022}, commission),
        (c.put, "/api/v1/periods/2030", {"opens": "2031-01-01", "closes": "2031-01-31"}, commission),
        (
            c.put,
            "/api/v1/periods/2030/exceptions/audit-dept",
            {"until": "2031-02-15", "reason": "迟"},
            commission,
        ),
        (c.delete, "/api/v1/periods/2030/exceptions/audit-dept", None, commission),
        (c.delete, "/api/v1/periods/2030", None, commission),
        (
            c.post,
            "/api/v1/approvals/urban-management/2030/approve",
            {"allow_missing": True, "reason": "ok"},
            commission,
        ),
        (c.post, "/api/v1/approvals/urban-management/2030/reopen", {"reason": "更正"}, commission),
        (c.delete, "/api/v1/assignments/audit-ind/audit-dept", None, commission),
        (c.post, "/api/v1/tokens", {"name": "audited", "role": "viewer"}, admin),
        (c.delete, "/api/v1/tokens/audited", None, admin),
        (c.delete, "/api/v1/indicators/audit-ind", None, admin),
        (c.delete, "/api/v1/departments/audit-dept", None, admin),
    ]
    for call, path, body, headers in steps:
        r = call(path, headers=headers) if body is None else call(path, json=body, headers=headers)
        assert r.status_code in (200, 201, 204), (path, r.text)
    events = _events(c, auth)[start:]
    assert [(e["action"], e["target"], e["actor"]) for e in events] == [
        ("department.create", "audit-dept", "admin"),
        ("department.update", "audit-dept", "admin"),
        ("indicator.create", "audit-ind", "admin"),
        ("indicator.update", "audit-ind", "admin"),
        ("assignment.put", "audit-ind/audit-dept", "commission"),
        ("period.put", "2030", "commission"),
        ("period_exception.put", "2030/audit-dept", "commission"),
        ("period_exception.delete", "2030/audit-dept", "commission"),
        ("period.delete", "2030", "commission"),
        ("approval.approve", "urban-management/2030", "commission"),
        ("approval.reopen", "urban-management/2030", "commission"),
        ("assignment.delete", "audit-ind/audit-dept", "commission"),
        ("token.create", "audited", "admin"),
        ("token.revoke", "audited", "admin"),
        ("indicator.delete", "audit-ind", "admin"),
        ("department.delete", "audit-dept", "admin"),
    ]
    assert all(e["address"] == "testclient" for e in events)  # the client's address, as the server saw it
    assert all(dt.datetime.fromisoformat(e["at"]) >= before for e in events)
    # What was sent is in the detail; a token's secret never is.
    assert events[1]["detail"] == {"name": "审计署"}
    assert events[6]["detail"] == {"until": "2031-02-15", "reason": "迟"}
    assert events[12]["detail"] == {"name": "audited", "role": "viewer"}
    assert "token" not in str(events[12]["detail"]).replace("audited", "")
    # Both things are gone; their events stay, and filters find them.
    assert c.get("/api/v1/indicators/audit-ind", headers=admin).status_code == 404
    assert [e["action"] for e in _events(c, auth, action="indicator.delete")][-1] == "indicator.delete"
    mine = _events(c, auth, actor="commission")
    assert {e["actor"] for e in mine} == {"commission"} and len(mine) >= 8
    assert _events(c, auth, since=(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()) == []
    later = _events(c, auth, since=before.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat())
    assert [e["id"] for e in later][-len(events) :] == [e["id"] for e in events]


def test_refused_actions_and_figure_writes_record_nothing(
    session_client: TestClient, auth: Tokens, session: Session, reopened_2021: None
) -> None:
    c = session_client
    start = _count(session)
    problem(
        c.post(
            "/api/v1/indicators",
            json={"code": "free-seals", "name": "x", "value_type": "count"},
            headers=auth["admin"],
        ),
        409,
    )
    problem(c.delete("/api/v1/departments/zone", headers=auth["admin"]), 409)
    problem(c.post("/api/v1/tokens", json={"name": "x", "role": "viewer"}, headers=auth["commission"]), 403)
    problem(
        c.post("/api/v1/approvals/zone/2021/reopen", json={"reason": "again"}, headers=auth["admin"]), 409
    )
    problem(
        c.put(
            "/api/v1/periods/2030",
            json={"opens": "2031-02-01", "closes": "2031-01-01"},
            headers=auth["admin"],
        ),
        422,
    )
    r = c.put("/api/v1/observations/free-seals/zone/2021", json={"value": 7}, headers=auth["commission"])
    assert r.status_code == 200, r.text
    r = c.post("/api/v1/assignments", json={"assignments": [], "dry_run": True}, headers=auth["admin"])
    assert r.status_code == 200, r.text
    assert _count(session) == start


def test_only_admins_read_it_a_page_at_a_time_and_as_files(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    c = session_client
    for n in range(5):
        body = {"code": f"audit-{n}", "name": f"部门{n}", "parent": "zone"}
        assert c.post("/api/v1/departments", json=body, headers=auth["admin"]).status_code == 201
    for who in ("commission", "viewer", "clerk-zone"):
        problem(c.get(AUDIT, headers=auth[who]), 403)
    problem(c.get(AUDIT), 401)
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "action": "department.create"}
        if cursor:
            params["cursor"] = cursor
        page = c.get(AUDIT, params=params, headers=auth["admin"]).json()
        seen += [e["target"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[-5:] == [f"audit-{n}" for n in range(5)]
    for bad in (
        {"since": "2026-12-05"},
        {"since": "1733400000"},
        {"since": "2026-02-30T00:00:00Z"},
        {"action": "drop"},
        {"limit": 0},
        {"cursor": "nonsense"},
    ):
        r = c.get(AUDIT, params=bad, headers=auth["admin"])
        assert 400 <= r.status_code < 500, (bad, r.text)
        if r.status_code == 422:
            assert r.json()["errors"][0]["loc"][-1] == next(iter(bad)), r.text
    text = bom_stripped(c.get(AUDIT, params={"format": "csv"}, headers=auth["admin"]))
    header, *rows = text.splitlines()
    assert header == "id,at,actor,action,target,detail,address"
    assert any(",department.create,audit-4," in row for row in rows)
    book = openpyxl.load_workbook(
        io.BytesIO(c.get(AUDIT, params={"format": "xlsx"}, headers=auth["admin"]).content)
    )
    values = list(book.active.values)  # type: ignore[union-attr]
    assert values[0][:4] == ("id", "at", "actor", "action") and len(values) == len(rows) + 1


def test_rule_changes_are_recorded(session_client: TestClient, auth: Tokens) -> None:
    c, commission = session_client, auth["commission"]
    start = len(_events(c, auth))
    rule = {
        "name": "新设企业不多于印章",
        "left": "#{new-firms-sealed}",
        "operator": "less_than_or_equal_to",
        "right": "#{free-seals}",
        "importance": "low",
        "missing": "skip_if_any_missing",
    }
    assert c.put("/api/v1/rules/audit-rule", json=rule, headers=commission).status_code == 201
    assert (
        c.put("/api/v1/rules/audit-rule", json=rule | {"importance": "high"}, headers=commission).status_code
        == 200
    )
    refused = c.put("/api/v1/rules/audit-rule", json=rule | {"left": "#{no-such}"}, headers=commission)
    assert refused.status_code == 422
    assert c.delete("/api/v1/rules/audit-rule", headers=commission).status_code == 204
    events = _events(c, auth)[start:]
    assert [(e["action"], e["target"], e["actor"]) for e in events] == [
        ("rule.create", "audit-rule", "commission"),
        ("rule.update", "audit-rule", "commission"),
        ("rule.delete", "audit-rule", "commission"),
    ]
    assert events[1]["detail"]["importance"] == "high"


def test_a_detail_keeps_numbers_as_the_exact_numbers_sent(
    session_client: TestClient, auth: Tokens, recwarn: pytest.WarningsRecorder
) -> None:
    """An indicator's bounds in the audit log are the JSON numbers sent, digit for digit, as every
    other answer gives decimals, not strings (and writing them warns of nothing)."""
    c, admin = session_client, auth["admin"]
    new = {"code": "audit-bounds", "name": "界限", "value_type": "amount", "expected_min": 0.0}
    assert c.post("/api/v1/indicators", json=new, headers=admin).status_code == 201
    r = c.patch(
        "/api/v1/indicators/audit-bounds",
        content='{"expected_min": 0.10, "expected_max": 123456789012345678.5}',
        headers={**admin, "content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    created, changed = [e for e in _events(c, auth) if e["target"] == "audit-bounds"]
    assert created["detail"]["expected_min"] == 0
    assert changed["detail"]["expected_min"] == 0.1  # a number, not "0.10"
    r = c.get(AUDIT, params={"limit": 1000}, headers=admin)
    assert '"expected_min":0.1,"expected_max":123456789012345678.5' in r.text
    assert [str(w.message) for w in recwarn if "serializ" in str(w.message)] == []
