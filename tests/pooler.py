"""A real PgBouncer in transaction pooling mode in front of the test PostgreSQL: Debian's `pgbouncer`,
started per test module on a free port with a config of its own, and stopped after it.

Where pgbouncer is missing the pooler tests are skipped and the run's header says so; under CI=true
that is a failure (.ci/run installs it).
"""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from tests.databases import IN_CI, POSTGRES_URL
from tests.servers import free_port

PGBOUNCER = Path(
    os.environ.get("INDICATORS_TEST_PGBOUNCER", shutil.which("pgbouncer") or "/usr/sbin/pgbouncer")
)


def pgbouncer_problem() -> str | None:
    """Why the pooler tests cannot run, or None when they can."""
    if not os.access(PGBOUNCER, os.X_OK):
        return f"no pgbouncer at {PGBOUNCER} (as root: apt-get install -y pgbouncer)"
    return None


def pgbouncer_version() -> tuple[int, ...]:
    out = subprocess.run([str(PGBOUNCER), "--version"], capture_output=True, text=True, check=True).stdout
    return tuple(int(part) for part in out.split()[1].split("."))


def require_pgbouncer() -> None:
    problem = pgbouncer_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {problem}", pytrace=False)
    pytest.skip(f"pooler test skipped: {problem}")


@contextmanager
def pgbouncer(database: str, *, pool_size: int = 6) -> Iterator[str]:
    """PgBouncer (pool_mode = transaction, at most `pool_size` server connections) in front of
    `database` of the test PostgreSQL; yields the SQLAlchemy URL that goes through it."""
    require_pgbouncer()
    upstream = make_url(POSTGRES_URL)
    user = upstream.username or "postgres"
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="indicators-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "userlist.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{database} = host={upstream.host or '127.0.0.1'} port={upstream.port or 5432} "
        f"dbname={database} user={user}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\nmin_pool_size = 0\nreserve_pool_size = 0\n"
        "max_client_conn = 500\n"
        # psycopg and SQLAlchemy send these at connect; PgBouncer passes them on only when told
        "ignore_startup_parameters = extra_float_digits,options\n"
        "server_reset_query =\nlog_connections = 0\nlog_disconnections = 0\n"
    )
    for name in ("userlist.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    command = [str(PGBOUNCER)]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        command += ["-u", "postgres" if _user_exists("postgres") else "nobody"]
    log = (folder / "pgbouncer.log").open("wb")
    process = subprocess.Popen(
        [*command, str(folder / "pgbouncer.ini")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = upstream.set(host="127.0.0.1", port=port, database=database).render_as_string(hide_password=False)
    try:
        _wait(process, port, user, database, folder / "pgbouncer.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _wait(process: subprocess.Popen[bytes], port: int, user: str, database: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"pgbouncer exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user=user, dbname=database, connect_timeout=2
            ) as c:
                c.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise RuntimeError(f"pgbouncer did not answer in 20 s:\n{log.read_text(errors='replace')}")
