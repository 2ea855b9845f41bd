"""Each operator × qualifier × missing strategy, judged over HTTP against answers worked by hand.

A rule `#{qa} <operator> #{qb}` over figures of emergency-management in 2010. A qualified figure is
the set of values it allows (at_least 6: [6, ∞); more_than 6: (6, ∞); approximately: anything), so a
comparison holds for every value (no breach), fails for every value (`violated`), or depends on which
(`indeterminate`), as compliance judges targets.
"""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens, put

URL = "/api/v1/validation"
DEPARTMENT, YEAR = "emergency-management", 2010
Figure = tuple[str, str] | None  # (value, qualifier), None: no figure
E, AL, MT, AP = "exact", "at_least", "more_than", "approximately"

# operator, left figure, right figure, missing strategy, expected (None: no breach), left/right values
TABLE: list[tuple[str, Figure, Figure, str, str | None, str | None, str | None]] = [
    # less_than_or_equal_to
    ("less_than_or_equal_to", ("5", E), ("6", E), "skip_if_any_missing", None, None, None),
    ("less_than_or_equal_to", ("6", E), ("6", E), "skip_if_any_missing", None, None, None),
    ("less_than_or_equal_to", ("7", E), ("6", E), "skip_if_any_missing", "violated", "7", "6"),
    ("less_than_or_equal_to", ("5", AL), ("6", E), "skip_if_any_missing", "indeterminate", "5", "6"),
    ("less_than_or_equal_to", ("6", AL), ("6", E), "skip_if_any_missing", "indeterminate", "6", "6"),
    ("less_than_or_equal_to", ("7", AL), ("6", E), "skip_if_any_missing", "violated", "7", "6"),
    ("less_than_or_equal_to", ("6", MT), ("6", E), "skip_if_any_missing", "violated", "6", "6"),
    ("less_than_or_equal_to", ("5", AP), ("6", E), "skip_if_any_missing", "indeterminate", "5", "6"),
    ("less_than_or_equal_to", ("5", E), ("6", AL), "skip_if_any_missing", None, None, None),
    ("less_than_or_equal_to", ("7", E), ("6", AL), "skip_if_any_missing", "indeterminate", "7", "6"),
    ("less_than_or_equal_to", ("6", E), ("6", MT), "skip_if_any_missing", None, None, None),
    ("less_than_or_equal_to", ("7", E), ("6", MT), "skip_if_any_missing", "indeterminate", "7", "6"),
    # less_than
    ("less_than", ("5", E), ("6", E), "skip_if_any_missing", None, None, None),
    ("less_than", ("6", E), ("6", E), "skip_if_any_missing", "violated", "6", "6"),
    ("less_than", ("5", AL), ("6", E), "skip_if_any_missing", "indeterminate", "5", "6"),
    ("less_than", ("6", AL), ("6", E), "skip_if_any_missing", "violated", "6", "6"),
    ("less_than", ("6", E), ("6", MT), "skip_if_any_missing", None, None, None),
    ("less_than", ("6", E), ("6", AL), "skip_if_any_missing", "indeterminate", "6", "6"),
    ("less_than", ("6", E), ("6", AP), "skip_if_any_missing", "indeterminate", "6", "6"),
    # greater_than
    ("greater_than", ("7", E), ("6", E), "skip_if_any_missing", None, None, None),
    ("greater_than", ("6", E), ("6", E), "skip_if_any_missing", "violated", "6", "6"),
    ("greater_than", ("6", MT), ("6", E), "skip_if_any_missing", None, None, None),
    ("greater_than", ("6", AL), ("6", E), "skip_if_any_missing", "indeterminate", "6", "6"),
    ("greater_than", ("5", E), ("5", AL), "skip_if_any_missing", "violated", "5", "5"),
    ("greater_than", ("9", E), ("5", AL), "skip_if_any_missing", "indeterminate", "9", "5"),
    # greater_than_or_equal_to
    ("greater_than_or_equal_to", ("6", E), ("6", E), "skip_if_any_missing", None, None, None),
    ("greater_than_or_equal_to", ("5", E), ("6", E), "skip_if_any_missing", "violated", "5", "6"),
    ("greater_than_or_equal_to", ("5", AL), ("6", E), "skip_if_any_missing", "indeterminate", "5", "6"),
    ("greater_than_or_equal_to", ("6", AL), ("6", E), "skip_if_any_missing", None, None, None),
    ("greater_than_or_equal_to", ("5", E), ("5", MT), "skip_if_any_missing", "violated", "5", "5"),
    ("greater_than_or_equal_to", ("6", E), ("5", MT), "skip_if_any_missing", "indeterminate", "6", "5"),
    # equal_to
    ("equal_to", ("6", E), ("6.000", E), "skip_if_any_missing", None, None, None),
    ("equal_to", ("5", E), ("6", E), "skip_if_any_missing", "violated", "5", "6"),
    ("equal_to", ("5", AL), ("6", E), "skip_if_any_missing", "indeterminate", "5", "6"),
    ("equal_to", ("6", MT), ("6", E), "skip_if_any_missing", "violated", "6", "6"),
    ("equal_to", ("7", AL), ("6", E), "skip_if_any_missing", "violated", "7", "6"),
    ("equal_to", ("6", AP), ("6", E), "skip_if_any_missing", "indeterminate", "6", "6"),
    # not_equal_to
    ("not_equal_to", ("5", E), ("6", E), "skip_if_any_missing", None, None, None),
    ("not_equal_to", ("6", E), ("6", E), "skip_if_any_missing", "violated", "6", "6"),
    ("not_equal_to", ("7", AL), ("6", E), "skip_if_any_missing", None, None, None),
    ("not_equal_to", ("6", MT), ("6", E), "skip_if_any_missing", None, None, None),
    ("not_equal_to", ("6", AL), ("6", E), "skip_if_any_missing", "indeterminate", "6", "6"),
    ("not_equal_to", ("6", AP), ("6", E), "skip_if_any_missing", "indeterminate", "6", "6"),
    # compulsory_pair: both or neither; qualifiers and the missing strategy do not matter
    ("compulsory_pair", ("5", E), ("6", AL), "skip_if_any_missing", None, None, None),
    ("compulsory_pair", ("5", AP), None, "skip_if_any_missing", "violated", "5", None),
    ("compulsory_pair", None, ("6", MT), "never_skip", "violated", None, "6"),
    ("compulsory_pair", None, None, "never_skip", None, None, None),
    # exclusive_pair: not both
    ("exclusive_pair", ("5", E), ("6", E), "skip_if_any_missing", "violated", "5", "6"),
    ("exclusive_pair", ("5", AL), ("6", AP), "never_skip", "violated", "5", "6"),
    ("exclusive_pair", ("5", E), None, "skip_if_any_missing", None, None, None),
    ("exclusive_pair", None, None, "never_skip", None, None, None),
    # missing strategies: skip_if_any_missing skips; the others count a missing figure as 0
    ("less_than_or_equal_to", None, ("-1", E), "skip_if_any_missing", None, None, None),
    ("less_than_or_equal_to", None, ("-1", E), "skip_if_all_missing", "violated", "0", "-1"),
    ("less_than_or_equal_to", None, ("6", E), "skip_if_all_missing", None, None, None),
    ("less_than_or_equal_to", None, ("-1", AL), "skip_if_all_missing", "indeterminate", "0", "-1"),
    ("less_than_or_equal_to", None, ("-1", MT), "skip_if_all_missing", "indeterminate", "0", "-1"),
    ("less_than_or_equal_to", ("3", E), None, "skip_if_all_missing", "violated", "3", "0"),
    ("less_than_or_equal_to", ("3", AL), None, "never_skip", "violated", "3", "0"),
    ("less_than_or_equal_to", None, ("-1", E), "never_skip", "violated", "0", "-1"),
    ("greater_than", None, None, "skip_if_all_missing", None, None, None),
    ("greater_than", None, None, "skip_if_any_missing", None, None, None),
    ("greater_than", None, None, "never_skip", "violated", "0", "0"),
    ("greater_than_or_equal_to", None, None, "never_skip", None, None, None),
    ("equal_to", None, ("0", AL), "never_skip", "indeterminate", "0", "0"),
    ("not_equal_to", None, ("0", MT), "never_skip", None, None, None),
]


