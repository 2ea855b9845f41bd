"""Many writers at once over HTTP against real servers (2 uvicorn workers) on SQLite (WAL) and
PostgreSQL: no 5xx, no lost update, and If-Match lets exactly one of two racing writers through.

STRESS_WRITERS, STRESS_WRITES and STRESS_ROUNDS scale it up (`make fuzz` runs the heavy variant).
"""

import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.reporting.models import Approval
from tests.databases import fresh_database, url_of
from tests.helpers import revisions, stored
from tests.servers import Server, prepare, serving

WRITERS = int(os.environ.get("STRESS_WRITERS", "8"))
WRITES = int(os.environ.get("STRESS_WRITES", "25"))
ROUNDS = int(os.environ.get("STRESS_ROUNDS", "15"))
RACERS = 4
INDICATOR = "stress-amount"
BASE = f"/api/v1/observations/{INDICATOR}"


@dataclass
class Live:
    server: Server
    engine: Engine
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def live(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp(f"live-{backend}")
    with fresh_database(backend, tmp) as engine:
        headers = prepare(engine)
        with serving(url_of(engine), workers=2) as server:
            with server.client(headers=headers["admin"]) as admin:
                indicator = {"code": INDICATOR, "name": "压力测试", "value_type": "amount", "unit": "元"}
                assert admin.post("/api/v1/indicators", json=indicator).status_code == 201
            yield Live(server, engine, headers)


def put(client: httpx.Client, cell: str, value: Decimal, **headers: str) -> httpx.Response:
    return client.put(
        cell, content=f'{{"value": {value}}}', headers={"content-type": "application/json", **headers}
    )


def test_many_writers_on_one_cell_and_many_cells_lose_nothing(live: Live) -> None:
    shared = f"{BASE}/zone/2010"
    accepted: dict[str, list[tuple[int, Decimal]]] = {}
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def writer(n: int) -> None:
        # Even writers share one cell; odd writers each have their own.
        cell = shared if n % 2 == 0 else f"{BASE}/zone/{1950 + n}"
        with live.server.client(headers=live.headers["commission"]) as client:
            for i in range(WRITES):
                value = Decimal(f"{n * 100_000 + i}.25")
                response = put(client, cell, value)
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code in (200, 201):
                        body = response.json()
                        assert Decimal(str(body["value"])) == value
                        accepted.setdefault(cell, []).append((body["version"], value))

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(writer, range(WRITERS)))

    assert set(statuses) <= {200, 201}, statuses
    assert sum(statuses.values()) == WRITERS * WRITES
    with Session(live.engine) as session:
        for cell, writes in accepted.items():
            _, _, _, department, year = cell.rsplit("/", 4)
            # Every accepted write is one version, numbered without gaps, holding what was sent...
            assert sorted(v for v, _ in writes) == list(range(1, len(writes) + 1)), cell
            history = revisions(session, INDICATOR, department, int(year))
            assert [(r.version, r.value_after) for r in history] == sorted(writes), cell
            for before, after in itertools.pairwise(history):
                assert after.value_before == before.value_after, (cell, after.version)
            # ...and the figure now is the last one accepted.
            row = stored(session, INDICATOR, department, int(year))
            assert row is not None and (row.version, row.value) == max(writes), cell
    writers_on_shared = len(range(0, WRITERS, 2))
    assert len(accepted[shared]) == writers_on_shared * WRITES
    print(
        f"\nmany writers: {WRITERS} x {WRITES} = {WRITERS * WRITES} writes, "
        f"{len(accepted[shared])} on one cell; lost: 0, 5xx: 0"
    )


