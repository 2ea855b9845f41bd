"""Writes answer warnings (rules broken, outliers) and are never refused for them; a broken `high` rule
stops a submission."""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.quality import warnings
from tests.helpers import Tokens, problem, put, stored

OBS = "/api/v1/observations"
EM = "emergency-management"
RULE = "hazards-rectified-le-found"


def _write(client: TestClient, auth: Tokens, indicator: str, department: str, year: int, body: str) -> Any:
    r = client.put(
        f"{OBS}/{indicator}/{department}/{year}",
        content=body,
        headers={**auth["clerk-em"], "content-type": "application/json"},
    )
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_a_put_and_a_patch_answer_the_rules_their_figure_breaks(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    assert _write(session_client, auth, "expert-hazards-found", EM, 2022, '{"value": 10}')["warnings"] == []
    body = _write(session_client, auth, "expert-hazards-rectified", EM, 2022, '{"value": 12}')
    (warning,) = body["warnings"]
    assert warning["type"] == "rule" and warning["rule"] == RULE
    assert warning["importance"] == "high" and warning["status"] == "violated" and RULE in warning["msg"]
    row = stored(session, "expert-hazards-rectified", EM, 2022)
    assert row is not None and row.value == 12  # warned, not refused
    # the other side of the rule, written, warns too
    assert [
        w["rule"]
        for w in _write(session_client, auth, "expert-hazards-found", EM, 2022, '{"value": 11}')["warnings"]
    ] == [RULE]
    patch = {**auth["clerk-em"], "content-type": "application/merge-patch+json"}
    r = session_client.patch(
        f"{OBS}/expert-hazards-rectified/{EM}/2022",
        content='{"value": 9, "qualifier": "at_least"}',
        headers=patch,
    )
    assert r.status_code == 200, r.text
    assert [(w["rule"], w["status"]) for w in r.json()["warnings"]] == [(RULE, "indeterminate")]
    r = session_client.patch(
        f"{OBS}/expert-hazards-rectified/{EM}/2022", content='{"qualifier": null}', headers=patch
    )
    assert r.status_code == 200 and r.json()["warnings"] == []


def test_a_put_answers_that_its_figure_is_an_outlier(
    session_client: TestClient, auth: Tokens, amounts: tuple[str, str, str]
) -> None:
    for year, value in zip(range(2010, 2016), ("100", "104", "98", "101", "99", "103"), strict=True):
        put(session_client, auth, "qa", EM, year, value)
    assert _write(session_client, auth, "qa", EM, 2016, '{"value": 102}')["warnings"] == []
    (warning,) = _write(session_client, auth, "qa", EM, 2016, '{"value": 150}')["warnings"]
    # others 100 104 98 101 99 103: median 100.5, MAD 2, bounds 100.5 ± 2 × 3.5 / 0.6745 = ± 10.378058
    assert warning["type"] == "outlier" and warning["algorithm"] == "modified_z_score"
    assert (warning["lower_bound"], warning["upper_bound"]) == (90.121942, 110.878058)
    r = session_client.patch("/api/v1/indicators/qa", json={"expected_max": 120}, headers=auth["admin"])
    assert r.status_code == 200
    found = _write(session_client, auth, "qa", EM, 2016, '{"value": 150}')["warnings"]
    assert [(w["algorithm"], w["upper_bound"]) for w in found] == [
        ("modified_z_score", 110.878058),
        ("min_max", 120),
    ]


def test_a_batch_answers_warnings_row_by_row(
    session_client: TestClient, auth: Tokens, amounts: tuple[str, str, str]
) -> None:
    for year, value in zip(range(2010, 2016), ("100", "104", "98", "101", "99", "103"), strict=True):
        put(session_client, auth, "qa", EM, year, value)
    rows = [
        {"indicator": "expert-hazards-found", "department": EM, "year": 2023, "value": 10},
        {"indicator": "qa", "department": EM, "year": 2016, "value": 500},
        {"indicator": "expert-hazards-rectified", "department": EM, "year": 2023, "value": 20},
        {"indicator": "peer-assist-hazards-found", "department": EM, "year": 2023, "value": 5},
    ]
    r = session_client.post(OBS, json={"observations": rows}, headers=auth["clerk-em"])
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["created"] == 4
    assert [(w["row"], w["type"], w.get("rule"), w.get("algorithm")) for w in summary["warnings"]] == [
        (1, "rule", RULE, None),
        (2, "outlier", None, "modified_z_score"),
    ]
    first = summary["warnings"][0]
    assert (first["indicator"], first["department"], first["year"], first["loc"]) == (
        "expert-hazards-found",
        EM,
        2023,
        ["value"],
    )
    # the same batch again changes nothing, and warns the same
    again = session_client.post(OBS, json={"observations": rows}, headers=auth["clerk-em"]).json()
    assert again["unchanged"] == 4 and again["warnings"] == summary["warnings"]


def test_a_broken_high_rule_stops_the_submission(session_client: TestClient, auth: Tokens) -> None:
    _write(session_client, auth, "expert-hazards-found", EM, 2022, '{"value": 10}')
    _write(session_client, auth, "expert-hazards-rectified", EM, 2022, '{"value": 12}')
    submit = f"/api/v1/approvals/{EM}/2022/submit"
    body = {"allow_missing": True, "reason": "其余指标尚未统计"}
    answer = problem(session_client.post(submit, json=body, headers=auth["clerk-em"]), 409)
    assert RULE in answer["detail"] and answer["state"] == "draft"
    assert [(b["rule"], b["left_value"], b["right_value"], b["status"]) for b in answer["breaches"]] == [
        (RULE, 12, 10, "violated")
    ]
    assert (
        session_client.get(f"/api/v1/approvals/{EM}/2022", headers=auth["viewer"]).json()["state"] == "draft"
    )
    # left open by a qualifier (at least 9 of 10) is no certain breach: the submission goes through
    _write(
        session_client, auth, "expert-hazards-rectified", EM, 2022, '{"value": 9, "qualifier": "at_least"}'
    )
    r = session_client.post(submit, json=body, headers=auth["clerk-em"])
    assert r.status_code == 200 and r.json()["state"] == "submitted", r.text


def test_a_medium_rule_does_not_stop_a_submission(session_client: TestClient, auth: Tokens) -> None:
    headers = {**auth["clerk-zone"], "content-type": "application/json"}
    for indicator, value in (("free-seals", "5"), ("new-firms-sealed", "9")):
        r = session_client.put(
            f"{OBS}/{indicator}/zone/2022", content=f'{{"value": {value}}}', headers=headers
        )
        assert r.status_code == 201, r.text
    assert [w["rule"] for w in r.json()["warnings"]] == ["seals-cover-new-firms"]
    r = session_client.post(
        "/api/v1/approvals/zone/2022/submit",
        json={"allow_missing": True, "reason": "部分"},
        headers=auth["clerk-zone"],
    )
    assert r.status_code == 200, r.text


def test_a_batch_of_whole_histories_is_judged_year_by_year(
    session_client: TestClient, auth: Tokens, amounts: tuple[str, str, str]
) -> None:
    """Every year a batch writes is set against the cell's other years, stored or written by the
    same batch; bounds judge a cell of any length."""
    r = session_client.patch("/api/v1/indicators/qa", json={"expected_max": 400}, headers=auth["admin"])
    assert r.status_code == 200, r.text
    put(session_client, auth, "qa", EM, 2010, "100")  # stored before: one of the other years
    history = {2011: 104, 2016: 103, 2012: 98, 2013: 500, 2014: 101, 2015: 99}
    rows = [{"indicator": "qa", "department": EM, "year": y, "value": v} for y, v in history.items()]
    # three years only: no statistical judgement, the bound still holds
    rows += [{"indicator": "qa", "department": "zone", "year": y, "value": 1000 + y} for y in (2019, 2020)]
    r = session_client.post(OBS, json={"observations": rows}, headers=auth["admin"])
    assert r.status_code == 200, r.text
    found = [
        (w["row"], w["department"], w["year"], w["algorithm"], w["lower_bound"], w["upper_bound"])
        for w in r.json()["warnings"]
    ]
    # 2013 against 100 104 98 101 99 103: median 100.5, MAD 2, bounds 100.5 ± 10.378058; every other
    # year against a history holding 500 is no outlier (2010: others 98 99 101 103 104 500, MAD 2.5)
    assert found == [
        (4, EM, 2013, "modified_z_score", 90.121942, 110.878058),
        (4, EM, 2013, "min_max", None, 400),
        (7, "zone", 2019, "min_max", None, 400),
        (8, "zone", 2020, "min_max", None, 400),
    ]


def test_a_writes_cell_query_finds_its_years_by_the_cells_index(backend: str, session: Session) -> None:
    """PostgreSQL runs the query prepared, by its generic plan (psycopg prepares it after 5 runs): the
    cell's other years are found by both of the cell's parameters. With the indicator joined by its
    row instead, bench.api's data got a plan that read every figure of the department and kept one
    indicator's: 180 µs of a PUT's 375 in the database (BENCHMARKS.md)."""
    if backend != "postgresql":
        pytest.skip("a PostgreSQL plan")
    compiled = warnings.CELL.compile(dialect=session.get_bind().dialect)
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", str(compiled))))
    sql = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", str(compiled))
    # Every department with a figure of every indicator for ten years, as bench.api's data (the
    # seed's few rows would be read whole whatever the query).
    session.execute(
        text(
            "INSERT INTO observation (indicator_id, department_id, year, value, qualifier, updated_at, "
            "updated_by, version) SELECT indicator.id, department.id, y, 1, 'exact', now(), 'test', 1 "
            "FROM indicator, department, generate_series(1901, 1910) AS y"
        )
    )
    session.execute(text("ANALYZE observation"))
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    session.execute(text(f"PREPARE cell_plan AS {sql}"))
    try:
        plan = "\n".join(
            session.execute(text(f"EXPLAIN EXECUTE cell_plan({', '.join('1' for _ in names)})")).scalars()
        )
    finally:
        session.execute(text("DEALLOCATE cell_plan"))
    # by both of the cell's parameters in the index, never by the indicator's row joined afterwards
    assert "(o.indicator_id = indicator.id)" not in plan, plan
    assert re.search(r"Index Cond: \(\(indicator_id = \$\d\) AND \(department_id = \$\d\)\)", plan), plan
