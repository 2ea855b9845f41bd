"""Progress, hand-worked: every status, both directions and `none`, a base (and an aim) of 0,
negative series, base_year, rounding half away from zero. Driven over HTTP on both databases.

The cases use square and cube roots one can check by hand: 1.44^(1/2) = 1.2, 0.64^(1/2) = 0.8,
4^(1/2) = 2, 0.25^(1/2) = 0.5; and two irrational ones: 2^(1/4) = 1.189207115002721...,
1.2^(1/3) = 1.062658569182611....
"""

from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens, put

URL = "/api/v1/progress"
Y = 2016  # figures from Y to Y + 3, targets of Y + 2 or later: years the seed has not approved


class Case(NamedTuple):
    name: str
    direction: str
    target: tuple[str, str, str | None, int]  # operator, value, upper, year
    figures: list[tuple[int, str, str]]  # year, value, qualifier
    base_year: int | None
    # status, direction used, aim, cagr_observed, cagr_required, ratio, base year, latest year
    expected: tuple[str, str | None, str | None, str | None, str | None, str | None, int | None, int | None]


AT_LEAST_144 = ("at_least", "144", None, Y + 2)
AT_MOST_64 = ("at_most", "64", None, Y + 2)


def grown(latest: str, qualifier: str = "exact") -> list[tuple[int, str, str]]:
    return [(Y, "100", "exact"), (Y + 1, latest, qualifier)]


