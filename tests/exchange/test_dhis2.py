"""DHIS2 data value sets: out as JSON and CSV, back in through the observation batch pipeline."""

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.observations.models import Observation, ObservationRevision, Qualifier
from tests.helpers import Tokens, problem, revisions, stored

URL = "/api/v1/exchange/dhis2/dataValueSets"


def _counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Observation)) or 0,
        session.scalar(select(func.count()).select_from(ObservationRevision)) or 0,
    )


def _post(client: TestClient, auth: Tokens, body: Any, query: str = "", who: str = "commission") -> Any:
    if isinstance(body, bytes):
        return client.post(f"{URL}{query}", content=body, headers={**auth[who], "content-type": "text/csv"})
    return client.post(f"{URL}{query}", json=body, headers=auth[who])


def _value(indicator: str, department: str, period: str, value: str, **more: Any) -> dict[str, Any]:
    return {"dataElement": indicator, "orgUnit": department, "period": period, "value": value, **more}


def test_export_lists_what_observations_list(session_client: TestClient, auth: Tokens) -> None:
    r = session_client.get(URL, headers=auth["viewer"])
    assert r.status_code == 200, r.text
    values = r.json()["dataValues"]
    listed = session_client.get("/api/v1/observations?limit=1000", headers=auth["viewer"]).json()["items"]
    assert len(values) == len(listed) == 33  # 32 stored and the derived seals-per-new-firm
    assert {(v["dataElement"], v["orgUnit"], v["period"], v["value"], v["comment"]) for v in values} == {
        (o["indicator"], o["department"], str(o["year"]), str(o["value"]), o["note"]) for o in listed
    }
    csv_answer = session_client.get(URL, params={"format": "csv"}, headers=auth["viewer"])
    lines = csv_answer.text.splitlines()
    assert lines[0] == (
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,storedby,lastupdated,"
        "comment,followup,deleted"
    )
    assert len(lines) == 34  # the header, 32 stored figures and the derived seals-per-new-firm
    assert not csv_answer.content.startswith(b"\xef\xbb\xbf")
    only = session_client.get(
        URL, params={"dataElement": "free-seals", "orgUnit": "zone"}, headers=auth["viewer"]
    ).json()["dataValues"]
    assert [(v["period"], v["value"]) for v in only] == [("2021", "1584")]
    body = problem(session_client.get(URL, params={"orgUnit": "nowhere"}, headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == ["query", "orgUnit"]


def test_export_imported_back_changes_nothing(
    session_client: TestClient, auth: Tokens, session: Session
) -> None:
    """The seed's 2021 is approved (locked): values sent back unchanged are no conflict, just ignored."""
    before = _counts(session)
    exported = session_client.get(URL, headers=auth["viewer"]).json()
    r = _post(session_client, auth, exported)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["status"] == "SUCCESS"
    assert summary["importCount"] == {"imported": 0, "updated": 0, "ignored": 33, "deleted": 0}
    assert summary["conflicts"] == []
    as_csv = session_client.get(URL, params={"format": "csv"}, headers=auth["viewer"]).content
    r = _post(session_client, auth, as_csv)
    assert r.status_code == 200, r.text
    assert r.json()["importCount"] == {"imported": 0, "updated": 0, "ignored": 33, "deleted": 0}
    assert _counts(session) == before
    # The qualifier DHIS2 does not carry stayed as it was.
    assert stored(session, "deadline-compression", "zone", 2021).qualifier == "at_least"  # type: ignore[union-attr]


def test_create_and_update(
    session_client: TestClient, auth: Tokens, session: Session, reopened_2021: None
) -> None:
    values = [
        _value("deadline-compression", "zone", "2021", "80", comment="更正"),  # changed: exact now
        _value("instant-licensing-share", "zone", "2021", "40"),  # unchanged: stays at_least
        _value("free-seals", "zone", "2020", "1500.5"),  # new... but a count: a conflict
    ]
    r = _post(session_client, auth, {"dataValues": values}, "?atomicMode=NONE")
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["status"] == "WARNING"
    assert summary["importCount"] == {"imported": 0, "updated": 1, "ignored": 2, "deleted": 0}
    assert [(c["property"], c["indexes"]) for c in summary["conflicts"]] == [("value", [2])]
    changed = stored(session, "deadline-compression", "zone", 2021)
    assert changed is not None
    assert (changed.value, changed.qualifier, changed.note) == (Decimal(80), Qualifier.exact, "更正")
    assert changed.source is not None  # the seed's source, which DHIS2 does not carry, is kept
    kept = stored(session, "instant-licensing-share", "zone", 2021)
    assert kept is not None and kept.qualifier == "at_least"
    r = _post(
        session_client,
        auth,
        {"period": "2020", "orgUnit": "zone", "dataValues": [{"dataElement": "free-seals", "value": "1500"}]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["importCount"]["imported"] == 1
    new = stored(session, "free-seals", "zone", 2020)
    assert new is not None and new.value == 1500 and new.qualifier == "exact"


def test_strategies_and_dry_run(
    session_client: TestClient, auth: Tokens, session: Session, reopened_2021: None
) -> None:
    existing = _value("free-seals", "zone", "2021", "1600")
    new = _value("free-seals", "zone", "2019", "7")
    r = _post(session_client, auth, {"dataValues": [existing, new]}, "?importStrategy=CREATE")
    assert r.json()["importCount"] == {"imported": 1, "updated": 0, "ignored": 1, "deleted": 0}
    assert stored(session, "free-seals", "zone", 2021).value == 1584  # type: ignore[union-attr]
    other = _value("free-seals", "zone", "2018", "7")
    r = _post(session_client, auth, {"dataValues": [existing, other]}, "?importStrategy=UPDATE")
    assert r.json()["importCount"] == {"imported": 0, "updated": 1, "ignored": 1, "deleted": 0}
    assert stored(session, "free-seals", "zone", 2018) is None
    before = _counts(session)
    gone = _value("free-seals", "zone", "2019", "")
    r = _post(session_client, auth, {"dataValues": [gone, other]}, "?importStrategy=DELETE&dryRun=true")
    assert r.json()["importCount"] == {"imported": 0, "updated": 0, "ignored": 1, "deleted": 1}
    assert _counts(session) == before
    r = _post(session_client, auth, {"dataValues": [gone, other]}, "?importStrategy=DELETE")
    assert r.json()["importCount"] == {"imported": 0, "updated": 0, "ignored": 1, "deleted": 1}
    assert stored(session, "free-seals", "zone", 2019) is None
    history = revisions(session, "free-seals", "zone", 2019)
    assert [h.action for h in history] == ["create", "delete"]
    assert history[-1].value_before == 7 and history[-1].changed_by == "commission"


def test_bad_input_is_conflicts_and_nothing_written(
    session_client: TestClient, auth: Tokens, session: Session, reopened_2021: None
) -> None:
    before = _counts(session)
    values = [
        _value("free-seals", "zone", "2021Q1", "3"),
        _value("free-seals", "zone", "202101", "3"),
        _value("nope", "zone", "2020", "3"),
        _value("nope", "zone", "2019", "3"),
        _value("free-seals", "nowhere", "2020", "3"),
        _value("free-seals", "zone", "2017", "abc"),
        _value("free-seals", "zone", "2016", "5"),  # valid, but the import is atomic
    ]
    body = problem(_post(session_client, auth, {"dataValues": values}), 422)
    summary = body["response"]
    assert summary["status"] == "ERROR"
    assert summary["importCount"] == {"imported": 0, "updated": 0, "ignored": 7, "deleted": 0}
    found = {(c["object"], c["property"], tuple(c["indexes"])): c for c in summary["conflicts"]}
    assert set(found) == {
        ("2021Q1", "period", (0,)),
        ("202101", "period", (1,)),
        ("nope", "dataElement", (2, 3)),
        ("nowhere", "orgUnit", (4,)),
        ("abc", "value", (5,)),
    }
    assert "only yearly periods" in found[("2021Q1", "period", (0,))]["value"]
    assert _counts(session) == before
    csv_body = b"dataelement,period,orgunit,catoptcombo,attroptcombo,value\nfree-seals,2021Q1,zone,,,3\n"
    conflicts = problem(_post(session_client, auth, csv_body), 422)["response"]["conflicts"]
    assert [(c["object"], c["indexes"]) for c in conflicts] == [("2021Q1", [0])]
    assert _counts(session) == before
    problem(
        session_client.post(URL, content=b"x", headers={**auth["admin"], "content-type": "text/plain"}), 415
    )


def test_locks_and_scope(session_client: TestClient, auth: Tokens, session: Session) -> None:
    """The seed's 2021 is approved: deleting one of its figures is a `locked` conflict."""
    before = _counts(session)
    gone = _value("free-seals", "zone", "2021", "")
    body = problem(_post(session_client, auth, {"dataValues": [gone]}, "?importStrategy=DELETE"), 422)
    (conflict,) = body["response"]["conflicts"]
    assert conflict["errorCode"] == "locked" and conflict["indexes"] == [0]
    changed = _value("free-seals", "zone", "2021", "1")
    body = problem(_post(session_client, auth, {"dataValues": [changed]}), 422)
    assert body["response"]["conflicts"][0]["errorCode"] == "locked"
    elsewhere = _value("free-seals", "zone", "2020", "1")
    body = problem(_post(session_client, auth, {"dataValues": [elsewhere]}, who="clerk-em"), 403)
    assert body["response"]["conflicts"][0]["errorCode"] == "forbidden"
    assert _counts(session) == before
    problem(_post(session_client, auth, {"dataValues": [elsewhere]}, who="viewer"), 403)


def test_a_body_that_is_no_data_value_set_names_each_wrong_field(
    session_client: TestClient, auth: Tokens
) -> None:
    """Types as DHIS2 sends them, checked before any value is read: JSON's bool is no number."""
    values = [
        _value("free-seals", "zone", "2020", "1", followup=False, deleted=None, storedBy="x"),
        {"dataElement": 7, "period": "2020", "value": True, "followup": "no", "what": 1},
        "free-seals",
        {"value": 1.5},
    ]
    body = problem(_post(session_client, auth, {"dataValues": values, "period": 2020}), 422)
    assert [e["loc"] for e in body["errors"]] == [
        ["body", "period"],
        ["body", "dataValues", 1, "dataElement"],
        ["body", "dataValues", 1, "value"],
        ["body", "dataValues", 1, "followup"],
        ["body", "dataValues", 1, "what"],
        ["body", "dataValues", 2],
        ["body", "dataValues", 3, "dataElement"],
    ]


def test_csv_as_dhis2_writes_it(
    session_client: TestClient, auth: Tokens, session: Session, reopened_2021: None
) -> None:
    """By position, whatever the header says; short lines, quoted commas, blank lines, a BOM and
    spaces around a period are read as DHIS2 reads them; a period that is no year is a conflict."""
    body = (
        "\ufeffde,pe,ou,coc,aoc,value,storedby,lastupdated,comment\r\n"
        'free-seals, 2019 ,zone,,,12,,,"七, 八"\r\n'
        ",,\r\n"
        "legal-lectures,2019,zone,,,3\r\n"
        "legal-lectures,２０１９,zone,,,3\r\n"
    ).encode()
    r = _post(session_client, auth, body, "?atomicMode=NONE")
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["importCount"] == {"imported": 2, "updated": 0, "ignored": 1, "deleted": 0}
    assert [(c["object"], c["property"], c["indexes"]) for c in summary["conflicts"]] == [
        ("２０１９", "period", [2])
    ]
    noted = stored(session, "free-seals", "zone", 2019)
    assert noted is not None and (noted.value, noted.note) == (Decimal(12), "七, 八")
    problem(_post(session_client, auth, b"dataelement,period,orgunit,coc,aoc,value\n\xff\xfe\n"), 422)
