"""Validation rules over HTTP: kept by code, formulas checked as a derived indicator's, the report."""

import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.quality.models import Rule, RuleOperand
from tests.helpers import Tokens, bom_stripped, problem, put

RULES = "/api/v1/rules"
SEEDED = ["hazards-rectified-le-found", "peer-assist-rectified-le-found", "seals-cover-new-firms"]


def test_the_seed_rules_are_listed_and_kept_by_the_seed_figures(
    session_client: TestClient, auth: Tokens
) -> None:
    r = session_client.get(RULES, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert [i["code"] for i in r.json()["items"]] == SEEDED
    first = session_client.get(f"{RULES}/{SEEDED[0]}", headers=auth["viewer"]).json()
    assert first["left"] == "#{expert-hazards-rectified}" and first["importance"] == "high"
    report = session_client.get("/api/v1/validation", params={"year": 2021}, headers=auth["viewer"]).json()
    assert report["items"] == [] and report["summary"] == {"rules": 3, "violated": 0, "indeterminate": 0}


def test_a_rule_is_created_replaced_and_deleted(
    session_client: TestClient, auth: Tokens, session: Session, amounts: tuple[str, str, str]
) -> None:
    body = {
        "name": "甲不超过乙加丙",
        "left": "#{qa}",
        "operator": "less_than_or_equal_to",
        "right": "#{qb} + #{qc}",
    }
    r = session_client.put(f"{RULES}/sum-rule", json=body, headers=auth["commission"])
    assert r.status_code == 201, r.text
    assert r.json() == {
        "code": "sum-rule",
        "name": "甲不超过乙加丙",
        "name_en": None,
        "description": None,
        **{k: body[k] for k in ("left", "operator", "right")},
        "importance": "medium",
        "missing": "skip_if_any_missing",
    }
    rule = session.scalar(select(Rule).where(Rule.code == "sum-rule"))
    assert rule is not None
    operands = set(session.scalars(select(RuleOperand.indicator_id).where(RuleOperand.rule_id == rule.id)))
    assert len(operands) == 3
    body["right"], body["importance"] = "#{qb}", "high"
    r = session_client.put(f"{RULES}/sum-rule", json=body, headers=auth["admin"])
    assert r.status_code == 200 and r.json()["importance"] == "high"
    session.expire_all()
    assert len(set(session.scalars(select(RuleOperand.rule_id).where(RuleOperand.rule_id == rule.id)))) == 1
    assert len(list(session.scalars(select(RuleOperand).where(RuleOperand.rule_id == rule.id)))) == 2
    # an indicator a rule reads cannot be deleted
    problem(session_client.delete("/api/v1/indicators/qa", headers=auth["admin"]), 409)
    assert session_client.delete(f"{RULES}/sum-rule", headers=auth["commission"]).status_code == 204
    problem(session_client.get(f"{RULES}/sum-rule", headers=auth["viewer"]), 404)
    problem(session_client.delete(f"{RULES}/sum-rule", headers=auth["commission"]), 404)
    assert session_client.delete("/api/v1/indicators/qa", headers=auth["admin"]).status_code == 204


@pytest.mark.parametrize("role", ["viewer", "clerk-zone"])
def test_only_the_commission_and_admin_set_rules(session_client: TestClient, auth: Tokens, role: str) -> None:
    body = {"name": "x", "left": "1", "operator": "equal_to", "right": "1"}
    problem(session_client.put(f"{RULES}/x", json=body, headers=auth[role]), 403)
    problem(session_client.delete(f"{RULES}/{SEEDED[0]}", headers=auth[role]), 403)


@pytest.mark.parametrize(
    ("field", "formula", "says"),
    [
        ("left", "#{no-such-indicator}", "no indicator with code 'no-such-indicator'"),
        ("right", "#{free-seals} +", "syntax error"),
        ("left", "#{free-seals} ** 2", "only + - * / combine operands"),
        ("right", "#{seals-ratio}", "derived: 'seals-ratio'"),
        ("left", "abs(#{free-seals})", "a formula is numbers"),
        ("left", "#{free-seals} ; 1", "unexpected character"),
        ("right", "", "at least 1 character"),
    ],
)
def test_a_bad_formula_is_422_naming_its_side_and_nothing_is_kept(
    session_client: TestClient, auth: Tokens, session: Session, field: str, formula: str, says: str
) -> None:
    derived = {
        "code": "seals-ratio",
        "name": "每户印章",
        "value_type": "amount",
        "formula": "#{free-seals} / #{new-firms-sealed}",
    }
    assert session_client.post("/api/v1/indicators", json=derived, headers=auth["admin"]).status_code == 201
    body = {
        "name": "坏规则",
        "left": "#{free-seals}",
        "operator": "greater_than",
        "right": "0",
        field: formula,
    }
    answer = problem(session_client.put(f"{RULES}/bad", json=body, headers=auth["commission"]), 422)
    assert any(e["loc"][-1] == field and says in e["msg"] for e in answer["errors"]), answer
    assert session.scalar(select(Rule).where(Rule.code == "bad")) is None


def test_bad_rule_fields_are_422(session_client: TestClient, auth: Tokens) -> None:
    base = {"name": "x", "left": "1", "operator": "equal_to", "right": "1"}
    for change in ({"operator": "about"}, {"importance": "urgent"}, {"missing": "skip"}, {"name": "a\x07"}):
        problem(session_client.put(f"{RULES}/x", json={**base, **change}, headers=auth["commission"]), 422)
    problem(session_client.put(f"{RULES}/Not_A_Code", json=base, headers=auth["commission"]), 422)


def test_formulas_are_exact_and_a_division_by_zero_judges_nothing(
    session_client: TestClient, auth: Tokens, amounts: tuple[str, str, str], put_rule: Callable[..., Any]
) -> None:
    qa, qb, qc = amounts
    # a third of 10 is not 3.333333: the comparison is exact, the values shown rounded
    put_rule("third", f"#{{{qa}}} / 3", "equal_to", "3.333333")
    put_rule("ratio", f"#{{{qa}}} / #{{{qb}}}", "less_than", f"#{{{qc}}} * 0.1", importance="high")
    put(session_client, auth, qa, "zone", 2011, "10")
    put(session_client, auth, qb, "zone", 2011, "0")
    put(session_client, auth, qc, "zone", 2011, "1")
    report = session_client.get("/api/v1/validation", params={"year": 2011}, headers=auth["viewer"]).json()
    assert [(i["rule"], i["left_value"], i["right_value"], i["status"]) for i in report["items"]] == [
        ("third", 3.333333, 3.333333, "violated")
    ]
    put(session_client, auth, qb, "zone", 2011, "20")  # 10/20 = 0.5 against 1 * 0.1
    report = session_client.get(
        "/api/v1/validation", params={"year": 2011, "importance": "high"}, headers=auth["viewer"]
    ).json()
    assert [(i["rule"], i["left_value"], i["right_value"]) for i in report["items"]] == [("ratio", 0.5, 0.1)]
    assert report["summary"] == {"rules": 3, "violated": 1, "indeterminate": 0}  # with the seed's two high


def test_the_report_pages_filters_and_gives_files(
    session_client: TestClient, auth: Tokens, amounts: tuple[str, str, str], put_rule: Callable[..., Any]
) -> None:
    qa, qb, _ = amounts
    put_rule("a-first", f"#{{{qa}}}", "less_than", f"#{{{qb}}}", importance="low")
    put_rule("b-second", f"#{{{qa}}}", "not_equal_to", f"#{{{qb}}}", importance="high")
    for department in ("zone", "emergency-management", "urban-management"):
        put(session_client, auth, qa, department, 2012, "5")
        put(session_client, auth, qb, department, 2012, "5")
    url = "/api/v1/validation"
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"year": 2012, "limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = session_client.get(url, params=params, headers=auth["viewer"]).json()
        seen += [(i["rule"], i["department"]) for i in body["items"]]
        assert body["summary"] == {"rules": 5, "violated": 6, "indeterminate": 0}
        if not (cursor := body["next_cursor"]):
            break
    departments = ["emergency-management", "urban-management", "zone"]
    assert seen == [("a-first", d) for d in departments] + [("b-second", d) for d in departments]
    narrow = session_client.get(
        url,
        params={"year": 2012, "department": "emergency-management", "rule": "b-second"},
        headers=auth["viewer"],
    ).json()
    assert [(i["rule"], i["department"]) for i in narrow["items"]] == [("b-second", "emergency-management")]
    whole_zone = session_client.get(
        url, params={"year": 2012, "department": "zone"}, headers=auth["viewer"]
    ).json()
    assert len(whole_zone["items"]) == 6  # the zone and every department below it
    csv = session_client.get(url, params={"year": 2012, "format": "csv"}, headers=auth["viewer"])
    lines = bom_stripped(csv).splitlines()
    assert lines[0] == "rule,department,year,left_value,operator,right_value,importance,status"
    assert lines[1] == "a-first,emergency-management,2012,5,less_than,5,low,violated"
    assert len(lines) == 7
    book = session_client.get(url, params={"year": 2012, "format": "xlsx"}, headers=auth["viewer"])
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert (
        rows[0][0] == "rule" and rows[1][:3] == ("a-first", "emergency-management", 2012) and len(rows) == 7
    )
    for bad in ({"year": 2012, "rule": "nope"}, {"year": 2012, "department": "nope"}, {"year": 1800}, {}):
        problem(session_client.get(url, params=bad, headers=auth["viewer"]), 422)
    problem(session_client.get(url, params={"year": 2012, "cursor": "garbage"}, headers=auth["viewer"]), 400)