CASES = [
    # higher: cagr_required = 1.44^(1/2) − 1 = 0.2; cagr_observed = latest/100 − 1
    Case("higher-substantial", "higher", AT_LEAST_144, grown("120"), None,
         ("substantial_progress", "higher", "144", "0.2", "0.2", "1", Y, Y + 1)),
    Case("higher-substantial-at-0.95", "higher", AT_LEAST_144, grown("119"), None,
         ("substantial_progress", "higher", "144", "0.19", "0.2", "0.95", Y, Y + 1)),
    Case("higher-moderate", "higher", AT_LEAST_144, grown("113"), None,
         ("moderate_progress", "higher", "144", "0.13", "0.2", "0.65", Y, Y + 1)),
    Case("higher-moderate-at-0.6", "higher", AT_LEAST_144, grown("112"), None,
         ("moderate_progress", "higher", "144", "0.12", "0.2", "0.6", Y, Y + 1)),
    Case("higher-limited", "higher", AT_LEAST_144, grown("105"), None,
         ("limited_progress", "higher", "144", "0.05", "0.2", "0.25", Y, Y + 1)),
    Case("higher-limited-at-0", "higher", AT_LEAST_144, grown("100"), None,
         ("limited_progress", "higher", "144", "0", "0.2", "0", Y, Y + 1)),
    Case("higher-deterioration", "higher", AT_LEAST_144, grown("90"), None,
         ("deterioration", "higher", "144", "-0.1", "0.2", "-0.5", Y, Y + 1)),
    Case("higher-achieved", "higher", AT_LEAST_144, grown("150"), None,
         ("target_achieved", "higher", "144", "0.5", "0.2", "2.5", Y, Y + 1)),
    # an approximate 150 cannot be said to meet at_least 144 (compliance: indeterminate)
    Case("higher-approximate-not-achieved", "higher", AT_LEAST_144, grown("150", "approximately"), None,
         ("substantial_progress", "higher", "144", "0.5", "0.2", "2.5", Y, Y + 1)),
    Case("higher-achieved-one-figure", "higher", AT_LEAST_144, [(Y + 1, "150", "exact")], None,
         ("target_achieved", "higher", "144", None, None, None, Y + 1, Y + 1)),
    Case("one-figure", "higher", AT_LEAST_144, [(Y + 1, "120", "exact")], None,
         ("not_available", "higher", "144", None, None, None, Y + 1, Y + 1)),
    Case("no-figure", "higher", AT_LEAST_144, [], None,
         ("not_available", None, None, None, None, None, None, None)),
    # a figure after the target's year is not used
    Case("figure-after-year-ignored", "higher", AT_LEAST_144, [*grown("120"), (Y + 3, "200", "exact")], None,
         ("substantial_progress", "higher", "144", "0.2", "0.2", "1", Y, Y + 1)),
    # lower: cagr_required = 0.64^(1/2) − 1 = −0.2; ratio = −cagr_observed / 0.2
    Case("lower-substantial", "lower", AT_MOST_64, grown("80"), None,
         ("substantial_progress", "lower", "64", "-0.2", "-0.2", "1", Y, Y + 1)),
    Case("lower-limited", "lower", AT_MOST_64, grown("90"), None,
         ("limited_progress", "lower", "64", "-0.1", "-0.2", "0.5", Y, Y + 1)),
    Case("lower-deterioration", "lower", AT_MOST_64, grown("110"), None,
         ("deterioration", "lower", "64", "0.1", "-0.2", "-0.5", Y, Y + 1)),
    Case("lower-achieved", "lower", AT_MOST_64, grown("60"), None,
         ("target_achieved", "lower", "64", "-0.4", "-0.2", "2", Y, Y + 1)),
    Case("lower-between-aims-at-upper", "lower", ("between", "50", "64", Y + 2), grown("90"), None,
         ("limited_progress", "lower", "64", "-0.1", "-0.2", "0.5", Y, Y + 1)),
    # a base of 0 is taken as 0.001: (0.002/0.001) − 1 = 1; (0.004/0.001)^(1/2) − 1 = 1
    Case("zero-base", "higher", ("at_least", "0.004", None, Y + 2),
         [(Y, "0", "exact"), (Y + 1, "0.002", "exact")], None,
         ("substantial_progress", "higher", "0.004", "1", "1", "1", Y, Y + 1)),
    # an aim of 0 too: (0.001/0.004)^(1/2) − 1 = −0.5; ratio = −(−0.5)/0.5 = 1
    Case("zero-aim-lower", "lower", ("at_most", "0", None, Y + 2),
         [(Y, "0.004", "exact"), (Y + 1, "0.002", "exact")], None,
         ("substantial_progress", "lower", "0", "-0.5", "-0.5", "1", Y, Y + 1)),
    # base and aim both 0 (0.001): nothing required, the figure moved the wrong way: no ratio
    Case("zero-base-zero-aim", "lower", ("at_most", "0", None, Y + 2),
         [(Y, "0", "exact"), (Y + 1, "0.002", "exact")], None,
         ("deterioration", "lower", "0", "1", "0", None, Y, Y + 1)),
    # negative series: sign −1; (−50/−100) − 1 = −0.5; (−25/−100)^(1/2) − 1 = −0.5; ratio = 1
    Case("negative-base", "higher", ("at_least", "-25", None, Y + 2),
         [(Y, "-100", "exact"), (Y + 1, "-50", "exact")], None,
         ("substantial_progress", "higher", "-25", "-0.5", "-0.5", "1", Y, Y + 1)),
    Case("opposite-signs", "higher", AT_LEAST_144, [(Y, "-10", "exact"), (Y + 1, "5", "exact")], None,
         ("not_available", "higher", "144", None, None, None, Y, Y + 1)),
    # none: the target gives the direction
    Case("none-at-least-is-higher", "none", AT_LEAST_144, grown("113"), None,
         ("moderate_progress", "higher", "144", "0.13", "0.2", "0.65", Y, Y + 1)),
    Case("none-at-most-is-lower", "none", AT_MOST_64, grown("90"), None,
         ("limited_progress", "lower", "64", "-0.1", "-0.2", "0.5", Y, Y + 1)),
    Case("none-between-above", "none", ("between", "50", "64", Y + 2), grown("80"), None,
         ("substantial_progress", "lower", "64", "-0.2", "-0.2", "1", Y, Y + 1)),
    Case("none-exactly-at-base", "none", ("exactly", "100", None, Y + 2), grown("90"), None,
         ("not_available", None, "100", "-0.1", None, None, Y, Y + 1)),
    # irrational: 1.21^(1/2) − 1 = 0.1 over two years; 2^(1/4) − 1 = 0.189207115...; ratio 0.528521350...
    Case("quarter-root", "higher", ("at_least", "200", None, Y + 4),
         [(Y, "100", "exact"), (Y + 1, "104", "exact"), (Y + 2, "121", "exact")], None,
         ("limited_progress", "higher", "200", "0.1", "0.189207", "0.528521", Y, Y + 2)),
    # base_year: 2016 has no figure, so the first from it on (2017: 120) is the base; then
    # (120/120) − 1 = 0 and 1.2^(1/3) − 1 = 0.062658569...
    Case("base-year-default", "higher", ("at_least", "144", None, Y + 4),
         [(Y + 1, "120", "exact"), (Y + 3, "120", "exact")], None,
         ("limited_progress", "higher", "144", "0", "0.062659", "0", Y + 1, Y + 3)),
    Case("base-year-given", "higher", AT_LEAST_144, [(Y - 1, "120", "exact"), *grown("120")], Y,
         ("substantial_progress", "higher", "144", "0.2", "0.2", "1", Y, Y + 1)),
    # half away from zero: 1000000.5/1000000 − 1 = 0.0000005 → 0.000001; (1.000001)^(1/2) − 1 =
    # 0.00000049999987... → 0; ratio 1.00000025... → 1
    Case("rounding-half-away", "higher", ("at_least", "1000001", None, Y + 2),
         [(Y, "1000000", "exact"), (Y + 1, "1000000.5", "exact")], None,
         ("substantial_progress", "higher", "1000001", "0.000001", "0", "1", Y, Y + 1)),
    Case("rounding-half-away-negative", "higher", ("at_least", "1000001", None, Y + 2),
         [(Y, "1000000", "exact"), (Y + 1, "999999.5", "exact")], None,
         ("deterioration", "higher", "1000001", "-0.000001", "0", "-1", Y, Y + 1)),
]  # fmt: skip