def test_racing_writes_with_the_same_if_match_let_exactly_one_through(live: Live) -> None:
    cell = f"{BASE}/emergency-management/2010"
    clients = [live.server.client(headers=live.headers["commission"]) for _ in range(RACERS)]
    try:
        assert put(clients[0], cell, Decimal(0)).status_code == 201
        winners: list[Decimal] = []
        for round_ in range(ROUNDS):
            etag = clients[0].get(cell).headers["etag"]
            barrier = threading.Barrier(RACERS)

            def race(
                k: int, etag: str = etag, round_: int = round_, barrier: threading.Barrier = barrier
            ) -> tuple[int, Decimal]:
                value = Decimal(f"{round_}.{k + 1}")
                barrier.wait()
                return put(clients[k], cell, value, **{"if-match": etag}).status_code, value

            with ThreadPoolExecutor(RACERS) as pool:
                outcomes = list(pool.map(race, range(RACERS)))
            codes = sorted(code for code, _ in outcomes)
            assert codes == [200] + [412] * (RACERS - 1), (round_, outcomes)
            winners.append(next(value for code, value in outcomes if code == 200))
        final = clients[0].get(cell).json()
    finally:
        for client in clients:
            client.close()
    assert final["version"] == ROUNDS + 1
    assert Decimal(str(final["value"])) == winners[-1]
    with Session(live.engine) as session:
        history = revisions(session, INDICATOR, "emergency-management", 2010)
    # The refused writes left nothing: one version per round, each the winner's value.
    assert [(r.version, r.value_after) for r in history] == [(1, Decimal(0))] + [
        (n + 2, value) for n, value in enumerate(winners)
    ]
    print(f"\nIf-Match: {ROUNDS} rounds of {RACERS} racing writes, 1 through and {RACERS - 1} 412 each")


def test_overlapping_batches_and_single_writes_keep_every_version(live: Live) -> None:
    """Batches over the same cells in opposite orders, with one-cell writes between them: each
    version follows the one before it (its value_before is that version's value_after)."""
    years = list(range(1960, 1960 + 20))
    departments = ["zone", "emergency-management", "urban-management"]
    cells = [(d, y) for d in departments for y in years]
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def batcher(n: int) -> None:
        order = cells if n % 2 == 0 else list(reversed(cells))
        with live.server.client(headers=live.headers["commission"]) as client:
            for i in range(max(3, WRITES // 5)):
                rows = [
                    {"indicator": INDICATOR, "department": d, "year": y, "value": float(n * 1000 + i)}
                    for d, y in order
                ]
                response = client.post("/api/v1/observations", json={"observations": rows})
                one = client.put(
                    f"{BASE}/{order[0][0]}/{order[0][1]}",
                    content=f'{{"value": {n * 1000 + i}.5}}',
                    headers={"content-type": "application/json"},
                )
                with lock:
                    statuses[response.status_code] += 1
                    statuses[one.status_code] += 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batcher, range(4)))

    assert set(statuses) <= {200, 201}, statuses
    print(f"\noverlapping batches: {sum(statuses.values())} requests (batches of {len(cells)} rows and PUTs)")
    with Session(live.engine) as session:
        for department, year in cells:
            history = revisions(session, INDICATOR, department, year)
            assert [r.version for r in history] == list(range(1, len(history) + 1)), (department, year)
            for before, after in itertools.pairwise(history):
                assert after.value_before == before.value_after, (department, year, after.version)
            row = stored(session, INDICATOR, department, year)
            assert row is not None and (row.version, row.value) == (
                history[-1].version,
                history[-1].value_after,
            )


def test_a_write_racing_an_approval_lands_before_it_or_is_refused(live: Live) -> None:
    """Writers keep writing one department-year while the commission approves it: each accepted write
    is in the approved figures (its version is in the history, stamped before the approval), every
    write after it is 409 `locked`, and nothing is written once it is approved."""
    for round_ in range(min(ROUNDS, 6)):
        _race_an_approval(live, "emergency-management", 2000 + round_)


