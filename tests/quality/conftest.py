from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens

AMOUNT = {"value_type": "amount", "section": "quality", "unit": "件"}


@pytest.fixture
def amounts(session_client: TestClient, auth: Tokens) -> tuple[str, str, str]:
    """Three amount indicators (any sign, any decimals) for rules to read."""
    codes = ("qa", "qb", "qc")
    for code in codes:
        body = {"code": code, "name": f"质量 {code}", **AMOUNT}
        r = session_client.post("/api/v1/indicators", json=body, headers=auth["admin"])
        assert r.status_code == 201, r.text
    return codes


@pytest.fixture
def put_rule(session_client: TestClient, auth: Tokens) -> Callable[..., Any]:
    def put(code: str, left: str, operator: str, right: str, **fields: Any) -> dict[str, Any]:
        body = {"name": f"规则 {code}", "left": left, "operator": operator, "right": right, **fields}
        r = session_client.put(f"/api/v1/rules/{code}", json=body, headers=auth["commission"])
        assert r.status_code in (200, 201), r.text
        result: dict[str, Any] = r.json()
        return result

    return put
