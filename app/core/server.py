"""Serving the app with uvicorn; with several workers, the supervisor hands each new connection to the
worker that holds the fewest.

uvicorn's workers share one listening socket, and the worker that wakes first for a burst of new
connections accepts all of them: with 32 keep-alive connections opened at once, one of two workers
often served every one of them while the other idled. Each worker then listened on a socket of its
own with SO_REUSEPORT, and the kernel spread connections over them by a hash of their addresses:
unevenly, 7/1 of 8 and 24/8 of 32 seen, and the connections of the worker with the larger share wait
longest (BENCHMARKS.md). So here, as Node's cluster module does by default, the supervisor listens,
accepts, and passes each connection (its file descriptor, SCM_RIGHTS) over a Unix socket pair to the
worker that holds the fewest; each worker says on the same pair when it is ready, and the supervisor
sees each connection end by its own descriptor of it (epoll: Linux, where the service runs). uvicorn's
own supervisor still starts, watches and restarts the workers, and each worker's uvicorn serves its
end of the pair as asyncio serves a listening socket.

With at least as many workers as CPUs the server may run on (a worker per core, as a 2-core machine
is served), each worker is held to one CPU, the one the fewest live workers hold: its event loop and
the threads that run its database work pass the GIL to each other many times a request, and on one
CPU each pass is a switch on that CPU rather than a wake-up of another, and the threads' memory
stays in that CPU's cache. PostgreSQL PUT with 2 workers on 2 cores: 65-78% of the Core ceiling
not held, 76-97% held (medians 86-88%), in alternating and repeated runs (BENCHMARKS.md).
nginx's `worker_cpu_affinity auto` does the same. With fewer workers than CPUs the kernel places
them (INDICATORS_PIN_WORKERS=false: always).
"""

import asyncio
import contextlib
import errno
import logging
import os
import queue
import resource
import select
import socket
import sys
import threading
import time
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")

# What a worker says on its channel, one byte each: it has its end (the supervisor closes its own
# copy of that end, so that the worker's exit reads as the end of the channel), and it serves. The
# supervisor sends one byte with each connection's descriptor.
_HELLO, _READY, _CONNECTION = b"h", b"+", b"c"


def _socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP rather than 0, as uvicorn makes it: asyncio sets TCP_NODELAY only on connections
    # whose socket says it is TCP, and without it answers wait on delayed ACKs (uvloop sets it anyway).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


class _Connection(socket.socket):
    """A connection passed to a worker. The supervisor holds it open too, to see it end: closing
    it shuts it down, so that the client sees the worker close it at once."""

    __slots__ = ()

    def close(self) -> None:
        if not self._closed:  # type: ignore[attr-defined]  # socket.socket's own slot
            with contextlib.suppress(OSError):  # the client has gone already
                self.shutdown(socket.SHUT_RDWR)
        super().close()


class Channel(socket.socket):
    """A worker's end of its channel from the supervisor, which asyncio serves as it serves a
    listening socket: `listen` (called as it starts serving) says the worker is ready, and `accept`
    takes the next connection passed to it."""

    __slots__ = ()

    def listen(self, backlog: int = 0) -> None:
        self.send(_READY)

    def accept(self) -> tuple[socket.socket, Any]:
        # One byte with one descriptor at a time; asyncio calls again until BlockingIOError.
        data, fds, _, _ = socket.recv_fds(self, 1, 1, socket.MSG_CMSG_CLOEXEC)
        if not fds:
            if not data:  # the supervisor is gone: take no more (the connections open are served)
                asyncio.get_running_loop().remove_reader(self.fileno())
                logger.warning("The supervisor closed this worker's channel; it takes no new connections")
            raise ConnectionAbortedError
        conn = _Connection(fileno=fds[0])
        try:
            return conn, conn.getpeername()
        except OSError:  # the client has gone already
            conn.close()
            raise ConnectionAbortedError from None


def worker_channel(end: socket.socket, cpu: int | None = None) -> Channel:
    """The worker's end of its channel, as the worker unpickles it (runs in the worker, in its main
    thread before any other starts: the threads it starts later are held to `cpu` too)."""
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as exc:  # a CPU taken away since: the kernel places this worker
            logger.warning("Could not hold this worker to CPU %d: %s", cpu, exc)
    channel = Channel(fileno=end.detach())
    channel.send(_HELLO)
    return channel


