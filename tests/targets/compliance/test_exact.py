"""Compliance stays exact where a double would not: values of 16 to 24 digits, at the boundaries.

The database decides most statuses; on SQLite it compares values as REAL, which is exact only up to
15 significant digits, and leaves longer values to Python's exact `judge`. These cases would come out
wrong if it did not: 123456789012.345678 and 123456789012.345679 are the same double.
"""

import random
import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.fields import YEAR_MAX
from app.observations.models import Qualifier
from app.targets.models import Operator
from app.targets.rules import judge
from tests.helpers import Tokens

URL = "/api/v1/compliance"
LONG = "123456789012.345678"
LONG_NEXT = "123456789012.345679"
HUGE = "999999999999999999.999999"
HUGE_PREV = "999999999999999999.999998"

# operator, value, upper, actual, qualifier, status, gap
TABLE: list[tuple[str, str, str | None, str, str, str, str]] = [
    ("exactly", LONG, None, LONG, "exact", "met", "0"),
    ("exactly", LONG, None, LONG_NEXT, "exact", "not_met", "-0.000001"),
    ("exactly", LONG_NEXT, None, LONG, "exact", "not_met", "-0.000001"),
    ("at_least", LONG_NEXT, None, LONG, "exact", "not_met", "-0.000001"),
    ("at_least", LONG, None, LONG_NEXT, "exact", "met", "0.000001"),
    ("at_least", LONG_NEXT, None, LONG, "at_least", "indeterminate", "-0.000001"),
    ("at_least", LONG, None, LONG, "more_than", "met", "0"),
    ("at_most", LONG, None, LONG_NEXT, "exact", "not_met", "-0.000001"),
    ("at_most", LONG_NEXT, None, LONG, "more_than", "indeterminate", "0.000001"),
    ("at_most", LONG, None, LONG, "more_than", "not_met", "0"),
    ("at_most", LONG, None, LONG_NEXT, "at_least", "not_met", "-0.000001"),
    ("between", "1", HUGE_PREV, HUGE, "exact", "not_met", "-0.000001"),
    ("between", "1", HUGE, HUGE, "exact", "met", "0"),
    ("between", HUGE_PREV, HUGE, HUGE_PREV, "exact", "met", "0"),
    ("between", "-" + LONG_NEXT, "-" + LONG, "-" + LONG_NEXT, "exact", "met", "0"),
    ("between", "-" + LONG, "0", "-" + LONG_NEXT, "exact", "not_met", "-0.000001"),
    ("exactly", "123456789012.5", None, "123456789012.500000", "exact", "met", "0"),
    ("exactly", "100000000000.100000", None, "100000000000.1", "exact", "met", "0"),
    # at most 15 characters: decided as REAL by SQLite, still exact
    ("at_least", "999999999.99999", None, "999999999.99998", "exact", "not_met", "-0.00001"),
    ("exactly", "75.500000", None, "75.5", "exact", "met", "0"),
    ("at_most", "0.000001", None, "0.000002", "exact", "not_met", "-0.000001"),
]


@pytest.fixture
def amount(session_client: TestClient, auth: Tokens) -> str:
    body = {"code": "budget", "name": "预算", "value_type": "amount", "section": "money", "unit": "元"}
    assert session_client.post("/api/v1/indicators", json=body, headers=auth["admin"]).status_code == 201
    return "budget"


def _put(session_client: TestClient, auth: Tokens, path: str, body: str) -> None:
    headers = {**auth["commission"], "content-type": "application/json"}
    r = session_client.put(path, content=body, headers=headers)  # raw JSON: the digits go as written
    assert r.status_code in (200, 201), r.text


def _target(operator: str, value: str, upper: str | None) -> str:
    return f'{{"operator": "{operator}", "value": {value}, "upper": {upper or "null"}}}'


