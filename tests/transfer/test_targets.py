"""Targets in bulk (JSON, GBK CSV, workbooks), the targets template, and targets copied forward."""

import io
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cells.tables import Action
from app.targets.models import Operator, Target, TargetRevision
from app.transfer.formats import XLSX
from tests.helpers import Tokens, problem
from tests.targets.test_router import target_revisions, target_row

URL = "/api/v1/targets"
SUMMARY = (
    "created",
    "updated",
    "unchanged",
    "skipped",
    "rejected",
    "dry_run",
    "errors",
    "error_count",
    "warnings",
)


def tgt(indicator: str = "disputes-mediated", department: str = "zone", year: int = 2022, **rest: Any) -> Any:
    return {
        "indicator": indicator,
        "department": department,
        "year": year,
        "operator": "at_least",
        "value": 7,
        **rest,
    }


def post(client: TestClient, headers: dict[str, str], rows: list[Any], **options: Any) -> Any:
    return client.post(URL, json={"targets": rows, **options}, headers=headers)


def totals(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Target)) or 0,
        session.scalar(select(func.count()).select_from(TargetRevision)) or 0,
    )


def counts(body: dict[str, Any]) -> tuple[int, int, int, int]:
    return body["created"], body["updated"], body["unchanged"], body["rejected"]


