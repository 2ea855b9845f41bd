"""A three-level department tree and one indicator per aggregation, made over HTTP.

t-root ─┬─ t-mid-a ─┬─ t-leaf-a1
        │           └─ t-leaf-a2
        └─ t-mid-b
"""

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tokens

TREE = {
    "t-root": None,
    "t-mid-a": "t-root",
    "t-mid-b": "t-root",
    "t-leaf-a1": "t-mid-a",
    "t-leaf-a2": "t-mid-a",
}
AGGREGATIONS = ("sum", "mean", "min", "max", "none")


@pytest.fixture
def tree(client: TestClient, auth: Tokens) -> dict[str, str | None]:
    for code, parent in TREE.items():
        body = {"code": code, "name": code, "parent": parent}
        r = client.post("/api/v1/departments", json=body, headers=auth["admin"])
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
        r = client.post("/api/v1/indicators", json=body, headers=auth["admin"])
        assert r.status_code == 201, r.text
    return TREE


def put(
    client: TestClient,
    auth: Tokens,
    indicator: str,
    department: str,
    year: int,
    value: str,
    qualifier: str = "exact",
) -> None:
    """Record a figure from its exact text (no float on the way)."""
    r = client.put(
        f"/api/v1/observations/{indicator}/{department}/{year}",
        content=f'{{"value": {value}, "qualifier": "{qualifier}"}}',
        headers={**auth["commission"], "content-type": "application/json"},
    )
    assert r.status_code in (200, 201), r.text
