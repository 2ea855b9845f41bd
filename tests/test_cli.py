"""The `indicators` command against real, empty databases."""

import csv
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.audit.models import AuditEvent
from app.auth.models import ApiToken
from app.cli import cli
from app.core import server
from app.core.config import get_settings
from app.core.db import engine as database
from app.core.db import session as session_module
from app.core.db.types import utcnow
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, ObservationRevision
from app.targets.models import Target
from tests.databases import url_of
from tests.servers import ROOT, free_port

runner = CliRunner()
FIGURES = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "report-2021-figures.md"
SEED_FIGURES = Path(__file__).resolve().parents[1] / "seed" / "data" / "observations.csv"


def _clear_caches() -> None:
    get_settings.cache_clear()
    database.get_engine.cache_clear()
    session_module.sessionmaker_for_requests.cache_clear()


@pytest.fixture
def cli_db(fresh: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("INDICATORS_DATABASE_URL", url_of(fresh))
    _clear_caches()
    yield fresh
    database.get_engine().dispose()
    _clear_caches()


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_upgrade_seed_twice_changes_nothing(cli_db: Engine) -> None:
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(cli, ["seed"])
    assert first.exit_code == 0, first.output
    assert "created 3 departments, 36 indicators, 32 observations, 10 targets" in first.output
    counts = (_count(cli_db, Observation), _count(cli_db, ObservationRevision), _count(cli_db, Target))
    assert counts == (32, 32, 10)
    second = runner.invoke(cli, ["seed"])
    assert second.exit_code == 0
    assert "created 0 departments, 0 indicators, 0 observations, 0 targets" in second.output
    assert (
        _count(cli_db, Observation),
        _count(cli_db, ObservationRevision),
        _count(cli_db, Target),
    ) == counts


def _seeded_figures(engine: Engine) -> set[tuple[str, str, int, Decimal, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(
                Indicator.code, Department.code, Observation.year, Observation.value, Observation.qualifier
            )
            .join(Indicator, Indicator.id == Observation.indicator_id)
            .join(Department, Department.id == Observation.department_id)
        ).all()
    return {(i, d, y, v, str(q)) for i, d, y, v, q in rows}


def test_seed_loads_its_figures_exactly(cli_db: Engine) -> None:
    """Every figure of seed/data/observations.csv, with its qualifier, and nothing else."""
    runner.invoke(cli, ["db", "upgrade"])
    runner.invoke(cli, ["seed"])
    with SEED_FIGURES.open(encoding="utf-8", newline="") as handle:
        expected = {
            (r["indicator"], r["department"], int(r["year"]), Decimal(r["value"]), r["qualifier"])
            for r in csv.DictReader(handle)
        }
    assert len(expected) == 32
    assert _seeded_figures(cli_db) == expected


@pytest.mark.skipif(
    not FIGURES.exists(),
    reason="the cross-check with the report's list of figures needs ../shared/seeds beside the clone",
)
def test_seed_loads_the_report_exactly(cli_db: Engine) -> None:
    """Every figure of ../shared/seeds/report-2021-figures.md, with its qualifier, and nothing else."""
    runner.invoke(cli, ["db", "upgrade"])
    runner.invoke(cli, ["seed"])
    table = FIGURES.read_text(encoding="utf-8").split("## Observations")[1].split("##")[0]
    expected = set()
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 11 and cells[0] not in ("code", "---"):
            code, *_, value, qualifier, department, year, _section = cells
            expected.add((code, department, int(year), Decimal(value), qualifier))
    assert len(expected) == 32
    assert _seeded_figures(cli_db) == expected


def test_token_create_prints_the_token_alone_and_revoke_works(cli_db: Engine) -> None:
    runner.invoke(cli, ["db", "upgrade"])
    runner.invoke(cli, ["seed"])
    result = runner.invoke(
        cli,
        ["token", "create", "--name", "clerk-em", "--role", "clerk", "--department", "emergency-management"],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"ind_[A-Za-z0-9_-]{40,}", lines[0])
    with Session(cli_db) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "clerk-em"))
        assert row is not None and row.revoked_at is None and lines[0] not in row.token_hash

    bad = runner.invoke(cli, ["token", "create", "--name", "x", "--role", "clerk"])
    assert bad.exit_code == 1
    assert "department" in bad.stderr
    assert runner.invoke(cli, ["token", "create", "--name", "x", "--role", "king"]).exit_code != 0

    assert runner.invoke(cli, ["token", "revoke", "clerk-em"]).exit_code == 0
    with Session(cli_db) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "clerk-em"))
        assert row is not None and row.revoked_at is not None
    again = runner.invoke(cli, ["token", "revoke", "clerk-em"])
    assert again.exit_code == 1
    assert "No live token" in again.stderr


