"""A clerk's scope over a deeper tree than the seed's: its department and everything below, at any depth."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import Role
from app.auth.schemas import TokenCreate
from tests.helpers import Tokens, problem, stored

# zone > bureau > office > desk, and a sibling bureau with an office of its own.
TREE = [
    ("scope-bureau", "zone"),
    ("scope-office", "scope-bureau"),
    ("scope-desk", "scope-office"),
    ("scope-other", "zone"),
    ("scope-other-office", "scope-other"),
]


@pytest.fixture
def bureau_clerk(session_client: TestClient, auth: Tokens, session: Session) -> dict[str, str]:
    for code, parent in TREE:
        r = session_client.post(
            "/api/v1/departments", json={"code": code, "name": code, "parent": parent}, headers=auth["admin"]
        )
        assert r.status_code == 201, r.text
    _, secret = tokens.create(
        session,
        data=TokenCreate(name="clerk-bureau", role=Role.clerk, department="scope-bureau"),
        actor="test",
    )
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(
    ("department", "allowed"),
    [
        ("scope-bureau", True),  # its own
        ("scope-office", True),  # one level down
        ("scope-desk", True),  # two levels down
        ("zone", False),  # above it
        ("scope-other", False),  # a sibling
        ("scope-other-office", False),  # below a sibling
    ],
)
def test_clerk_writes_its_subtree_at_any_depth(
    session_client: TestClient, session: Session, bureau_clerk: dict[str, str], department: str, allowed: bool
) -> None:
    url = f"/api/v1/observations/free-seals/{department}/2023"
    r = session_client.put(url, json={"value": 12}, headers=bureau_clerk)
    if allowed:
        assert r.status_code == 201, r.text
        row = stored(session, "free-seals", department, 2023)
        assert row is not None and row.updated_by == "clerk-bureau"
    else:
        problem(r, 403)
        assert stored(session, "free-seals", department, 2023) is None