def _race_an_approval(live: Live, department: str, year: int) -> None:
    accepted: dict[str, list[tuple[int, Decimal]]] = {}
    refused: Counter[str] = Counter()
    lock = threading.Lock()
    started = threading.Barrier(RACERS + 1)

    def writer(n: int) -> None:
        cell = f"{BASE}/{department}/{year}"
        if n % 2:  # odd writers write in batches of one row, even ones PUT
            cell = "batch"
        with live.server.client(headers=live.headers["commission"]) as client:
            started.wait()
            for i in range(200):
                value = Decimal(f"{n * 1000 + i}.5")
                if cell == "batch":
                    row = f'"indicator": "{INDICATOR}", "department": "{department}", "year": {year}'
                    body = f'{{"observations": [{{{row}, "value": {value}}}]}}'
                    r = client.post(
                        "/api/v1/observations", content=body, headers={"content-type": "application/json"}
                    )
                    status = r.status_code
                    locked = status == 422 and r.json()["errors"][0]["type"] == "locked"
                else:
                    r = put(client, cell, value)
                    status = r.status_code
                    locked = status == 409 and r.json()["type"].endswith("/locked")
                with lock:
                    if locked:
                        refused[cell] += 1
                        return
                    assert status in (200, 201), r.text
                    if cell != "batch":
                        accepted.setdefault(cell, []).append((r.json()["version"], value))
                    else:
                        accepted.setdefault("batch", []).append((0, value))

    with ThreadPoolExecutor(RACERS) as pool:
        futures = [pool.submit(writer, n) for n in range(RACERS)]
        started.wait()
        with live.server.client(headers=live.headers["commission"]) as client:
            body = {"allow_missing": True, "reason": "并发测试"}
            r = client.post(f"/api/v1/approvals/{department}/{year}/approve", json=body)
            assert r.status_code == 200, r.text
            approved_at = r.json()["approved_at"]
        for future in futures:
            future.result()
    assert sum(refused.values()) == RACERS, "a writer was never refused after the approval"
    with Session(live.engine, expire_on_commit=False) as session:
        history = revisions(session, INDICATOR, department, year)
        current = stored(session, INDICATOR, department, year)
        # Every accepted write is in the history, and the history holds nothing else.
        written = [(h.version, h.value_after) for h in history]
        puts = sorted(accepted.get(f"{BASE}/{department}/{year}", []))
        assert set(puts) <= set(written)
        assert len(written) == len(puts) + len(accepted.get("batch", []))
        # All of it stamped before the approval; the current figure is the last of it.
        approved = session.scalar(  # as stored: the answer gives whole seconds
            select(Approval.approved_at).where(Approval.year == year, Approval.approved_at.is_not(None))
        )
        assert approved is not None and approved_at.startswith(approved.strftime("%Y-%m-%dT%H:%M:%S"))
        assert all(h.changed_at <= approved for h in history), (written, approved_at)
        if history:
            assert current is not None and current.version == history[-1].version
    kept = sum(len(v) for v in accepted.values())
    print(f"approval race {year}: {kept + RACERS} writes, {kept} kept, {RACERS} refused `locked`, lost: 0")


def _write(
    client: httpx.Client, department: str, year: int, value: Decimal, batch: bool
) -> tuple[int, str | None]:
    """One figure written by PUT or as a batch of one row: the status, and the type of refusal
    (`locked`, `period-closed`) when it was one."""
    if batch:
        row = f'"indicator": "{INDICATOR}", "department": "{department}", "year": {year}, "value": {value}'
        r = client.post(
            "/api/v1/observations",
            content=f'{{"observations": [{{{row}}}]}}',
            headers={"content-type": "application/json"},
        )
        if r.status_code == 422:
            return r.status_code, r.json()["errors"][0]["type"]
        return r.status_code, None
    r = put(client, f"{BASE}/{department}/{year}", value)
    if r.status_code == 409:
        return r.status_code, r.json()["type"].rsplit("/", 1)[-1]
    return r.status_code, None


def test_writes_racing_a_reopen_are_refused_before_it_and_kept_after_it(live: Live) -> None:
    """Writers (PUT and batch) keep writing an approved department-year while the commission reopens
    it: each is refused `locked` until the reopen, then accepted; every accepted write is in the
    history and nothing else is, and none was answered before the reopen was sent. (A write's time
    is stamped before its lock check, so stamps cannot order it against the reopen: answers do.)"""
    for round_ in range(min(ROUNDS, 4)):
        _race_a_reopen(live, "emergency-management", 1990 + round_)