def test_first_serve_migrates_and_hands_out_an_admin_token_once(tmp_path: Path) -> None:
    """`indicators serve` on a new database: migrate, print an admin token once, serve with it."""
    env = {**os.environ, "INDICATORS_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    port = free_port()

    def serve_once() -> tuple[str, int]:
        log = tmp_path / f"serve-{time.monotonic_ns()}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 30
            status = 0
            while time.monotonic() < deadline:
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            text = log.read_text()
            match = re.search(r"^\s+(ind_\S+)$", text, re.MULTILINE)
            token = match.group(1) if match else ""
            if token:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/tokens",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                )
                assert r.status_code == 200
                assert [t["role"] for t in r.json()["items"]] == ["admin"]
            return token, status
        finally:
            process.terminate()
            process.wait(timeout=10)

    token, status = serve_once()
    assert status == 200
    assert token.startswith("ind_")
    second_token, status = serve_once()
    assert status == 200
    assert second_token == "", "the admin token must be shown once only"


def test_token_create_with_an_expiry_and_token_list(cli_db: Engine) -> None:
    runner.invoke(cli, ["db", "upgrade"])
    runner.invoke(cli, ["seed"])
    made = runner.invoke(
        cli, ["token", "create", "--name", "brief", "--role", "viewer", "--expires-in", "90d"]
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    runner.invoke(cli, ["token", "create", "--name", "clerk-zone", "--role", "clerk", "--department", "zone"])
    runner.invoke(cli, ["token", "create", "--name", "old", "--role", "viewer"])
    runner.invoke(cli, ["token", "revoke", "old"])
    with Session(cli_db) as session:
        brief = session.scalar(select(ApiToken).where(ApiToken.name == "brief"))
        assert brief is not None and brief.expires_at is not None
        assert abs(brief.expires_at - (utcnow() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)
        last = brief.last_used_at = utcnow() - dt.timedelta(minutes=30)
        expires = brief.expires_at
        hashes = set(session.scalars(select(ApiToken.token_hash)))
        session.commit()

    for bad in ("90", "1w", "0d", "soon", "-5m"):
        refused = runner.invoke(
            cli, ["token", "create", "--name", "x", "--role", "viewer", "--expires-in", bad]
        )
        assert refused.exit_code == 2, refused.output
        assert "--expires-in" in refused.stderr and "30m, 12h, 90d" in refused.stderr
        assert refused.stdout == ""

    table = runner.invoke(cli, ["token", "list"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["name", "role", "department", "created", "expires", "last", "used", "revoked"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["brief", "clerk-zone", "old"]
    # aligned: each column starts where its header does
    starts = [lines[0].index(header) for header in ("role", "department", "created", "expires", "last used")]
    for line in lines[1:]:
        assert all(line[start - 2 : start] == "  " and line[start] != " " for start in starts), line
    brief_line = lines[1]
    assert f"{expires:%Y-%m-%d %H:%M}Z" in brief_line and f"{last:%Y-%m-%d %H:%M}Z" in brief_line
    assert lines[2].split()[2] == "zone"
    assert lines[3].split()[-1].endswith("Z")  # revoked, when
    assert secret not in table.stdout and not any(h in table.stdout for h in hashes)

    listed = json.loads(runner.invoke(cli, ["token", "list", "--json"]).stdout)
    assert [t["name"] for t in listed] == ["brief", "clerk-zone", "old"]
    assert listed[0]["expires_at"] and listed[0]["last_used_at"] and listed[1]["expires_at"] is None
    assert listed[2]["revoked_at"] is not None
    assert all(
        set(t) >= {"name", "role", "department", "created_at", "expires_at", "last_used_at"} for t in listed
    )
    assert all(key not in t for t in listed for key in ("token", "token_hash"))
    # The command line's token actions are in the audit log, as the API's are.
    with Session(cli_db) as session:
        events = session.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.target).order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("cli", "token.create", "brief"),
        ("cli", "token.create", "clerk-zone"),
        ("cli", "token.create", "old"),
        ("cli", "token.revoke", "old"),
    ]


SERVE = [sys.executable, "-c", "from app.cli import main; main()", "serve"]


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "INDICATORS_DATABASE_URL": f"sqlite:///{tmp_path / 'busy.db'}"}
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        for workers in ("1", "2"):
            done = subprocess.run(
                [*SERVE, "--port", str(port), "--workers", workers],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 1
            assert done.stdout == ""
            assert done.stderr.count("\n") == 1, done.stderr
            assert f"port {port} on 127.0.0.1 is in use" in done.stderr
            assert f"PORT={port + 1}" in done.stderr
    assert not (tmp_path / "busy.db").exists()  # refused before anything else


def test_make_run_passes_port_to_serve() -> None:
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=8001"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    assert "indicators serve --host 127.0.0.1 --port 8001" in dry.stdout
    default = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    assert "--port 8000" in default.stdout


def test_token_create_and_list_in_a_process_of_their_own(tmp_path: Path) -> None:
    """As an administrator runs them: a new process, where nothing else imported every table."""
    env = {**os.environ, "INDICATORS_DATABASE_URL": f"sqlite:///{tmp_path / 'own.db'}"}
    command = [sys.executable, "-c", "from app.cli import main; main()"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60)

    assert run("db", "upgrade").returncode == 0
    made = run("token", "create", "--name", "first", "--role", "admin", "--expires-in", "12h")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("ind_")
    listed = run("token", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:2] == ["first", "admin"]


def test_serve_runs_the_app_that_sets_its_heap_aside(cli_db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """`indicators serve` runs app.main:serving_app (app.core.heap), not the bare create_app."""
    served: list[str] = []
    monkeypatch.setattr(server, "run", lambda app, **options: served.append(app))
    result = runner.invoke(cli, ["serve", "--port", str(free_port())])
    assert result.exit_code == 0, result.output
    assert served == ["app.main:serving_app"]