class _Worker:
    def __init__(self, channel: socket.socket, theirs: socket.socket, cpu: int | None) -> None:
        self.channel = channel
        self.theirs: socket.socket | None = theirs  # the supervisor's copy of the worker's end
        self.cpu = cpu  # the CPU it is held to (None: not held)
        self.ready = False
        self.connections: set[int] = set()  # passed to it and not yet ended (their descriptors)

    def close(self) -> None:
        self.channel.close()
        if self.theirs is not None:
            self.theirs.close()


_START_WAIT = 10.0  # seconds

# A connection has ended, for the supervisor, when either side has shut it down: the client (EPOLLRDHUP,
# the moment its FIN arrives, however busy the worker is) or the worker (EPOLLHUP, from _Connection.close).
_ENDED = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR


class Dispatcher:
    """In the supervisor, a thread of its own: accepts on the listening socket and passes each
    connection to the ready worker that holds the fewest. Until a worker is ready, connections wait
    in the listening socket's backlog.

    Who holds how many is the kernel's word, not the workers': the supervisor keeps its descriptor
    of each connection it passed, watched for its end only (never for data, which is the worker's).
    A worker's own count would come late: a load generator that closes its 32 connections and opens
    32 new ones at once finds a busy worker not yet done with the closes, and 24 of the new ones
    went to the other worker (bench.api, this session)."""

    def __init__(self, listener: socket.socket, workers: int, cpus: list[int] | None = None) -> None:
        _raise_descriptor_limit()  # the supervisor holds a descriptor of every open connection
        self._listener = listener
        listener.setblocking(False)
        self._epoll = select.epoll()
        self._wake, self._waker = socket.socketpair()
        self._wake.setblocking(False)
        self._epoll.register(self._wake.fileno(), select.EPOLLIN)
        self._new: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: dict[int, _Worker] = {}  # by the descriptor of the supervisor's end
        self._held: dict[int, tuple[socket.socket, _Worker]] = {}  # passed connections, by descriptor
        self._accepting = False
        # At start, connections wait until every worker is ready (or one has been for a while), so
        # that those opened at once, as a pool opens them, do not all go to the first one up.
        self._expected = workers
        self._started = False
        self._first_ready: float | None = None
        self._stopping = False
        # The live workers held to each CPU, when workers are held to one (channel, _drop).
        self._held_cpus: dict[int, int] | None = dict.fromkeys(cpus, 0) if cpus else None
        self._cpus_lock = threading.Lock()  # channel runs in the supervisor's thread, _drop in ours
        self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self._thread.start()

    def channel(self) -> tuple[socket.socket, int | None]:
        """A new worker's end of a new channel, and the CPU it is to hold to (None: none), the one
        the fewest live workers hold, the lowest first (called as the worker is started)."""
        cpu = None
        with self._cpus_lock:
            held = self._held_cpus
            if held is not None:
                cpu = min(held, key=lambda c: (held[c], c))
                held[cpu] += 1
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        self._new.put(_Worker(ours, theirs, cpu))
        self._waker.send(b"w")
        return theirs, cpu

    def close(self) -> None:
        self._stopping = True
        self._waker.send(b"w")
        self._thread.join(5)
        for worker in [*self._workers.values()]:
            self._drop(worker)
        while not self._new.empty():
            self._new.get().close()
        self._epoll.close()
        self._wake.close()
        self._waker.close()
        self._listener.close()

    def _run(self) -> None:
        listener, wake = self._listener.fileno(), self._wake.fileno()
        while not self._stopping:
            timeout = -1.0
            if not self._started and self._first_ready is not None:
                timeout = max(0.0, self._first_ready + _START_WAIT - time.monotonic())
                if timeout == 0:
                    logger.warning(
                        "Not every worker is ready after %.0f s; serving with those that are", _START_WAIT
                    )
                    self._started = True
                    self._readiness()
            for fd, events in self._epoll.poll(timeout):
                try:
                    if fd == listener:
                        self._accept()
                    elif fd == wake:
                        self._take_new()
                    elif fd in self._workers:
                        self._hear(self._workers[fd])
                    elif fd in self._held and events & _ENDED:
                        self._ended(fd)
                except Exception:  # a fault here must not stop the service taking connections
                    logger.exception("The dispatcher failed on an event; it goes on")

    def _take_new(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake.recv(4096)
        while not self._new.empty():
            worker = self._new.get()
            self._workers[worker.channel.fileno()] = worker
            self._epoll.register(worker.channel.fileno(), select.EPOLLIN)

    def _hear(self, worker: _Worker) -> None:
        try:
            said = worker.channel.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            said = b""
        if not said:  # the worker has exited (or stopped serving)
            self._drop(worker)
            return
        if _HELLO in said and worker.theirs is not None:
            worker.theirs.close()
            worker.theirs = None
        if _READY in said:
            worker.ready = True
            if self._first_ready is None:
                self._first_ready = time.monotonic()
            self._readiness()

    def _ended(self, fd: int) -> None:
        conn, worker = self._held.pop(fd)
        worker.connections.discard(fd)
        self._epoll.unregister(fd)
        conn.close()

    def _drop(self, worker: _Worker) -> None:
        """Forget a worker that has exited, and let go of the connections it held."""
        del self._workers[worker.channel.fileno()]
        self._epoll.unregister(worker.channel.fileno())
        worker.close()
        if worker.cpu is not None:
            with self._cpus_lock:
                assert self._held_cpus is not None
                self._held_cpus[worker.cpu] -= 1
        for fd in [*worker.connections]:
            self._ended(fd)
        self._readiness()

    def _readiness(self) -> None:
        """Accept while any worker is ready, once started: once every worker first was."""
        ready = sum(w.ready for w in self._workers.values())
        self._started = self._started or ready >= self._expected
        self._listen(self._started and ready > 0)

    def _listen(self, accepting: bool) -> None:
        if accepting != self._accepting:
            if accepting:
                self._epoll.register(self._listener.fileno(), select.EPOLLIN)
            else:
                self._epoll.unregister(self._listener.fileno())
            self._accepting = accepting

    def _accept(self) -> None:
        for _ in range(64):  # then hear the rest, whose ends change who holds the fewest
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # out of descriptors, say: the connection waits in the backlog
                logger.error("Could not accept a connection: %s", exc)
                return
            self._pass(conn)
            if not self._accepting:
                return

    def _pass(self, conn: socket.socket) -> None:
        ready = [w for w in self._workers.values() if w.ready]
        for worker in sorted(ready, key=lambda w: len(w.connections)):
            try:
                socket.send_fds(worker.channel, [_CONNECTION], [conn.fileno()])
            except BlockingIOError:  # this worker has not taken what it was given: try another
                continue
            except OSError:  # the worker has exited
                self._drop(worker)
                continue
            fd = conn.fileno()
            self._held[fd] = (conn, worker)
            worker.connections.add(fd)
            self._epoll.register(fd, _ENDED)
            return
        logger.error("No worker could take a connection; it is closed")
        conn.close()


def _raise_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _Channelled:
    """Stands in for a listening socket in the supervisor: passed to each worker as it is started,
    it is pickled, and unpickled there as the worker's end of a new channel from the dispatcher."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def __reduce__(self) -> tuple[Any, tuple[socket.socket, int | None]]:
        return worker_channel, self.dispatcher.channel()


def unavailable(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on, in one line; None when it can. Checked before anything
    else `serve` does, so that a port in use is said plainly rather than in a traceback."""
    try:
        with _socket(host) as probe:
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


def cpus_to_pin(workers: int, pin_workers: bool = True) -> list[int] | None:
    """The CPUs to hold `workers` workers to, one each: those the server may run on, when there are
    no more of them than workers; None: the kernel places the workers."""
    if not pin_workers or workers < 2 or not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return allowed if len(allowed) <= workers else None


def run(app: str, *, host: str, port: int, workers: int, pin_workers: bool = True, **options: Any) -> None:
    """Serve `app` (an import string of a factory) as `uvicorn.run` would, with `workers` processes,
    each held to a CPU of its own where there are no more CPUs than workers (`pin_workers`)."""
    if workers == 1:
        uvicorn.run(app, factory=True, host=host, port=port, **options)
        return
    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers, **options)
    listener = _socket(host)
    try:
        listener.bind((host, port))
        listener.listen(config.backlog)
    except OSError as exc:
        logger.error(exc)
        listener.close()
        sys.exit(STARTUP_FAILURE)
    port = listener.getsockname()[1]  # port 0 becomes a free one
    logger.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", host, port)
    cpus = cpus_to_pin(workers, pin_workers)
    if cpus:
        logger.info(
            "Each worker is held to a CPU of its own (%s); INDICATORS_PIN_WORKERS=false leaves them free",
            ",".join(map(str, cpus)),
        )
    dispatcher = Dispatcher(listener, workers, cpus)
    try:
        Multiprocess(config, sockets=[cast(socket.socket, _Channelled(dispatcher))]).run()
    finally:
        dispatcher.close()
