"""How the service is served (app.core.server): each worker on a listening socket of its own."""

import asyncio
import os
import signal
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
from tests.servers import ROOT, Server, process_tree, serving


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


def _established(port: int) -> set[str]:
    """The inodes of the server ends of the connections established to 127.0.0.1:port."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "01":
            found.add(fields[9])
    return found


def _server_end(port: int, conn: socket.socket) -> str:
    """The inode of the server's end of a client's connection."""
    client = f"0100007F:{conn.getsockname()[1]:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[2] == client:
            return fields[9]
    raise AssertionError(f"no connection from {client}")


def _workers(live: Server) -> set[int]:
    """The server's workers (not multiprocessing's resource tracker, its other child)."""
    found = set()
    for pid in process_tree(live.process.pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:  # ended meanwhile
            continue
    return found


def _held_by_workers(live: Server) -> dict[int, int]:
    """How many of the connections established to the server each of its workers holds."""
    port = int(live.url.rsplit(":", 1)[1])
    held = _holders(_established(port))
    counts = dict.fromkeys(_workers(live), 0)
    for pids in held.values():
        for pid in pids & counts.keys():  # not the supervisor, which holds each one too
            counts[pid] += 1
    return counts


def _connect(live: Server, n: int) -> list[socket.socket]:
    """`n` keep-alive connections, each of which has had an answer (so a worker holds it)."""
    port = int(live.url.rsplit(":", 1)[1])
    opened = []
    for _ in range(n):
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200 ")
        opened.append(conn)
    return opened


def _settled(live: Server, *, total: int) -> dict[int, int]:
    """The workers' counts once `total` connections are held (closes reach the server a little later)."""
    deadline = time.monotonic() + 10
    while True:
        counts = _held_by_workers(live)
        if sum(counts.values()) == total or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def test_the_supervisor_listens_and_spreads_connections_evenly_over_the_workers(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path / 'served.db'}", workers=2) as live:
        port = int(live.url.rsplit(":", 1)[1])
        holders = _holders(_listening_inodes(port))
        assert list(holders.values()) == [{live.process.pid}]  # one socket, the supervisor's
        workers = _workers(live)
        assert len(workers) == 2 and {_parent(pid) for pid in workers} == {live.process.pid}

        # 32 connections at once, as a load balancer opens them: 16 each, where the kernel's hash of
        # their addresses (SO_REUSEPORT) gave 18/14 or 24/8.
        with ThreadPoolExecutor(32) as pool:
            batches = list(pool.map(lambda _: _connect(live, 1), range(32)))
        try:
            assert sorted(_settled(live, total=32).values()) == [16, 16]
        finally:
            for batch in batches:
                batch[0].close()


def test_a_new_connection_goes_to_the_worker_that_holds_fewest(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path / 'served.db'}", workers=2) as live:
        opened = _connect(live, 8)
        counts = _settled(live, total=8)
        assert sorted(counts.values()) == [4, 4], counts
        # Close the four one worker holds: the next four all go to it.
        emptied = next(iter(counts))
        port = int(live.url.rsplit(":", 1)[1])
        mine = {inode for inode, pids in _holders(_established(port)).items() if emptied in pids}
        kept = []
        for conn in opened:
            if _server_end(port, conn) in mine:
                conn.close()
            else:
                kept.append(conn)
        assert len(kept) == 4
        assert _settled(live, total=4)[emptied] == 0
        time.sleep(0.2)  # the worker's word of its closes reaches the supervisor
        kept += _connect(live, 4)
        try:
            assert _settled(live, total=8) == dict.fromkeys(counts, 4)
        finally:
            for conn in kept:
                conn.close()


def test_a_worker_that_dies_is_sent_nothing_and_its_replacement_takes_connections(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path / 'served.db'}", workers=2) as live:
        first = _workers(live)
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        # New connections meanwhile go to the worker that lives: none is lost.
        for _ in range(20):
            assert httpx.get(f"{live.url}/healthz", timeout=10).status_code == 200
        deadline = time.monotonic() + 60
        while not _workers(live) - first:
            assert time.monotonic() < deadline, "the supervisor did not replace the worker"
            time.sleep(0.1)
        replacement = (_workers(live) - first).pop()
        deadline = time.monotonic() + 60
        while True:  # until it serves: then it holds the fewest, and takes new connections
            opened = _connect(live, 4)
            counts = _settled(live, total=4)
            for conn in opened:
                conn.close()
            if counts.get(replacement):
                break
            assert time.monotonic() < deadline, f"the replacement was given no connection: {counts}"
            time.sleep(0.2)
        assert killed not in counts


def _allowed(pid: int, task: int | None = None) -> set[int]:
    """The CPUs a process (or one of its threads) may run on (Linux's Cpus_allowed_list)."""
    status = Path(f"/proc/{pid}/task/{task or pid}/status").read_text()
    (line,) = [x for x in status.splitlines() if x.startswith("Cpus_allowed_list:")]
    cpus: set[int] = set()
    for part in line.split(":", 1)[1].strip().split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def _threads_allowed(pid: int) -> list[set[int]]:
    return [_allowed(pid, int(task)) for task in os.listdir(f"/proc/{pid}/task")]


CPUS = sorted(os.sched_getaffinity(0))


