"""DHIS2 imports checked and stored in many chunks (as a large one is): the same answers as one chunk,
conflicts and locked values in a later chunk, atomic or not, as JSON and as CSV."""

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.observations.models import Observation, ObservationRevision
from tests.helpers import Tokens, problem, revisions, stored

URL = "/api/v1/exchange/dhis2/dataValueSets"
CELLS = [
    ("legal-lectures", "zone"),
    ("free-seals", "zone"),
    ("deadline-compression", "zone"),
    ("disputes-mediated", "emergency-management"),
    ("legal-lectures", "emergency-management"),
    ("free-seals", "emergency-management"),
    ("disputes-mediated", "zone"),
]
Value = tuple[str, str, str, str, str | None]  # dataElement, orgUnit, period, value, comment


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: checked and stored two rows at a time (batch.feed_overlapped); PostgreSQL stores a
    batch whole, and must give the same answers."""
    from app.transfer import batch

    monkeypatch.setattr(batch, "OVERLAP_CHUNK", 2)


def _totals(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Observation)) or 0,
        session.scalar(select(func.count()).select_from(ObservationRevision)) or 0,
    )


def _body(kind: str, values: list[Value]) -> bytes | dict[str, Any]:
    """JSON, or CSV with blank lines between the values (which are no data values: indexes skip them)."""
    if kind == "json":
        items = [
            {"dataElement": i, "orgUnit": d, "period": p, "value": v, **({"comment": c} if c else {})}
            for i, d, p, v, c in values
        ]
        return {"dataValues": items}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ("dataelement", "period", "orgunit", "categoryoptioncombo", "attributeoptioncombo", "value")
    )
    for n, (i, d, p, v, c) in enumerate(values):
        if n == 3:
            writer.writerow(())
            writer.writerow((" ", "", "  "))
        writer.writerow((i, p, d, "", "", v, "", "", c or "", "false"))
    return out.getvalue().encode()


def _post(client: TestClient, auth: Tokens, kind: str, values: list[Value], query: str = "") -> Any:
    body = _body(kind, values)
    if isinstance(body, bytes):
        headers = {**auth["commission"], "content-type": "text/csv"}
        return client.post(f"{URL}{query}", content=body, headers=headers)
    return client.post(f"{URL}{query}", json=body, headers=auth["commission"])


KINDS = pytest.mark.parametrize("kind", ["json", "csv"])


@KINDS
@pytest.mark.usefixtures("reopened_2021")
def test_an_import_in_many_chunks_writes_like_one(
    session_client: TestClient, auth: Tokens, session: Session, kind: str
) -> None:
    # A stored figure with what DHIS2 does not carry: its qualifier and its source.
    audited = {"indicator": "disputes-mediated", "department": "zone", "year": 2022, "value": 6}
    r = session_client.post(
        "/api/v1/observations",
        json={"observations": [{**audited, "qualifier": "at_least", "source": "audit"}]},
        headers=auth["commission"],
    )
    assert r.status_code == 200, r.text
    before = _totals(session)
    values: list[Value] = [
        (i, d, "2022", str(n), "二〇二二, 初报" if n == 2 else None) for n, (i, d) in enumerate(CELLS)
    ]
    r = _post(session_client, auth, kind, values)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["status"], summary["conflicts"]) == ("SUCCESS", [])
    assert summary["importCount"] == {"imported": 6, "updated": 0, "ignored": 1, "deleted": 0}
    assert _totals(session) == (before[0] + 6, before[1] + 6)
    kept = stored(session, "disputes-mediated", "zone", 2022)
    assert kept is not None and (kept.qualifier, kept.source, kept.version) == ("at_least", "audit", 1)
    noted = stored(session, "deadline-compression", "zone", 2022)
    assert noted is not None and noted.note == "二〇二二, 初报"

    # The same again, every third value changed and one comment dropped: across the chunks too.
    again: list[Value] = [
        (i, d, p, str(int(v) + 100) if n % 3 == 0 else v, None) for n, (i, d, p, v, _) in enumerate(values)
    ]
    r = _post(session_client, auth, kind, again)
    assert r.status_code == 200, r.text
    assert r.json()["importCount"] == {"imported": 0, "updated": 4, "ignored": 3, "deleted": 0}
    changed = stored(session, "disputes-mediated", "zone", 2022)
    assert changed is not None
    assert (changed.value, changed.qualifier, changed.source, changed.version) == (
        Decimal(106),
        "exact",
        "audit",
        2,
    )
    assert [h.action for h in revisions(session, "deadline-compression", "zone", 2022)] == [
        "create",
        "update",
    ]
    assert stored(session, "deadline-compression", "zone", 2022).note is None  # type: ignore[union-attr]
    assert _totals(session) == (before[0] + 6, before[1] + 10)


@KINDS
@pytest.mark.usefixtures("reopened_2021")
@pytest.mark.parametrize(("mode", "status"), [("ALL", 422), ("NONE", 200)])
def test_conflicts_in_a_later_chunk(
    session_client: TestClient, auth: Tokens, session: Session, kind: str, mode: str, status: int
) -> None:
    """Index 4 names no indicator, index 5 repeats index 1's cell: both two chunks in (and, in CSV,
    after blank lines, which are not data values)."""
    values: list[Value] = [(i, d, "2022", str(n), None) for n, (i, d) in enumerate(CELLS)]
    values[4] = ("nope", "zone", "2022", "4", None)
    values[5] = ("free-seals", "zone", "2022", "9", None)
    before = _totals(session)
    r = _post(session_client, auth, kind, values, f"?atomicMode={mode}")
    if status == 422:
        summary = problem(r, 422)["response"]
        assert summary["status"] == "ERROR"
        assert summary["importCount"] == {"imported": 0, "updated": 0, "ignored": 7, "deleted": 0}
    else:
        assert r.status_code == 200, r.text
        summary = r.json()
        assert summary["status"] == "WARNING"
        assert summary["importCount"] == {"imported": 5, "updated": 0, "ignored": 2, "deleted": 0}
    assert summary["conflictCount"] == 2
    assert [(c["object"], c["property"], c["errorCode"], c["indexes"]) for c in summary["conflicts"]] == [
        ("nope", "dataElement", "unknown_code", [4]),
        ("free-seals/zone/2022", None, "duplicate", [5]),
    ]
    written = 5 if status == 200 else 0
    assert _totals(session) == (before[0] + written, before[1] + written)
    first = stored(session, "free-seals", "zone", 2022)
    assert (first.value if first else None) == (1 if written else None)


@KINDS
@pytest.mark.parametrize(("mode", "status"), [("ALL", 422), ("NONE", 200)])
def test_locked_values_in_a_later_chunk(
    session_client: TestClient, auth: Tokens, session: Session, kind: str, mode: str, status: int
) -> None:
    """The seed approves 2021: a 2021 value sent back unchanged is ignored, a changed one is a
    `locked` conflict, wherever they fall among the chunks."""
    exported = session_client.get(
        URL,
        params={"dataElement": "free-seals", "orgUnit": "zone", "startYear": 2021, "endYear": 2021},
        headers=auth["viewer"],
    ).json()["dataValues"]
    [same] = [(v["dataElement"], v["orgUnit"], v["period"], v["value"], v["comment"]) for v in exported]
    values: list[Value] = [(i, d, "2022", str(n), None) for n, (i, d) in enumerate(CELLS[:5])]
    values += [same, ("deadline-compression", "zone", "2021", "1", None)]
    before = _totals(session)
    r = _post(session_client, auth, kind, values, f"?atomicMode={mode}")
    summary = problem(r, 422)["response"] if status == 422 else r.json()
    assert r.status_code == status, r.text
    assert [(c["property"], c["errorCode"], c["indexes"]) for c in summary["conflicts"]] == [
        ("orgUnit", "locked", [6])
    ]
    expected = (
        {"imported": 5, "updated": 0, "ignored": 2, "deleted": 0}
        if status == 200
        else {"imported": 0, "updated": 0, "ignored": 7, "deleted": 0}
    )
    assert summary["importCount"] == expected
    written = 5 if status == 200 else 0
    assert _totals(session) == (before[0] + written, before[1] + written)

    # Deleting: the 2022 figures go (each leaving a version), the locked 2021 one is a conflict.
    if status == 200:
        r = _post(session_client, auth, kind, values, f"?atomicMode={mode}&importStrategy=DELETE")
        assert r.status_code == 200, r.text
        summary = r.json()
        assert summary["importCount"] == {"imported": 0, "updated": 0, "ignored": 2, "deleted": 5}
        # One conflict (the same department, the same message) naming both, in the order sent.
        assert [(c["errorCode"], c["indexes"]) for c in summary["conflicts"]] == [("locked", [5, 6])]
        assert _totals(session) == (before[0], before[1] + 10)
