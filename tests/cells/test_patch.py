"""PATCH of observations and targets: a JSON merge patch (RFC 7396) over the current figure, written
through the same checks as a PUT of the whole (app.cells.http.patch_cell)."""

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import Tokens, problem, revisions, stored
from tests.targets.test_router import target_revisions, target_row

OBS = "/api/v1/observations/disputes-mediated/zone/2020"
TARGET = "/api/v1/targets/disputes-mediated/zone/2022"
MERGE = {"content-type": "application/merge-patch+json"}


def test_patch_changes_only_the_fields_given(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    sent = {"value": 230, "qualifier": "at_least", "note": "初报", "source": "report-2020"}
    assert session_client.put(OBS, json=sent, headers=auth["clerk-zone"]).status_code == 201
    r = session_client.patch(OBS, json={"value": 231}, headers={**auth["clerk-zone"], **MERGE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["value"], body["qualifier"], body["note"], body["source"]) == (
        231,
        "at_least",
        "初报",
        "report-2020",
    )
    assert body["version"] == 2 and r.headers["etag"] == '"2"'
    row = stored(session, "disputes-mediated", "zone", 2020)
    assert (
        row is not None and row.value == Decimal(231) and row.qualifier == "at_least" and row.note == "初报"
    )
    # application/json is taken too; null clears an optional field, and qualifier goes back to its default
    r = session_client.patch(OBS, json={"note": None, "qualifier": None}, headers=auth["clerk-zone"])
    assert r.status_code == 200, r.text
    row = stored(session, "disputes-mediated", "zone", 2020)
    assert row is not None and row.note is None and row.qualifier == "exact" and row.source == "report-2020"
    assert [v.version for v in revisions(session, "disputes-mediated", "zone", 2020)] == [1, 2, 3]


def test_put_replaces_the_whole_figure(session_client: TestClient, auth: Tokens, session: Session) -> None:
    sent = {"value": 230, "qualifier": "at_least", "note": "初报", "source": "report-2020"}
    session_client.put(OBS, json=sent, headers=auth["clerk-zone"])
    assert session_client.put(OBS, json={"value": 230}, headers=auth["clerk-zone"]).status_code == 200
    row = stored(session, "disputes-mediated", "zone", 2020)
    assert row is not None and (row.qualifier, row.note, row.source) == ("exact", None, None)


def test_patch_with_nothing_new_makes_no_version(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    session_client.put(OBS, json={"value": 230, "note": "n"}, headers=auth["clerk-zone"])
    for patch in ({"value": 230}, {}, {"note": "n", "reason": "same again"}):
        r = session_client.patch(OBS, json=patch, headers={**auth["clerk-zone"], **MERGE})
        assert r.status_code == 200 and r.json()["version"] == 1, r.text
    assert len(revisions(session, "disputes-mediated", "zone", 2020)) == 1


def test_patch_refuses_what_a_put_refuses(session_client: TestClient, auth: Tokens, session: Session) -> None:
    session_client.put(OBS, json={"value": 230}, headers=auth["clerk-zone"])
    headers = {**auth["clerk-zone"], **MERGE}
    body = problem(session_client.patch(OBS, json={"value": 2.5}, headers=headers), 422)  # a count
    assert body["errors"][0]["loc"] == ["body", "value"]
    body = problem(session_client.patch(OBS, json={"value": None}, headers=headers), 422)  # required
    assert body["errors"][0]["loc"] == ["body", "value"]
    body = problem(session_client.patch(OBS, json={"colour": "red"}, headers=headers), 422)
    assert body["errors"][0]["loc"] == ["body", "colour"]
    # roles and scope as for PUT
    problem(session_client.patch(OBS, json={"value": 1}, headers={**auth["clerk-em"], **MERGE}), 403)
    problem(session_client.patch(OBS, json={"value": 1}, headers={**auth["viewer"], **MERGE}), 403)
    problem(session_client.patch(OBS, json={"value": 1}, headers=MERGE), 401)
    row = stored(session, "disputes-mediated", "zone", 2020)
    assert row is not None and row.value == Decimal(230) and row.version == 1


def test_patch_of_nothing_is_404_and_if_match_is_honoured(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    headers = {**auth["clerk-zone"], **MERGE}
    problem(session_client.patch(OBS, json={"value": 1}, headers=headers), 404)
    assert stored(session, "disputes-mediated", "zone", 2020) is None
    problem(session_client.patch(f"{OBS[:-4]}1999", json={"value": 1}, headers=headers), 404)
    problem(session_client.patch(OBS.replace("zone", "nowhere"), json={"value": 1}, headers=headers), 404)
    session_client.put(OBS, json={"value": 230}, headers=auth["clerk-zone"])
    problem(session_client.patch(OBS, json={"value": 1}, headers={**headers, "If-Match": '"7"'}), 412)
    row = stored(session, "disputes-mediated", "zone", 2020)
    assert row is not None and row.value == Decimal(230)
    r = session_client.patch(OBS, json={"value": 1}, headers={**headers, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["value"] == 1


def test_target_patch_is_checked_as_a_whole(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    headers = {**auth["commission"], **MERGE}
    problem(session_client.patch(TARGET, json={"value": 1}, headers=headers), 404)
    sent = {"operator": "between", "value": 200, "upper": 300, "note": "目标"}
    assert session_client.put(TARGET, json=sent, headers=auth["commission"]).status_code == 201
    r = session_client.patch(TARGET, json={"upper": 350}, headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["operator"], r.json()["value"], r.json()["upper"], r.json()["note"]) == (
        "between",
        200,
        350,
        "目标",
    )
    # the result must hold together: value above upper, upper without between, between without upper
    for patch, field in (
        ({"value": 400}, "upper"),
        ({"operator": "at_least"}, "upper"),
        ({"upper": None}, "upper"),
        ({"operator": None}, "operator"),
    ):
        body = problem(session_client.patch(TARGET, json=patch, headers=headers), 422)
        assert body["errors"][0]["loc"] == ["body", field], (patch, body)
    r = session_client.patch(TARGET, json={"operator": "at_least", "upper": None}, headers=headers)
    assert r.status_code == 200 and r.json()["upper"] is None, r.text
    row = target_row(session, "disputes-mediated", "zone", 2022)
    assert row is not None and row.operator == "at_least" and row.upper is None and row.note == "目标"
    problem(session_client.patch(TARGET, json={"value": 1}, headers={**auth["clerk-zone"], **MERGE}), 403)
    problem(session_client.patch(TARGET, json={"value": 1}, headers={**headers, "If-Match": '"1"'}), 412)
    r = session_client.patch(TARGET, json={"value": 200}, headers=headers)  # unchanged
    assert r.status_code == 200 and r.json()["version"] == 3
    assert [v.version for v in target_revisions(session, "disputes-mediated", "zone", 2022)] == [1, 2, 3]


@pytest.mark.parametrize("path", [OBS, TARGET])
def test_patch_is_in_the_openapi_as_a_merge_patch(session_client: TestClient, path: str) -> None:
    template = path.rsplit("/", 3)[0] + "/{indicator}/{department}/{year}"
    operation = session_client.get("/openapi.json").json()["paths"][template]["patch"]
    assert "application/merge-patch+json" in operation["requestBody"]["content"]
    assert {"404", "412", "422"} <= set(operation["responses"])
