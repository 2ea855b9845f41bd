"""GET /api/v1/progress as a client uses it: the seed, pages, filters, refusals, files, ETags."""

import csv
import io
from typing import Any

import openpyxl
from fastapi.testclient import TestClient

from app.targets.progress.report import ITEM_COLUMNS
from tests.helpers import Tokens, bom_stripped, problem, put

URL = "/api/v1/progress"


def items(client: TestClient, auth: Tokens, **params: Any) -> list[dict[str, Any]]:
    r = client.get(URL, params={"limit": 1000, **params}, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    result: list[dict[str, Any]] = r.json()["items"]
    return result


def test_seed_2021_agrees_with_compliance(session_client: TestClient, auth: Tokens) -> None:
    """The seed has one year of figures: a met target is achieved, any other has too few figures."""
    progress = items(session_client, auth, year=2021)
    r = session_client.get("/api/v1/compliance", params={"year": 2021, "limit": 1000}, headers=auth["viewer"])
    compliance = {(i["indicator"], i["department"]): i for i in r.json()["items"]}
    assert [(i["indicator"], i["department"]) for i in progress] == sorted(compliance)
    for item in progress:
        judged = compliance[item["indicator"], item["department"]]
        assert item["target"] == judged["target"]
        want = "target_achieved" if judged["status"] == "met" else "not_available"
        assert item["status"] == want, item
        assert item["cagr_observed"] is item["cagr_required"] is item["ratio"] is None
        if judged["actual"] is None:
            assert item["base"] is item["latest"] is None
        else:
            latest = {"year": 2021, "value": judged["actual"], "qualifier": judged["qualifier"]}
            assert item["latest"] == item["base"] == latest
    assert sum(i["status"] == "target_achieved" for i in progress) == 7


def test_a_year_before_gives_a_measure(session_client: TestClient, auth: Tokens) -> None:
    """deadline-compression, zone: 70 in 2020, at least 75 in 2021 against at_least 75: achieved,
    with the growth (75/70 − 1 = 0.071429) and nothing required (aim 75 over one year: 0.071429)."""
    put(session_client, auth, "deadline-compression", "zone", 2020, "70")
    [item] = items(session_client, auth, year=2021, indicator="deadline-compression", department="zone")
    assert item["status"] == "target_achieved"
    assert item["base"] == {"year": 2020, "value": 70, "qualifier": "exact"}
    assert item["latest"] == {"year": 2021, "value": 75, "qualifier": "at_least"}
    assert (item["cagr_observed"], item["cagr_required"], item["ratio"]) == (0.071429, 0.071429, 1)
    # base_year after the only earlier figure: one figure left
    [item] = items(session_client, auth, year=2021, base_year=2021, indicator="deadline-compression")
    assert (item["status"], item["base"]["year"], item["ratio"]) == ("target_achieved", 2021, None)


def test_pages_follow_the_cursor(session_client: TestClient, auth: Tokens) -> None:
    every = items(session_client, auth, year=2021)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"year": 2021, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        r = session_client.get(URL, params=params, headers=auth["viewer"])
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 3
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == every and len(every) == 10


def test_filters(session_client: TestClient, auth: Tokens) -> None:
    every = items(session_client, auth, year=2021)
    um = items(session_client, auth, year=2021, department="urban-management")
    assert um and um == [i for i in every if i["department"] == "urban-management"]
    assert items(session_client, auth, year=2021, department="emergency-management") == []
    assert items(session_client, auth, year=2021, department="zone") == every  # the whole tree
    one = items(session_client, auth, year=2021, indicator="deadline-compression")
    assert one and {i["indicator"] for i in one} == {"deadline-compression"}
    assert items(session_client, auth, year=2030) == []


def test_refusals_name_the_parameter(session_client: TestClient, auth: Tokens) -> None:
    viewer = auth["viewer"]
    cases = [
        ({"year": 2021, "department": "nowhere"}, ["query", "department"]),
        ({"year": 2021, "indicator": "nothing"}, ["query", "indicator"]),
        ({"year": 2021, "base_year": 2022}, ["query", "base_year"]),
        ({"year": 1800}, ["query", "year"]),
        ({}, ["query", "year"]),
        ({"year": 2021, "base_year": "x"}, ["query", "base_year"]),
    ]
    for params, loc in cases:
        body = problem(session_client.get(URL, params=params, headers=viewer), 422)
        assert loc in [e["loc"] for e in body["errors"]], (params, body)
    problem(session_client.get(URL, params={"year": 2021, "cursor": "garbage"}, headers=viewer), 400)
    problem(session_client.get(URL, params={"year": 2021}), 401)


def test_csv_and_workbook_hold_every_item(session_client: TestClient, auth: Tokens) -> None:
    put(session_client, auth, "deadline-compression", "zone", 2020, "70")
    every = items(session_client, auth, year=2021)
    r = session_client.get(URL, params={"year": 2021, "format": "csv"}, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(bom_stripped(r))))
    assert tuple(rows[0]) == ITEM_COLUMNS
    assert {"base_year", "latest_value", "cagr_observed", "ratio", "status"} <= set(rows[0])
    assert len(rows) == len(every) + 1
    by_name = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(r["indicator"], r["department"], r["status"]) for r in by_name] == [
        (i["indicator"], i["department"], i["status"]) for i in every
    ]
    zone = next(r for r in by_name if (r["indicator"], r["department"]) == ("deadline-compression", "zone"))
    assert (zone["base_year"], zone["base_value"], zone["cagr_observed"]) == ("2020", "70", "0.071429")
    r = session_client.get(URL, params={"year": 2021, "format": "xlsx"}, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    sheet = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True).active
    assert sheet is not None
    table = list(sheet.iter_rows(values_only=True))
    assert tuple(table[0]) == ITEM_COLUMNS and len(table) == len(every) + 1


def test_etag_and_304(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(URL, params={"year": 2021}, headers=auth["viewer"])
    etag = r.headers["etag"]
    again = session_client.get(URL, params={"year": 2021}, headers={**auth["viewer"], "If-None-Match": etag})
    assert again.status_code == 304
    put(session_client, auth, "deadline-compression", "zone", 2020, "70")
    changed = session_client.get(
        URL, params={"year": 2021}, headers={**auth["viewer"], "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_file_rows_match_the_json(session_client: TestClient, auth: Tokens) -> None:
    """Every column of the CSV is the JSON item's field (nested ones flattened), for measured items
    and for those without figures."""
    put(session_client, auth, "deadline-compression", "zone", 2020, "70")
    every = items(session_client, auth, year=2021)
    r = session_client.get(URL, params={"year": 2021, "format": "csv"}, headers=auth["viewer"])
    rows = list(csv.reader(io.StringIO(bom_stripped(r))))
    for item, row in zip(every, rows[1:], strict=True):
        flat: dict[str, Any] = {}
        for key, value in item.items():
            if key in ("target", "base", "latest"):
                for sub in (
                    ("operator", "value", "upper") if key == "target" else ("year", "value", "qualifier")
                ):
                    flat[f"{key}_{sub}"] = None if value is None else value[sub]
            else:
                flat[key] = value
        assert list(flat) == rows[0]
        as_text = ["" if v is None else str(int(v) if isinstance(v, float) and v.is_integer() else v)
                   for v in flat.values()]  # fmt: skip
        assert row == as_text