def test_workers_are_held_to_cpus_only_when_there_are_no_more_cpus_than_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 2, 5})
    assert server.cpus_to_pin(3) == [0, 2, 5]
    assert server.cpus_to_pin(4) == [0, 2, 5]  # two on the first CPU, the others one each
    assert server.cpus_to_pin(2) is None  # more CPUs than workers: the kernel places them
    assert server.cpus_to_pin(3, pin_workers=False) is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})
    assert server.cpus_to_pin(1) is None  # one worker is uvicorn's own process, not held


@pytest.mark.skipif(len(CPUS) < 2, reason="one CPU: there is nothing to hold two workers to")
def test_with_a_worker_per_cpu_each_worker_and_its_threads_hold_to_a_cpu_of_its_own(tmp_path: Path) -> None:
    two = CPUS[:2]  # the server on two CPUs, as on a machine of two cores
    with serving(f"sqlite:///{tmp_path / 'served.db'}", workers=2, cpus=two) as live:
        assert _allowed(live.process.pid) == set(two)  # the supervisor is not held
        for _ in range(10):  # readiness checks the database in a worker thread
            assert httpx.get(f"{live.url}/readyz", timeout=10).status_code == 200
        held = {}
        for pid in _workers(live):
            threads = _threads_allowed(pid)
            assert len(threads) > 1 and all(len(cpus) == 1 for cpus in threads), threads
            (held[pid],) = set.union(*threads)
        assert sorted(held.values()) == two
        killed = min(held)
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(_workers(live) - held.keys()) < 1 or len(_workers(live)) < 2:
            assert time.monotonic() < deadline, "the supervisor did not replace the worker"
            time.sleep(0.1)
        (replacement,) = _workers(live) - held.keys()
        while len(_allowed(replacement)) > 1:  # until it has started (it holds to its CPU as it starts)
            assert time.monotonic() < deadline, f"the replacement is held to none: {_allowed(replacement)}"
            time.sleep(0.1)
        assert _allowed(replacement) == {held[killed]}  # the CPU its predecessor left


@pytest.mark.skipif(len(CPUS) < 2, reason="one CPU: there is nothing to hold two workers to")
def test_workers_are_not_held_to_a_cpu_when_told_not_to(tmp_path: Path) -> None:
    two = CPUS[:2]
    env = {"INDICATORS_PIN_WORKERS": "false"}
    with serving(f"sqlite:///{tmp_path / 'served.db'}", workers=2, env=env, cpus=two) as live:
        assert [_allowed(pid) for pid in _workers(live)] == [set(two), set(two)]


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
        assert second.returncode == STARTUP_FAILURE, second.stderr
        assert "Address already in use" in second.stderr
        time.sleep(0.2)
        assert httpx.get(f"{live.url}/healthz").status_code == 200


def test_a_worker_serves_the_connections_passed_on_its_channel() -> None:
    """A worker's channel, served by asyncio as it serves a listening socket: ready once served, a
    connection passed on it is accepted with the client's address and TCP_NODELAY (asyncio sets it
    only on sockets that say they are TCP; without it each answer waits ~40 ms for the client's
    delayed ACK), and when the worker closes it the client sees it closed, though the supervisor
    still holds it."""

    async def pass_one() -> tuple[int, bool, bytes]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        channel = server.worker_channel(theirs)
        assert await loop.sock_recv(ours, 1) == b"h"
        accepted: asyncio.Future[tuple[int, object]] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                option = transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                accepted.set_result((option, transport.get_extra_info("peername")))
                transport.close()

        served = await loop.create_server(Probe, sock=channel)
        assert await loop.sock_recv(ours, 1) == b"+"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            client = socket.create_connection(listener.getsockname())
            client.setblocking(False)
            conn, _ = listener.accept()
            try:
                socket.send_fds(ours, [b"c"], [conn.fileno()])
                option, peer = await asyncio.wait_for(accepted, 10)
                end = await asyncio.wait_for(loop.sock_recv(client, 1), 10)  # FIN, not a timeout
                return option, peer == client.getsockname(), end
            finally:
                conn.close()
                client.close()
                served.close()
                ours.close()

    option, same_peer, end = asyncio.run(pass_one())
    assert option != 0
    assert same_peer
    assert end == b""


def test_a_connection_the_worker_closes_is_closed_for_the_client(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path / 'served.db'}", workers=2) as live:
        port = int(live.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):  # until the server's FIN; a timeout raises
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":"ok"}')
        assert _settled(live, total=0) == dict.fromkeys(_workers(live), 0)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("access_log", ["true", "false"])
def test_the_access_log_can_be_left_to_a_proxy(tmp_path: Path, access_log: str, workers: int) -> None:
    env = {"INDICATORS_LOG_LEVEL": "info", "INDICATORS_ACCESS_LOG": access_log}
    with serving(f"sqlite:///{tmp_path / 'served.db'}", env=env, workers=workers) as live:
        with httpx.Client() as client:
            assert client.get(f"{live.url}/api/v1/indicators").status_code == 401
            port = (
                client.get(f"{live.url}/healthz")
                .extensions["network_stream"]
                .get_extra_info("client_addr")[1]
            )
        time.sleep(0.2)
        # The client's own address, with 2 workers too (where the supervisor accepted it).
        logged = f'127.0.0.1:{port} - "GET /api/v1/indicators HTTP/1.1" 401' in live.output()
    assert logged is (access_log == "true")