@pytest.mark.parametrize(
    ("operator", "value", "upper", "actual", "qualifier", "status", "gap"),
    TABLE,
    ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[4]}-{r[3]}" for r in TABLE],
)
def test_long_values_at_the_boundaries(
    session_client: TestClient,
    auth: Tokens,
    amount: str,
    operator: str,
    value: str,
    upper: str | None,
    actual: str,
    qualifier: str,
    status: str,
    gap: str,
) -> None:
    _put(session_client, auth, f"/api/v1/targets/{amount}/zone/2010", _target(operator, value, upper))
    figure = f'{{"value": {actual}, "qualifier": "{qualifier}"}}'
    _put(session_client, auth, f"/api/v1/observations/{amount}/zone/2010", figure)

    r = session_client.get(f"{URL}?year=2010&indicator={amount}", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["status"] == status
    gap_text = re.search(r'"gap":(-?[0-9.]+)', r.text)
    assert gap_text is not None and Decimal(gap_text[1]) == Decimal(gap)  # the exact digits, not a float
    assert r.json()["summary"][status] == 1
    narrowed = session_client.get(
        f"{URL}?year=2010&indicator={amount}&status={status}", headers=auth["viewer"]
    )
    assert [i["status"] for i in narrowed.json()["items"]] == [status]
    others = [s for s in ("met", "not_met", "indeterminate") if s != status]
    query = "&".join(f"status={s}" for s in others)
    assert session_client.get(f"{URL}?year=2010&{query}", headers=auth["viewer"]).json()["items"] == []
    trend = session_client.get(f"{URL}?year_from=2010&year_to=2010", headers=auth["viewer"]).json()
    assert trend["years"][0][status] == 1


def _near(rng: random.Random) -> tuple[str, str]:
    """Two decimals equal or one unit of the last place apart, of 1 to 24 digits, often long."""
    whole = rng.choice(
        [rng.randrange(10), rng.randrange(10**6), rng.randrange(10**12), rng.randrange(10**18)]
    )
    places = rng.choice([0, 2, 6])
    base = Decimal(whole * 10**places + rng.randrange(10**places)).scaleb(-places)
    if rng.random() < 0.5:
        base = -base
    step = Decimal(1).scaleb(-places)
    other = base + rng.choice([-step, Decimal(0), step])
    if rng.random() < 0.3:
        other = other.quantize(Decimal("0.000001"))  # the same value with trailing zeros
    return format(base, "f"), format(other, "f")


@pytest.mark.usefixtures("reopened_2021")
def test_the_database_judges_as_judge_does(
    session_client: TestClient, auth: Tokens, amount: str, settings: Settings
) -> None:
    """Random cells near their boundaries, one a year: each year's summary (counted by the database)
    against `judge` on the same decimals."""
    settings.open_future_years = YEAR_MAX - settings.today().year  # every year takes figures
    rng = random.Random(20261128)
    expected: dict[int, str] = {}
    for year in range(1900, 2100):
        operator = rng.choice(list(Operator))
        value, actual = _near(rng)
        upper = None
        if operator is Operator.between:
            low, high = sorted([Decimal(value), Decimal(_near(rng)[0])])
            value, upper = format(low, "f"), format(high, "f")
        qualifier = rng.choice(list(Qualifier))
        _put(session_client, auth, f"/api/v1/targets/{amount}/zone/{year}", _target(operator, value, upper))
        figure = f'{{"value": {actual}, "qualifier": "{qualifier}"}}'
        _put(session_client, auth, f"/api/v1/observations/{amount}/zone/{year}", figure)
        status, _ = judge(
            operator, Decimal(value), None if upper is None else Decimal(upper), Decimal(actual), qualifier
        )
        expected[year] = status
    r = session_client.get(f"{URL}?year_from=1900&year_to=2099&indicator={amount}", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    statuses = ("met", "not_met", "indeterminate", "no_data")
    got = {y["year"]: next(s for s in statuses if y[s] == 1) for y in r.json()["years"]}
    assert got == expected
    assert len(set(expected.values())) == 3  # met, not_met and indeterminate all occur


def test_status_filter_pages_through_values_the_database_could_not_judge(
    session_client: TestClient, auth: Tokens
) -> None:
    """Long values whose double would say `met` when they are not: the status filter and the pages
    must still hold exactly the right cells, in order."""
    departments = [
        d["code"] for d in session_client.get("/api/v1/departments", headers=auth["viewer"]).json()["items"]
    ]
    cells: dict[tuple[str, str], str] = {}
    for n in range(4):
        code = f"budget-{n}"
        body = {"code": code, "name": code, "value_type": "amount", "section": "money", "unit": "元"}
        assert session_client.post("/api/v1/indicators", json=body, headers=auth["admin"]).status_code == 201
        short = n == 2  # one indicator of short values among them: the database decides those
        value, other = ("75.5", "75.500001") if short else (LONG, LONG_NEXT)
        for k, department in enumerate(departments):
            hit = (n + k) % 3 == 0
            _put(
                session_client,
                auth,
                f"/api/v1/targets/{code}/{department}/2012",
                _target("exactly", value, None),
            )
            figure = f'{{"value": {value if hit else other}}}'
            _put(session_client, auth, f"/api/v1/observations/{code}/{department}/2012", figure)
            cells[code, department] = "met" if hit else "not_met"

    everything = session_client.get(f"{URL}?year=2012", headers=auth["viewer"]).json()
    assert {(i["indicator"], i["department"]): i["status"] for i in everything["items"]} == cells
    met = sum(1 for s in cells.values() if s == "met")
    assert (everything["summary"]["met"], everything["summary"]["not_met"]) == (met, len(cells) - met)
    for status in ("met", "not_met"):
        wanted = sorted(cell for cell, s in cells.items() if s == status)
        seen: list[tuple[str, str]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"year": 2012, "status": status, "limit": 2}
            body = session_client.get(
                URL, params={**params, **({"cursor": cursor} if cursor else {})}, headers=auth["viewer"]
            ).json()
            assert body["summary"] == everything["summary"]
            seen += [(i["indicator"], i["department"]) for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == wanted