def amount(client: TestClient, auth: Tokens, direction: str) -> str:
    body = {
        "code": "budget",
        "name": "预算",
        "value_type": "amount",
        "section": "money",
        "unit": "元",
        "direction": direction,
    }
    r = client.post("/api/v1/indicators", json=body, headers=auth["admin"])
    assert r.status_code == 201, r.text
    return "budget"


def number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hand_worked(session_client: TestClient, auth: Tokens, case: Case) -> None:
    code = amount(session_client, auth, case.direction)
    operator, value, upper, year = case.target
    target = f'{{"operator": "{operator}", "value": {value}, "upper": {upper or "null"}}}'
    r = session_client.put(
        f"/api/v1/targets/{code}/zone/{year}",
        content=target,
        headers={**auth["commission"], "content-type": "application/json"},
    )
    assert r.status_code == 201, r.text
    for figure_year, figure, qualifier in case.figures:
        put(session_client, auth, code, "zone", figure_year, figure, qualifier)
    params: dict[str, Any] = {"year": year, "indicator": code}
    if case.base_year is not None:
        params["base_year"] = case.base_year
    r = session_client.get(URL, params=params, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["year"], body["base_year"], body["next_cursor"]) == (year, case.base_year, None)
    [item] = body["items"]
    status, direction, aim, observed, required, ratio, base_year, latest_year = case.expected
    assert item["status"] == status
    assert item["direction"] == direction
    assert (item["indicator"], item["department"], item["year"]) == (code, "zone", year)
    assert item["target"] == {"operator": operator, "value": float(value), "upper": upper and float(upper)}
    keys = ("aim", "cagr_observed", "cagr_required", "ratio")
    numbers = [number(None if item[k] is None else str(item[k])) for k in keys]
    assert numbers == [number(aim), number(observed), number(required), number(ratio)]
    for key in ("cagr_observed", "cagr_required", "ratio"):
        if item[key] is not None:  # 6 places at most, as the JSON text has them
            assert -Decimal(str(item[key])).as_tuple().exponent <= 6  # type: ignore[operator]
    used = {f[0]: f for f in case.figures}
    for key, want in (("base", base_year), ("latest", latest_year)):
        if want is None:
            assert item[key] is None
        else:
            _, figure, qualifier = used[want]
            assert item[key] == {"year": want, "value": float(figure), "qualifier": qualifier}
