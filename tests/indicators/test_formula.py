"""A derived indicator's formula and an indicator's expected bounds, as the catalogue checks them."""

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.indicators.models import Indicator
from tests.helpers import Tokens, problem

URL = "/api/v1/indicators"
RATIO = {
    "code": "seals-per-firm-test",
    "name": "每户新设企业免费刻章数",
    "unit": "枚/家",
    "value_type": "amount",
    "aggregation": "none",
    "formula": "#{free-seals} / #{new-firms-sealed}",
}


def _stored(session: Session, code: str) -> Indicator | None:
    session.expire_all()
    return session.scalar(select(Indicator).where(Indicator.code == code))


def test_formula_and_bounds_are_kept(session_client: TestClient, auth: Tokens, session: Session) -> None:
    r = session_client.post(
        URL, json=RATIO | {"expected_min": 0, "expected_max": 10.5}, headers=auth["admin"]
    )
    assert r.status_code == 201, r.text
    assert r.json()["formula"] == RATIO["formula"]
    assert (r.json()["expected_min"], r.json()["expected_max"]) == (0, 10.5)
    row = _stored(session, RATIO["code"])
    assert row is not None and row.formula == RATIO["formula"]
    assert (row.expected_min, row.expected_max) == (Decimal(0), Decimal("10.5"))
    r = session_client.patch(f"{URL}/{RATIO['code']}", json={"expected_max": None}, headers=auth["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["expected_max"] is None and r.json()["expected_min"] == 0


@pytest.mark.parametrize(
    ("formula", "says"),
    [
        ("#{free-seals} / #{no-such-indicator}", "no indicator with code 'no-such-indicator'"),
        ("#{free-seals} ** 2", "+ - * /"),
        ("#{free-seals} / ", "syntax error"),
        ("#{seals-per-firm-test} + 1", "itself"),
        ("", "empty"),
    ],
)
def test_bad_formula_is_422_naming_formula(
    session_client: TestClient, auth: Tokens, session: Session, formula: str, says: str
) -> None:
    body = problem(session_client.post(URL, json=RATIO | {"formula": formula}, headers=auth["admin"]), 422)
    assert body["errors"][0]["loc"] == ["body", "formula"]
    assert says in body["errors"][0]["msg"]
    assert _stored(session, RATIO["code"]) is None


def test_derived_operand_and_operand_made_derived_are_refused(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    assert session_client.post(URL, json=RATIO, headers=auth["admin"]).status_code == 201
    second = RATIO | {"code": "twice-ratio", "formula": "#{seals-per-firm-test} * 2"}
    body = problem(session_client.post(URL, json=second, headers=auth["admin"]), 422)
    assert body["errors"][0]["loc"] == ["body", "formula"] and "derived" in body["errors"][0]["msg"]
    assert _stored(session, "twice-ratio") is None
    # An operand cannot become derived (its derived user would read a derived operand) ...
    r = session_client.patch(
        f"{URL}/free-seals", json={"formula": "#{new-firms-sealed} * 3"}, headers=auth["admin"]
    )
    assert problem(r, 422)["errors"][0]["loc"] == ["body", "formula"]
    free_seals = _stored(session, "free-seals")
    assert free_seals is not None and free_seals.formula is None
    # ... nor be deleted while a formula reads it.
    body = problem(session_client.delete(f"{URL}/new-firms-sealed", headers=auth["admin"]), 409)
    assert "seals-per-firm-test" in body["detail"]
    assert _stored(session, "new-firms-sealed") is not None


def test_bounds_out_of_order_are_422(session_client: TestClient, auth: Tokens, session: Session) -> None:
    body = problem(
        session_client.post(URL, json=RATIO | {"expected_min": 5, "expected_max": 1}, headers=auth["admin"]),
        422,
    )
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "expected_min"), ("body", "expected_max")}
    assert _stored(session, RATIO["code"]) is None
    # A PATCH is checked against the bound it leaves as stored.
    assert (
        session_client.patch(
            f"{URL}/free-seals", json={"expected_max": 10}, headers=auth["admin"]
        ).status_code
        == 200
    )
    problem(session_client.patch(f"{URL}/free-seals", json={"expected_min": 11}, headers=auth["admin"]), 422)
    row = _stored(session, "free-seals")
    assert row is not None and row.expected_min is None and row.expected_max == Decimal(10)
