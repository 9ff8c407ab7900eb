"""Leases and named locks for replicas that share one PostgreSQL store.

Leases are rows of ``porch_leases``, taken or renewed by one conditional upsert that
compares with the database's clock, so the replicas' own clocks never matter.

``lock(name)`` queues this process's tasks on a trio lock per name (``NamedLocks``), then
holds a session advisory lock on a connection of a small pool of its own for the duration.
If the process dies or its connection breaks, the session ends and PostgreSQL releases
the lock, so the other replicas go on. The wait is done in short slices of
``pg_advisory_lock`` under ``lock_timeout``: the database wakes the next waiter as soon
as the lock is free, a wait is bounded by the caller's timeout and cancellable within a
slice, and no worker thread is held for long. Session advisory locks do not survive
transaction-pooling proxies (PgBouncer in transaction mode): connect directly, or
through session pooling.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import psycopg
import trio
from psycopg_pool import ConnectionPool

from porch_embedded.store._locks import NamedLocks, check_lease_args, check_lock_args, lock_timed_out
from porch_embedded.store._protocol import DEFAULT_LOCK_TIMEOUT_S

__all__ = ["PostgresCoordination", "lock_key"]

_log = logging.getLogger(__name__)
T = TypeVar("T")
Thread = Callable[[Callable[[], T], str], Awaitable[T]]

LOCK_POOL_SIZE = 16
LOCK_WAIT_SLICE_S = 0.25
# Server-side keepalives for lock sessions: a replica whose host vanishes without a FIN
# must not keep its locks for the kernel's default two hours.
LOCK_SESSION_OPTIONS = "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"

_ACQUIRE_LEASE = """
INSERT INTO porch_leases AS l (name, holder, acquired_at, renewed_at, expires_at)
VALUES (%(name)s, %(holder)s, clock_timestamp(), clock_timestamp(),
        clock_timestamp() + make_interval(secs => %(ttl)s))
ON CONFLICT (name) DO UPDATE SET
    holder = excluded.holder,
    renewed_at = excluded.renewed_at,
    expires_at = excluded.expires_at,
    acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE excluded.acquired_at END,
    transitions = l.transitions + (l.holder <> excluded.holder)::int
WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
RETURNING holder
"""


def lock_key(name: str) -> tuple[int, int]:
    """The two-int4 advisory lock key of a lock name (a 64-bit hash of it).

    PostgreSQL keeps two-int4 keys apart from the single-bigint ones the store uses for
    its own writes. Distinct names that hash alike only share a lock: more waiting, never
    less safety.
    """
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"porch-lock").digest()
    return (int.from_bytes(digest[:4], "big", signed=True),
            int.from_bytes(digest[4:], "big", signed=True))


def _unlock_all_blocking(conn: psycopg.Connection) -> None:
    """The lock pool's reset: a connection goes back holding no advisory lock."""
    conn.execute("SELECT pg_advisory_unlock_all()")


def _advisory_lock_blocking(conn: psycopg.Connection, key: tuple[int, int], wait_s: float) -> bool:
    """Try to take the advisory lock ``key`` on ``conn``, waiting at most ``wait_s`` seconds."""
    if conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0]:  # type: ignore[index]
        return True
    if wait_s <= 0:
        return False
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{max(1, int(wait_s * 1000))}ms",))
    try:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", key)
    except psycopg.errors.LockNotAvailable:
        return False
    return True