def test_a_json_batch_of_targets_sets_each_with_its_history(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    rows = [
        tgt(note="目标", source="plan-2022"),
        tgt("deadline-compression", operator="between", value=70, upper=90.5),
        tgt("enforcement-complaints", operator="at_most", value=0),
        tgt("deadline-compression", year=2021, operator="at_least", value=80),  # seeded at_least 75
    ]
    r = post(session_client, auth["commission"], rows)
    assert r.status_code == 200, r.text
    assert set(r.json()) == set(SUMMARY)
    assert counts(r.json()) == (3, 1, 0, 0)
    between = target_row(session, "deadline-compression", "zone", 2022)
    assert between is not None
    assert (between.operator, between.value, between.upper, between.version) == (
        Operator.between,
        Decimal(70),
        Decimal("90.5"),
        1,
    )
    first = target_row(session, "disputes-mediated", "zone", 2022)
    assert first is not None and (first.note, first.source, first.updated_by) == (
        "目标",
        "plan-2022",
        "commission",
    )
    [created] = target_revisions(session, "disputes-mediated", "zone", 2022)
    assert (created.action, created.operator_after, created.value_after, created.changed_by) == (
        Action.create,
        Operator.at_least,
        Decimal(7),
        "commission",
    )
    update = target_revisions(session, "deadline-compression", "zone", 2021)[-1]
    assert (update.version, update.action, update.value_before, update.value_after) == (
        2,
        Action.update,
        Decimal(75),
        Decimal(80),
    )
    assert (update.operator_before, update.operator_after) == ("at_least", "at_least")
    # the same batch again changes nothing; read through GET as a client would
    before = totals(session)
    again = post(session_client, auth["commission"], rows)
    assert counts(again.json()) == (0, 0, 4, 0)
    assert totals(session) == before
    read = session_client.get(f"{URL}/deadline-compression/zone/2022", headers=auth["viewer"]).json()
    assert (read["operator"], read["value"], read["upper"]) == ("between", 70, 90.5)


# A bad row and the error it must give: (fields changed, loc, words in the message).
TARGET_ERRORS: list[tuple[dict[str, Any], list[str], str]] = [
    ({"operator": "between", "value": 90, "upper": 80}, ["upper"], "must not be less than 'value'"),
    ({"operator": "between", "value": 90}, ["upper"], "needs 'upper'"),
    ({"operator": "at_least", "upper": 80}, ["upper"], "belongs only to 'between'"),
    ({"operator": "more"}, ["operator"], "must be one of at_least"),
    ({"operator": "不低于"}, ["operator"], "must be one of"),  # JSON: codes only
    ({"indicator": "deadline-compression", "value": 120}, ["value"], "between 0 and 100"),
    ({"value": 1.5}, ["value"], "whole number"),
    ({"value": None}, ["value"], "required"),
]


@pytest.mark.parametrize(
    ("change", "loc", "words"), TARGET_ERRORS, ids=[str(e[0])[:40] for e in TARGET_ERRORS]
)
def test_target_rows_follow_the_rules_of_put(
    session_client: TestClient,
    auth: Tokens,
    session: Session,
    change: dict[str, Any],
    loc: list[str],
    words: str,
) -> None:
    before = totals(session)
    body = problem(post(session_client, auth["commission"], [tgt(year=2030), tgt() | change]), 422)
    assert (body["created"], body["rejected"]) == (0, 1)
    [error] = body["errors"]
    assert (error["row"], error["loc"], error["indicator"], error["year"]) == (
        2,
        loc,
        tgt(**change)["indicator"],
        2022,
    )
    assert words in error["msg"]
    assert totals(session) == before


def test_a_non_atomic_dry_run_counts_and_writes_nothing(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    before = totals(session)
    r = post(session_client, auth["commission"], [tgt(), tgt(year=1800)], atomic=False, dry_run=True)
    assert r.status_code == 200, r.text
    assert counts(r.json()) == (1, 0, 0, 1) and r.json()["dry_run"] is True
    assert totals(session) == before
    r = post(session_client, auth["commission"], [tgt(), tgt(year=1800)], atomic=False)
    assert counts(r.json()) == (1, 0, 0, 1)
    assert totals(session) == (before[0] + 1, before[1] + 1)


def test_only_the_commission_and_admin_set_targets(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    before = totals(session)
    problem(post(session_client, auth["clerk-zone"], [tgt()]), 403)
    problem(post(session_client, auth["viewer"], [tgt()]), 403)
    problem(session_client.post(URL, json={"targets": [tgt()]}), 401)
    problem(
        session_client.post(
            f"{URL}/copy", json={"from_year": 2021, "to_year": 2022}, headers=auth["clerk-zone"]
        ),
        403,
    )
    assert totals(session) == before
    assert post(session_client, auth["admin"], [tgt()]).status_code == 200


def test_a_gbk_csv_with_the_chinese_header_and_words(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    lines = [
        "指标,部门,年度,方式,目标值,上限,备注,来源",
        "成功调解矛盾纠纷,平顶山高新技术产业开发区,2022,介于,200,300,,规划",
        "deadline-compression,zone,2022,不低于,80,,,",
        "enforcement-complaints,zone,2022,不高于,0,,,",
        "legal-lectures,zone,2022,等于,,,,",  # no target yet: skipped
        "legal-opinions,zone,2022,差不多,3,,,",
    ]
    body = ("\r\n".join(lines) + "\r\n").encode("gbk")
    r = session_client.post(URL, content=body, headers={**auth["commission"], "content-type": "text/csv"})
    body_json = problem(r, 422)
    [error] = body_json["errors"]
    assert (error["row"], error["loc"], error["indicator"]) == (6, ["operator"], "legal-opinions")
    assert body_json["skipped"] == 1
    r = session_client.post(
        f"{URL}?atomic=false", content=body, headers={**auth["commission"], "content-type": "text/csv"}
    )
    assert counts(r.json()) == (3, 0, 0, 1), r.text
    mediated = target_row(session, "disputes-mediated", "zone", 2022)
    assert mediated is not None and (mediated.operator, mediated.value, mediated.upper, mediated.source) == (
        Operator.between,
        Decimal(200),
        Decimal(300),
        "规划",
    )
    complaints = target_row(session, "enforcement-complaints", "zone", 2022)
    assert complaints is not None and complaints.operator == "at_most"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_targets_template_filled_in_uploads_as_it_is(
    session_client: TestClient, auth: Tokens, session: Session, lang: str
) -> None:
    r = session_client.get(f"/api/v1/templates/targets.xlsx?year=2022&lang={lang}", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:8] == (
        ("指标", "部门", "年度", "方式", "目标值", "上限", "备注", "来源")
        if lang == "zh"
        else ("indicator", "department", "year", "operator", "value", "upper", "note", "source")
    )
    # a row per pair with a figure or a target in 2021 or 2022 (the seed's figures are all 2021)
    pairs = {(row[0], row[1]) for row in rows[1:]}
    assert ("deadline-compression", "zone") in pairs and ("service-work-share", "urban-management") in pairs
    by_pair = {(row[0], row[1]): row for row in rows[1:]}
    compression = by_pair["deadline-compression", "zone"]
    assert compression[3] == ("不低于" if lang == "zh" else "at_least")  # last year's operator, filled in
    assert compression[-1] == ("不低于 75" if lang == "zh" else "at_least 75")  # last year's target
    assert by_pair["free-seals", "zone"][3] is None  # no target last year
    [drop_down] = sheet.data_validations.dataValidation
    assert drop_down.formula1 == (
        '"不低于,不高于,等于,介于"' if lang == "zh" else '"at_least,at_most,exactly,between"'
    )

    for cells in sheet.iter_rows(min_row=2):
        if (cells[0].value, cells[1].value) == ("deadline-compression", "zone"):
            cells[4].value = 0.8  # typed as 80%
            cells[4].number_format = "0%"
        elif (cells[0].value, cells[1].value) == ("free-seals", "zone"):
            cells[3].value = "不低于" if lang == "zh" else "at_least"
            cells[4].value = 1500
    out = io.BytesIO()
    book.save(out)
    up = session_client.post(
        URL, content=out.getvalue(), headers={**auth["commission"], "content-type": XLSX}
    )
    assert up.status_code == 200, up.text
    assert (up.json()["created"], up.json()["skipped"], up.json()["rejected"]) == (2, len(rows) - 3, 0)
    compression_target = target_row(session, "deadline-compression", "zone", 2022)
    assert compression_target is not None and (compression_target.operator, compression_target.value) == (
        Operator.at_least,
        Decimal(80),
    )
    seals = target_row(session, "free-seals", "zone", 2022)
    assert seals is not None and seals.value == 1500


def test_copy_targets_forward(session_client: TestClient, auth: Tokens, session: Session) -> None:
    copy = f"{URL}/copy"
    h = auth["commission"]
    dry = session_client.post(copy, json={"from_year": 2021, "to_year": 2022, "dry_run": True}, headers=h)
    assert (
        counts(dry.json()) == (10, 0, 0, 0)
        and target_row(session, "deadline-compression", "zone", 2022) is None
    )
    r = session_client.post(copy, json={"from_year": 2021, "to_year": 2022}, headers=h)
    assert r.status_code == 200, r.text
    assert counts(r.json()) == (10, 0, 0, 0)
    copied = target_row(session, "service-work-share", "urban-management", 2022)
    assert copied is not None and (copied.operator, copied.value, copied.source, copied.version) == (
        Operator.at_least,
        Decimal(70),
        "report-2021 §一(四)",
        1,
    )
    assert [v.action for v in target_revisions(session, "service-work-share", "urban-management", 2022)] == [
        Action.create
    ]
    # a target set since stays unless overwrite
    assert (
        session_client.put(
            f"{URL}/deadline-compression/zone/2022", json={"operator": "at_least", "value": 85}, headers=h
        ).status_code
        == 200
    )
    again = session_client.post(copy, json={"from_year": 2021, "to_year": 2022}, headers=h)
    assert counts(again.json()) == (0, 0, 10, 0)
    kept = target_row(session, "deadline-compression", "zone", 2022)
    assert kept is not None and kept.value == 85
    one = {"from_year": 2021, "to_year": 2022, "department": "zone", "indicator": "deadline-compression"}
    forced = session_client.post(copy, json=one | {"overwrite": True}, headers=h)
    assert counts(forced.json()) == (0, 1, 0, 0)
    back = target_row(session, "deadline-compression", "zone", 2022)
    assert back is not None and (back.value, back.version) == (Decimal(75), 3)
    # only the department asked for
    urban = session_client.post(
        copy, json={"from_year": 2021, "to_year": 2023, "department": "urban-management"}, headers=h
    )
    assert counts(urban.json()) == (3, 0, 0, 0)
    assert target_row(session, "deadline-compression", "zone", 2023) is None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"from_year": 2021, "to_year": 2021}, ["body", "to_year"]),
        ({"from_year": 2021}, ["body", "to_year"]),
        ({"from_year": 2021, "to_year": 2022, "department": "nowhere"}, ["query", "department"]),
        ({"from_year": 2021, "to_year": 2022, "colour": "red"}, ["body", "colour"]),
    ],
)
def test_a_wrong_copy_is_422_and_writes_nothing(
    session_client: TestClient, auth: Tokens, session: Session, body: dict[str, Any], loc: list[str]
) -> None:
    before = totals(session)
    answer = problem(session_client.post(f"{URL}/copy", json=body, headers=auth["commission"]), 422)
    assert loc in [e["loc"] for e in answer["errors"]]
    assert totals(session) == before
