"""Writes, v2: observations not for years after the open ones, a reason kept with each version, and
no control characters in any free text (JSON and batch rows alike)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from tests.helpers import Tokens, problem, revisions, stored
from tests.targets.test_router import target_revisions, target_row
from tests.transfer.test_formats import send, workbook

URL = "/api/v1/observations"
MERGE = {"content-type": "application/merge-patch+json"}


def this_year(settings: Settings) -> int:
    """The current year where the service runs (INDICATORS_TIMEZONE), not where the test does."""
    return settings.today().year


def test_an_observation_after_the_current_year_is_refused(
    session_client: TestClient, auth: Tokens, session: Session, settings: Settings
) -> None:
    now = this_year(settings)
    r = session_client.put(f"{URL}/legal-lectures/zone/{now}", json={"value": 3}, headers=auth["clerk-zone"])
    assert r.status_code == 201, r.text
    body = problem(
        session_client.put(
            f"{URL}/legal-lectures/zone/{now + 1}", json={"value": 3}, headers=auth["clerk-zone"]
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["path", "year"] and str(now) in body["errors"][0]["msg"]
    assert stored(session, "legal-lectures", "zone", now + 1) is None
    # PATCH alike (checked before the cell is looked at)
    problem(
        session_client.patch(
            f"{URL}/legal-lectures/zone/{now + 1}", json={"value": 4}, headers={**auth["clerk-zone"], **MERGE}
        ),
        422,
    )
    # a target may be for any year
    r = session_client.put(
        f"/api/v1/targets/legal-lectures/zone/{now + 5}",
        json={"operator": "at_least", "value": 3},
        headers=auth["commission"],
    )
    assert r.status_code == 201, r.text


def test_open_future_years_opens_that_many(
    session_client: TestClient, auth: Tokens, session: Session, settings: Settings
) -> None:
    settings.open_future_years = 2
    now = this_year(settings)
    r = session_client.put(
        f"{URL}/legal-lectures/zone/{now + 2}", json={"value": 3}, headers=auth["clerk-zone"]
    )
    assert r.status_code == 201, r.text
    problem(
        session_client.put(
            f"{URL}/legal-lectures/zone/{now + 3}", json={"value": 3}, headers=auth["clerk-zone"]
        ),
        422,
    )
    r = session_client.post(
        URL,
        json={
            "observations": [
                {"indicator": "legal-lectures", "department": "zone", "year": now + 1, "value": 1},
            ]
        },
        headers=auth["clerk-zone"],
    )
    assert r.status_code == 200 and r.json()["created"] == 1, r.text


def _future_rows(now: int) -> list[list[Any]]:
    return [
        ["indicator", "department", "year", "value"],
        ["legal-lectures", "zone", now, 1],
        ["legal-lectures", "zone", now + 1, 1],
    ]


@pytest.mark.parametrize("kind", ["json", "csv", "xlsx"])
def test_batch_rows_after_the_current_year_are_refused_by_row(
    session_client: TestClient, auth: Tokens, session: Session, settings: Settings, kind: str
) -> None:
    now = this_year(settings)
    rows = _future_rows(now)
    if kind == "json":
        names = rows[0]
        r = session_client.post(
            f"{URL}?atomic=false",
            json={"observations": [dict(zip(names, row, strict=True)) for row in rows[1:]]},
            headers=auth["clerk-zone"],
        )
    elif kind == "csv":
        text = "\r\n".join(",".join(map(str, row)) for row in rows).encode()
        r = send(session_client, auth["clerk-zone"], text, "text/csv", "?atomic=false")
    else:
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        r = send(session_client, auth["clerk-zone"], workbook(rows), media, "?atomic=false")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["rejected"]) == (1, 1)
    [error] = body["errors"]
    # JSON counts rows from 1; files as a spreadsheet shows them (the header is row 1).
    assert (error["row"], error["loc"], error["type"]) == (
        2 if kind == "json" else 3,
        ["year"],
        "year_future",
    )
    assert stored(session, "legal-lectures", "zone", now) is not None
    assert stored(session, "legal-lectures", "zone", now + 1) is None


def test_a_reason_is_kept_with_the_version_it_made(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    cell = f"{URL}/disputes-mediated/zone/2020"
    h = auth["clerk-zone"]
    assert session_client.put(cell, json={"value": 230, "reason": "首次填报"}, headers=h).status_code == 201
    assert session_client.put(cell, json={"value": 231}, headers=h).status_code == 200
    r = session_client.patch(
        cell, json={"value": 232, "reason": "corrected after audit"}, headers={**h, **MERGE}
    )
    assert r.status_code == 200 and "reason" not in r.json(), r.text
    assert session_client.delete(f"{cell}?reason=重复填报", headers=h).status_code == 204
    expected = ["首次填报", None, "corrected after audit", "重复填报"]
    assert [v.reason for v in revisions(session, "disputes-mediated", "zone", 2020)] == expected
    history = session_client.get(f"{cell}/history", headers=auth["viewer"]).json()["items"]
    assert [(i["action"], i["reason"]) for i in history] == list(
        zip(["create", "update", "update", "delete"], expected, strict=True)
    )


def test_a_target_reason_too(session_client: TestClient, auth: Tokens, session: Session) -> None:
    cell = "/api/v1/targets/disputes-mediated/zone/2022"
    h = auth["commission"]
    assert (
        session_client.put(
            cell, json={"operator": "at_least", "value": 1, "reason": "规划"}, headers=h
        ).status_code
        == 201
    )
    assert (
        session_client.patch(cell, json={"value": 2, "reason": "调整"}, headers={**h, **MERGE}).status_code
        == 200
    )
    assert session_client.delete(f"{cell}?reason=取消", headers=h).status_code == 204
    assert [v.reason for v in target_revisions(session, "disputes-mediated", "zone", 2022)] == [
        "规划",
        "调整",
        "取消",
    ]
    history = session_client.get(f"{cell}/history", headers=auth["viewer"]).json()["items"]
    assert [i["reason"] for i in history] == ["规划", "调整", "取消"]


def test_a_reason_too_long_or_with_control_characters_is_422(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    cell = f"{URL}/disputes-mediated/zone/2020"
    h = auth["clerk-zone"]
    for reason in ("x" * 501, "bell\u0007"):
        body = problem(session_client.put(cell, json={"value": 1, "reason": reason}, headers=h), 422)
        assert body["errors"][0]["loc"] == ["body", "reason"]
    assert session_client.put(cell, json={"value": 1, "reason": "x" * 500}, headers=h).status_code == 201
    body = problem(session_client.delete(f"{cell}?reason=a%07b", headers=h), 422)
    assert body["errors"][0]["loc"] == ["query", "reason"]
    assert stored(session, "disputes-mediated", "zone", 2020) is not None


CONTROL = "a\u0007b"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (f"{URL}/legal-lectures/zone/2020", {"value": 1, "note": CONTROL}, "note"),
        (f"{URL}/legal-lectures/zone/2020", {"value": 1, "source": "\u001b[31m"}, "source"),
        (
            "/api/v1/targets/legal-lectures/zone/2020",
            {"operator": "at_least", "value": 1, "note": "\u0085"},
            "note",
        ),
    ],
)
def test_cell_text_with_control_characters_is_422(
    session_client: TestClient, auth: Tokens, session: Session, path: str, body: dict[str, Any], field: str
) -> None:
    answer = problem(session_client.put(path, json=body, headers=auth["commission"]), 422)
    assert answer["errors"][0]["loc"] == ["body", field]
    assert stored(session, "legal-lectures", "zone", 2020) is None
    assert target_row(session, "legal-lectures", "zone", 2020) is None


def test_tab_and_line_breaks_are_text(session_client: TestClient, auth: Tokens, session: Session) -> None:
    note = "第一行\r\n第二行\t完"
    r = session_client.put(
        f"{URL}/legal-lectures/zone/2020", json={"value": 1, "note": note}, headers=auth["commission"]
    )
    assert r.status_code == 201, r.text
    row = stored(session, "legal-lectures", "zone", 2020)
    assert row is not None and row.note == note


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/v1/departments", {"code": "bell", "name": CONTROL}, "name"),
        ("post", "/api/v1/departments", {"code": "bell", "name": "铃", "name_en": CONTROL}, "name_en"),
        ("patch", "/api/v1/departments/zone", {"name_en": CONTROL}, "name_en"),
        ("post", "/api/v1/indicators", {"code": "bell", "name": CONTROL, "value_type": "count"}, "name"),
        (
            "post",
            "/api/v1/indicators",
            {"code": "bell", "name": "铃", "value_type": "count", "unit": "\u0001"},
            "unit",
        ),
        ("patch", "/api/v1/indicators/legal-lectures", {"description": CONTROL}, "description"),
        ("patch", "/api/v1/indicators/legal-lectures", {"name_en": "\u007f"}, "name_en"),
    ],
)
def test_catalogue_text_with_control_characters_is_422(
    session_client: TestClient, auth: Tokens, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    answer = problem(getattr(session_client, method)(path, json=body, headers=auth["admin"]), 422)
    assert answer["errors"][0]["loc"] == ["body", field]
    if method == "post":
        problem(session_client.get(f"{path}/bell", headers=auth["viewer"]), 404)


def test_the_openapi_carries_the_pattern(session_client: TestClient) -> None:
    schemas = session_client.get("/openapi.json").json()["components"]["schemas"]
    note = schemas["ObservationWrite"]["properties"]["note"]["anyOf"][0]
    assert note["pattern"].startswith("^[^\\x00-\\x08")
    assert "pattern" in schemas["DepartmentCreate"]["properties"]["name"]


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_batch_text_with_control_characters_is_refused_by_row_and_field(
    session_client: TestClient, auth: Tokens, session: Session, kind: str
) -> None:
    rows: list[list[Any]] = [
        ["indicator", "department", "year", "value", "note", "source"],
        ["legal-lectures", "zone", 2015, 1, "fine", ""],
        ["legal-lectures", "zone", 2016, 1, "", "bad\u0007source"],
    ]
    if kind == "json":
        items = [{k: v for k, v in zip(rows[0], row, strict=True) if v != ""} for row in rows[1:]]
        r = session_client.post(
            f"{URL}?atomic=false", json={"observations": items}, headers=auth["clerk-zone"]
        )
    else:
        text = "\r\n".join(",".join(map(str, row)) for row in rows).encode()
        r = send(session_client, auth["clerk-zone"], text, "text/csv", "?atomic=false")
    assert r.status_code == 200, r.text
    [error] = r.json()["errors"]
    assert (error["row"], error["loc"]) == (2 if kind == "json" else 3, ["source"])
    assert stored(session, "legal-lectures", "zone", 2015) is not None
    assert stored(session, "legal-lectures", "zone", 2016) is None
