"""Real servers for the tests that need them: uvicorn in its own process group, on loopback."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.schemas import TokenCreate
from app.core.db import migrate
from seed.loader import load
from tests.helpers import TOKEN_SPECS

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(engine: Engine) -> dict[str, dict[str, str]]:
    """Migrate, load the seed, and make a token of every test role: their bearer headers by name."""
    migrate.upgrade(engine)
    headers = {}
    with Session(engine) as session, session.begin():
        load(session)
        for name, (role, department) in TOKEN_SPECS.items():
            data = TokenCreate(name=name, role=role, department=department)
            _, secret = tokens.create(session, data=data, actor="test")
            headers[name] = {"Authorization": f"Bearer {secret}"}
    return headers


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn's workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def launch(command: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A server process in a group of its own (it and its workers are stopped together), its output
    in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_answering(
    process: subprocess.Popen[bytes], url: str, log: Path, *, workers: int = 1, timeout: float = 60
) -> None:
    """Until `url` answers below 500 and, with several workers, every worker is up; RuntimeError with
    the server's output when it exits or does not answer in time."""
    deadline = time.monotonic() + timeout
    expected = workers + (1 if workers > 1 else 0)  # the supervisor and its workers
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=1).status_code < 500 and len(process_tree(process.pid)) >= expected:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"the server did not answer in {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the server and its workers (its own process group), and wait for them."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    # Workers are in the same group; a SIGKILLed master leaves them to be reaped here.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        stop(self.process, sig)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start(
    database_url: str, *, workers: int = 1, env: dict[str, str] | None = None, cpus: list[int] | None = None
) -> Server:
    """uvicorn serving create_app() on a free port; waits until /healthz answers. `cpus`: the CPUs
    the server may run on (all of this process's: by default)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="indicators-server-", suffix=".log")[1])
    full_env = {
        **os.environ,
        "INDICATORS_DATABASE_URL": database_url,
        "INDICATORS_LOG_LEVEL": "warning",
        **(env or {}),
    }
    # As `indicators serve` runs it (app.core.server), without its migration and admin token.
    command = [
        sys.executable,
        "-c",
        "import os, sys; from app.core import server; from app.cli import server_options; "
        "sys.argv[3:] and os.sched_setaffinity(0, {int(c) for c in sys.argv[3].split(',')}); "
        "server.run('app.main:create_app', host='127.0.0.1', port=int(sys.argv[1]), "
        "**server_options(int(sys.argv[2])))",
        str(port),
        str(workers),
        *([",".join(map(str, cpus))] if cpus else []),
    ]
    process = launch(command, env=full_env, log=log)
    server = Server(f"http://127.0.0.1:{port}", process, log, env or {})
    wait_until_answering(process, f"{server.url}/healthz", log, workers=workers)
    return server


@contextmanager
def serving(
    database_url: str, *, workers: int = 1, env: dict[str, str] | None = None, cpus: list[int] | None = None
) -> Iterator[Server]:
    server = start(database_url, workers=workers, env=env, cpus=cpus)
    try:
        yield server
    finally:
        server.kill(signal.SIGTERM)
        server.log.unlink(missing_ok=True)
