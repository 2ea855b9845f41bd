"""The memo of compliance and completeness (app.core.memo) never serves a stale answer.

Two servers (two app instances, each its own memo) on one database: each answer is read twice on both
(the second a memo hit) before every kind of write, through one server, and then must show the write
on both. Each check compares the summaries with what the write must have changed.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.memo import Memo
from tests.databases import fresh_database, url_of
from tests.servers import Server, prepare, serving

YEAR = 2022
COMPLIANCE = f"/api/v1/compliance?year={YEAR}&limit=1"
COMPLETENESS = f"/api/v1/completeness?year={YEAR}"
CELL = f"enforcement-work-share/urban-management/{YEAR}"


@dataclass
class Pair:
    one: Server
    two: Server
    headers: dict[str, dict[str, str]]

    def call(self, method: str, path: str, *, via: Server | None = None, **kwargs: Any) -> httpx.Response:
        headers = self.headers["admin"]
        with (via or self.one).client(headers=headers) as client:
            r = client.request(method, path, **kwargs)
        assert r.status_code < 300, r.text
        return r

    def answers(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(compliance, completeness) as both servers answer them, twice each: the same every time."""
        seen = []
        for server in (self.one, self.two, self.one, self.two):
            with server.client(headers=self.headers["viewer"]) as client:
                compliance, completeness = client.get(COMPLIANCE), client.get(COMPLETENESS)
            assert compliance.status_code == completeness.status_code == 200
            seen.append((compliance.json(), completeness.json()))
        assert all(s == seen[0] for s in seen), seen
        return seen[0]


@pytest.fixture(scope="module")
def pair(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp: Path = tmp_path_factory.mktemp(f"memo-{backend}")
    with fresh_database(backend, tmp) as engine:
        headers = prepare(engine)
        with serving(url_of(engine)) as one, serving(url_of(engine)) as two:
            yield Pair(one, two, headers)


def targets(answer: tuple[dict[str, Any], dict[str, Any]]) -> int:
    return int(answer[0]["summary"]["targets"])


def reported(answer: tuple[dict[str, Any], dict[str, Any]]) -> int:
    return int(answer[1]["summary"]["reported"])


def test_every_kind_of_write_shows_in_the_next_answer_of_either_server(pair: Pair) -> None:
    before = pair.answers()

    # A figure, one at a time, written through the second server.
    pair.call("PUT", f"/api/v1/observations/{CELL}", json={"value": 30}, via=pair.two)
    after = pair.answers()
    assert reported(after) == reported(before) + 1
    before = after

    # A target of the same cell: compliance counts one more, judged against that figure.
    pair.call("PUT", f"/api/v1/targets/{CELL}", json={"operator": "at_least", "value": 50})
    after = pair.answers()
    assert targets(after) == targets(before) + 1
    assert after[0]["summary"]["not_met"] == before[0]["summary"]["not_met"] + 1
    before = after

    # The figure changed: the target is met now.
    pair.call("PUT", f"/api/v1/observations/{CELL}", json={"value": 60}, via=pair.two)
    after = pair.answers()
    assert after[0]["summary"]["met"] == before[0]["summary"]["met"] + 1
    assert after[0]["summary"]["not_met"] == before[0]["summary"]["not_met"] - 1
    before = after

    # The figure deleted: reported one less, the target without data.
    pair.call("DELETE", f"/api/v1/observations/{CELL}")
    after = pair.answers()
    assert reported(after) == reported(before) - 1
    assert after[0]["summary"]["no_data"] == before[0]["summary"]["no_data"] + 1
    before = after

    # A batch of two figures.
    rows = [
        {"indicator": i, "department": "urban-management", "year": YEAR, "value": 5}
        for i in ("enforcement-work-share", "service-work-share")
    ]
    pair.call("POST", "/api/v1/observations", json={"observations": rows}, via=pair.two)
    after = pair.answers()
    assert reported(after) == reported(before) + 2
    before = after

    # The target deleted.
    pair.call("DELETE", f"/api/v1/targets/{CELL}")
    after = pair.answers()
    assert targets(after) == targets(before) - 1
    before = after

    # An assignment ended before the year: one fewer expected, and reported.
    pair.call(
        "PUT",
        "/api/v1/assignments/service-work-share/urban-management",
        json={"from_year": 2000, "to_year": YEAR - 1},
    )
    after = pair.answers()
    assert after[1]["summary"]["expected"] == before[1]["summary"]["expected"] - 1
    assert reported(after) == reported(before) - 1
    before = after

    # An approval step: urban-management submits its year.
    pair.call(
        "POST",
        f"/api/v1/approvals/urban-management/{YEAR}/submit",
        json={"allow_missing": True, "reason": "test"},
        via=pair.two,
    )
    after = pair.answers()
    assert after[1]["summary"]["submitted"] == before[1]["summary"]["submitted"] + 1
    before = after

    # The catalogue: an indicator's section changed moves its target out of that section's compliance.
    pair.call("PUT", f"/api/v1/targets/{CELL}", json={"operator": "at_least", "value": 1})
    section = pair.call("GET", "/api/v1/indicators/enforcement-work-share").json()["section"]
    in_section = f"/api/v1/compliance?year={YEAR}&limit=1&section={section}"

    def section_targets() -> int:
        counts = set()
        for server in (pair.one, pair.two, pair.one, pair.two):
            with server.client(headers=pair.headers["viewer"]) as client:
                counts.add(client.get(in_section).json()["summary"]["targets"])
        assert len(counts) == 1
        return int(counts.pop())

    was = section_targets()
    other = "memo-elsewhere"
    pair.call("PATCH", "/api/v1/indicators/enforcement-work-share", json={"section": other})
    assert section_targets() == was - 1


def test_the_memo_keeps_the_most_recently_used_answers_only() -> None:
    memo: Memo[bytes] = Memo(size=2)
    computed: list[str] = []

    def answer(key: str, *, store: bool = True) -> bytes:
        def compute() -> bytes:
            computed.append(key)
            return key.encode()

        return memo.answer(key, compute, store=store)

    assert answer("a") == b"a" and answer("b") == b"b" and answer("a") == b"a"  # a: a hit
    assert computed == ["a", "b"]
    answer("c")  # b, the least recently used, goes
    assert len(memo) == 2 and memo.get("b") is None and memo.get("a") == b"a"
    answer("d", store=False)
    assert memo.get("d") is None and len(memo) == 2
