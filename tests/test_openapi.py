"""The OpenAPI document states the constraints the service enforces: a body it refuses for a rule the
document could state is one the document's schema refuses too, and a body it accepts passes."""

from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from tests.helpers import Tokens

CELL = "/api/v1/observations/disputes-mediated/zone/2019"
TARGET = "/api/v1/targets/disputes-mediated/zone/2023"


def _valid(document: dict[str, Any], schema: dict[str, Any], body: Any) -> bool:
    root = {**schema, "components": document["components"]}
    return bool(jsonschema_rs.Draft202012Validator(root).is_valid(body))


def _request_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    template = {
        CELL: "/api/v1/observations/{indicator}/{department}/{year}",
        TARGET: "/api/v1/targets/{indicator}/{department}/{year}",
        "/api/v1/indicators/free-seals": "/api/v1/indicators/{code}",
        "/api/v1/departments/zone": "/api/v1/departments/{code}",
    }.get(path, path)
    schema: dict[str, Any] = document["paths"][template][method.lower()]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


CASES: list[tuple[str, str, dict[str, Any], int]] = [
    # method, path, body, what the service answers
    ("PUT", CELL, {"value": 12}, 201),
    ("PUT", CELL, {"value": 1e18}, 422),
    ("PUT", CELL, {"value": -1e19}, 422),
    ("PUT", TARGET, {"operator": "between", "value": 1, "upper": 5}, 201),
    ("PUT", TARGET, {"operator": "between", "value": 1}, 422),
    ("PUT", TARGET, {"operator": "between", "value": 1, "upper": None}, 422),
    ("PUT", TARGET, {"operator": "at_least", "value": 1, "upper": 5}, 422),
    ("PUT", TARGET, {"operator": "at_least", "value": 1}, 201),
    ("PATCH", "/api/v1/indicators/free-seals", {"unit": "件"}, 200),
    ("PATCH", "/api/v1/indicators/free-seals", {"value_type": None}, 422),
    ("PATCH", "/api/v1/indicators/free-seals", {"direction": None}, 422),
    ("PATCH", "/api/v1/indicators/free-seals", {"name": None}, 422),
    ("PATCH", "/api/v1/departments/zone", {"name": None}, 422),
    ("PATCH", "/api/v1/departments/zone", {"name_en": None}, 200),
    ("POST", "/api/v1/tokens", {"name": "c1", "role": "clerk"}, 422),
    ("POST", "/api/v1/tokens", {"name": "c2", "role": "clerk", "department": None}, 422),
    ("POST", "/api/v1/tokens", {"name": "c3", "role": "clerk", "department": "zone"}, 201),
    ("POST", "/api/v1/tokens", {"name": "v1", "role": "viewer", "expires_in": "2w"}, 422),
    ("POST", "/api/v1/tokens", {"name": "v2", "role": "viewer", "expires_in": "2d"}, 201),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), CASES)
def test_the_document_refuses_what_the_service_refuses(
    session_client: TestClient, auth: Tokens, method: str, path: str, body: dict[str, Any], status: int
) -> None:
    document = session_client.get("/openapi.json").json()
    schema = _request_schema(document, method, path)
    answer = session_client.request(method, path, json=body, headers=auth["admin"])
    assert answer.status_code == status, answer.text
    assert _valid(document, schema, body) == (status < 400), (body, schema)


def test_a_batch_row_states_its_codes_and_year(session_client: TestClient) -> None:
    document = session_client.get("/openapi.json").json()
    schema = _request_schema(document, "POST", "/api/v1/observations")
    row = {"indicator": "free-seals", "department": "zone", "year": 2021, "value": 1}
    assert _valid(document, schema, {"observations": [row]})
    for bad in ({"indicator": "Free Seals"}, {"department": ""}, {"year": 1800}, {"value": 1e19}):
        assert not _valid(document, schema, {"observations": [{**row, **bad}]}), bad