def _race_a_reopen(live: Live, department: str, year: int) -> None:
    with live.server.client(headers=live.headers["commission"]) as client:
        body = {"allow_missing": True, "reason": "并发测试"}
        assert client.post(f"/api/v1/approvals/{department}/{year}/approve", json=body).status_code == 200
    accepted: list[Decimal] = []
    answered: list[float] = []
    reopen_sent = [float("inf")]
    statuses: Counter[tuple[int, str | None]] = Counter()
    lock = threading.Lock()
    started = threading.Barrier(RACERS + 1)

    def writer(n: int) -> None:
        with live.server.client(headers=live.headers["commission"]) as client:
            started.wait()
            after = 0
            for i in range(400):
                value = Decimal(f"{n * 1000 + i}.75")
                status, refusal = _write(client, department, year, value, batch=bool(n % 2))
                with lock:
                    statuses[(status, refusal)] += 1
                    if status in (200, 201):
                        accepted.append(value)
                        answered.append(time.monotonic())
                if status in (200, 201):
                    after += 1
                    if after == 5:
                        return
                else:
                    assert refusal == "locked", (status, refusal)

    with ThreadPoolExecutor(RACERS) as pool:
        futures = [pool.submit(writer, n) for n in range(RACERS)]
        started.wait()
        with live.server.client(headers=live.headers["commission"]) as client:
            reopen_sent[0] = time.monotonic()
            r = client.post(f"/api/v1/approvals/{department}/{year}/reopen", json={"reason": "更正"})
            assert r.status_code == 200, r.text
        for future in futures:
            future.result()
    assert {s for s, _ in statuses} <= {200, 201, 409, 422}, statuses
    assert len(accepted) == RACERS * 5
    assert min(answered) > reopen_sent[0], "a write was accepted while it was approved"
    with Session(live.engine) as session:
        history = revisions(session, INDICATOR, department, year)
    assert sorted(h.value_after or Decimal(-1) for h in history) == sorted(accepted)
    refused = sum(count for (status, _), count in statuses.items() if status not in (200, 201))
    print(f"reopen race {year}: {sum(statuses.values())} writes, {len(accepted)} kept, {refused} refused")


def test_clerks_writing_while_the_period_closes_are_refused_once_it_has(live: Live) -> None:
    """A department's clerk writes (PUT and batch) while the commission closes the year's period: every
    write sent after the close has answered is 409 `period-closed` (422 naming it in a batch), every
    accepted one is in the history, and nothing else is."""
    for round_ in range(min(ROUNDS, 4)):
        _race_a_closing(live, "emergency-management", 1980 + round_)


def _race_a_closing(live: Live, department: str, year: int) -> None:
    with live.server.client(headers=live.headers["commission"]) as client:
        period = {"opens": "2000-01-01", "closes": "2099-12-31"}
        assert client.put(f"/api/v1/periods/{year}", json=period).status_code in (200, 201)
    accepted: list[Decimal] = []
    sent_after_close: list[tuple[int, str | None]] = []
    closed = threading.Event()
    lock = threading.Lock()
    started = threading.Barrier(RACERS + 1)

    def writer(n: int) -> None:
        with live.server.client(headers=live.headers["clerk-em"]) as client:
            started.wait()
            for i in range(400):
                after = closed.is_set()
                value = Decimal(f"{n * 1000 + i}.125")
                status, refusal = _write(client, department, year, value, batch=bool(n % 2))
                with lock:
                    if after:
                        sent_after_close.append((status, refusal))
                    if status in (200, 201):
                        accepted.append(value)
                if status not in (200, 201):
                    assert refusal == "period-closed", (status, refusal)
                    if after:
                        return

    with ThreadPoolExecutor(RACERS) as pool:
        futures = [pool.submit(writer, n) for n in range(RACERS)]
        started.wait()
        with live.server.client(headers=live.headers["commission"]) as client:
            shut = {"opens": "2000-01-01", "closes": "2000-01-31"}
            assert client.put(f"/api/v1/periods/{year}", json=shut).status_code == 200
        closed.set()
        for future in futures:
            future.result()
    assert sent_after_close and all(s in (409, 422) for s, _ in sent_after_close), sent_after_close
    with Session(live.engine) as session:
        history = revisions(session, INDICATOR, department, year)
    assert sorted(h.value_after or Decimal(-1) for h in history) == sorted(accepted)
    print(f"period race {year}: {len(accepted)} writes kept, {len(sent_after_close)} refused after the close")
