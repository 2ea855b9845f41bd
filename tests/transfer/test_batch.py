"""POST /api/v1/observations with JSON: semantics, row errors, history and department scope."""

import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.cells.tables import Action
from app.core.config import Settings
from app.observations.models import Observation, ObservationRevision, Qualifier
from tests.helpers import Tokens, problem, revisions, stored

URL = "/api/v1/observations"
SUMMARY = (
    "created",
    "updated",
    "unchanged",
    "skipped",
    "rejected",
    "dry_run",
    "errors",
    "error_count",
    "warnings",
)


def obs(indicator: str = "legal-lectures", department: str = "zone", year: int = 2022, **rest: Any) -> Any:
    return {"indicator": indicator, "department": department, "year": year, "value": 7, **rest}


def counts(body: dict[str, Any]) -> tuple[int, int, int, int]:
    return body["created"], body["updated"], body["unchanged"], body["rejected"]


def total(session: Session, model: type = Observation) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def post(session_client: TestClient, headers: dict[str, str], rows: list[Any], **options: Any) -> Any:
    return session_client.post(URL, json={"observations": rows, **options}, headers=headers)


THREE = [
    obs("legal-lectures", "zone", 2022, value=7, note="七场", source="report-2022"),
    obs("deadline-compression", "zone", 2022, value=80, qualifier="at_least"),
    obs("disputes-mediated", "emergency-management", 2022, value=12),
]


