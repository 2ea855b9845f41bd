import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens, bom_stripped, problem

URL = "/api/v1/compliance"
UM = ("service-work-share", "management-work-share", "enforcement-work-share")


def test_seed_2021_gives_ten_targets_seven_met_three_without_data(
    session_client: TestClient, auth: Tokens
) -> None:
    r = session_client.get(f"{URL}?year=2021", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["year"] == 2021
    assert body["summary"] == {
        "targets": 10,
        "met": 7,
        "not_met": 0,
        "indeterminate": 0,
        "no_data": 3,
        "rate": 1.0,
        "reported_rate": 0.7,
    }
    by_cell = {(i["indicator"], i["department"]): i for i in body["items"]}
    assert len(by_cell) == 10
    assert by_cell["deadline-compression", "zone"] == {
        "indicator": "deadline-compression",
        "department": "zone",
        "year": 2021,
        "target": {"operator": "at_least", "value": 75, "upper": None},
        "actual": 75,
        "qualifier": "at_least",
        "status": "met",
        "gap": 0,
        "reason": "已达标：实际值不少于75，目标不低于75，余量0。",
    }
    assert by_cell["enforcement-complaints", "zone"]["target"] == {
        "operator": "at_most",
        "value": 0,
        "upper": None,
    }
    assert (
        by_cell["enforcement-complaints", "zone"]["status"],
        by_cell["enforcement-complaints", "zone"]["gap"],
    ) == (
        "met",
        0,
    )
    for code in UM:
        item = by_cell[code, "urban-management"]
        assert (item["status"], item["actual"], item["qualifier"], item["gap"]) == (
            "no_data",
            None,
            None,
            None,
        )
    assert [(i["indicator"], i["department"]) for i in body["items"]] == sorted(by_cell)


# operator, value, upper, actual, qualifier, status, gap (None: no figure at all)
TABLE: list[tuple[str, str, str | None, str | None, str | None, str, str | None]] = [
    ("at_least", "75", None, "75", "exact", "met", "0"),
    ("at_least", "75", None, "75.000001", "exact", "met", "0.000001"),
    ("at_least", "75", None, "74.999999", "exact", "not_met", "-0.000001"),
    ("at_least", "75", None, "75", "at_least", "met", "0"),
    ("at_least", "75", None, "74.999999", "at_least", "indeterminate", "-0.000001"),
    ("at_least", "75", None, "70", "at_least", "indeterminate", "-5"),
    ("at_least", "1000", None, "1000", "more_than", "met", "0"),
    ("at_least", "75", None, "74.999999", "more_than", "indeterminate", "-0.000001"),
    ("at_least", "75", None, "74.9", "approximately", "indeterminate", "-0.1"),
    ("at_least", "75", None, "80", "approximately", "indeterminate", "5"),
    ("at_least", "75", None, None, None, "no_data", None),
    ("at_most", "20", None, "20", "exact", "met", "0"),
    ("at_most", "20", None, "19.5", "exact", "met", "0.5"),
    ("at_most", "20", None, "20.000001", "exact", "not_met", "-0.000001"),
    ("at_most", "20", None, "20", "at_least", "indeterminate", "0"),
    ("at_most", "20", None, "10", "at_least", "indeterminate", "10"),
    ("at_most", "20", None, "20.000001", "at_least", "not_met", "-0.000001"),
    ("at_most", "20", None, "20", "more_than", "not_met", "0"),
    ("at_most", "20", None, "19.999999", "more_than", "indeterminate", "0.000001"),
    ("at_most", "20", None, "10", "approximately", "indeterminate", "10"),
    ("at_most", "20", None, None, None, "no_data", None),
    ("exactly", "50", None, "50", "exact", "met", "0"),
    ("exactly", "50", None, "50.000001", "exact", "not_met", "-0.000001"),
    ("exactly", "50", None, "49.999999", "exact", "not_met", "-0.000001"),
    ("exactly", "50", None, "50", "at_least", "indeterminate", "0"),
    ("exactly", "50", None, "49", "at_least", "indeterminate", "-1"),
    ("exactly", "50", None, "51", "at_least", "not_met", "-1"),
    ("exactly", "50", None, "50", "more_than", "not_met", "0"),
    ("exactly", "50", None, "49.5", "more_than", "indeterminate", "-0.5"),
    ("exactly", "50", None, "50", "approximately", "indeterminate", "0"),
    ("exactly", "50", None, None, None, "no_data", None),
    ("between", "10", "20", "10", "exact", "met", "0"),
    ("between", "10", "20", "20", "exact", "met", "0"),
    ("between", "10", "20", "15", "exact", "met", "5"),
    ("between", "10", "20", "9.999999", "exact", "not_met", "-0.000001"),
    ("between", "10", "20", "20.000001", "exact", "not_met", "-0.000001"),
    ("between", "10", "20", "10", "at_least", "indeterminate", "0"),
    ("between", "10", "20", "5", "at_least", "indeterminate", "-5"),
    ("between", "10", "20", "20", "at_least", "indeterminate", "0"),
    ("between", "10", "20", "20.5", "at_least", "not_met", "-0.5"),
    ("between", "10", "20", "20", "more_than", "not_met", "0"),
    ("between", "10", "20", "19.999999", "more_than", "indeterminate", "0.000001"),
    ("between", "10", "20", "15", "approximately", "indeterminate", "5"),
    ("between", "10", "20", None, None, "no_data", None),
    ("between", "-1.5", "-0.5", "-1", "exact", "met", "0.5"),
    ("at_least", "123456789012.345679", None, "123456789012.345678", "exact", "not_met", "-0.000001"),
    ("at_most", "123456789012.345679", None, "123456789012.345678", "exact", "met", "0.000001"),
]


@pytest.fixture
def amount(session_client: TestClient, auth: Tokens) -> str:
    """An indicator of any decimal, so the table can reach every boundary."""
    body = {"code": "budget", "name": "预算", "value_type": "amount", "section": "money", "unit": "元"}
    assert session_client.post("/api/v1/indicators", json=body, headers=auth["admin"]).status_code == 201
    return "budget"


@pytest.mark.parametrize(
    ("operator", "value", "upper", "actual", "qualifier", "status", "gap"),
    TABLE,
    ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[4]}-{r[3]}" for r in TABLE],
)
def test_status_and_gap_for_every_operator_and_qualifier(
    session_client: TestClient,
    auth: Tokens,
    amount: str,
    operator: str,
    value: str,
    upper: str | None,
    actual: str | None,
    qualifier: str | None,
    status: str,
    gap: str | None,
) -> None:
    json_headers = {**auth["commission"], "content-type": "application/json"}
    target = f'{{"operator": "{operator}", "value": {value}, "upper": {upper or "null"}}}'
    r = session_client.put(f"/api/v1/targets/{amount}/zone/2010", content=target, headers=json_headers)
    assert r.status_code == 201, r.text
    if actual is not None:
        figure = f'{{"value": {actual}, "qualifier": "{qualifier}"}}'
        r = session_client.put(
            f"/api/v1/observations/{amount}/zone/2010", content=figure, headers=json_headers
        )
        assert r.status_code == 201, r.text

    r = session_client.get(f"{URL}?year=2010&indicator={amount}", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert (item["status"], item["qualifier"]) == (status, qualifier)
    # Compared as text: the answer must carry the exact digits, not a float near them.
    assert f'"gap":{gap if gap is not None else "null"}' in r.text
    assert f'"actual":{actual if actual is not None else "null"}' in r.text
    assert item["target"]["operator"] == operator
    summary = r.json()["summary"]
    assert summary["targets"] == 1 and summary[status] == 1
    assert summary["rate"] == {"met": 1, "not_met": 0}.get(status)


def _set(session_client: TestClient, auth: Tokens, kind: str, cell: str, body: dict[str, Any]) -> None:
    r = session_client.put(f"/api/v1/{kind}/{cell}", json=body, headers=auth["commission"])
    assert r.status_code in (200, 201), r.text


@pytest.mark.usefixtures("reopened_2021")
def test_rate_and_summary_over_mixed_statuses(session_client: TestClient, auth: Tokens) -> None:
    # 2021 on the seed: 7 met, 3 without data. Make one not met and one indeterminate.
    _set(session_client, auth, "observations", "service-work-share/urban-management/2021", {"value": 60})
    _set(
        session_client,
        auth,
        "observations",
        "management-work-share/urban-management/2021",
        {"value": 15, "qualifier": "approximately"},
    )
    summary = session_client.get(f"{URL}?year=2021", headers=auth["viewer"]).json()["summary"]
    assert summary == {
        "targets": 10,
        "met": 7,
        "not_met": 1,
        "indeterminate": 1,
        "no_data": 1,
        "rate": 0.875,
        "reported_rate": 0.9,
    }
    _set(session_client, auth, "observations", "enforcement-work-share/urban-management/2021", {"value": 12})
    body = session_client.get(f"{URL}?year=2021", headers=auth["viewer"])
    assert '"rate":0.7778' in body.text  # 7/9, rounded half away from zero to 4 places
    assert body.json()["summary"]["not_met"] == 2
    assert body.json()["summary"]["reported_rate"] == 1


@pytest.mark.usefixtures("reopened_2021")
def test_reported_rate_keeps_6_places(session_client: TestClient, auth: Tokens) -> None:
    query = f"{URL}?year=2021&department=urban-management"
    summary = session_client.get(query, headers=auth["viewer"]).json()["summary"]
    assert (summary["targets"], summary["reported_rate"]) == (3, 0)
    _set(session_client, auth, "observations", "service-work-share/urban-management/2021", {"value": 60})
    assert '"reported_rate":0.333333}' in session_client.get(query, headers=auth["viewer"]).text
    _set(session_client, auth, "observations", "management-work-share/urban-management/2021", {"value": 1})
    assert '"reported_rate":0.666667}' in session_client.get(query, headers=auth["viewer"]).text
    nothing = session_client.get(f"{URL}?year=2021&department=emergency-management", headers=auth["viewer"])
    assert nothing.json()["summary"]["reported_rate"] is None


def _cells(
    session_client: TestClient, auth: Tokens, query: str
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    r = session_client.get(f"{URL}?{query}", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    return body["summary"], [(i["indicator"], i["department"]) for i in body["items"]]


def test_filters(session_client: TestClient, auth: Tokens) -> None:
    summary, cells = _cells(session_client, auth, "year=2021&department=zone")
    assert summary["targets"] == len(cells) == 10  # zone and every department below it
    summary, cells = _cells(session_client, auth, "year=2021&department=urban-management")
    assert sorted(cells) == sorted((code, "urban-management") for code in UM)
    assert summary["no_data"] == 3 and summary["rate"] is None
    _, cells = _cells(session_client, auth, "year=2021&department=emergency-management")
    assert cells == []
    _, cells = _cells(
        session_client, auth, "year=2021&indicator=deadline-compression&indicator=enforcement-complaints"
    )
    assert cells == [("deadline-compression", "zone"), ("enforcement-complaints", "zone")]
    _, cells = _cells(session_client, auth, "year=2021&section=oversight")
    assert [c[0] for c in cells] == [
        "request-completion-rate",
        "request-instruction-rate",
        "request-reply-rate",
        "request-satisfaction-rate",
    ]
    _, cells = _cells(session_client, auth, "year=2021&section=enforcement&department=zone")
    assert sorted(c[0] for c in cells) == sorted(["enforcement-complaints", *UM])
    summary, cells = _cells(session_client, auth, "year=2021&status=no_data")
    assert sorted(cells) == sorted((code, "urban-management") for code in UM)
    assert summary["targets"] == 10 and summary["met"] == 7  # the summary ignores the status filter
    _, cells = _cells(session_client, auth, "year=2021&status=no_data&status=met")
    assert len(cells) == 10


def test_below_false_keeps_the_departments_named_only(session_client: TestClient, auth: Tokens) -> None:
    """`below=false`: the targets of the departments named, none of those below them; the summary
    counts the same targets; `below=true` is the default."""
    every = session_client.get(f"{URL}?year=2021&limit=1000", headers=auth["viewer"]).json()["items"]
    by_department: dict[str, list[tuple[str, str]]] = {}
    for item in every:
        by_department.setdefault(item["department"], []).append((item["indicator"], item["department"]))
    assert set(by_department) >= {"zone", "urban-management"}
    summary, cells = _cells(session_client, auth, "year=2021&department=zone&below=false")
    assert cells == by_department["zone"] and summary["targets"] == len(cells) < len(every)
    summary, cells = _cells(
        session_client, auth, "year=2021&department=zone&department=urban-management&below=false"
    )
    assert sorted(cells) == sorted(by_department["zone"] + by_department["urban-management"])
    assert summary["targets"] == len(cells)
    _, cells = _cells(session_client, auth, "year=2021&department=emergency-management&below=false")
    assert cells == []
    summary, cells = _cells(session_client, auth, "year=2021&department=zone&below=true")
    assert (summary["targets"], len(cells)) == (len(every), len(every))
    r = session_client.get(f"{URL}?year=2021&department=zone&below=maybe", headers=auth["viewer"])
    assert problem(r, 422)["errors"][0]["loc"] == ["query", "below"]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("", ["query", "year"]),
        ("year=2021&year_from=2020&year_to=2021", ["query", "year"]),
        ("year_from=2020", ["query", "year_to"]),
        ("year_to=2020", ["query", "year_from"]),
        ("year_from=2022&year_to=2020", ["query", "year_to"]),
        ("year=1899", ["query", "year"]),
        ("year=2021&department=nowhere", ["query", "department"]),
        ("year=2021&indicator=nothing", ["query", "indicator"]),
        ("year=2021&status=great", ["query", "status", 0]),
        ("year=2021&indicator=Bad_Code", ["query", "indicator", 0]),
    ],
)
def test_bad_queries_are_422_naming_the_parameter(
    session_client: TestClient, auth: Tokens, query: str, loc: list[str | int]
) -> None:
    body = problem(session_client.get(f"{URL}?{query}", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == loc


def test_trend_gives_a_summary_per_year(session_client: TestClient, auth: Tokens) -> None:
    _set(
        session_client, auth, "targets", "disputes-mediated/zone/2020", {"operator": "at_least", "value": 250}
    )
    _set(session_client, auth, "observations", "disputes-mediated/zone/2020", {"value": 230})
    r = session_client.get(f"{URL}?year_from=2019&year_to=2022&department=zone", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["year_from"], body["year_to"]) == (2019, 2022)
    years = {y["year"]: y for y in body["years"]}
    assert list(years) == [2019, 2020, 2021, 2022]
    empty = {
        "targets": 0,
        "met": 0,
        "not_met": 0,
        "indeterminate": 0,
        "no_data": 0,
        "rate": None,
        "reported_rate": None,
    }
    assert years[2019] == {"year": 2019, **empty}
    assert years[2020] == {
        "year": 2020,
        **empty,
        "targets": 1,
        "not_met": 1,
        "rate": 0,
        "reported_rate": 1,
    }
    assert years[2021] == {
        "year": 2021,
        **empty,
        "targets": 10,
        "met": 7,
        "no_data": 3,
        "rate": 1,
        "reported_rate": 0.7,
    }

    csv_r = session_client.get(
        f"{URL}?year_from=2020&year_to=2021", headers={**auth["viewer"], "Accept": "text/csv"}
    )
    assert csv_r.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(bom_stripped(csv_r)))) == [
        ["year", "targets", "met", "not_met", "indeterminate", "no_data", "rate", "reported_rate"],
        ["2020", "1", "0", "1", "0", "0", "0", "1"],
        ["2021", "10", "7", "0", "0", "3", "1", "0.7"],
    ]


def test_csv_gives_the_items(session_client: TestClient, auth: Tokens) -> None:
    _set(
        session_client,
        auth,
        "targets",
        "disputes-mediated/zone/2021",
        {"operator": "between", "value": 240, "upper": 250},
    )
    r = session_client.get(f"{URL}?year=2021", headers={**auth["viewer"], "Accept": "text/csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(bom_stripped(r))))
    assert len(rows) == 11
    assert list(rows[0]) == [
        "indicator",
        "department",
        "year",
        "target_operator",
        "target_value",
        "target_upper",
        "actual",
        "qualifier",
        "status",
        "gap",
        "reason",
    ]
    by_cell = {(row["indicator"], row["department"]): row for row in rows}
    assert by_cell["disputes-mediated", "zone"] == {
        "indicator": "disputes-mediated",
        "department": "zone",
        "year": "2021",
        "target_operator": "between",
        "target_value": "240",
        "target_upper": "250",
        "actual": "246",
        "qualifier": "exact",
        "status": "met",
        "gap": "4",
        "reason": "已达标：实际值246，目标在240至250之间，余量4。",
    }
    assert by_cell["service-work-share", "urban-management"]["actual"] == ""
    assert by_cell["service-work-share", "urban-management"]["status"] == "no_data"
    assert Decimal(by_cell["deadline-compression", "zone"]["gap"]) == 0


@pytest.mark.usefixtures("reopened_2021")
def test_etag_and_304_until_a_figure_changes(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(f"{URL}?year=2021", headers=auth["viewer"])
    etag = r.headers["etag"]
    assert "accept" in r.headers["vary"].lower()
    again = session_client.get(f"{URL}?year=2021", headers={**auth["viewer"], "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    csv_etag = session_client.get(
        f"{URL}?year=2021", headers={**auth["viewer"], "Accept": "text/csv"}
    ).headers["etag"]
    assert csv_etag != etag

    _set(session_client, auth, "observations", "service-work-share/urban-management/2021", {"value": 71})
    changed = session_client.get(f"{URL}?year=2021", headers={**auth["viewer"], "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["summary"]["met"] == 8


def test_compliance_needs_a_token(session_client: TestClient) -> None:
    r = problem(session_client.get(f"{URL}?year=2021"), 401)
    assert r["status"] == 401


def test_items_come_in_pages_with_the_summary_of_all(session_client: TestClient, auth: Tokens) -> None:
    everything = session_client.get(URL, params={"year": 2021}, headers=auth["viewer"]).json()
    assert everything["next_cursor"] is None
    cells, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"year": 2021, "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = session_client.get(URL, params=params, headers=auth["viewer"]).json()
        assert body["summary"] == everything["summary"]
        assert len(body["items"]) <= 3
        cells += [(i["indicator"], i["department"]) for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert cells == [(i["indicator"], i["department"]) for i in everything["items"]]
    assert cells == sorted(cells)
    problem(session_client.get(URL, params={"year": 2021, "cursor": "bm9wZQ"}, headers=auth["viewer"]), 400)
    problem(session_client.get(URL, params={"year": 2021, "limit": 0}, headers=auth["viewer"]), 422)
    # the CSV export is every item, unpaged
    rows = session_client.get(
        URL, params={"year": 2021, "limit": 2}, headers={**auth["viewer"], "Accept": "text/csv"}
    )
    assert len(list(csv.reader(io.StringIO(bom_stripped(rows))))) == 11


# operator, value, upper, actual, qualifier, the reason in Chinese, in English
REASONS: list[tuple[str, str, str | None, str | None, str | None, str, str]] = [
    (
        "at_least", "75", None, "80", "exact",
        "已达标：实际值80，目标不低于75，余量5。",
        "Met: the figure 80 is within the target of at least 75, with a margin of 5.",
    ),
    (
        "between", "-1.5", "-0.5", "-1", "exact",
        "已达标：实际值-1，目标在-1.5至-0.5之间，余量0.5。",
        "Met: the figure -1 is within the target of between -1.5 and -0.5, with a margin of 0.5.",
    ),
    (
        "at_least", "75", None, "74.5", "exact",
        "未达标：实际值74.5，目标不低于75，相差0.5。",
        "Not met: the figure 74.5 misses the target of at least 75 by 0.5.",
    ),
    (
        "exactly", "50", None, "49.999999", "exact",
        "未达标：实际值49.999999，目标等于50，相差0.000001。",
        "Not met: the figure 49.999999 misses the target of exactly 50 by 0.000001.",
    ),
    (
        "at_most", "20", None, "20.000001", "at_least",
        "未达标：实际值不少于20.000001，目标不高于20，相差0.000001。",
        "Not met: the figure at least 20.000001 misses the target of at most 20 by 0.000001.",
    ),
    (
        "at_least", "75", None, "74.9", "approximately",
        "无法判定：实际值约74.9是约数，上下界都不确定，无法判断是否不低于75。",
        "Indeterminate: the figure approximately 74.9 is an estimate that leaves both bounds open, "
        "so whether it is at least 75 cannot be told.",
    ),
    (
        "at_least", "75", None, "70", "at_least",
        "无法判定：实际值不少于70只给出下界，上界未定，无法判断是否不低于75。",
        "Indeterminate: the figure at least 70 gives only a lower bound and leaves the upper bound "
        "open, so whether it is at least 75 cannot be told.",
    ),
    (
        "between", "10", "20", "19.999999", "more_than",
        "无法判定：实际值多于19.999999只给出下界，上界未定，无法判断是否在10至20之间。",
        "Indeterminate: the figure more than 19.999999 gives only a lower bound and leaves the upper "
        "bound open, so whether it is between 10 and 20 cannot be told.",
    ),
    (
        "exactly", "50", None, None, None,
        "无数据：未报告实际值，无法判断是否等于50。",
        "No data: no figure was reported, so whether it is exactly 50 cannot be told.",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("operator", "value", "upper", "actual", "qualifier", "zh", "en"),
    REASONS,
    ids=[f"{r[0]}-{r[4]}-{r[3]}" for r in REASONS],
)
def test_each_item_says_why_in_chinese_or_english(
    session_client: TestClient,
    auth: Tokens,
    amount: str,
    operator: str,
    value: str,
    upper: str | None,
    actual: str | None,
    qualifier: str | None,
    zh: str,
    en: str,
) -> None:
    json_headers = {**auth["commission"], "content-type": "application/json"}
    target = f'{{"operator": "{operator}", "value": {value}, "upper": {upper or "null"}}}'
    r = session_client.put(f"/api/v1/targets/{amount}/zone/2019", content=target, headers=json_headers)
    assert r.status_code == 201, r.text
    if actual is not None:
        figure = f'{{"value": {actual}, "qualifier": "{qualifier}"}}'
        r = session_client.put(
            f"/api/v1/observations/{amount}/zone/2019", content=figure, headers=json_headers
        )
        assert r.status_code == 201, r.text
    for lang, reason in (("", zh), ("&lang=zh", zh), ("&lang=en", en)):
        r = session_client.get(f"{URL}?year=2019&indicator={amount}{lang}", headers=auth["viewer"])
        assert r.status_code == 200, r.text
        assert [i["reason"] for i in r.json()["items"]] == [reason]
        r = session_client.get(f"{URL}?year=2019&indicator={amount}{lang}&format=csv", headers=auth["viewer"])
        assert [row["reason"] for row in csv.DictReader(io.StringIO(bom_stripped(r)))] == [reason]


def test_an_unknown_language_is_422_naming_lang(session_client: TestClient, auth: Tokens) -> None:
    body = problem(session_client.get(f"{URL}?year=2021&lang=fr", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == ["query", "lang"]
