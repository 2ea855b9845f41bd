"""Outliers over HTTP, checked against a computation of their own here (fractions and the statistics
module, not the service's decimals)."""

import random
import statistics
from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens, bom_stripped, problem, put

URL = "/api/v1/outliers"
DEPARTMENTS = ("zone", "emergency-management", "urban-management")
YEARS = range(2000, 2010)
_CONTEXT = Context(prec=80)


def _six(value: Fraction | Decimal) -> float:
    exact = Fraction(value)
    decimal = _CONTEXT.divide(Decimal(exact.numerator), Decimal(exact.denominator))
    return float(decimal.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


def _decimal(value: Fraction) -> Decimal:
    return _CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))


def _sqrt(value: Fraction) -> Decimal:
    return _decimal(value).sqrt(_CONTEXT)


def expected(
    figures: dict[str, dict[int, str]], indicator: str, year: int, algorithm: str, threshold: Fraction
) -> list[dict[str, Any]]:
    """The outliers of `year`, worked out independently."""
    items = []
    for department in sorted(figures):
        series = figures[department]
        if year not in series:
            continue
        x = Fraction(series[year])
        others = [Fraction(v) for y, v in series.items() if y != year]
        if len(others) < 4:
            continue
        median = Fraction(statistics.median(others))
        mad = Fraction(statistics.median([abs(v - median) for v in others]))
        mean = sum(others, Fraction(0)) / len(others)
        variance = sum((Fraction((v - mean) ** 2) for v in others), Fraction(0)) / len(others)
        score: Fraction | Decimal
        low: Fraction | Decimal
        high: Fraction | Decimal
        if algorithm == "modified_z_score":
            if mad == 0 or Fraction(6745, 10000) * abs(x - median) / mad <= threshold:
                continue
            score = Fraction(6745, 10000) * abs(x - median) / mad
            reach = mad * threshold / Fraction(6745, 10000)
            low, high = median - reach, median + reach
        else:
            if variance == 0 or (x - mean) ** 2 <= threshold**2 * variance:
                continue
            sd = _sqrt(variance)
            score = _decimal(abs(x - mean)) / sd
            spread = sd * _decimal(threshold)
            low, high = _decimal(mean) - spread, _decimal(mean) + spread
        items.append(
            {
                "indicator": indicator,
                "department": department,
                "year": year,
                "value": float(x),
                "median": _six(median),
                "mad": _six(mad),
                "mean": _six(mean),
                "std_dev": _six(_sqrt(variance)),
                "z_score": _six(score),
                "lower_bound": _six(low),
                "upper_bound": _six(high),
            }
        )
    return items


@pytest.fixture
def history(
    session_client: TestClient, auth: Tokens, amounts: tuple[str, str, str]
) -> dict[str, dict[int, str]]:
    """Ten years of `qa` for each department: ordinary values with a few planted far off."""
    rng = random.Random(2026)
    figures: dict[str, dict[int, str]] = {}
    for department in DEPARTMENTS:
        figures[department] = {y: str(Decimal(rng.randrange(10_000, 20_000)).scaleb(-2)) for y in YEARS}
    figures["zone"][2009] = "1000"
    figures["emergency-management"][2003] = "0.5"
    figures["urban-management"][2009] = "163.21"
    for department, series in figures.items():
        for year, value in series.items():
            put(session_client, auth, "qa", department, year, value)
    return figures


