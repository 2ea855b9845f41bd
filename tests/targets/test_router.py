from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.departments.models import Department
from app.indicators.models import Indicator
from app.targets.models import Target, TargetRevision
from tests.helpers import Tokens, problem

URL = "/api/v1/targets"
CELL = f"{URL}/disputes-mediated/zone/2022"


def target_row(session: Session, indicator: str, department: str, year: int) -> Target | None:
    session.expire_all()
    return session.scalar(
        select(Target)
        .join(Indicator, Indicator.id == Target.indicator_id)
        .join(Department, Department.id == Target.department_id)
        .where(Indicator.code == indicator, Department.code == department, Target.year == year)
    )


def target_revisions(session: Session, indicator: str, department: str, year: int) -> list[TargetRevision]:
    session.expire_all()
    return list(
        session.scalars(
            select(TargetRevision)
            .join(Indicator, Indicator.id == TargetRevision.indicator_id)
            .join(Department, Department.id == TargetRevision.department_id)
            .where(Indicator.code == indicator, Department.code == department, TargetRevision.year == year)
            .order_by(TargetRevision.version)
        )
    )


@pytest.mark.parametrize(
    "body",
    [
        {"operator": "at_least", "value": 250},
        {"operator": "at_most", "value": 300},
        {"operator": "exactly", "value": 246},
        {"operator": "between", "value": 200, "upper": 300},
        {"operator": "between", "value": 246, "upper": 246},
    ],
    ids=["at_least", "at_most", "exactly", "between", "between-one-point"],
)
def test_every_operator_is_stored_and_read_back(
    session_client: TestClient, auth: Tokens, session: Session, body: dict[str, Any]
) -> None:
    sent = {**body, "note": "目标", "source": "plan-2022"}
    r = session_client.put(CELL, json=sent, headers=auth["commission"])
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/v1/targets/disputes-mediated/zone/2022"
    assert r.headers["etag"] == '"1"'
    answer = r.json()
    expected = {"upper": None, **sent}
    assert {k: answer[k] for k in expected} == expected
    assert (answer["indicator"], answer["department"], answer["year"]) == ("disputes-mediated", "zone", 2022)
    assert (answer["version"], answer["updated_by"]) == (1, "commission")
    assert session_client.get(CELL, headers=auth["viewer"]).json() == answer

    row = target_row(session, "disputes-mediated", "zone", 2022)
    assert row is not None
    assert (row.operator, row.value) == (body["operator"], Decimal(body["value"]))
    assert row.upper == (Decimal(body["upper"]) if "upper" in body else None)


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"operator": "between", "value": 300, "upper": 200}, ["body", "upper"], "must not be less"),
        ({"operator": "between", "value": 200}, ["body", "upper"], "needs 'upper'"),
        ({"operator": "at_least", "value": 200, "upper": 300}, ["body", "upper"], "only to 'between'"),
        ({"operator": "more_or_less", "value": 200}, ["body", "operator"], "at_least"),
        ({"operator": "at_least", "value": "200"}, ["body", "value"], "JSON number"),
        ({"operator": "at_least"}, ["body", "value"], "required"),
        ({"operator": "at_least", "value": 1.5}, ["body", "value"], "whole number"),
        ({"operator": "between", "value": 0, "upper": -1}, ["body", "upper"], "must not be less"),
    ],
)
def test_bad_targets_are_rejected_naming_the_field(
    session_client: TestClient,
    auth: Tokens,
    session: Session,
    body: dict[str, Any],
    loc: list[str],
    words: str,
) -> None:
    body_problem = problem(session_client.put(CELL, json=body, headers=auth["commission"]), 422)
    assert body_problem["errors"][0]["loc"] == loc
    assert words in body_problem["errors"][0]["msg"]
    assert target_row(session, "disputes-mediated", "zone", 2022) is None


