"""The dashboard's pages over HTTP: the shells, their language, year and assets; no browser needed."""

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.dashboard.messages import FOLDER, Lang, catalogue
from tests.helpers import Tokens, problem, put


def page_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert found, html[:500]
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_root_redirects_to_the_dashboard(session_client: TestClient) -> None:
    r = session_client.get("/", follow_redirects=False)
    assert r.status_code in (302, 307)
    assert r.headers["location"] == "/dashboard/"


def test_catalogues_have_the_same_labels() -> None:
    zh, en = catalogue(Lang.zh), catalogue(Lang.en)
    assert set(zh) == set(en)
    assert all(zh.values()) and all(en.values())
    assert {path.stem for path in FOLDER.glob("*.json")} == {lang.value for lang in Lang}


def test_overview_is_chinese_by_default_and_english_on_request(session_client: TestClient) -> None:
    zh = session_client.get("/dashboard/?year=2021")
    assert zh.status_code == 200
    assert zh.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in zh.text
    assert catalogue(Lang.zh)["completeness_heading"] in zh.text
    assert catalogue(Lang.zh)["overview_heading"].format(year=2021) in zh.text
    assert page_data(zh.text)["lang"] == "zh"
    en = session_client.get("/dashboard/?year=2021&lang=en")
    assert '<html lang="en">' in en.text
    assert catalogue(Lang.en)["completeness_heading"] in en.text
    assert catalogue(Lang.zh)["completeness_heading"] not in en.text
    # The switch leads to the same page in the other language, keeping the year.
    switch = re.search(r'id="lang-switch" href="([^"]+)"', en.text)
    assert switch and switch.group(1).startswith("/dashboard/?") and "year=2021" in switch.group(1)
    assert "lang=zh" in switch.group(1)


def test_default_year_is_the_latest_with_figures(session_client: TestClient, auth: Tokens) -> None:
    before = page_data(session_client.get("/dashboard/").text)["year"]
    listed = session_client.get("/api/v1/observations?limit=1000", headers=auth["viewer"]).json()["items"]
    assert before == max(item["year"] for item in listed)
    put(session_client, auth, "disputes-mediated", "zone", before + 2, "240")
    assert page_data(session_client.get("/dashboard/").text)["year"] == before + 2
    department = session_client.get("/dashboard/departments/zone")
    assert page_data(department.text) | {"code": "zone", "year": before + 2} == page_data(department.text)
    assert page_data(session_client.get("/dashboard/?year=2019").text)["year"] == 2019


def test_pages_need_no_token_and_hold_no_figures(session_client: TestClient) -> None:
    for path in ("/dashboard/", "/dashboard/indicators/free-seals", "/dashboard/departments/zone"):
        r = session_client.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store"
        assert "1584" not in r.text  # the zone's free seals of 2021: the script reads it, with the token
        data = page_data(r.text)
        assert data["public_read"] is False
        assert set(data["available"]) >= {"completeness", "approvals", "assignments"}


def test_the_token_field_can_never_reach_a_url(session_client: TestClient) -> None:
    html = session_client.get("/dashboard/").text
    field = re.search(r"<input id=\"token-input\"[^>]*>", html)
    assert field and "name=" not in field.group(0)
    assert 'type="password"' in field.group(0)


def test_bad_parameters_are_problems(session_client: TestClient) -> None:
    body = problem(session_client.get("/dashboard/?lang=fr"), 422)
    assert body["errors"][0]["loc"] == ["query", "lang"]
    body = problem(session_client.get("/dashboard/?year=1800"), 422)
    assert body["errors"][0]["loc"] == ["query", "year"]
    problem(session_client.get("/dashboard/departments/Not_A_Code"), 422)
    problem(session_client.get("/dashboard/indicators/x%0Ay"), 422)
    body = problem(session_client.get("/dashboard/indicators/free-seals?parent=Not_A_Code"), 422)
    assert body["errors"][0]["loc"] == ["query", "parent"]


def test_the_indicator_page_names_the_parent_asked_for(session_client: TestClient) -> None:
    assert page_data(session_client.get("/dashboard/indicators/free-seals").text)["parent"] is None
    asked = page_data(session_client.get("/dashboard/indicators/free-seals?parent=zone").text)
    assert (asked["code"], asked["parent"]) == ("free-seals", "zone")


def test_assets_come_from_the_service(session_client: TestClient) -> None:
    for page in ("/dashboard/", "/dashboard/indicators/free-seals", "/dashboard/departments/zone"):
        html = session_client.get(page).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources
        for source in sources:
            assert source.startswith(("/", "data:", "#")), (page, source)
            if source.startswith(("/dashboard/static/", "/dashboard/vendor/")):
                assert session_client.get(source).status_code == 200, source
    bundle = session_client.get("/dashboard/vendor/plotly.min.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    shipped = Path(str(files("plotly"))) / "package_data" / "plotly.min.js"
    assert bundle.content == shipped.read_bytes()
    assert session_client.get("/dashboard/static/dashboard.js").content.startswith(b"// The dashboard")
