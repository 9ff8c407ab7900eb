"""Named locks and leases kept in memory: all of them for SQLite, the local half for PostgreSQL.

``NamedLocks`` queues the tasks of one process on a ``trio.Lock`` per name (FIFO, cancellable,
with a timeout), and forgets a name once nobody holds or waits for it. The PostgreSQL store
puts it in front of its advisory locks, so that one process waits on the database with one
connection per name however many of its tasks want that name.

``MemoryLeases`` is the SQLite store's lease table: one process owns an SQLite file (an
flock says so), so every holder is in this process and a dict is the whole truth. It is
forgotten on restart, which a restarted process wants anyway (it is the only candidate).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from porch_embedded.errors import BadRequest, Conflict

__all__ = ["MemoryLeases", "NamedLocks", "check_lease_args", "check_lock_args", "lock_timed_out"]


def check_lease_args(name: str, holder: str, ttl_s: float | None = None) -> None:
    """BadRequest for an empty lease name or holder, or a ttl that is not a positive number."""
    if not name or not isinstance(name, str):
        raise BadRequest("a lease needs a non-empty name")
    if not holder or not isinstance(holder, str):
        raise BadRequest(f"lease {name!r}: the holder must be a non-empty string (e.g. the pod name)")
    if ttl_s is not None and not (isinstance(ttl_s, (int, float)) and math.isfinite(ttl_s) and ttl_s > 0):
        raise BadRequest(f"lease {name!r}: ttl_s must be a positive number of seconds, not {ttl_s!r}")


def check_lock_args(name: str, timeout_s: float) -> None:
    """BadRequest for an empty lock name or a negative or non-finite timeout."""
    if not name or not isinstance(name, str):
        raise BadRequest("a lock needs a non-empty name")
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s >= 0):
        raise BadRequest(f"lock {name!r}: timeout_s must be a number of seconds >= 0, not {timeout_s!r}")


def lock_timed_out(name: str, timeout_s: float) -> Conflict:
    """The Conflict a waiter gets when another writer kept ``name`` longer than it would wait."""
    return Conflict(
        f"timed out after {timeout_s:g}s waiting for the lock {name!r}: another writer holds it "
        "(perhaps in another replica); retry the request",
        retry_after_s=1,
    )


@dataclass
class _Entry:
    lock: trio.Lock = field(default_factory=trio.Lock)
    users: int = 0


class NamedLocks:
    """One ``trio.Lock`` per name, made on first use and dropped when unused."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    @asynccontextmanager
    async def hold(self, name: str, timeout_s: float) -> AsyncIterator[None]:
        """Hold ``name`` in this process; Conflict after waiting ``timeout_s`` seconds."""
        entry = self._entries.setdefault(name, _Entry())
        entry.users += 1
        try:
            try:
                entry.lock.acquire_nowait()  # a free lock is taken even with timeout_s=0
                await trio.lowlevel.checkpoint()
            except trio.WouldBlock:
                with trio.move_on_after(timeout_s) as waiting:
                    await entry.lock.acquire()
                if waiting.cancelled_caught:
                    raise lock_timed_out(name, timeout_s) from None
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if not entry.users:
                del self._entries[name]

    def __len__(self) -> int:
        """How many names are held or waited for (for tests: nothing leaks)."""
        return len(self._entries)


@dataclass
class _Lease:
    holder: str
    expires: float  # trio.current_time()


class MemoryLeases:
    """Leases with the Store protocol's semantics, for a store that is one process."""

    def __init__(self) -> None:
        self._leases: dict[str, _Lease] = {}

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        check_lease_args(name, holder, ttl_s)
        await trio.lowlevel.checkpoint()
        now = trio.current_time()
        lease = self._leases.get(name)
        if lease is not None and lease.holder != holder and lease.expires > now:
            return False
        self._leases[name] = _Lease(holder, now + ttl_s)
        return True

    async def release(self, name: str, holder: str) -> None:
        check_lease_args(name, holder)
        await trio.lowlevel.checkpoint()
        lease = self._leases.get(name)
        if lease is not None and lease.holder == holder:
            del self._leases[name]
