"""What every benchmark shares: throwaway databases, the real server in a subprocess, tokens, memory.

Reuse it from any bench module:

    with throwaway("sqlite", tmp) as url:          # or "postgresql"; raises Skip when none answers
        prepare(url)                               # migrate + the 2021 report (bench.data adds more)
        token = make_token(url, "bench-viewer", Role.viewer)
        with Server(url, workers=1) as server:     # `indicators serve` on a free loopback port
            ...                                    # server.base, server.peak_rss_mb(), server.cpu_seconds()

Everything listens on 127.0.0.1 only, and every subprocess is ended by the context that started it.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import Role
from app.auth.schemas import TokenCreate
from app.core.db import migrate
from app.core.db.engine import make_engine
from tests.databases import POSTGRES_URL, NoPostgres, empty_database, postgres_problem
from tests.servers import free_port, launch, process_tree, stop, wait_until_answering

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Skip(Exception):
    """A benchmark that cannot run here (no PostgreSQL, no route yet); its message says why."""


# --- databases -------------------------------------------------------------------------------------


@contextmanager
def throwaway(backend: str, tmp: Path | None = None) -> Iterator[str]:
    """The URL of an empty database of `backend`, removed afterwards (the tests' own); Skip when no
    PostgreSQL answers."""
    try:
        with empty_database(backend, tmp, prefix="indicators_bench") as url:
            yield url
    except NoPostgres as exc:
        raise Skip(f"PostgreSQL skipped: {exc}") from None


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def prepare(url: str) -> None:
    """Migrate and load the 2021 report, as `indicators db upgrade` and `indicators seed` would."""
    from seed.loader import load

    with engine_for(url) as engine:
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            load(session)


def make_token(url: str, name: str, role: Role, department: str | None = None) -> str:
    """A token made through the service, as `indicators token create` makes it."""
    with engine_for(url) as engine, Session(engine) as session, session.begin():
        _, secret = tokens.create(
            session, data=TokenCreate(name=name, role=role, department=department), actor="bench"
        )
    return secret


# --- processes -------------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pids: list[int]) -> float:
    return sum(_status_kb(p, "VmRSS") for p in pids) / 1024


def _ticks(pid: int | str, *, ended_children: bool = False) -> int:
    """A process's CPU time in clock ticks: utime and stime, and with `ended_children` cutime and
    cstime (its children that ended and were waited for); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(x) for x in fields[11 : 15 if ended_children else 13])


def cpu_seconds(pids: list[int]) -> float:
    return sum(_ticks(pid) for pid in pids) / CLOCK_TICKS


def database_cpu_seconds() -> float:
    """CPU time of the PostgreSQL server's processes on this machine (its backends, WAL writer,
    checkpointer...): what a request costs the database, where bench/ runs it on 127.0.0.1."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() != "postgres":
                    continue
        except OSError:  # gone meanwhile
            continue
        # with its children that ended: the postmaster's, where a backend that ended during the
        # run (as Core's do at its end) counts
        total += _ticks(entry, ended_children=True)
    return total / CLOCK_TICKS


def _established(port: int) -> set[int]:
    """The socket inodes of the TCP connections established to `port` on this machine."""
    found: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    # local address hex "ADDR:PORT", state 01: ESTABLISHED, inode the tenth field
                    if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        found.add(int(fields[9]))
        except OSError:
            continue
    return found


def connections_by_process(pids: list[int], port: int) -> list[int]:
    """How many of the connections established to `port` each process holds, in `pids`' order:
    how a load generator's connections were spread over a server's workers."""
    inodes = _established(port)
    counts = []
    for pid in pids:
        held = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                    held += 1
        except OSError:
            pass
        counts.append(held)
    return counts


class RssSampler:
    """Samples the resident memory of a process tree every 50 ms; `peak` is the largest sum seen.
    Given the server's port, also how its connections are spread over its processes (`split`: the
    counts of the workers that hold any, largest first, at the sample that saw the most)."""

    def __init__(self, pid: int, port: int | None = None) -> None:
        self.pid = pid
        self.port = port
        self.peak = 0.0
        self.split: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sampled = 0
        while not self._stop.is_set():
            pids = process_tree(self.pid)
            self.peak = max(self.peak, rss_mb(pids))
            if self.port is not None and sampled < 5:  # a few samples: reading /proc costs the machine
                sampled += 1
                # Not the supervisor's: it holds each connection too, to see it end (app.core.server).
                workers = [pid for pid in pids if pid != self.pid]
                split = sorted((n for n in connections_by_process(workers, self.port) if n), reverse=True)
                if sum(split) > sum(self.split):
                    self.split = split
            self._stop.wait(0.05)

    def __enter__(self) -> Self:
        self.peak = rss_mb(process_tree(self.pid))
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(process_tree(self.pid)))


def serve_command(workers: int, port: int) -> list[str]:
    """The service as operators run it: `indicators serve`."""
    return [str(BIN / "indicators"), "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]


class Server:
    """A server in a subprocess on a free loopback port, stopped (SIGINT, then SIGKILL) on exit.

    `command(port)` builds its command line; by default the real service (`indicators serve`).
    """

    def __init__(
        self,
        url: str,
        *,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        command: Callable[[int], list[str]] | None = None,
        ready_path: str = "/healthz",
        log: Path | None = None,
    ) -> None:
        self.url = url
        self.workers = workers
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.command = (command or partial(serve_command, workers))(self.port)
        self.env = {**os.environ, "INDICATORS_DATABASE_URL": url, **(env or {})}
        self.ready_path = ready_path
        self.log_path = log or Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.process = launch(self.command, env=self.env, log=self.log_path)
        wait_until_answering(self.process, self.base + self.ready_path, self.log_path, workers=self.workers)
        return self

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def pids(self) -> list[int]:
        assert self.process is not None
        return process_tree(self.process.pid)

    def rss_sampler(self) -> RssSampler:
        assert self.process is not None
        return RssSampler(self.process.pid, self.port)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGINT)
        self.log_path.unlink(missing_ok=True)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    import platform
    import sqlite3

    mem_kb = _meminfo_kb("MemTotal")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpus": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load average": load,
    }


def _meminfo_kb(field: str) -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def postgres_version() -> str | None:
    if postgres_problem() is not None:
        return None
    engine = create_engine(POSTGRES_URL)
    with engine.connect() as connection:
        version = str(connection.execute(text("SHOW server_version")).scalar())
    engine.dispose()
    return version


def settle(engine: Engine) -> None:
    """What a DBA runs after a bulk load or removal, and what autovacuum (PostgreSQL) or PRAGMA
    optimize (SQLite) would do in time: planner statistics, and on PostgreSQL dead rows cleared and
    the visibility map set. Run before measuring, so that the figures are not those of the database
    tidying up after the previous run (PUT on PostgreSQL, 2 workers, 32 connections, right after the
    100,000-row batch was removed: 784 req/s, against 1,109 settled)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
