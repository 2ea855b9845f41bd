from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import Tokens, problem, revisions, stored

URL = "/api/v1/observations"


def test_seeded_figure_reads_back_with_qualifier_and_source(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(f"{URL}/deadline-compression/zone/2021", headers=auth["viewer"])
    assert r.status_code == 200
    body = r.json()
    assert body["value"] == 75
    assert body["qualifier"] == "at_least"
    assert body["source"] == "report-2021 §一(二)"
    assert body["version"] == 1
    assert body["updated_by"] == "seed"
    assert body["updated_at"].endswith("Z")
    assert r.headers["etag"] == '"1"'


def test_record_then_correct_keeps_both_versions(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    cell = f"{URL}/disputes-mediated/zone/2020"
    r = session_client.put(cell, json={"value": 230, "source": "report-2020"}, headers=auth["clerk-zone"])
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1
    assert r.headers["location"] == "/api/v1/observations/disputes-mediated/zone/2020"
    r = session_client.put(cell, json={"value": 231, "source": "report-2020"}, headers=auth["clerk-zone"])
    assert r.status_code == 200
    assert r.json()["value"] == 231
    assert r.json()["version"] == 2

    row = stored(session, "disputes-mediated", "zone", 2020)
    assert row is not None and row.value == Decimal(231) and row.version == 2
    assert row.updated_by == "clerk-zone"

    history = session_client.get(f"{cell}/history", headers=auth["viewer"]).json()["items"]
    assert [(h["version"], h["action"], h["value_before"], h["value_after"]) for h in history] == [
        (1, "create", None, 230),
        (2, "update", 230, 231),
    ]
    assert all(h["changed_by"] == "clerk-zone" and h["changed_at"].endswith("Z") for h in history)


def test_same_value_again_changes_nothing(session_client: TestClient, auth: Tokens, session: Session) -> None:
    cell = f"{URL}/legal-lectures/zone/2022"
    first = session_client.put(cell, json={"value": 7}, headers=auth["clerk-zone"])
    again = session_client.put(cell, json={"value": 7}, headers=auth["clerk-zone"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["version"] == 1
    assert len(revisions(session, "legal-lectures", "zone", 2022)) == 1


@pytest.mark.usefixtures("reopened_2021")
@pytest.mark.parametrize("value", ["0.1", "1234567.891", "123456789012.345678", "-42.5", "0"])
def test_amounts_round_trip_digit_for_digit(
    session_client: TestClient, auth: Tokens, session: Session, value: str
) -> None:
    session_client.post(
        "/api/v1/indicators",
        json={"code": "budget", "name": "预算", "value_type": "amount", "unit": "元"},
        headers=auth["admin"],
    )
    body = f'{{"value": {value}}}'
    r = session_client.put(
        f"{URL}/budget/zone/2021",
        content=body,
        headers={**auth["commission"], "content-type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert f'"value":{value}' in r.text
    assert f'"value":{value}' in session_client.get(f"{URL}/budget/zone/2021", headers=auth["viewer"]).text
    row = stored(session, "budget", "zone", 2021)
    assert row is not None and row.value == Decimal(value)


@pytest.mark.parametrize(
    ("indicator", "value", "rule"),
    [
        ("free-seals", 1.5, "whole number"),
        ("free-seals", -1, "whole number"),
        ("deadline-compression", 100.5, "between 0 and 100"),
        ("deadline-compression", -0.1, "between 0 and 100"),
        ("business-environment-rank", 0, "1 or more"),
    ],
)
def test_value_must_fit_the_value_type(
    session_client: TestClient, auth: Tokens, session: Session, indicator: str, value: float, rule: str
) -> None:
    r = session_client.put(f"{URL}/{indicator}/zone/2023", json={"value": value}, headers=auth["commission"])
    body = problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "value"]
    assert rule in body["errors"][0]["msg"]
    assert stored(session, indicator, "zone", 2023) is None


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ('{"value": "75"}', ["body", "value"]),
        ('{"value": true}', ["body", "value"]),
        ('{"value": NaN}', ["body", 0]),
        ('{"value": Infinity}', ["body", 0]),
        ('{"value": 1e30}', ["body", "value"]),
        ('{"value": 0.0000001}', ["body", "value"]),
        ('{"value": 1, "version": 9}', ["body", "version"]),
        ('{"value": 1, "updated_by": "someone"}', ["body", "updated_by"]),
        ('{"value": 1, "qualifier": "roughly"}', ["body", "qualifier"]),
        ("{}", ["body", "value"]),
        ("not json", ["body", 0]),
    ],
)
def test_bad_bodies_are_rejected_by_field(
    session_client: TestClient, auth: Tokens, session: Session, raw: str, loc: list[object]
) -> None:
    r = session_client.put(
        f"{URL}/free-seals/zone/2024",
        content=raw,
        headers={**auth["commission"], "content-type": "application/json"},
    )
    body = problem(r, 422)
    assert body["errors"][0]["loc"] == loc, body
    assert stored(session, "free-seals", "zone", 2024) is None


def test_unknown_codes_and_years(session_client: TestClient, auth: Tokens) -> None:
    problem(session_client.get(f"{URL}/nope/zone/2021", headers=auth["viewer"]), 404)
    problem(session_client.get(f"{URL}/free-seals/nope/2021", headers=auth["viewer"]), 404)
    problem(session_client.get(f"{URL}/free-seals/zone/1999", headers=auth["viewer"]), 404)
    body = problem(session_client.get(f"{URL}/free-seals/zone/2200", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == ["path", "year"]
    body = problem(session_client.get(f"{URL}/Bad_Code/zone/2021", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == ["path", "indicator"]


@pytest.mark.usefixtures("reopened_2021")
def test_etag_if_none_match_and_stale_if_match(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    cell = f"{URL}/free-seals/zone/2021"
    r = session_client.get(cell, headers=auth["viewer"])
    etag = r.headers["etag"]
    assert session_client.get(cell, headers={**auth["viewer"], "If-None-Match": etag}).status_code == 304

    r = session_client.put(cell, json={"value": 1600}, headers={**auth["commission"], "If-Match": etag})
    assert r.status_code == 200
    new_etag = r.headers["etag"]
    assert new_etag != etag

    stale = session_client.put(cell, json={"value": 1700}, headers={**auth["commission"], "If-Match": etag})
    problem(stale, 412)
    row = stored(session, "free-seals", "zone", 2021)
    assert row is not None and row.value == 1600 and row.version == 2
    problem(session_client.delete(cell, headers={**auth["commission"], "If-Match": etag}), 412)
    assert stored(session, "free-seals", "zone", 2021) is not None

    create_only = session_client.put(
        cell, json={"value": 1}, headers={**auth["commission"], "If-None-Match": "*"}
    )
    problem(create_only, 412)


@pytest.mark.usefixtures("reopened_2021")
def test_delete_is_a_version_and_recreate_continues(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    cell = f"{URL}/expert-inspections/emergency-management/2021"
    assert session_client.delete(cell, headers=auth["clerk-em"]).status_code == 204
    assert stored(session, "expert-inspections", "emergency-management", 2021) is None
    problem(session_client.get(cell, headers=auth["viewer"]), 404)
    problem(session_client.delete(cell, headers=auth["clerk-em"]), 404)

    r = session_client.put(cell, json={"value": 28}, headers=auth["clerk-em"])
    assert r.status_code == 201 and r.json()["version"] == 3
    history = session_client.get(f"{cell}/history", headers=auth["viewer"]).json()["items"]
    assert [(h["version"], h["action"], h["value_before"], h["value_after"]) for h in history] == [
        (1, "create", None, 27),
        (2, "delete", 27, None),
        (3, "create", None, 28),
    ]


def test_history_of_a_cell_never_recorded_is_404(session_client: TestClient, auth: Tokens) -> None:
    problem(session_client.get(f"{URL}/free-seals/zone/2030/history", headers=auth["viewer"]), 404)


def test_list_filters_and_cursor_pagination(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(URL, params={"department": "emergency-management"}, headers=auth["viewer"])
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 6
    assert {i["department"] for i in items} == {"emergency-management"}

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 10, "year": 2021}
        if cursor:
            params["cursor"] = cursor
        page = session_client.get(URL, params=params, headers=auth["viewer"]).json()
        assert "items" in page, page
        seen += [f"{i['indicator']}/{i['department']}" for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # every 2021 figure of the report, once, and the derived seals-per-new-firm computed from two of them
    assert len(seen) == len(set(seen)) == 32
    assert seen[-1] == "seals-per-new-firm/zone"

    r = session_client.get(URL, params={"year_from": 2020, "year_to": 2020}, headers=auth["viewer"])
    assert [i["indicator"] for i in r.json()["items"]] == ["business-environment-rank"]

    body = problem(session_client.get(URL, params={"indicator": "nope"}, headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == ["query", "indicator"]
    problem(session_client.get(URL, params={"limit": 1001}, headers=auth["viewer"]), 422)
    problem(session_client.get(URL, params={"cursor": "!!!"}, headers=auth["viewer"]), 400)
