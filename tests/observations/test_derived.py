"""Derived indicators' figures: computed when read, exactly, never written (API.md "Derived indicators").

The arithmetic is worked by hand in TABLE: a ratio of two stored indicators, per year of one department.
"""

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.indicators.models import Indicator
from app.observations.models import Observation, ObservationRevision
from tests.helpers import Tokens, problem, put

OBS = "/api/v1/observations"
RATIO = "t-ratio"
# year: (a, a's qualifier, b, b's qualifier, #{t-a} / #{t-b} to 6 places half away from zero, qualifier);
# None: no figure (an operand missing, or a division by zero).
TABLE: dict[int, tuple[str | None, str, str | None, str, str | None, str | None]] = {
    2010: ("1584", "exact", "528", "exact", "3", "exact"),
    2011: ("2", "exact", "3", "exact", "0.666667", "exact"),  # 0.6666666... rounds up
    2012: ("-2", "exact", "3", "exact", "-0.666667", "exact"),  # away from zero
    2013: ("1", "exact", "2000000", "exact", "0.000001", "exact"),  # 0.0000005: half, away from zero
    2014: ("-1", "exact", "2000000", "exact", "-0.000001", "exact"),
    2015: ("1", "exact", "3000000", "exact", "0", "exact"),  # 0.000000333...: below half
    2016: ("75", "at_least", "100", "exact", "0.75", "approximately"),  # a bound is not exact
    2017: ("1", "more_than", "4", "approximately", "0.25", "approximately"),
    2018: ("5", "exact", "0", "exact", None, None),  # division by zero
    2019: ("5", "exact", None, "exact", None, None),  # an operand missing
}


def _indicator(client: TestClient, auth: Tokens, code: str, **extra: Any) -> None:
    body = {"code": code, "name": code, "value_type": "amount", "unit": "件", **extra}
    r = client.post("/api/v1/indicators", json=body, headers=auth["admin"])
    assert r.status_code == 201, r.text


@pytest.fixture
def ratio(session_client: TestClient, auth: Tokens) -> str:
    """t-ratio = #{t-a} / #{t-b}, with TABLE's figures for the zone."""
    _indicator(session_client, auth, "t-a")
    _indicator(session_client, auth, "t-b")
    _indicator(session_client, auth, RATIO, formula="#{t-a} / #{t-b}", aggregation="none")
    for year, (a, qa, b, qb, _, _) in TABLE.items():
        if a is not None:
            put(session_client, auth, "t-a", "zone", year, a, qa)
        if b is not None:
            put(session_client, auth, "t-b", "zone", year, b, qb)
    return RATIO


def _stored_count(session: Session, code: str) -> int:
    indicator = select(Indicator.id).where(Indicator.code == code).scalar_subquery()
    return sum(
        session.scalar(select(func.count()).select_from(model).where(model.indicator_id == indicator)) or 0
        for model in (Observation, ObservationRevision)
    )


def test_each_figure_is_the_formula_to_six_places(
    session_client: TestClient, auth: Tokens, ratio: str
) -> None:
    for year, (*_, value, qualifier) in TABLE.items():
        r = session_client.get(f"{OBS}/{ratio}/zone/{year}", headers=auth["viewer"])
        if value is None:
            problem(r, 404)
            continue
        assert r.status_code == 200, (year, r.text)
        body = r.json()
        assert f'"value":{value},' in r.text, (year, r.text)
        assert body["qualifier"] == qualifier, year
        assert (body["version"], body["updated_by"], body["note"], body["source"]) == (None, None, None, None)
        assert body["updated_at"] and r.headers["etag"]
        again = session_client.get(
            f"{OBS}/{ratio}/zone/{year}", headers={**auth["viewer"], "if-none-match": r.headers["etag"]}
        )
        assert again.status_code == 304


def test_lists_series_and_exports_carry_the_same_figures(
    session_client: TestClient, auth: Tokens, ratio: str, session: Session
) -> None:
    expected = [(y, v, q) for y, (*_, v, q) in TABLE.items() if v is not None]
    listed = session_client.get(OBS, params={"indicator": ratio}, headers=auth["viewer"]).json()
    assert [(i["year"], i["qualifier"], i["version"]) for i in listed["items"]] == [
        (y, q, None) for y, _, q in expected
    ]
    for _, value, _ in expected:
        assert (
            f'"value":{value},'
            in session_client.get(OBS, params={"indicator": ratio}, headers=auth["viewer"]).text
        )
    # Two at a time: the cursor of derived figures goes on from the last cell.
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"indicator": ratio, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = session_client.get(OBS, params=params, headers=auth["viewer"]).json()
        seen += [i["year"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [y for y, _, _ in expected]

    series = session_client.get(
        "/api/v1/series", params={"indicator": ratio, "department": "zone"}, headers=auth["viewer"]
    )
    points = series.json()["series"][0]["points"]
    assert [(p["year"], p["qualifier"]) for p in points] == [(y, q) for y, _, q in expected]
    for _, value, _ in expected:
        assert f'"value":{value},' in series.text

    exported = session_client.get(OBS, params={"indicator": ratio, "format": "csv"}, headers=auth["viewer"])
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))[1:]
    assert rows == [[ratio, "zone", str(y), v, q, "", ""] for y, v, q in expected]
    # Listing a stored operand computes nothing and lists only its own figures.
    operand = session_client.get(OBS, params={"indicator": "t-a"}, headers=auth["viewer"]).json()["items"]
    assert {i["indicator"] for i in operand} == {"t-a"} and len(operand) == len(TABLE)
    assert _stored_count(session, ratio) == 0  # nothing of the derived indicator is ever stored


