"""Every problem `type` the service answers with is a page it serves: GET /problems/{name}."""

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import app.main  # noqa: F401  (every module loaded: every Problem subclass defined)
from app.core.problem_catalogue import PAGES
from app.core.problems import Problem
from tests.helpers import Tokens, problem

APP = Path(__file__).resolve().parents[2] / "app"


def _subclasses(cls: type[Problem]) -> set[type[Problem]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _slugs_named_in_the_code() -> set[str]:
    return {
        slug
        for path in APP.rglob("*.py")
        for slug in re.findall(r'\bslug="([a-z0-9-]+)"', path.read_text(encoding="utf-8"))
    }


def test_every_problem_type_has_its_page(session_client: TestClient) -> None:
    classes: set[type[Problem]] = {Problem, *_subclasses(Problem)}
    assert len(classes) > 10
    for cls in classes:
        r = session_client.get(f"/problems/{cls.slug}", headers={"Accept": "application/json"})
        assert r.status_code == 200, (cls, r.text)
        about = r.json()
        assert about["type"] == f"/problems/{cls.slug}" and about["status"] == cls.status, cls
        assert about["lang"] == "zh" and re.search(r"[\u4e00-\u9fff]", about["title"] + about["when"])
    named = _slugs_named_in_the_code()
    assert {"database-unavailable", "database-down", "payload-too-large"} <= named
    for slug in named:
        assert session_client.get(f"/problems/{slug}").status_code == 200, slug


def test_a_page_in_html_by_default_in_chinese_and_in_english(session_client: TestClient) -> None:
    r = session_client.get("/problems/precondition-failed", headers={"Accept": "text/html,*/*"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh">' in r.text and "前置条件不成立" in r.text and "412" in r.text
    assert "ETag" in r.text
    r = session_client.get("/problems/precondition-failed", params={"lang": "en"})
    assert '<html lang="en">' in r.text and "Precondition failed" in r.text
    about = session_client.get(
        "/problems/precondition-failed", params={"lang": "en"}, headers={"Accept": "application/json"}
    ).json()
    assert about["title"] == "Precondition failed" and about["what_to_do"] and about["when"]
    assert session_client.get("/problems/x", params={"lang": "fr"}).status_code == 422


def test_an_unknown_name_is_a_404_problem(session_client: TestClient) -> None:
    body = problem(session_client.get("/problems/no-such-thing"), 404)
    assert "not-found" in body["detail"]  # the names there are
    assert body["type"] == "/problems/not-found"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/api/v1/departments", 401),
        ("DELETE", "/api/v1/departments", 405),
        ("PUT", "/api/v1/observations/free-seals/zone/2021", 401),
        ("GET", "/api/v1/observations?limit=0", 422),
    ],
)
def test_the_type_of_a_problem_answer_is_its_page(
    session_client: TestClient, auth: Tokens, method: str, path: str, status: int
) -> None:
    headers = {} if status == 401 else auth["viewer"]
    body = problem(session_client.request(method, path, headers=headers), status)
    assert body["type"].startswith("/problems/")
    page = session_client.get(body["type"], headers={"Accept": "application/json"})
    assert page.status_code == 200 and page.json()["status"] == status


def test_every_page_in_the_catalogue_is_served_in_both_languages(session_client: TestClient) -> None:
    for name in PAGES:
        for lang in ("zh", "en"):
            r = session_client.get(
                f"/problems/{name}", params={"lang": lang}, headers={"Accept": "application/json"}
            )
            assert r.status_code == 200 and r.json()["title"], (name, lang)
