"""How the service is served (app.core.server): each worker on a listening socket of its own."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from app.core import server
from tests.servers import ROOT, serving


def _listening_inodes(port: int) -> set[str]:
    """The inodes of the sockets listening on 127.0.0.1:port (Linux's /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if local == f"0100007F:{port:04X}" and state == "0A":
            found.add(inode)
    return found


def _holders(inodes: set[str]) -> dict[str, set[int]]:
    """For each socket inode, the processes holding it."""
    held: dict[str, set[int]] = {inode: set() for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                inode = target.removeprefix("socket:[").removesuffix("]")
                if target.startswith("socket:[") and inode in held:
                    held[inode].add(int(pid))
        except OSError:  # a process that ended meanwhile, or one not ours
            continue
    return held


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_each_worker_listens_on_a_socket_of_its_own_and_all_of_them_answer(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path / 'served.db'}", workers=2) as live:
        port = int(live.url.rsplit(":", 1)[1])
        holders = _holders(_listening_inodes(port))
        assert len(holders) == 2, holders  # not one socket shared by both
        owners = list(holders.values())
        assert all(len(pids) == 1 for pids in owners), owners
        workers = {pid for pids in owners for pid in pids}
        assert len(workers) == 2
        assert live.process.pid not in workers  # the supervisor listens on nothing
        assert {_parent(pid) for pid in workers} == {live.process.pid}

        with ThreadPoolExecutor(32) as pool:  # 32 connections at once, as a load balancer opens them
            statuses = list(pool.map(lambda _: httpx.get(f"{live.url}/healthz").status_code, range(32)))
        assert statuses == [200] * 32


def test_a_second_server_on_a_port_in_use_is_refused_and_the_first_serves_on(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path / 'served.db'}", workers=2) as live:
        port = live.url.rsplit(":", 1)[1]
        second = subprocess.run(
            [
                sys.executable,
                "-c",
                "from app.core import server; "
                f"server.run('app.main:create_app', host='127.0.0.1', port={port}, workers=2)",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 3, second.stderr  # uvicorn's STARTUP_FAILURE
        assert "Address already in use" in second.stderr
        time.sleep(0.2)
        assert httpx.get(f"{live.url}/healthz").status_code == 200


def test_connections_accepted_on_asyncio_loop_send_at_once() -> None:
    """asyncio turns Nagle's algorithm off only on sockets that say they are TCP: the listening
    socket must, or each answer waits ~40 ms for the client's delayed ACK."""

    async def nodelay_of_accepted(sock: socket.socket) -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                option = transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                accepted.set_result(option)

        listener = await loop.create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            listener.close()

    own = server.listen_on_own_socket("127.0.0.1", 0, 8)
    assert asyncio.run(nodelay_of_accepted(own)) != 0
    plain = socket.socket()  # as uvicorn makes its shared socket: protocol 0
    plain.bind(("127.0.0.1", 0))
    plain.listen()
    assert asyncio.run(nodelay_of_accepted(plain)) == 0  # the check above can fail


def test_a_worker_that_cannot_listen_fails_to_start_rather_than_restart_forever() -> None:
    with socket.socket() as taken:  # a plain listener: the port is refused to the group
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as exit_:
            server.listen_on_own_socket("127.0.0.1", taken.getsockname()[1], 8)
    assert exit_.value.code == STARTUP_FAILURE


@pytest.mark.parametrize("access_log", ["true", "false"])
def test_the_access_log_can_be_left_to_a_proxy(tmp_path: Path, access_log: str) -> None:
    env = {"INDICATORS_LOG_LEVEL": "info", "INDICATORS_ACCESS_LOG": access_log}
    with serving(f"sqlite:///{tmp_path / 'served.db'}", env=env) as live:
        assert httpx.get(f"{live.url}/api/v1/indicators").status_code == 401
        time.sleep(0.2)
        logged = '"GET /api/v1/indicators HTTP/1.1" 401' in live.output()
    assert logged is (access_log == "true")