def test_batch_creates_rows_each_with_its_first_version(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    r = post(session_client, auth["clerk-zone"], THREE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == dict.fromkeys(SUMMARY, 0) | {
        "created": 3,
        "dry_run": False,
        "errors": [],
        "warnings": [],
    }
    row = stored(session, "deadline-compression", "zone", 2022)
    assert row is not None
    assert (row.value, row.qualifier, row.version, row.updated_by) == (
        Decimal(80),
        Qualifier.at_least,
        1,
        "clerk-zone",
    )
    lectures = stored(session, "legal-lectures", "zone", 2022)
    assert lectures is not None and (lectures.note, lectures.source) == ("七场", "report-2022")
    history = session_client.get(
        f"{URL}/disputes-mediated/emergency-management/2022/history", headers=auth["viewer"]
    )
    [version] = history.json()["items"]
    assert (version["version"], version["action"], version["value_before"], version["value_after"]) == (
        1,
        "create",
        None,
        12,
    )
    assert version["changed_by"] == "clerk-zone"


def test_the_same_batch_twice_changes_nothing(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    assert counts(post(session_client, auth["clerk-zone"], THREE).json()) == (3, 0, 0, 0)
    before = total(session, ObservationRevision)
    again = post(session_client, auth["clerk-zone"], THREE)
    assert again.status_code == 200
    assert counts(again.json()) == (0, 0, 3, 0)
    assert total(session, ObservationRevision) == before


def test_batch_writes_history_exactly_like_one_cell_writes(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """Cell A by PUT and DELETE, cell B by batches, the same steps: their revisions are the same."""
    h = auth["clerk-zone"]
    steps: list[dict[str, Any] | None] = [
        {"value": 5},
        {"value": 6, "qualifier": "approximately", "note": "约"},
        None,  # deleted
        {"value": 9, "source": "s"},
    ]
    for step in steps:
        if step is None:
            assert session_client.delete(f"{URL}/legal-lectures/zone/2019", headers=h).status_code == 204
            assert session_client.delete(f"{URL}/legal-lectures/zone/2018", headers=h).status_code == 204
            continue
        assert session_client.put(f"{URL}/legal-lectures/zone/2019", json=step, headers=h).status_code in (
            200,
            201,
        )
        r = post(session_client, h, [obs("legal-lectures", "zone", 2018, **step)])
        assert r.status_code == 200, r.text

    def shape(rows: list[ObservationRevision]) -> list[tuple[Any, ...]]:
        return [
            (
                r.version,
                r.action,
                r.value_before,
                r.value_after,
                r.qualifier_before,
                r.qualifier_after,
                r.note,
                r.source,
                r.changed_by,
            )
            for r in rows
        ]

    by_put = shape(revisions(session, "legal-lectures", "zone", 2019))
    by_batch = shape(revisions(session, "legal-lectures", "zone", 2018))
    assert [v[0] for v in by_batch] == [1, 2, 3, 4]  # the version continues after the deletion
    assert by_batch == by_put
    put_row, batch_row = (
        stored(session, "legal-lectures", "zone", 2019),
        stored(session, "legal-lectures", "zone", 2018),
    )
    assert put_row is not None and batch_row is not None
    assert (batch_row.version, batch_row.value, batch_row.source) == (put_row.version, put_row.value, "s")


@pytest.mark.usefixtures("reopened_2021")
def test_an_update_records_the_value_before(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    r = post(session_client, auth["commission"], [obs("deadline-compression", "zone", 2021, value=76)])
    assert counts(r.json()) == (0, 1, 0, 0)
    last = revisions(session, "deadline-compression", "zone", 2021)[-1]
    assert (last.version, last.action, last.value_before, last.value_after) == (
        2,
        Action.update,
        Decimal(75),
        Decimal(76),
    )
    assert (last.qualifier_before, last.qualifier_after) == ("at_least", "exact")


@pytest.mark.usefixtures("reopened_2021")
def test_values_are_kept_digit_for_digit(session_client: TestClient, auth: Tokens, session: Session) -> None:
    session_client.post(
        "/api/v1/indicators",
        json={"code": "budget", "name": "预算", "value_type": "amount", "unit": "元"},
        headers=auth["admin"],
    )
    body = (
        '{"observations": [{"indicator": "budget", "department": "zone", "year": 2021,'
        ' "value": 123456789012.345678}]}'
    )
    r = session_client.post(
        URL, content=body, headers={**auth["commission"], "content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    row = stored(session, "budget", "zone", 2021)
    assert row is not None and row.value == Decimal("123456789012.345678")


def test_atomic_batch_with_one_bad_row_writes_nothing(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    before = total(session), total(session, ObservationRevision)
    rows = [*THREE[:2], obs("deadline-compression", "emergency-management", 2022, value=101)]
    body = problem(post(session_client, auth["clerk-zone"], rows), 422)
    assert {k: body[k] for k in SUMMARY if k not in ("errors", "warnings")} == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 1,
        "dry_run": False,
        "error_count": 1,
    }
    assert body["errors"] == [
        {
            "row": 3,
            "indicator": "deadline-compression",
            "department": "emergency-management",
            "year": 2022,
            "loc": ["value"],
            "msg": "a percent must be between 0 and 100",
            "type": "value_type.percent",
        }
    ]
    assert "nothing" in body["detail"]
    assert (total(session), total(session, ObservationRevision)) == before


def test_non_atomic_batch_writes_the_valid_rows(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    rows = [obs(year=2010), obs(year=1800), obs(year=2011)]
    r = post(session_client, auth["clerk-zone"], rows, atomic=False)
    assert r.status_code == 200, r.text
    assert counts(r.json()) == (2, 0, 0, 1)
    assert r.json()["errors"] == [
        {
            "row": 2,
            "indicator": "legal-lectures",
            "department": "zone",
            "year": 1800,
            "loc": ["year"],
            "msg": "must be between 1900 and 2100",
            "type": "year_range",
        }
    ]
    assert stored(session, "legal-lectures", "zone", 2010) is not None
    assert stored(session, "legal-lectures", "zone", 2011) is not None


@pytest.mark.usefixtures("reopened_2021")
@pytest.mark.parametrize("where", ["body", "query"])
def test_dry_run_counts_and_writes_nothing(
    session_client: TestClient, auth: Tokens, session: Session, where: str
) -> None:
    before = total(session), total(session, ObservationRevision)
    seeded = {"value": 75, "qualifier": "at_least", "source": "report-2021 §一(二)"}
    rows = [*THREE, obs("deadline-compression", "zone", 2021, **seeded)]
    if where == "body":
        r = post(session_client, auth["clerk-zone"], rows, dry_run=True)
    else:
        r = session_client.post(
            f"{URL}?dry_run=true", json={"observations": rows}, headers=auth["clerk-zone"]
        )
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True
    assert counts(r.json()) == (3, 0, 1, 0)
    assert (total(session), total(session, ObservationRevision)) == before


def test_dry_run_of_a_failing_atomic_batch_fails_the_same_way(
    session_client: TestClient, auth: Tokens
) -> None:
    body = problem(post(session_client, auth["clerk-zone"], [obs(), obs(value=-1)], dry_run=True), 422)
    assert body["dry_run"] is True and body["rejected"] == 1


# Each bad row and the error it must give: (fields changed, loc, words the message must hold, type).
ROW_ERRORS: list[tuple[dict[str, Any], list[str], str, str]] = [
    ({"indicator": "nope"}, ["indicator"], "unknown indicator 'nope'", "unknown_code"),
    ({"department": "nowhere"}, ["department"], "unknown department 'nowhere'", "unknown_code"),
    ({"indicator": 12}, ["indicator"], "string", "string_type"),
    ({"year": "2021"}, ["year"], "whole number", "int_type"),
    ({"year": 2021.5}, ["year"], "whole number", "int_type"),
    ({"year": 1899}, ["year"], "between 1900 and 2100", "year_range"),
    ({"year": 2101}, ["year"], "between 1900 and 2100", "year_range"),
    ({"value": "7"}, ["value"], "not a string", "number_type"),
    ({"value": True}, ["value"], "boolean", "number"),
    ({"value": None}, ["value"], "required", "missing"),
    ({"value": 1.5}, ["value"], "whole number of 0 or more", "value_type.count"),
    ({"value": -1}, ["value"], "whole number of 0 or more", "value_type.count"),
    ({"value": 1.1234567}, ["value"], "6 digits after", "number"),
    ({"value": 10**18}, ["value"], "18 digits before", "number"),
    ({"qualifier": "about"}, ["qualifier"], "must be one of exact, at_least", "enum"),
    ({"note": "x" * 2001}, ["note"], "at most 2000", "string_too_long"),
    ({"source": 5}, ["source"], "string or null", "string_type"),
    ({"colour": "red"}, ["colour"], "unknown field", "extra_forbidden"),
]


@pytest.mark.parametrize(
    ("change", "loc", "words", "kind"), ROW_ERRORS, ids=[str(e[0])[:30] for e in ROW_ERRORS]
)
def test_row_errors_name_the_field(
    session_client: TestClient, auth: Tokens, change: dict[str, Any], loc: list[str], words: str, kind: str
) -> None:
    bad = obs(year=2023) | change
    body = problem(post(session_client, auth["commission"], [obs(), bad]), 422)
    [error] = body["errors"]
    assert (error["row"], error["loc"], error["type"]) == (2, loc, kind)
    assert words in error["msg"]


@pytest.mark.parametrize(
    ("indicator", "value", "ok"),
    [
        ("deadline-compression", 100, True),
        ("deadline-compression", 100.000001, False),
        ("business-environment-rank", 1, True),
        ("business-environment-rank", 0, False),
        ("legal-lectures", 0, True),
    ],
)
def test_value_type_boundaries(
    session_client: TestClient, auth: Tokens, indicator: str, value: Any, ok: bool
) -> None:
    r = post(session_client, auth["commission"], [obs(indicator, value=value)])
    assert r.status_code == (200 if ok else 422), r.text


def test_a_row_that_is_not_an_object_is_rejected(session_client: TestClient, auth: Tokens) -> None:
    body = problem(post(session_client, auth["commission"], [obs(), [1, 2], "x"]), 422)
    assert [(e["row"], e["type"]) for e in body["errors"]] == [(2, "dict_type"), (3, "dict_type")]


def test_every_error_is_reported_and_the_list_is_capped(session_client: TestClient, auth: Tokens) -> None:
    rows = [obs(indicator="nope", department="nowhere", year=1960 + i % 50) for i in range(600)]
    body = problem(post(session_client, auth["commission"], rows), 422)
    assert body["rejected"] == 600
    assert body["error_count"] == 1200  # two errors a row
    assert len(body["errors"]) == 1000
    assert body["errors"][0]["row"] == 1 and body["errors"][-1]["row"] == 500


def test_a_later_row_for_the_same_cell_is_rejected(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    rows = [obs(value=1), obs(year=2023), obs(value=2)]
    r = post(session_client, auth["clerk-zone"], rows, atomic=False)
    assert counts(r.json()) == (2, 0, 0, 1)
    [error] = r.json()["errors"]
    assert (error["row"], error["type"]) == (3, "duplicate")
    assert "row 1" in error["msg"]
    row = stored(session, "legal-lectures", "zone", 2022)
    assert row is not None and row.value == 1


@pytest.mark.parametrize("atomic", [True, False])
def test_a_clerk_batch_with_another_departments_row_writes_nothing(
    session_client: TestClient, auth: Tokens, session: Session, atomic: bool
) -> None:
    before = total(session), total(session, ObservationRevision)
    rows = [obs("disputes-mediated", "emergency-management", 2022), obs("legal-lectures", "zone", 2022)]
    body = problem(post(session_client, auth["clerk-em"], rows, atomic=atomic), 403)
    assert body["errors"] == [
        {
            "row": 2,
            "indicator": "legal-lectures",
            "department": "zone",
            "year": 2022,
            "loc": ["department"],
            "msg": "'clerk-em' may write only for emergency-management and below",
            "type": "forbidden",
        }
    ]
    assert body["created"] == 0 and body["rejected"] == 1
    assert (total(session), total(session, ObservationRevision)) == before


def test_a_clerk_writes_the_departments_below_its_own(session_client: TestClient, auth: Tokens) -> None:
    rows = [
        obs("disputes-mediated", "emergency-management", 2022),
        obs("disputes-mediated", "urban-management", 2022),
    ]
    assert counts(post(session_client, auth["clerk-zone"], rows).json()) == (2, 0, 0, 0)


def test_readers_cannot_write_batches(session_client: TestClient, auth: Tokens, session: Session) -> None:
    problem(post(session_client, auth["viewer"], [obs()]), 403)
    r = session_client.post(URL, json={"observations": [obs()]})
    problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    assert stored(session, "legal-lectures", "zone", 2022) is None


@pytest.mark.parametrize(
    ("document", "loc"),
    [
        ([obs()], ["body"]),
        ({"rows": [obs()]}, ["body", "rows"]),
        ({}, ["body", "observations"]),
        ({"observations": obs()}, ["body", "observations"]),
        ({"observations": [obs()], "dry_run": "yes"}, ["body", "dry_run"]),
    ],
)
def test_a_malformed_batch_document_is_422(
    session_client: TestClient, auth: Tokens, document: Any, loc: list[str]
) -> None:
    body = problem(session_client.post(URL, json=document, headers=auth["commission"]), 422)
    assert loc in [e["loc"] for e in body["errors"]]


@pytest.mark.parametrize("text", ['{"observations": [', '{"observations": [{"value": NaN}]}'])
def test_a_body_that_is_not_json_is_422(session_client: TestClient, auth: Tokens, text: str) -> None:
    r = session_client.post(
        URL, content=text, headers={**auth["commission"], "content-type": "application/json"}
    )
    assert "not valid JSON" in problem(r, 422)["detail"]


def test_an_empty_batch_does_nothing(session_client: TestClient, auth: Tokens) -> None:
    r = post(session_client, auth["commission"], [])
    assert r.status_code == 200 and counts(r.json()) == (0, 0, 0, 0)


def test_a_batch_over_the_row_limit_is_413(
    session_client: TestClient, auth: Tokens, session: Session, settings: Settings
) -> None:
    settings.max_batch_rows = 2
    body = problem(
        post(session_client, auth["commission"], [obs(year=2022), obs(year=2023), obs(year=2024)]), 413
    )
    assert "at most 2 rows" in body["detail"]
    assert stored(session, "legal-lectures", "zone", 2022) is None


def test_rows_are_stored_in_the_same_form_as_one_cell_writes(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """The batch writes below the ORM: its stored text must be what SQLAlchemy would have stored."""
    h = auth["clerk-zone"]
    assert (
        session_client.put(
            f"{URL}/deadline-compression/zone/2018", json={"value": 7.25}, headers=h
        ).status_code
        == 201
    )
    assert post(session_client, h, [obs("deadline-compression", "zone", 2019, value=7.25)]).status_code == 200

    def raw(table: str, column: str, year: int) -> str:
        sql = text(
            f"SELECT CAST(t.{column} AS TEXT) FROM {table} t JOIN indicator i ON i.id = t.indicator_id "
            "WHERE i.code = 'deadline-compression' AND t.year = :year"
        )
        value = session.execute(sql, {"year": year}).scalar_one()
        shape = re.sub(r"\d", "9", str(value))  # the shape, whatever the digits
        # PostgreSQL drops a timestamp's trailing zero microseconds from its text.
        return re.sub(r"\.9+", ".9", shape) if column.endswith("_at") else shape

    for table, columns in {
        "observation": ("value", "updated_at", "qualifier"),
        "observation_revision": ("value_after", "changed_at", "action", "value_before"),
    }.items():
        for column in columns:
            assert raw(table, column, 2019) == raw(table, column, 2018), (table, column)


@pytest.mark.usefixtures("reopened_2021")
def test_a_cell_created_between_lookup_and_write_is_retried_not_duplicated(
    session_client: TestClient, auth: Tokens, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent writer's row appears after the batch looked: the insert fails, the batch looks again."""
    from app.transfer import bulk

    real = bulk.lookup
    calls = []

    def stale_first(conn: Any, keys: Any, table: Any) -> Any:
        calls.append(len(keys))
        return (
            ({}, {}) if len(calls) == 1 else real(conn, keys, table)
        )  # the first look misses the seeded cell

    monkeypatch.setattr(bulk, "lookup", stale_first)
    seeded = {"value": 76, "qualifier": "at_least", "source": "report-2021 §一(二)"}
    r = post(session_client, auth["commission"], [obs(), obs("deadline-compression", "zone", 2021, **seeded)])
    assert r.status_code == 200, r.text
    assert counts(r.json()) == (1, 1, 0, 0)
    assert len(calls) == 2
    history = revisions(session, "deadline-compression", "zone", 2021)
    assert [(h.version, h.action) for h in history] == [(1, "create"), (2, "update")]
    assert len(revisions(session, "legal-lectures", "zone", 2022)) == 1


def test_a_batch_gives_sqlite_its_own_cache_size_back(
    session_client: TestClient, auth: Tokens, session: Session, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the page cache is SQLite's")
    before = session.connection().exec_driver_sql("PRAGMA cache_size").scalar()
    assert post(session_client, auth["commission"], THREE).status_code == 200
    assert session.connection().exec_driver_sql("PRAGMA cache_size").scalar() == before


def test_one_batch_of_every_kind_of_row_stores_each_exactly(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """New, new again after a deletion, changed and unchanged rows in one batch, with columns that
    differ between rows and exact values: each current row and revision as one-cell writes leave them."""
    session_client.post(
        "/api/v1/indicators",
        json={"code": "budget", "name": "预算", "value_type": "amount", "unit": "元"},
        headers=auth["admin"],
    )
    h = auth["commission"]
    cell = f"{URL}/budget/zone"
    assert session_client.put(f"{cell}/2019", json={"value": 1}, headers=h).status_code == 201
    assert session_client.delete(f"{cell}/2019", headers=h).status_code == 204
    assert session_client.put(f"{cell}/2020", json={"value": 2}, headers=h).status_code == 201
    assert session_client.put(f"{cell}/2018", json={"value": 3}, headers=h).status_code == 201
    rows = [
        '{"indicator": "budget", "department": "zone", "year": 2023, "value": 123456789012.345678}',
        '{"indicator": "budget", "department": "zone", "year": 2019, "value": 999999999999999999,'
        ' "note": "n"}',
        '{"indicator": "budget", "department": "zone", "year": 2020, "value": 2}',
        '{"indicator": "budget", "department": "zone", "year": 2018, "value": 0.000001,'
        ' "qualifier": "approximately"}',
        '{"indicator": "budget", "department": "zone", "year": 2022, "value": -5, "source": "s"}',
        '{"indicator": "budget", "department": "emergency-management", "year": 2022, "value": 7.50}',
    ]
    body = '{"observations": [' + ", ".join(rows) + "]}"
    r = session_client.post(URL, content=body, headers={**h, "content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert counts(r.json()) == (4, 1, 1, 0)
    expected = {
        ("zone", 2023): (Decimal("123456789012.345678"), "exact", None, None, 1),
        ("zone", 2019): (Decimal("999999999999999999"), "exact", "n", None, 3),
        ("zone", 2020): (Decimal(2), "exact", None, None, 1),
        ("zone", 2018): (Decimal("0.000001"), "approximately", None, None, 2),
        ("zone", 2022): (Decimal(-5), "exact", None, "s", 1),
        ("emergency-management", 2022): (Decimal("7.5"), "exact", None, None, 1),
    }
    for (department, year), (value, qualifier, note, source, version) in expected.items():
        row = stored(session, "budget", department, year)
        assert row is not None, (department, year)
        assert (row.value, row.qualifier, row.note, row.source, row.version) == (
            value,
            qualifier,
            note,
            source,
            version,
        ), (department, year)
        history = revisions(session, "budget", department, year)
        assert [h.version for h in history] == list(range(1, version + 1))
        last = history[-1]
        assert (last.value_after, last.qualifier_after, last.note, last.source) == (
            value,
            qualifier,
            note,
            source,
        )
        assert last.changed_by == row.updated_by and last.changed_at == row.updated_at
    assert [h.action for h in revisions(session, "budget", "zone", 2019)] == ["create", "delete", "create"]
    assert revisions(session, "budget", "zone", 2018)[-1].value_before == Decimal(3)


def test_columns_the_same_in_every_row_are_stored_in_each(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    same = {"qualifier": "more_than", "note": "同一备注", "source": "report-2022"}
    rows = [
        obs(i, d, 2022, value=v, **same)
        for i, d, v in (("legal-lectures", "zone", 1), ("free-seals", "zone", 2))
    ]
    assert counts(post(session_client, auth["commission"], rows).json()) == (2, 0, 0, 0)
    for indicator, value in (("legal-lectures", 1), ("free-seals", 2)):
        row = stored(session, indicator, "zone", 2022)
        assert row is not None
        assert (row.value, row.qualifier, row.note, row.source, row.version) == (
            Decimal(value),
            *same.values(),
            1,
        )
        [first] = revisions(session, indicator, "zone", 2022)
        assert (first.action, first.value_after, first.qualifier_after, first.note, first.source) == (
            "create",
            Decimal(value),
            *same.values(),
        )


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: batches held in memory checked and stored two rows at a time, overlapped
    (batch.feed_overlapped); PostgreSQL stores a batch whole, and must give the same answers."""
    from app.transfer import batch

    monkeypatch.setattr(batch, "OVERLAP_CHUNK", 2)


SEVEN = [
    obs(i, d, 2022, value=v)
    for v, (i, d) in enumerate(
        [
            ("legal-lectures", "zone"),
            ("free-seals", "zone"),
            ("deadline-compression", "zone"),
            ("disputes-mediated", "emergency-management"),
            ("legal-lectures", "emergency-management"),
            ("free-seals", "emergency-management"),
            ("disputes-mediated", "zone"),
        ]
    )
]


@pytest.mark.usefixtures("reopened_2021")
@pytest.mark.usefixtures("small_chunks")
def test_a_batch_in_many_chunks_writes_like_one(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    before = total(session), total(session, ObservationRevision)
    h = auth["commission"]
    assert counts(post(session_client, h, SEVEN).json()) == (7, 0, 0, 0)
    assert (total(session), total(session, ObservationRevision)) == (before[0] + 7, before[1] + 7)
    changed = [{**row, "value": row["value"] + 100} if n % 3 == 0 else row for n, row in enumerate(SEVEN)]
    assert counts(post(session_client, h, changed).json()) == (0, 3, 4, 0)
    assert [r.version for r in revisions(session, "legal-lectures", "zone", 2022)] == [1, 2]
    row = stored(session, "disputes-mediated", "zone", 2022)
    assert row is not None and (row.value, row.version) == (Decimal(106), 2)


@pytest.mark.usefixtures("reopened_2021")
@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    ("options", "status"), [({}, 422), ({"atomic": False}, 200), ({"dry_run": True}, 422)]
)
def test_a_bad_row_in_a_later_chunk(
    session_client: TestClient, auth: Tokens, session: Session, options: dict[str, Any], status: int
) -> None:
    """Atomic: the chunks already stored are rolled back with the request; not atomic: the others stay."""
    before = total(session), total(session, ObservationRevision)
    rows = [*SEVEN[:5], SEVEN[1], SEVEN[5]]  # row 6 repeats row 2's cell, two chunks later
    r = post(session_client, auth["commission"], rows, **options)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["rejected"] == 1 and body["errors"][0]["row"] == 6
    assert body["errors"][0]["type"] == "duplicate" and "row 2" in body["errors"][0]["msg"]
    written = 6 if status == 200 else 0
    assert (total(session), total(session, ObservationRevision)) == (before[0] + written, before[1] + written)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(("options", "status"), [({}, 422), ({"atomic": False}, 200)])
def test_a_locked_row_in_a_later_chunk(
    session_client: TestClient, auth: Tokens, session: Session, options: dict[str, Any], status: int
) -> None:
    """The seed approves 2021: a 2021 row two chunks in is refused as `locked`, as any row error."""
    before = total(session), total(session, ObservationRevision)
    rows = [*SEVEN[:5], obs("free-seals", "zone", 2021, value=1), SEVEN[5]]
    r = post(session_client, auth["commission"], rows, **options)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["rejected"] == 1 and [(e["row"], e["type"]) for e in body["errors"]] == [(6, "locked")]
    written = 6 if status == 200 else 0
    assert (total(session), total(session, ObservationRevision)) == (before[0] + written, before[1] + written)
    row = stored(session, "free-seals", "zone", 2021)
    assert row is not None and row.value == 1584