def _id(row: tuple[Any, ...]) -> str:
    def side(f: Figure) -> str:
        return "none" if f is None else f"{f[1]}-{f[0]}"

    return f"{row[0]}:{side(row[1])}:{side(row[2])}:{row[3]}"


@pytest.mark.parametrize(
    ("operator", "left", "right", "missing", "status", "lv", "rv"), TABLE, ids=map(_id, TABLE)
)
def test_each_operator_qualifier_and_missing_strategy(
    session_client: TestClient,
    auth: Tokens,
    amounts: tuple[str, str, str],
    put_rule: Callable[..., Any],
    operator: str,
    left: Figure,
    right: Figure,
    missing: str,
    status: str | None,
    lv: str | None,
    rv: str | None,
) -> None:
    qa, qb, _ = amounts
    put_rule("table-rule", f"#{{{qa}}}", operator, f"#{{{qb}}}", importance="low", missing=missing)
    for code, figure in ((qa, left), (qb, right)):
        if figure is not None:
            put(session_client, auth, code, DEPARTMENT, YEAR, figure[0], figure[1])
    r = session_client.get(
        URL, params={"year": YEAR, "rule": "table-rule", "department": DEPARTMENT}, headers=auth["viewer"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    if status is None:
        assert body["items"] == [], body
        assert body["summary"] == {"rules": 1, "violated": 0, "indeterminate": 0}
        return
    (item,) = body["items"]
    assert item == {
        "rule": "table-rule",
        "department": DEPARTMENT,
        "year": YEAR,
        "left_value": None if lv is None else float(lv),
        "operator": operator,
        "right_value": None if rv is None else float(rv),
        "importance": "low",
        "status": status,
    }
    assert body["summary"][status] == 1
