"""A TCP proxy on 127.0.0.1 that a test controls: forward, cut every connection, restore.

Put it between a server and PostgreSQL to simulate the database going away and coming
back without touching the real database. ``cut()`` closes every open connection (both
sides) and, until ``restore()``, closes each new connection as soon as it is accepted, so
clients see "server closed the connection unexpectedly" at once, as when a database
restarts or a network path is reset. It runs in threads of its own, so it serves sync
and trio tests alike; ``tcp_proxy`` (a context manager) always stops it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

__all__ = ["TcpProxy", "tcp_proxy"]


@dataclass
class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut`` and ``restore`` the path."""

    target: tuple[str, int]
    port: int = 0
    accepted: int = 0
    """Connections accepted so far (cut or not): lets a test see that clients reconnect."""
    _listener: socket.socket | None = None
    _open: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cut: bool = False
    _stopped: bool = False
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def is_cut(self) -> bool:
        return self._cut

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        thread = threading.Thread(target=self._accept_loop, name="tcp-proxy-accept", daemon=True)
        thread.start()
        self._threads.append(thread)

    def cut(self) -> None:
        """Close every open connection and refuse service until ``restore``."""
        with self._lock:
            self._cut = True
            victims = list(self._open)
            self._open.clear()
        for sock in victims:
            _close(sock)

    def restore(self) -> None:
        """Forward new connections again (clients must reconnect: the old ones are gone)."""
        with self._lock:
            self._cut = False

    def stop(self) -> None:
        self._stopped = True
        self.cut()
        if self._listener is not None:
            _close(self._listener)
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self._cut or self._stopped:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._cut:
                    _close(client)
                    _close(upstream)
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(source, sink), name="tcp-proxy-pump",
                                        daemon=True)
                pump.start()
            self._threads[:] = [t for t in self._threads if t.is_alive()]

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy bytes one way until either side closes; then close both."""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


@contextmanager
def tcp_proxy(target: tuple[str, int]) -> Iterator[TcpProxy]:
    """A started proxy to ``target`` on a free loopback port; stopped on exit."""
    proxy = TcpProxy(target)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
