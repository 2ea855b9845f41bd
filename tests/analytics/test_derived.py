"""A derived indicator in series, rollups, comparisons and compliance, worked by hand on the tree.

t-per = #{t-num} / #{t-den}, both aggregated by sum. Rolled up, the operands are summed first and then
divided: a ratio of sums, not a mean of ratios.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens, problem, put

# department: (t-num, its qualifier, t-den) in 2021
FIGURES = {
    "t-root": ("10", "exact", "4"),
    "t-mid-a": ("2", "exact", "1"),
    "t-leaf-a1": ("3", "exact", "4"),
    "t-leaf-a2": ("1", "at_least", "3"),
    "t-mid-b": ("5", "exact", "0"),
}
# Each department's own figure: t-num / t-den.
PLAIN = {
    "t-root": ("2.5", "exact"),
    "t-mid-a": ("2", "exact"),
    "t-leaf-a1": ("0.75", "exact"),
    "t-leaf-a2": ("0.333333", "approximately"),  # 1/3 to 6 places; an operand at_least
    # t-mid-b: 5 / 0, no figure
}
# Rolled up: sums of everything below, then divided.
ROLLED = {
    "t-leaf-a1": ("0.75", "exact"),
    "t-leaf-a2": ("0.333333", "approximately"),
    "t-mid-a": ("0.75", "approximately"),  # (2+3+1) / (1+4+3) = 6/8; a mean of ratios would be 1.027778
    "t-root": ("1.75", "approximately"),  # (10+2+3+1+5) / (4+1+4+3+0) = 21/12
    # t-mid-b: 5 / 0, no figure
}


@pytest.fixture
def per(session_client: TestClient, auth: Tokens, tree: dict[str, str | None]) -> str:
    for code, extra in (
        ("t-num", {}),
        ("t-den", {}),
        ("t-per", {"formula": "#{t-num} / #{t-den}", "aggregation": "none"}),
        ("t-flat", {"formula": "#{agg-none} / #{t-den}", "aggregation": "none"}),
    ):
        body = {"code": code, "name": code, "value_type": "amount", **extra}
        r = session_client.post("/api/v1/indicators", json=body, headers=auth["admin"])
        assert r.status_code == 201, r.text
    for department, (num, qualifier, den) in FIGURES.items():
        put(session_client, auth, "t-num", department, 2021, num, qualifier)
        put(session_client, auth, "t-den", department, 2021, den)
    put(session_client, auth, "t-num", "t-root", 2020, "3")
    put(session_client, auth, "t-den", "t-root", 2020, "2")
    return "t-per"


def _points(client: TestClient, auth: Tokens, rollup: bool) -> dict[str, list[tuple[int, str]]]:
    r = client.get(
        "/api/v1/series",
        params={"indicator": "t-per", "rollup": rollup, "year_from": 2021},
        headers=auth["viewer"],
    )
    assert r.status_code == 200, r.text
    out = {}
    for s in r.json()["series"]:
        out[s["department"]] = [(p["year"], p["qualifier"]) for p in s["points"]]
        for p in s["points"]:
            want = (ROLLED if rollup else PLAIN)[s["department"]][0]
            assert f'"department":"{s["department"]}"' in r.text
            assert f'"year":{p["year"]},"value":{want},' in r.text
    return out


@pytest.mark.parametrize("rollup", [False, True])
def test_series_plain_and_rolled_up(session_client: TestClient, auth: Tokens, per: str, rollup: bool) -> None:
    expected = ROLLED if rollup else PLAIN
    got = _points(session_client, auth, rollup)
    assert list(got) == sorted(expected)  # departments with a figure, by code: t-mid-b has none
    assert got == {d: [(2021, q)] for d, (_, q) in expected.items()}


def test_rolling_up_a_derived_indicator_of_an_operand_aggregated_by_none_is_422(
    session_client: TestClient, auth: Tokens, per: str
) -> None:
    r = session_client.get(
        "/api/v1/series", params={"indicator": "t-flat", "rollup": True}, headers=auth["viewer"]
    )
    body = problem(r, 422)
    assert body["errors"][0]["loc"] == ["query", "indicator"] and "agg-none" in body["errors"][0]["msg"]


def test_comparison_of_a_derived_indicator(session_client: TestClient, auth: Tokens, per: str) -> None:
    r = session_client.get(
        "/api/v1/comparison",
        params={"indicator": per, "year": 2021, "base_year": 2020, "department": ["t-root", "t-mid-b"]},
        headers=auth["viewer"],
    )
    assert r.status_code == 200, r.text
    rows = {row["department"]: row for row in r.json()["rows"]}
    # t-root: 10/4 = 2.5 against 3/2 = 1.5
    assert '"department":"t-root","value":2.5,"base_value":1.5,"change":1,"change_pct":66.67' in r.text
    assert rows["t-root"]["improved"] is True and rows["t-root"]["rank"] == 1
    assert rows["t-mid-b"]["value"] is None and rows["t-mid-b"]["rank"] is None


TARGETS: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("t-root", {"operator": "at_least", "value": 3}, "not_met", "-0.5"),  # 2.5
    ("t-mid-a", {"operator": "at_most", "value": 2}, "met", "0"),  # 2
    ("t-leaf-a2", {"operator": "at_least", "value": 0.3}, "indeterminate", "0.033333"),  # ~0.333333
    ("t-mid-b", {"operator": "at_least", "value": 1}, "no_data", None),  # 5 / 0
]


def test_compliance_judges_the_computed_figure(session_client: TestClient, auth: Tokens, per: str) -> None:
    for department, body, _, _ in TARGETS:
        r = session_client.put(
            f"/api/v1/targets/{per}/{department}/2021", json=body, headers=auth["commission"]
        )
        assert r.status_code == 201, r.text
    r = session_client.get(
        "/api/v1/compliance", params={"year": 2021, "indicator": per}, headers=auth["viewer"]
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    summary = answer["summary"]
    assert (summary["targets"], summary["met"], summary["not_met"]) == (4, 1, 1)
    assert (summary["indeterminate"], summary["no_data"]) == (1, 1)
    items = {i["department"]: i for i in answer["items"]}
    for department, _, status, gap in TARGETS:
        assert items[department]["status"] == status, department
        if gap is None:
            assert items[department]["actual"] is None and items[department]["gap"] is None
        else:
            assert f'"gap":{gap}' in r.text
    assert items["t-leaf-a2"]["qualifier"] == "approximately"
    met = session_client.get(
        "/api/v1/compliance", params={"year": 2021, "indicator": per, "status": "met"}, headers=auth["viewer"]
    ).json()
    assert [i["department"] for i in met["items"]] == ["t-mid-a"]
    not_met = session_client.get(
        "/api/v1/compliance", params={"year": 2021, "status": "not_met"}, headers=auth["viewer"]
    ).json()
    assert ("t-per", "t-root") in {(i["indicator"], i["department"]) for i in not_met["items"]}
    trend = session_client.get(
        "/api/v1/compliance",
        params={"year_from": 2021, "year_to": 2021, "indicator": per},
        headers=auth["viewer"],
    ).json()
    assert (trend["years"][0]["met"], trend["years"][0]["no_data"]) == (1, 1)


def test_progress_reads_the_computed_figures(session_client: TestClient, auth: Tokens, per: str) -> None:
    """t-root: 3/2 = 1.5 in 2020, 10/4 = 2.5 in 2021, toward at least 3 in 2025."""
    r = session_client.put(
        f"/api/v1/targets/{per}/t-root/2025",
        json={"operator": "at_least", "value": 3},
        headers=auth["commission"],
    )
    assert r.status_code == 201, r.text
    r = session_client.get(
        "/api/v1/progress", params={"year": 2025, "indicator": per}, headers=auth["viewer"]
    )
    assert r.status_code == 200, r.text
    item = r.json()["items"][0]
    assert (item["base"]["year"], item["latest"]["year"]) == (2020, 2021)
    assert '"base":{"year":2020,"value":1.5,"qualifier":"exact"}' in r.text
    assert '"latest":{"year":2021,"value":2.5,"qualifier":"exact"}' in r.text
    # (2.5 / 1.5) - 1 = 0.666667 observed; (3 / 1.5) ** (1/5) - 1 = 0.148698 required
    assert '"cagr_observed":0.666667,"cagr_required":0.148698' in r.text
    assert item["status"] == "substantial_progress"
