"""A three-level department tree and one indicator per aggregation, made over HTTP.

t-root ─┬─ t-mid-a ─┬─ t-leaf-a1
        │           └─ t-leaf-a2
        └─ t-mid-b
"""

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens

TREE = {
    "t-root": None,
    "t-mid-a": "t-root",
    "t-mid-b": "t-root",
    "t-leaf-a1": "t-mid-a",
    "t-leaf-a2": "t-mid-a",
}
AGGREGATIONS = ("sum", "mean", "min", "max", "none")


@pytest.fixture
def tree(session_client: TestClient, auth: Tokens) -> dict[str, str | None]:
    for code, parent in TREE.items():
        body = {"code": code, "name": code, "parent": parent}
        r = session_client.post("/api/v1/departments", json=body, headers=auth["admin"])
        assert r.status_code == 201, r.text
    for aggregation in AGGREGATIONS:
        body = {
            "code": f"agg-{aggregation}",
            "name": aggregation,
            "value_type": "amount",
            "aggregation": aggregation,
            "direction": "higher",
            "unit": "元",
        }
        r = session_client.post("/api/v1/indicators", json=body, headers=auth["admin"])
        assert r.status_code == 201, r.text
    return TREE
