"""SDMX out: the CSV read back by a real SDMX library (pysdmx) against the service's own structure."""

import csv
import io
from decimal import Decimal

from fastapi.testclient import TestClient
from pysdmx.io import get_datasets, read_sdmx
from pysdmx.model.dataflow import Schema

from tests.helpers import Tokens, problem, put

URL = "/api/v1/exchange/sdmx"
HEADER = (
    "STRUCTURE,STRUCTURE_ID,ACTION,INDICATOR,DEPARTMENT,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,OBS_STATUS,"
    "QUALIFIER,COMMENT"
)


def _listed(client: TestClient, auth: Tokens, query: str = "") -> dict[tuple[str, str, str], dict[str, str]]:
    """What GET /api/v1/observations lists, by (indicator, department, year)."""
    r = client.get(f"/api/v1/observations?limit=1000{query}", headers=auth["viewer"])
    assert r.status_code == 200, r.text
    return {(o["indicator"], o["department"], str(o["year"])): o for o in r.json()["items"]}


def test_seed_export_reads_back_with_pysdmx(session_client: TestClient, auth: Tokens) -> None:
    structure = session_client.get(f"{URL}/structure", headers=auth["viewer"])
    assert structure.status_code == 200, structure.text
    assert structure.headers["content-type"].startswith("application/vnd.sdmx.structure+xml")
    data = session_client.get(URL, headers=auth["viewer"])
    assert data.status_code == 200, data.text
    assert data.headers["content-type"] == "application/vnd.sdmx.data+csv; version=2.0.0"
    assert data.content.startswith(HEADER.encode())  # no BOM: a machine format

    # The structure message is valid SDMX-ML 3.0 (validated against the schemas pysdmx ships).
    message = read_sdmx(io.BytesIO(structure.content), validate=True)
    kinds = sorted(type(s).__name__ for s in message.structures or ())
    assert kinds == ["Codelist"] * 4 + ["ConceptScheme", "DataStructureDefinition", "Dataflow"]

    (dataset,) = get_datasets(io.BytesIO(data.content), io.BytesIO(structure.content))
    schema = dataset.structure
    assert isinstance(schema, Schema)
    assert schema.short_urn == "Dataflow=INDICATORS:DF_INDICATORS(1.0)"
    components = schema.components
    codes = {
        name: {code.id for code in components[name].enumeration.items}
        for name in ("INDICATOR", "DEPARTMENT", "OBS_STATUS", "QUALIFIER")
    }
    rows = dataset.data.to_dict("records")
    listed = _listed(session_client, auth)
    assert len(listed) == 33  # the seed's 32 stored figures and the derived seals-per-new-firm
    assert len(rows) == len(listed)
    units = {
        i["code"]: i["unit"]
        for i in session_client.get("/api/v1/indicators?limit=1000", headers=auth["viewer"]).json()["items"]
    }
    seen = set()
    for row in rows:
        for name in codes:
            assert row[name] in codes[name], (name, row)
        key = (row["INDICATOR"], row["DEPARTMENT"], str(row["TIME_PERIOD"]))
        figure = listed[key]
        seen.add(key)
        assert Decimal(repr(row["OBS_VALUE"])) == Decimal(str(figure["value"])), row
        assert row["QUALIFIER"] == figure["qualifier"]
        assert row["OBS_STATUS"] == ("A" if figure["qualifier"] == "exact" else "E")
        assert (row["UNIT_MEASURE"] or None) == units[row["INDICATOR"]]
        assert (row["COMMENT"] or None) == figure["note"]
    assert seen == set(listed)


def test_exact_decimals_and_filters(session_client: TestClient, auth: Tokens) -> None:
    budget = {"code": "budget", "name": "预算", "value_type": "amount", "unit": "元"}
    assert session_client.post("/api/v1/indicators", json=budget, headers=auth["admin"]).status_code == 201
    put(session_client, auth, "budget", "zone", 2020, "123456789012.345678", "approximately")
    r = session_client.get(
        URL,
        params={"indicator": "budget", "department": "zone", "year_from": 2020, "year_to": 2020},
        headers=auth["viewer"],
    )
    assert r.status_code == 200, r.text
    lines = list(csv.reader(io.StringIO(r.text)))
    assert lines[0] == HEADER.split(",")
    assert lines[1:] == [
        [
            "dataflow",
            "INDICATORS:DF_INDICATORS(1.0)",
            "I",
            "budget",
            "zone",
            "2020",
            "123456789012.345678",
            "元",
            "E",
            "approximately",
            "",
        ]
    ]
    every = session_client.get(URL, params={"year_from": 2021, "year_to": 2021}, headers=auth["viewer"])
    assert len(every.text.strip().splitlines()) - 1 == len(_listed(session_client, auth, "&year=2021"))


def test_unknown_filter_and_reversed_years_are_422(session_client: TestClient, auth: Tokens) -> None:
    body = problem(session_client.get(f"{URL}?indicator=nope", headers=auth["viewer"]), 422)
    assert body["errors"][0]["loc"] == ["query", "indicator"]
    body = problem(session_client.get(f"{URL}?year_from=2022&year_to=2020", headers=auth["viewer"]), 422)
    assert {tuple(e["loc"]) for e in body["errors"]} == {("query", "year_from"), ("query", "year_to")}


def test_needs_a_token(session_client: TestClient) -> None:
    problem(session_client.get(URL), 401)
    problem(session_client.get(f"{URL}/structure"), 401)
