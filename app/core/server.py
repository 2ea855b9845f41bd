"""Serving the app with uvicorn; with several workers, each listens on a socket of its own.

uvicorn's workers share one listening socket, and the worker that wakes first for a burst of new
connections accepts all of them: with 32 keep-alive connections opened at once, one of two workers
often served every one of them while the other idled (BENCHMARKS.md). Here each worker opens its
own socket on the same port with SO_REUSEPORT, and the kernel spreads new connections over them.
uvicorn's own supervisor still starts, watches and restarts the workers.
"""

import errno
import logging
import socket
import sys
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")


def _socket(host: str, *, reuse_port: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP rather than 0, as uvicorn makes it: asyncio sets TCP_NODELAY only on connections
    # whose socket says it is TCP, and without it answers wait on delayed ACKs (uvloop sets it anyway).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def listen_on_own_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A worker's listening socket, one of the group bound to host:port (runs in the worker)."""
    sock = _socket(host)
    try:
        sock.bind((host, port))
    except OSError as exc:  # a startup failure: uvicorn's supervisor then stops, not restarts it
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    sock.listen(backlog)
    return sock


class _OwnSocket:
    """Stands in for a listening socket in the supervisor: passed to each worker it is pickled, and
    unpickled there as a new socket of that worker's own (uvicorn would pass a copy of one socket)."""

    def __init__(self, host: str, port: int, backlog: int) -> None:
        self.address = (host, port, backlog)

    def __reduce__(self) -> tuple[Any, tuple[str, int, int]]:
        return listen_on_own_socket, self.address


def unavailable(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on, in one line; None when it can. Checked before anything
    else `serve` does, so that a port in use is said plainly rather than in a traceback."""
    try:
        with _socket(host, reuse_port=False) as probe:
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return (
                f"port {port} on {host} is in use: another program listens there "
                f"(another `indicators serve`?); try PORT={port + 1} with make run, or --port {port + 1}"
            )
        return f"cannot listen on {host} port {port}: {exc.strerror or exc}"
    except UnicodeError as exc:  # a host name no resolver takes
        return f"cannot listen on {host} port {port}: {exc}"
    return None


def run(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve `app` (an import string of a factory) as `uvicorn.run` would, with `workers` processes."""
    if workers == 1:
        uvicorn.run(app, factory=True, host=host, port=port, **options)
        return
    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers, **options)
    try:
        # Bound without SO_REUSEPORT, the port is refused while anything listens on it, another
        # `indicators serve` included, which would otherwise join this one's group unnoticed.
        with _socket(host, reuse_port=False) as probe:
            probe.bind((host, port))
            port = probe.getsockname()[1]  # port 0 becomes a free one
        # Bound and never listening, this one keeps the port for the workers' sockets to join, and
        # receives no connections.
        held = _socket(host)
        held.bind((host, port))
    except OSError as exc:
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    logger.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", host, port)
    try:
        own = cast(socket.socket, _OwnSocket(host, port, config.backlog))
        Multiprocess(config, sockets=[own]).run()
    finally:
        held.close()