class PostgresCoordination:
    """The PostgresStore's leases (on its pool) and named locks (on a pool of their own)."""

    def __init__(
        self,
        url: str,
        connection_kwargs: dict[str, Any],
        pool: ConnectionPool,
        thread: Thread[Any],
        errors: Callable[[str], AbstractContextManager[None]],
        pool_timeout: float,
    ) -> None:
        """``thread`` runs a blocking call on the store's limiter with its error translation;
        ``errors(what)`` is that translation (psycopg errors to StoreUnavailable)."""
        self._pool = pool
        self._thread = thread
        self._errors = errors
        kwargs = dict(connection_kwargs)
        kwargs["options"] = f"{kwargs.get('options', '')} {LOCK_SESSION_OPTIONS}".strip()
        self._lock_pool = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=0,
            max_size=LOCK_POOL_SIZE,
            open=False,
            timeout=pool_timeout,
            check=ConnectionPool.check_connection,
            reset=_unlock_all_blocking,
            name="porch-embedded-locks",
        )
        self._lock_limiter = trio.CapacityLimiter(LOCK_POOL_SIZE)
        self._local_locks = NamedLocks()

    def open_blocking(self) -> None:
        self._lock_pool.open(wait=False)  # min_size 0: connections are made on first use

    def close_blocking(self) -> None:
        self._lock_pool.close()

    # -- leases ------------------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew ``name`` for ``holder`` (see the Store protocol).

        One upsert decides atomically: insert a new lease, or update one that this holder
        has or that has expired by the database's clock; a row comes back only if
        ``holder`` now has the lease. ``transitions`` counts changes of holder.
        """
        check_lease_args(name, holder, ttl_s)

        def acquire_blocking() -> bool:
            with self._pool.connection() as conn:
                row = conn.execute(
                    _ACQUIRE_LEASE, {"name": name, "holder": holder, "ttl": float(ttl_s)}).fetchone()
            return row is not None

        held: bool = await self._thread(acquire_blocking, f"take the lease {name!r}")
        return held

    async def release_lease(self, name: str, holder: str) -> None:
        """Give ``name`` up if ``holder`` has it: it expires now (its row keeps the history)."""
        check_lease_args(name, holder)

        def release_blocking() -> None:
            with self._pool.connection() as conn:
                conn.execute(
                    "UPDATE porch_leases SET expires_at = clock_timestamp() "
                    "WHERE name = %s AND holder = %s AND expires_at > clock_timestamp()",
                    (name, holder),
                )

        await self._thread(release_blocking, f"release the lease {name!r}")

    # -- named locks -------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, name: str, *, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> AsyncIterator[None]:
        """Hold ``name`` across every process on this database (see the Store protocol).

        Raises Conflict after ``timeout_s`` of waiting, StoreUnavailable if the database
        fails. Exit never raises for a lost connection: the lock went with the session,
        which is logged, and the work done under it stands or falls by its own checks.
        """
        check_lock_args(name, timeout_s)
        deadline = trio.current_time() + timeout_s
        key = lock_key(name)
        async with self._local_locks.hold(name, timeout_s):
            conn = await self._lock_thread(self._lock_pool.getconn, f"get a connection for lock {name!r}")
            held = False
            try:
                while not held:
                    remaining = deadline - trio.current_time()
                    held = await self._lock_thread(
                        partial(_advisory_lock_blocking, conn, key, min(remaining, LOCK_WAIT_SLICE_S)),
                        f"take the lock {name!r}")
                    if not held and remaining <= LOCK_WAIT_SLICE_S:
                        raise lock_timed_out(name, timeout_s)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self._put_back_blocking, conn, key, held, name)
                raise
            try:
                yield
            finally:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self._put_back_blocking, conn, key, True, name)

    async def _lock_thread(self, fn: Callable[[], T], what: str) -> T:
        def guarded() -> T:
            with self._errors(what):
                return fn()

        return await trio.to_thread.run_sync(guarded, limiter=self._lock_limiter)

    def _put_back_blocking(self, conn: psycopg.Connection, key: tuple[int, int], held: bool, name: str) -> None:
        """Unlock (if held) and give the connection back; a broken one is discarded."""
        try:
            if held and not conn.execute("SELECT pg_advisory_unlock(%s, %s)", key).fetchone()[0]:  # type: ignore[index]
                _log.warning("lock %r was no longer held by its session at release", name)
        except psycopg.Error as exc:
            _log.warning("lock %r: its connection failed (%s), so the database released it "
                         "with the session", name, type(exc).__name__)
            conn.close()
        finally:
            self._lock_pool.putconn(conn)
