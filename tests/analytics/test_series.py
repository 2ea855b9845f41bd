import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens, bom_stripped, problem, put

URL = "/api/v1/series"
FIGURES_2021 = {"t-root": "10", "t-mid-a": "20", "t-mid-b": "30", "t-leaf-a1": "1.5", "t-leaf-a2": "2.25"}
FIGURES_2020 = {"t-root": "1", "t-leaf-a1": "2"}

# Each department with everything below it, by aggregation: {department: [(year, value, qualifier)]}.
ROLLED: dict[str, dict[str, list[tuple[int, str, str]]]] = {
    "sum": {
        "t-root": [(2020, "3", "exact"), (2021, "63.75", "exact")],
        "t-mid-a": [(2020, "2", "exact"), (2021, "23.75", "exact")],
        "t-mid-b": [(2021, "30", "exact")],
        "t-leaf-a1": [(2020, "2", "exact"), (2021, "1.5", "exact")],
        "t-leaf-a2": [(2021, "2.25", "exact")],
    },
    "mean": {
        "t-root": [(2020, "1.5", "exact"), (2021, "12.75", "exact")],
        # 23.75 / 3 = 7.91666..., kept to 6 places, so no longer exact
        "t-mid-a": [(2020, "2", "exact"), (2021, "7.916667", "approximately")],
        "t-mid-b": [(2021, "30", "exact")],
        "t-leaf-a1": [(2020, "2", "exact"), (2021, "1.5", "exact")],
        "t-leaf-a2": [(2021, "2.25", "exact")],
    },
    "min": {
        "t-root": [(2020, "1", "exact"), (2021, "1.5", "exact")],
        "t-mid-a": [(2020, "2", "exact"), (2021, "1.5", "exact")],
        "t-mid-b": [(2021, "30", "exact")],
        "t-leaf-a1": [(2020, "2", "exact"), (2021, "1.5", "exact")],
        "t-leaf-a2": [(2021, "2.25", "exact")],
    },
    "max": {
        "t-root": [(2020, "2", "exact"), (2021, "30", "exact")],
        "t-mid-a": [(2020, "2", "exact"), (2021, "20", "exact")],
        "t-mid-b": [(2021, "30", "exact")],
        "t-leaf-a1": [(2020, "2", "exact"), (2021, "1.5", "exact")],
        "t-leaf-a2": [(2021, "2.25", "exact")],
    },
}


def record(session_client: TestClient, auth: Tokens, indicator: str) -> None:
    for year, figures in ((2021, FIGURES_2021), (2020, FIGURES_2020)):
        for department, value in figures.items():
            put(session_client, auth, indicator, department, year, value)


def points_text(series: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(p["year"], str(p["value"]), p["qualifier"]) for p in series["points"]]