def _close(actual: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> None:
    assert [(i["department"], i["year"]) for i in actual] == [(i["department"], i["year"]) for i in wanted]
    for got, want in zip(actual, wanted, strict=True):
        assert got == want


@pytest.mark.parametrize(
    ("algorithm", "threshold"),
    [
        ("modified_z_score", None),
        ("modified_z_score", "2"),
        ("z_score", None),
        ("z_score", "1.5"),
        ("z_score", "2.2"),
    ],
)
@pytest.mark.parametrize("year", [2009, 2003, 2005])
def test_outliers_match_an_independent_computation(
    session_client: TestClient,
    auth: Tokens,
    history: dict[str, dict[int, str]],
    algorithm: str,
    threshold: str | None,
    year: int,
) -> None:
    params: dict[str, Any] = {"year": year, "algorithm": algorithm, "indicator": "qa"}
    if threshold is not None:
        params["threshold"] = threshold
    r = session_client.get(URL, params=params, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    default = {"modified_z_score": "3.5", "z_score": "3"}[algorithm]
    wanted = expected(history, "qa", year, algorithm, Fraction(threshold or default))
    _close(body["items"], wanted)
    assert body["metadata"] == {
        "algorithm": algorithm,
        "threshold": float(threshold or default),
        "count": len(wanted),
    }


def test_the_planted_outliers_are_found(session_client: TestClient, auth: Tokens, history: Any) -> None:
    body = session_client.get(URL, params={"year": 2009, "indicator": "qa"}, headers=auth["viewer"]).json()
    assert [(i["department"], i["value"]) for i in body["items"]] == [("zone", 1000)]
    body = session_client.get(URL, params={"year": 2003}, headers=auth["viewer"]).json()
    assert [(i["department"], i["value"]) for i in body["items"]] == [("emergency-management", 0.5)]
    csv = bom_stripped(
        session_client.get(URL, params={"year": 2003, "format": "csv"}, headers=auth["viewer"])
    )
    header, row = csv.splitlines()
    assert header == "indicator,department,year,value,median,mad,mean,std_dev,z_score,lower_bound,upper_bound"
    assert row.startswith("qa,emergency-management,2003,0.5,")


def test_fewer_than_four_other_years_and_zero_spread_judge_nothing(
    session_client: TestClient, auth: Tokens, amounts: tuple[str, str, str]
) -> None:
    for year, value in zip(range(2000, 2004), ("10", "11", "12", "500"), strict=True):
        put(session_client, auth, "qb", "zone", year, value)  # three other years only
    for year in range(2000, 2006):
        put(session_client, auth, "qc", "zone", year, "7" if year < 2005 else "9000")  # no spread at all
    for algorithm in ("modified_z_score", "z_score"):
        # qb 2003: three other years; qc 2005: the others all 7 (MAD and standard deviation 0)
        for indicator, year in (("qb", 2003), ("qc", 2005)):
            params = {"year": year, "algorithm": algorithm, "threshold": "0.001", "indicator": indicator}
            body = session_client.get(URL, params=params, headers=auth["viewer"]).json()
            assert body["items"] == []
    put(session_client, auth, "qb", "zone", 2004, "13")  # now 2003 has four other years
    body = session_client.get(URL, params={"year": 2003, "indicator": "qb"}, headers=auth["viewer"]).json()
    assert [i["value"] for i in body["items"]] == [500]


def test_min_max_uses_the_indicators_expected_bounds(
    session_client: TestClient, auth: Tokens, amounts: tuple[str, str, str]
) -> None:
    r = session_client.patch(
        "/api/v1/indicators/qa", json={"expected_min": 0, "expected_max": 100}, headers=auth["admin"]
    )
    assert r.status_code == 200, r.text
    for department, value in zip(DEPARTMENTS, ("-0.000001", "100", "100.5"), strict=True):
        put(session_client, auth, "qa", department, 2015, value)
    body = session_client.get(
        URL, params={"year": 2015, "algorithm": "min_max"}, headers=auth["viewer"]
    ).json()
    assert body["metadata"] == {"algorithm": "min_max", "threshold": None, "count": 2}
    assert [(i["department"], i["value"], i["lower_bound"], i["upper_bound"]) for i in body["items"]] == [
        ("urban-management", 100.5, 0, 100),
        ("zone", -0.000001, 0, 100),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"year": 2009, "threshold": "0"},
        {"year": 2009, "threshold": "-1"},
        {"year": 2009, "threshold": "abc"},
        {"year": 2009, "algorithm": "iqr"},
        {"year": 2009, "indicator": "nope"},
        {"year": 2009, "department": "nope"},
        {},
    ],
)
def test_bad_outlier_queries_are_422(
    session_client: TestClient, auth: Tokens, params: dict[str, str]
) -> None:
    problem(session_client.get(URL, params=params, headers=auth["viewer"]), 422)
