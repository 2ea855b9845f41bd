import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens, bom_stripped, problem, put

URL = "/api/v1/comparison"
# department: (2021, 2020); None is no figure that year
FIGURES = {
    "t-root": ("50", "40"),
    "t-mid-a": ("50", "0"),
    "t-mid-b": ("30", "35"),
    "t-leaf-a1": ("10", None),
    "t-leaf-a2": (None, "7"),
}


@pytest.fixture
def figures(session_client: TestClient, auth: Tokens, tree: dict[str, str | None]) -> None:
    for department, (now, base) in FIGURES.items():
        for year, value in ((2021, now), (2020, base)):
            if value is not None:
                put(session_client, auth, "agg-sum", department, year, value)


def rows(session_client: TestClient, auth: Tokens, query: str) -> list[dict[str, Any]]:
    r = session_client.get(f"{URL}?{query}", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    return list(body["rows"])


def test_the_contract_example_on_the_seed(session_client: TestClient, auth: Tokens) -> None:
    put(session_client, auth, "disputes-mediated", "zone", 2020, "230")
    r = session_client.get(
        f"{URL}?indicator=disputes-mediated&year=2021&base_year=2020", headers=auth["viewer"]
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "indicator": "disputes-mediated",
        "year": 2021,
        "base_year": 2020,
        "rows": [
            {
                "department": "zone",
                "value": 246,
                "base_value": 230,
                "change": 16,
                "change_pct": 6.96,
                "improved": True,
                "rank": 1,
            }
        ],
    }


def test_higher_is_better_ranks_ties_and_missing_data(
    session_client: TestClient, auth: Tokens, figures: None
) -> None:
    got = rows(session_client, auth, "indicator=agg-sum&year=2021&base_year=2020")
    assert [
        (r["department"], r["value"], r["base_value"], r["change"], r["change_pct"], r["improved"], r["rank"])
        for r in got
    ] == [
        ("t-mid-a", 50, 0, 50, None, True, 1),  # base 0: no percentage
        ("t-root", 50, 40, 10, 25, True, 1),  # a tie shares rank 1 ...
        ("t-mid-b", 30, 35, -5, -14.29, False, 3),  # ... and the next rank is 3
        ("t-leaf-a1", 10, None, None, None, None, 4),
        ("t-leaf-a2", None, 7, None, None, None, None),  # a value in either year is enough to be listed
    ]


def test_lower_is_better(session_client: TestClient, auth: Tokens, figures: None) -> None:
    r = session_client.patch("/api/v1/indicators/agg-sum", json={"direction": "lower"}, headers=auth["admin"])
    assert r.status_code == 200, r.text
    got = rows(session_client, auth, "indicator=agg-sum&year=2021&base_year=2020")
    assert [(r["department"], r["improved"], r["rank"]) for r in got] == [
        ("t-leaf-a1", None, 1),
        ("t-mid-b", True, 2),
        ("t-mid-a", False, 3),
        ("t-root", False, 3),
        ("t-leaf-a2", None, None),
    ]


def test_direction_none_neither_improves_nor_ranks(
    session_client: TestClient, auth: Tokens, figures: None
) -> None:
    session_client.patch("/api/v1/indicators/agg-sum", json={"direction": "none"}, headers=auth["admin"])
    got = rows(session_client, auth, "indicator=agg-sum&year=2021&base_year=2020")
    assert [r["department"] for r in got] == sorted(FIGURES)
    assert {(r["improved"], r["rank"]) for r in got} == {(None, None)}
    assert [r["change"] for r in got if r["department"] == "t-mid-b"] == [-5]


def test_no_change_is_not_an_improvement(
    session_client: TestClient, auth: Tokens, tree: dict[str, str | None]
) -> None:
    put(session_client, auth, "agg-sum", "t-root", 2021, "5")
    put(session_client, auth, "agg-sum", "t-root", 2020, "5.000000")
    (row,) = rows(session_client, auth, "indicator=agg-sum&year=2021&base_year=2020")
    assert (row["change"], row["change_pct"], row["improved"], row["rank"]) == (0, 0, False, 1)


def test_named_departments_only_ranked_among_themselves(
    session_client: TestClient, auth: Tokens, figures: None
) -> None:
    got = rows(
        session_client, auth, "indicator=agg-sum&year=2021&base_year=2020&department=t-mid-b&department=zone"
    )
    assert got == [
        {
            "department": "t-mid-b",
            "value": 30,
            "base_value": 35,
            "change": -5,
            "change_pct": -14.29,
            "improved": False,
            "rank": 1,
        },
        {
            "department": "zone",
            "value": None,
            "base_value": None,
            "change": None,
            "change_pct": None,
            "improved": None,
            "rank": None,
        },
    ]


@pytest.mark.parametrize(
    ("base", "value", "pct"),
    [
        ("800", "801", "0.13"),  # 0.125: a half, away from zero
        ("800", "799", "-0.13"),
        ("230", "246", "6.96"),
        ("3", "4", "33.33"),
        ("6", "5", "-16.67"),
        ("8", "9", "12.5"),
        ("-4", "-2", "50"),  # against |base|: a rise from -4 to -2 is +50%
        ("0.000001", "0.000002", "100"),
        ("0", "5", "null"),
        ("0", "0", "null"),
        ("123456789012.345678", "123456789012.345679", "0"),
    ],
)
def test_change_pct_rounding(
    session_client: TestClient, auth: Tokens, tree: dict[str, str | None], base: str, value: str, pct: str
) -> None:
    put(session_client, auth, "agg-sum", "t-root", 2020, base)
    put(session_client, auth, "agg-sum", "t-root", 2021, value)
    r = session_client.get(f"{URL}?indicator=agg-sum&year=2021&base_year=2020", headers=auth["viewer"])
    assert f'"change_pct":{pct},' in r.text, r.text


def test_csv(session_client: TestClient, auth: Tokens, figures: None) -> None:
    r = session_client.get(
        f"{URL}?indicator=agg-sum&year=2021&base_year=2020&department=t-root&department=t-leaf-a2",
        headers={**auth["viewer"], "Accept": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(bom_stripped(r)))) == [
        ["department", "value", "base_value", "change", "change_pct", "improved", "rank"],
        ["t-root", "50", "40", "10", "25", "true", "1"],
        ["t-leaf-a2", "", "7", "", "", "", ""],
    ]


def test_etag_and_304(session_client: TestClient, auth: Tokens, figures: None) -> None:
    path = f"{URL}?indicator=agg-sum&year=2021&base_year=2020"
    etag = session_client.get(path, headers=auth["viewer"]).headers["etag"]
    assert session_client.get(path, headers={**auth["viewer"], "If-None-Match": etag}).status_code == 304
    put(session_client, auth, "agg-sum", "t-leaf-a2", 2021, "99")
    assert session_client.get(path, headers={**auth["viewer"], "If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("year=2021&base_year=2020", ["query", "indicator"]),
        ("indicator=free-seals&base_year=2020", ["query", "year"]),
        ("indicator=free-seals&year=2021", ["query", "base_year"]),
        ("indicator=nothing&year=2021&base_year=2020", ["query", "indicator"]),
        ("indicator=free-seals&year=2021&base_year=2020&department=nowhere", ["query", "department"]),
        ("indicator=free-seals&year=2101&base_year=2020", ["query", "year"]),
    ],
)
def test_bad_queries_are_422_naming_the_parameter(
    session_client: TestClient, auth: Tokens, query: str, loc: list[str]
) -> None:
    body = problem(session_client.get(f"{URL}?{query}", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == loc


def test_a_kept_answer_follows_writes_and_the_catalogue(
    session_client: TestClient, auth: Tokens, figures: None
) -> None:
    """Answers are kept per worker (app.core.memo), keyed by the figures' and the catalogue's
    generation: a write, a deletion and a change of direction each show at the next read."""
    query = "indicator=agg-sum&year=2021&base_year=2020"
    first = session_client.get(f"{URL}?{query}", headers=auth["viewer"])
    again = session_client.get(f"{URL}?{query}", headers=auth["viewer"])
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    put(session_client, auth, "agg-sum", "t-mid-b", 2021, "36")
    assert [r["value"] for r in rows(session_client, auth, query) if r["department"] == "t-mid-b"] == [36]
    r = session_client.delete("/api/v1/observations/agg-sum/t-leaf-a1/2021", headers=auth["admin"])
    assert r.status_code == 204, r.text
    assert "t-leaf-a1" not in [r["department"] for r in rows(session_client, auth, query)]
    r = session_client.patch("/api/v1/indicators/agg-sum", json={"direction": "none"}, headers=auth["admin"])
    assert r.status_code == 200, r.text
    assert {r["rank"] for r in rows(session_client, auth, query)} == {None}