def test_bounds_must_fit_the_value_type(session_client: TestClient, auth: Tokens, session: Session) -> None:
    cell = f"{URL}/deadline-compression/zone/2022"
    body = problem(
        session_client.put(
            cell, json={"operator": "between", "value": 50, "upper": 101}, headers=auth["commission"]
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "upper"]
    assert "between 0 and 100" in body["errors"][0]["msg"]
    assert target_row(session, "deadline-compression", "zone", 2022) is None


def test_history_keeps_every_version_and_the_deletion(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    put = session_client.put
    assert (
        put(CELL, json={"operator": "at_least", "value": 250}, headers=auth["commission"]).status_code == 201
    )
    same = put(CELL, json={"operator": "at_least", "value": 250}, headers=auth["commission"])
    assert (same.status_code, same.json()["version"]) == (200, 1)
    changed = put(CELL, json={"operator": "between", "value": 250, "upper": 260}, headers=auth["admin"])
    assert (changed.status_code, changed.json()["version"]) == (200, 2)
    assert session_client.delete(CELL, headers=auth["commission"]).status_code == 204
    problem(session_client.get(CELL, headers=auth["viewer"]), 404)
    problem(session_client.delete(CELL, headers=auth["commission"]), 404)

    history = session_client.get(f"{CELL}/history", headers=auth["viewer"]).json()["items"]
    assert [
        (
            h["version"],
            h["action"],
            h["operator_before"],
            h["operator_after"],
            h["upper_after"],
            h["changed_by"],
        )
        for h in history
    ] == [
        (1, "create", None, "at_least", None, "commission"),
        (2, "update", "at_least", "between", 260, "admin"),
        (3, "delete", "between", None, None, "commission"),
    ]
    assert [(h["value_before"], h["value_after"]) for h in history] == [(None, 250), (250, 250), (250, None)]
    assert target_row(session, "disputes-mediated", "zone", 2022) is None
    assert [r.version for r in target_revisions(session, "disputes-mediated", "zone", 2022)] == [1, 2, 3]

    again = put(CELL, json={"operator": "at_most", "value": 1}, headers=auth["commission"])
    assert (again.status_code, again.json()["version"]) == (201, 4)


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("clerk-zone", 403), ("anonymous", 401)])
def test_only_commission_and_admin_set_targets(
    session_client: TestClient, auth: Tokens, session: Session, who: str, status: int
) -> None:
    headers = {} if who == "anonymous" else auth[who]
    problem(session_client.put(CELL, json={"operator": "at_least", "value": 1}, headers=headers), status)
    seeded = f"{URL}/deadline-compression/zone/2021"
    problem(session_client.delete(seeded, headers=headers), status)
    assert target_row(session, "disputes-mediated", "zone", 2022) is None
    assert target_row(session, "deadline-compression", "zone", 2021) is not None
    assert len(target_revisions(session, "deadline-compression", "zone", 2021)) == 1


def test_etag_304_and_stale_if_match(session_client: TestClient, auth: Tokens, session: Session) -> None:
    seeded = f"{URL}/deadline-compression/zone/2021"
    r = session_client.get(seeded, headers=auth["viewer"])
    etag = r.headers["etag"]
    assert session_client.get(seeded, headers={**auth["viewer"], "If-None-Match": etag}).status_code == 304

    moved = session_client.put(
        seeded, json={"operator": "at_least", "value": 80}, headers={**auth["commission"], "If-Match": etag}
    )
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    stale = session_client.put(
        seeded, json={"operator": "at_least", "value": 90}, headers={**auth["commission"], "If-Match": etag}
    )
    problem(stale, 412)
    problem(session_client.delete(seeded, headers={**auth["commission"], "If-Match": etag}), 412)
    row = target_row(session, "deadline-compression", "zone", 2021)
    assert row is not None and row.value == Decimal(80) and row.version == 2


def test_list_filters_and_pages(session_client: TestClient, auth: Tokens) -> None:
    def codes(query: str) -> list[tuple[str, str]]:
        r = session_client.get(f"{URL}?{query}", headers=auth["viewer"])
        assert r.status_code == 200, r.text
        return [(t["indicator"], t["department"]) for t in r.json()["items"]]

    assert len(codes("year=2021")) == 10
    assert codes("year=2022") == []
    assert codes("department=urban-management") == [
        ("service-work-share", "urban-management"),
        ("management-work-share", "urban-management"),
        ("enforcement-work-share", "urban-management"),
    ]
    assert codes("indicator=enforcement-complaints&year_from=2020&year_to=2021") == [
        ("enforcement-complaints", "zone")
    ]

    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = session_client.get(f"{URL}?{query}", headers=auth["viewer"]).json()
        seen += [(t["indicator"], t["department"]) for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 10

    body = problem(session_client.get(f"{URL}?department=nowhere", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == ["query", "department"]


def test_list_of_several_departments(session_client: TestClient, auth: Tokens) -> None:
    """`department` repeated: the targets of any of them, no other; one unknown code is a 422."""

    def cells(query: str) -> list[tuple[str, str]]:
        r = session_client.get(f"{URL}?{query}&limit=1000", headers=auth["viewer"])
        assert r.status_code == 200, r.text
        return sorted((t["indicator"], t["department"]) for t in r.json()["items"])

    every = cells("year=2021")
    zone, urban = (cells(f"department={code}") for code in ("zone", "urban-management"))
    assert zone and urban and {d for _, d in zone} == {"zone"}
    assert cells("department=zone&department=urban-management") == sorted(zone + urban)
    assert cells("department=zone&department=emergency-management") == zone
    assert cells("department=zone&department=urban-management&year=2021") == every
    assert cells("department=zone&department=urban-management&indicator=service-work-share") == [
        ("service-work-share", "urban-management")
    ]
    r = session_client.get(f"{URL}?department=zone&department=nowhere", headers=auth["viewer"])
    body = problem(r, 422)
    assert body["errors"][0]["loc"] == ["query", "department"] and "nowhere" in body["detail"]