def test_changing_an_operand_changes_the_derived_figure_at_once(
    session_client: TestClient, auth: Tokens, ratio: str
) -> None:
    put(session_client, auth, "t-b", "zone", 2010, "1056")
    assert '"value":1.5,' in session_client.get(f"{OBS}/{ratio}/zone/2010", headers=auth["viewer"]).text
    r = session_client.delete(f"{OBS}/t-b/zone/2010", headers=auth["commission"])
    assert r.status_code == 204
    problem(session_client.get(f"{OBS}/{ratio}/zone/2010", headers=auth["viewer"]), 404)


def test_writes_are_409_and_history_names_the_operands(
    session_client: TestClient, auth: Tokens, ratio: str, session: Session
) -> None:
    cell = f"{OBS}/{ratio}/zone/2010"
    body = problem(session_client.put(cell, json={"value": 4}, headers=auth["commission"]), 409)
    assert body["type"].endswith("/derived") and "t-ratio" in body["detail"]
    r = session_client.patch(
        cell,
        json={"value": 4},
        headers={**auth["commission"], "content-type": "application/merge-patch+json"},
    )
    assert problem(r, 409)["type"].endswith("/derived")
    assert problem(session_client.delete(cell, headers=auth["commission"]), 409)["type"].endswith("/derived")
    history = problem(session_client.get(f"{cell}/history", headers=auth["viewer"]), 409)
    assert "t-a/zone/2010 (version 1)" in history["detail"]
    assert "t-b/zone/2010 (version 1)" in history["detail"]
    assert _stored_count(session, ratio) == 0
    assert '"value":3,' in session_client.get(cell, headers=auth["viewer"]).text


def test_batch_rows_of_a_derived_indicator(
    session_client: TestClient, auth: Tokens, ratio: str, session: Session
) -> None:
    """The computed figure sent back (an export re-imported) is unchanged; any other is refused."""
    rows = [
        {"indicator": ratio, "department": "zone", "year": 2010, "value": 3},
        {"indicator": ratio, "department": "zone", "year": 2011, "value": 0.666667},
        {"indicator": "t-a", "department": "zone", "year": 2019, "value": 6},
    ]
    r = session_client.post(OBS, json={"observations": rows}, headers=auth["commission"])
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 1, 2)
    wrong = [{"indicator": ratio, "department": "zone", "year": 2010, "value": 4}, rows[2]]
    r = session_client.post(OBS, json={"observations": wrong}, headers=auth["commission"])
    body = problem(r, 422)
    assert [(e["row"], e["type"], e["loc"], e["indicator"]) for e in body["errors"]] == [
        (1, "derived", ["indicator"], ratio)
    ]
    r = session_client.post(OBS, json={"observations": wrong, "atomic": False}, headers=auth["commission"])
    assert (r.json()["rejected"], r.json()["unchanged"]) == (1, 1)
    assert _stored_count(session, ratio) == 0


def test_a_derived_indicator_cannot_be_assigned_nor_made_from_one_with_figures(
    session_client: TestClient, auth: Tokens, ratio: str, session: Session
) -> None:
    r = session_client.put(
        f"/api/v1/assignments/{ratio}/zone", json={"from_year": 2021}, headers=auth["commission"]
    )
    assert problem(r, 422)["errors"][0]["type"] == "derived"
    r = session_client.post(
        "/api/v1/assignments",
        json={"assignments": [{"indicator": ratio, "department": "zone", "from_year": 2021}]},
        headers=auth["commission"],
    )
    assert problem(r, 422)["errors"][0]["type"] == "derived"
    # An indicator with figures cannot become derived: they would be hidden.
    r = session_client.patch(
        "/api/v1/indicators/legal-lectures", json={"formula": "#{t-a} * 2"}, headers=auth["admin"]
    )
    problem(r, 409)
    lectures = session.scalar(select(Indicator).where(Indicator.code == "legal-lectures"))
    assert lectures is not None and lectures.formula is None


def test_the_seeded_derived_figure(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(f"{OBS}/seals-per-new-firm/zone/2021", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert '"value":3,' in r.text and r.json()["qualifier"] == "exact" and r.json()["version"] is None
    indicator = session_client.get("/api/v1/indicators/seals-per-new-firm", headers=auth["viewer"]).json()
    assert indicator["formula"] == "#{free-seals} / #{new-firms-sealed}"
    assert (indicator["unit"], indicator["aggregation"], indicator["value_type"]) == (
        "枚/家",
        "none",
        "amount",
    )


def test_cursors_of_one_kind_of_list_are_refused_by_another(
    session_client: TestClient, auth: Tokens, ratio: str
) -> None:
    from app.core.pagination import encode_cursor

    derived_cursor = encode_cursor([ratio, "zone", 2010])
    for params in (
        {"indicator": "t-a", "cursor": derived_cursor},  # a stored indicator's list pages by id
        {"indicator": ratio, "cursor": encode_cursor(5)},  # a derived one's by cell
        {"indicator": ratio, "cursor": encode_cursor([ratio, 2010])},
        {"cursor": encode_cursor("zone")},
    ):
        problem(session_client.get(OBS, params=params, headers=auth["viewer"]), 400)
    after = session_client.get(
        OBS, params={"indicator": ratio, "cursor": derived_cursor}, headers=auth["viewer"]
    )
    assert [i["year"] for i in after.json()["items"]] == [
        y for y, (*_, v, _) in TABLE.items() if v and y > 2010
    ]