@pytest.mark.parametrize("aggregation", ["sum", "mean", "min", "max"])
def test_rollup_on_a_three_level_tree(
    session_client: TestClient, auth: Tokens, tree: dict[str, str | None], aggregation: str
) -> None:
    indicator = f"agg-{aggregation}"
    record(session_client, auth, indicator)
    expected = ROLLED[aggregation]

    r = session_client.get(f"{URL}?indicator={indicator}&rollup=true", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    series = r.json()["series"]
    # every department with data in it or below it, by code
    assert [s["department"] for s in series] == sorted(expected)
    for s in series:
        assert (s["indicator"], s["unit"]) == (indicator, "元")
        want = expected[s["department"]]
        assert [(p["year"], p["qualifier"]) for p in s["points"]] == [(y, q) for y, _, q in want]
        for point, (_, value, _) in zip(s["points"], want, strict=True):
            assert f'"year":{point["year"]},"value":{value},' in r.text

    named = session_client.get(
        f"{URL}?indicator={indicator}&department=t-root&department=t-mid-a&rollup=true&year_from=2021",
        headers=auth["viewer"],
    ).json()["series"]
    assert [s["department"] for s in named] == ["t-root", "t-mid-a"]
    assert [len(s["points"]) for s in named] == [1, 1]


@pytest.mark.parametrize(
    ("aggregation", "department", "qualifiers", "value", "qualifier"),
    [
        ("sum", "t-mid-a", {"t-leaf-a1": "at_least"}, "23.75", "at_least"),
        ("sum", "t-mid-a", {"t-leaf-a1": "at_least", "t-leaf-a2": "more_than"}, "23.75", "more_than"),
        (
            "sum",
            "t-mid-a",
            {"t-leaf-a1": "more_than", "t-leaf-a2": "approximately"},
            "23.75",
            "approximately",
        ),
        ("mean", "t-root", {"t-mid-b": "at_least"}, "12.75", "at_least"),
        ("mean", "t-root", {"t-mid-b": "more_than"}, "12.75", "more_than"),
        ("min", "t-mid-a", {"t-leaf-a1": "more_than"}, "1.5", "more_than"),
        ("min", "t-mid-a", {"t-leaf-a1": "at_least"}, "1.5", "at_least"),
        ("min", "t-mid-a", {"t-mid-a": "more_than", "t-leaf-a2": "at_least"}, "1.5", "exact"),
        ("max", "t-root", {"t-mid-b": "more_than"}, "30", "more_than"),
        ("max", "t-root", {"t-leaf-a1": "at_least"}, "30", "at_least"),
        ("max", "t-root", {"t-leaf-a1": "approximately"}, "30", "approximately"),
    ],
)
def test_rolled_up_qualifier(
    session_client: TestClient,
    auth: Tokens,
    tree: dict[str, str | None],
    aggregation: str,
    department: str,
    qualifiers: dict[str, str],
    value: str,
    qualifier: str,
) -> None:
    indicator = f"agg-{aggregation}"
    for code, figure in FIGURES_2021.items():
        put(session_client, auth, indicator, code, 2021, figure, qualifiers.get(code, "exact"))
    r = session_client.get(
        f"{URL}?indicator={indicator}&department={department}&rollup=true", headers=auth["viewer"]
    )
    assert r.status_code == 200, r.text
    (series,) = r.json()["series"]
    assert points_text(series) == [(2021, value, qualifier)]


def test_rollup_of_none_is_422_naming_the_indicator(
    session_client: TestClient, auth: Tokens, tree: dict[str, str | None]
) -> None:
    r = session_client.get(f"{URL}?indicator=agg-sum&indicator=agg-none&rollup=true", headers=auth["viewer"])
    body = problem(r, 422)
    assert body["errors"] == [
        {
            "loc": ["query", "indicator"],
            "msg": "'agg-none' has aggregation 'none'; use rollup=false",
            "type": "value_error",
        }
    ]
    assert "agg-none" in body["detail"]
    assert session_client.get(f"{URL}?indicator=agg-none", headers=auth["viewer"]).status_code == 200


def test_the_contract_example_on_the_seed(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(f"{URL}?indicator=free-seals&department=zone", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "series": [
            {
                "indicator": "free-seals",
                "department": "zone",
                "unit": "枚",
                "indicator_name": "免费刻制的印章",
                "department_name": "平顶山高新技术产业开发区",
                "points": [{"year": 2021, "value": 1584, "qualifier": "exact"}],
            }
        ]
    }
    seeded = session_client.get(f"{URL}?indicator=deadline-compression", headers=auth["viewer"]).json()
    assert seeded["series"][0]["points"] == [{"year": 2021, "value": 75, "qualifier": "at_least"}]
    assert (seeded["series"][0]["indicator_name"], seeded["series"][0]["department_name"]) == (
        "法定办结时限平均压缩比例",
        "平顶山高新技术产业开发区",
    )


def test_names_come_with_every_series(
    session_client: TestClient, auth: Tokens, tree: dict[str, str | None]
) -> None:
    record(session_client, auth, "agg-sum")
    named = {"name": "中层甲", "name_en": "Middle A"}
    assert (
        session_client.patch("/api/v1/departments/t-mid-a", json=named, headers=auth["admin"]).status_code
        == 200
    )
    for query in ("", "&rollup=true", "&department=t-mid-a&department=zone"):
        r = session_client.get(f"{URL}?indicator=agg-sum&indicator=free-seals{query}", headers=auth["viewer"])
        assert r.status_code == 200, r.text
        names = {
            (s["indicator"], s["department"]): (s["indicator_name"], s["department_name"])
            for s in r.json()["series"]
        }
        assert names["agg-sum", "t-mid-a"] == ("sum", "中层甲"), query
        if "department=t-mid-a" in query or "rollup" in query:
            assert names["free-seals", "zone"] == ("免费刻制的印章", "平顶山高新技术产业开发区"), query


def test_several_indicators_departments_and_years(
    session_client: TestClient, auth: Tokens, tree: dict[str, str | None]
) -> None:
    record(session_client, auth, "agg-sum")
    record(session_client, auth, "agg-max")
    put(session_client, auth, "agg-max", "t-leaf-a1", 2019, "0.5", "approximately")
    query = "indicator=agg-max&indicator=agg-sum&department=t-leaf-a1&department=zone&department=t-leaf-a1"
    r = session_client.get(f"{URL}?{query}&year_from=2019&year_to=2020", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    assert [(s["indicator"], s["department"], points_text(s)) for s in r.json()["series"]] == [
        ("agg-max", "t-leaf-a1", [(2019, "0.5", "approximately"), (2020, "2", "exact")]),
        ("agg-max", "zone", []),  # named, so shown even without data
        ("agg-sum", "t-leaf-a1", [(2020, "2", "exact")]),
        ("agg-sum", "zone", []),
    ]
    everyone = session_client.get(f"{URL}?indicator=agg-sum&year_to=2020", headers=auth["viewer"]).json()[
        "series"
    ]
    assert [(s["department"], points_text(s)) for s in everyone] == [
        ("t-leaf-a1", [(2020, "2", "exact")]),
        ("t-root", [(2020, "1", "exact")]),
    ]


def test_sums_keep_every_digit(session_client: TestClient, auth: Tokens, tree: dict[str, str | None]) -> None:
    put(session_client, auth, "agg-sum", "t-mid-b", 2021, "999999999999999999.999999")
    put(session_client, auth, "agg-sum", "t-root", 2021, "0.000001")
    put(session_client, auth, "agg-sum", "t-leaf-a1", 2021, "123456789012.345678")
    put(session_client, auth, "agg-mean", "t-mid-b", 2021, "999999999999999999.999999")
    put(session_client, auth, "agg-mean", "t-root", 2021, "999999999999999999.999998")
    r = session_client.get(
        f"{URL}?indicator=agg-sum&indicator=agg-mean&department=t-root&rollup=true", headers=auth["viewer"]
    )
    assert r.status_code == 200, r.text
    assert '"value":1000000123456789012.345678,"qualifier":"exact"' in r.text
    # (…999999 + …999998) / 2 = 999999999999999999.9999985: a half, rounded away from zero
    assert '"value":999999999999999999.999999,"qualifier":"approximately"' in r.text


def test_csv(session_client: TestClient, auth: Tokens, tree: dict[str, str | None]) -> None:
    record(session_client, auth, "agg-mean")
    r = session_client.get(
        f"{URL}?indicator=agg-mean&department=t-mid-a&department=t-mid-b&rollup=true",
        headers={**auth["viewer"], "Accept": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(bom_stripped(r)))) == [
        [
            "indicator",
            "department",
            "unit",
            "indicator_name",
            "department_name",
            "year",
            "value",
            "qualifier",
        ],
        ["agg-mean", "t-mid-a", "元", "mean", "t-mid-a", "2020", "2", "exact"],
        ["agg-mean", "t-mid-a", "元", "mean", "t-mid-a", "2021", "7.916667", "approximately"],
        ["agg-mean", "t-mid-b", "元", "mean", "t-mid-b", "2021", "30", "exact"],
    ]


def test_etag_304_and_a_new_etag_after_a_write(
    session_client: TestClient, auth: Tokens, tree: dict[str, str | None]
) -> None:
    record(session_client, auth, "agg-sum")
    path = f"{URL}?indicator=agg-sum&department=t-root&rollup=true"
    first = session_client.get(path, headers=auth["viewer"])
    etag = first.headers["etag"]
    cached = session_client.get(path, headers={**auth["viewer"], "If-None-Match": etag})
    assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", etag)
    put(session_client, auth, "agg-sum", "t-leaf-a2", 2021, "3.25")  # below the root: its rollup changes
    fresh = session_client.get(path, headers={**auth["viewer"], "If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert '"value":64.75' in fresh.text


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("", ["query", "indicator"]),
        ("indicator=nothing", ["query", "indicator"]),
        ("indicator=free-seals&department=nowhere", ["query", "department"]),
        ("indicator=free-seals&year_from=2022&year_to=2020", ["query", "year_to"]),
        ("indicator=free-seals&year_from=1800", ["query", "year_from"]),
        ("indicator=free-seals&rollup=perhaps", ["query", "rollup"]),
        ("indicator=NOT_A_CODE", ["query", "indicator", 0]),
    ],
)
def test_bad_queries_are_422_naming_the_parameter(
    session_client: TestClient, auth: Tokens, query: str, loc: list[str | int]
) -> None:
    body = problem(session_client.get(f"{URL}?{query}", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == loc


def test_series_need_a_token(session_client: TestClient) -> None:
    problem(session_client.get(f"{URL}?indicator=free-seals"), 401)


@pytest.mark.parametrize(
    "query",
    [
        "indicator=agg-sum&department=t-root",  # the one-statement series, which checks the token itself
        "indicator=agg-sum&department=t-root&year_from=2022&year_to=2020",  # refused before it: 422
        "indicator=nope&department=t-root",  # unknown: answered by the general path
        "indicator=agg-sum&department=nope",
        "indicator=agg-sum&department=t-root&rollup=true",
        "indicator=agg-sum&department=t-root&year_from=1800",  # FastAPI's own 422
    ],
)
def test_a_bad_token_is_401_before_anything_else(
    session_client: TestClient, auth: Tokens, tree: dict[str, str | None], query: str
) -> None:
    put(session_client, auth, "agg-sum", "t-root", 2021, "5")
    bad = {"Authorization": "Bearer ind_not-a-token"}
    problem(session_client.get(f"{URL}?{query}", headers=bad), 401)
    problem(session_client.get(f"{URL}?{query}"), 401)  # none at all, without public read
    assert session_client.get(f"{URL}?{query}", headers=auth["viewer"]).status_code in (200, 422)
