"""The SQLite store: one file, one writer connection, a few WAL readers, in-process watch.

Every sqlite call runs in a worker thread (``trio.to_thread.run_sync``): writes on one
connection behind a ``trio.Lock`` (SQLite has one writer anyway; queuing in trio keeps
threads free), reads on a small pool of connections that WAL lets run beside the writer.
A change's object row, its event row and the counter move in one transaction, shielded
from the caller's cancellation so that an acknowledged write is whole and an abandoned
one is not half-made. Watchers are served from memory (``EventFanout``) and read the
events table only to catch up. One process owns the file (an advisory lock says so),
so leases and named locks live in memory (``_locks``) with the protocol's semantics.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio

from porch_embedded import metrics
from porch_embedded.errors import BadRequest, StoreUnavailable
from porch_embedded.store._bodies import Body, encoded_items, stamp
from porch_embedded.store._changes import ChangeShortcuts, StoredRow, check_change
from porch_embedded.store._fanout import EventFanout, LoggedEvent, WatchStream
from porch_embedded.store._locks import MemoryLeases, NamedLocks, check_lock_args
from porch_embedded.store._messages import expired, not_found
from porch_embedded.store._paging import ContinueToken, after_token
from porch_embedded.store._protocol import (
    DEFAULT_LOCK_TIMEOUT_S,
    Change,
    EncodedListPage,
    ListPage,
    ListQuery,
    WatchEvent,
    WatchQuery,
)
from porch_embedded.store._index_keys import INDEXED_RESOURCES, key_rows
from porch_embedded.store._sealing import Sealer
from porch_embedded.store._sqlite_query import compile_list_filter
from porch_embedded.store._sqlite_schema import connect_blocking, open_writer_blocking

__all__ = ["SqliteStore", "open_sqlite_store"]

_log = logging.getLogger(__name__)

READERS = 4
RING_CAPACITY = 4096
T = TypeVar("T")


@contextmanager
def _sqlite_errors(what: str) -> Iterator[None]:
    """Translate sqlite3 failures (disk full, I/O error, corruption) into StoreUnavailable."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"the SQLite store failed to {what}: {type(exc).__name__}: {exc}") from exc


@asynccontextmanager
async def open_sqlite_store(
    path: Path,
    *,
    encryption_key: bytes,
    sealed_fields: Mapping[str, Sequence[str]],
    event_retention: int,
) -> AsyncIterator[SqliteStore]:
    """Open the store in the SQLite file at ``path`` (created if missing) for this process.

    Raises StoreUnavailable if the file is in use by another process, was written by a
    newer schema, is not a store, or was sealed with another ``encryption_key``; BadRequest
    if the key is not a Fernet key. ``event_retention`` events are kept for watch resumption;
    older ones are compacted in batches (about a tenth of it at a time).
    """
    if event_retention < 1:
        raise BadRequest(f"event_retention must be at least 1, not {event_retention}")
    sealer = Sealer(encryption_key, sealed_fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = await trio.to_thread.run_sync(_lock_file_blocking, path)
    try:
        state = await trio.to_thread.run_sync(open_writer_blocking, path, sealer)
        store = SqliteStore(path, sealer, state.writer, state.resource_version, state.events_floor,
                            event_retention)
        try:
            await trio.to_thread.run_sync(store._open_readers_blocking)
            yield store
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(store._close_blocking)
    finally:
        os.close(lock_fd)


def _lock_file_blocking(path: Path) -> int:
    """Hold an exclusive advisory lock on ``<path>.lock`` for the life of the store.

    Two processes on one file would each keep their own watch ring and miss each other's
    events; refuse that early. The kernel drops the lock when the process dies.
    """
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreUnavailable(
            f"the store file {path} is in use by another porch-embedded process: stop it, or "
            "use PostgreSQL for several processes"
        ) from None
    return fd


class SqliteStore(ChangeShortcuts):
    """The Store protocol over one SQLite file. Make one with ``open_sqlite_store``."""

    def __init__(
        self,
        path: Path,
        sealer: Sealer,
        writer: sqlite3.Connection,
        resource_version: int,
        events_floor: int,
        event_retention: int,
    ) -> None:
        self._path = path
        self._sealer = sealer
        self._writer = writer
        self._write_lock = trio.Lock()
        self._rv = resource_version  # written only by the writer thread, under the lock
        self._floor = events_floor  # the newest compacted-away event's rv
        self._retention = event_retention
        self._compact_slack = max(1, event_retention // 10)
        self._fanout = EventFanout(floor=resource_version, capacity=RING_CAPACITY)
        self._readers: list[sqlite3.Connection] = []
        self._pool_send, self._pool_receive = trio.open_memory_channel[sqlite3.Connection](READERS)
        self._leases = MemoryLeases()
        self._locks = NamedLocks()

    # -- lifecycle ---------------------------------------------------------------------

    def _open_readers_blocking(self) -> None:
        with _sqlite_errors("open reader connections"):
            for _ in range(READERS):
                conn = connect_blocking(self._path)
                conn.execute("PRAGMA query_only = 1")
                self._readers.append(conn)
                self._pool_send.send_nowait(conn)

    def _close_blocking(self) -> None:
        for conn in [*self._readers, self._writer]:
            try:
                conn.close()
            except sqlite3.Error:
                pass  # closing is best effort; the WAL keeps every commit

    # -- plumbing ----------------------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        """Run ``fn`` in one read transaction on a pooled reader connection."""
        conn = await self._pool_receive.receive()
        try:
            return await trio.to_thread.run_sync(self._read_blocking, fn, conn, what)
        finally:
            self._pool_send.send_nowait(conn)

    @staticmethod
    def _read_blocking(fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, what: str) -> T:
        with _sqlite_errors(what):
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

    def _decode(self, body: str, sealed: str | None) -> Body:
        decoded: Body = json.loads(body)
        return self._sealer.unseal(decoded, sealed)

    # -- writes ------------------------------------------------------------------------

    @metrics.timed_calls(metrics.STORE_SECONDS, store="sqlite", operation="apply")
    async def apply(self, changes: Sequence[Change]) -> list[Body]:
        """Apply all changes in one transaction, or none (see the Store protocol)."""
        changes = list(changes)
        if not changes:
            await trio.lowlevel.checkpoint()
            return []
        async with self._write_lock:
            # Shielded: once the transaction starts, the caller hanging up must not leave
            # a commit that watchers never hear of.
            with trio.CancelScope(shield=True):
                results, logged = await trio.to_thread.run_sync(self._apply_blocking, changes)
                self._fanout.publish(logged)
                if self._rv - self._floor > self._retention + self._compact_slack:
                    await self._compact_after_write()
        return results

    async def _compact_after_write(self) -> None:
        """Trim the log to ``event_retention`` once it is a tenth over (amortised).

        A failure here must not turn a committed write into an error: the next write
        tries again.
        """
        try:
            await trio.to_thread.run_sync(self._compact_with_errors, self._retention)
        except StoreUnavailable as exc:
            _log.warning("automatic compaction of the watch log failed: %s", exc.message)

    def _apply_blocking(self, changes: list[Change]) -> tuple[list[Body], list[LoggedEvent]]:
        conn = self._writer
        with _sqlite_errors("write"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                rv = int(conn.execute(
                    "SELECT value FROM meta WHERE key = 'resource_version'").fetchone()[0])
                results: list[Body] = []
                logged: list[LoggedEvent] = []
                for change in changes:
                    rv += 1
                    body, event = self._change_blocking(conn, change, rv)
                    results.append(body)
                    logged.append(event)
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'resource_version'", (str(rv),))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._rv = rv
        return results, logged

    def _change_blocking(
        self, conn: sqlite3.Connection, change: Change, rv: int
    ) -> tuple[Body, LoggedEvent]:
        resource = change.resource

        def lookup(resource: str, namespace: str, name: str, with_body: bool) -> StoredRow | None:
            row = conn.execute(
                "SELECT rv, body, sealed FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                (resource, namespace, name),
            ).fetchone()
            if row is None:
                return None
            return StoredRow(int(row[0]), self._decode(row[1], row[2]) if with_body else None)

        checked = check_change(change, lookup)
        namespace, name, body, kind = checked.namespace, checked.name, checked.body, checked.kind
        if kind == "DELETED":
            conn.execute(
                "DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                (resource, namespace, name),
            )
        stamp(body, rv)
        public, sealed = self._sealer.seal(resource, body)
        public_json = json.dumps(public, separators=(",", ":"))
        if kind != "DELETED":
            conn.execute(
                "INSERT OR REPLACE INTO objects (resource, namespace, name, rv, body, sealed) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (resource, namespace, name, rv, public_json, sealed),
            )
        conn.execute(
            "INSERT INTO events (rv, resource, namespace, name, type, body, sealed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rv, resource, namespace, name, kind, public_json, sealed),
        )
        if resource in INDEXED_RESOURCES:
            conn.execute("DELETE FROM object_keys WHERE resource = ? AND namespace = ? AND name = ?",
                         (resource, namespace, name))
            conn.executemany(
                "INSERT INTO object_keys (resource, namespace, key, name) VALUES (?, ?, ?, ?)",
                key_rows(resource, namespace, name, None if kind == "DELETED" else body),
            )
        full_json = public_json if sealed is None else json.dumps(body, separators=(",", ":"))
        return body, LoggedEvent(rv, resource, namespace, kind, full_json)  # type: ignore[arg-type]

    async def compact(self, *, keep: int) -> int:
        """Drop all but the newest ``keep`` events; return the oldest rv a watch can still get.

        That is the compaction floor + 1: a watch from ``since >= floor`` resumes, an older
        one gets Expired.
        """
        if keep < 0:
            raise BadRequest(f"compact keep must be >= 0, not {keep}")
        async with self._write_lock:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._compact_with_errors, keep)
        return self._floor + 1

    def _compact_with_errors(self, keep: int) -> None:
        with _sqlite_errors("compact the event log"):
            self._compact_blocking(keep)

    def _compact_blocking(self, keep: int) -> None:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT rv FROM events ORDER BY rv DESC LIMIT 1 OFFSET ?", (keep,)
            ).fetchone()
            floor = self._floor if row is None else max(self._floor, int(row[0]))
            conn.execute("DELETE FROM events WHERE rv <= ?", (floor,))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'events_floor'", (str(floor),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._floor = floor

    # -- reads -------------------------------------------------------------------------

    @metrics.timed_calls(metrics.STORE_SECONDS, store="sqlite", operation="get")
    async def get(self, resource: str, namespace: str, name: str) -> Body:
        def get_blocking(conn: sqlite3.Connection) -> tuple[str, str | None] | None:
            return conn.execute(
                "SELECT body, sealed FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                (resource, namespace, name),
            ).fetchone()

        row = await self._read(get_blocking, "read an object")
        if row is None:
            raise not_found(resource, name)
        return self._decode(*row)

    @metrics.timed_calls(metrics.STORE_SECONDS, store="sqlite", operation="list")
    async def indexed(self, resource: str, namespace: str, key: str) -> list[Body]:
        """The ``resource`` objects in ``namespace`` with the index key ``key``, ordered by name."""
        def indexed_blocking(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT o.body, o.sealed FROM object_keys k JOIN objects o ON o.resource = k.resource "
                "AND o.namespace = k.namespace AND o.name = k.name "
                "WHERE k.resource = ? AND k.namespace = ? AND k.key = ? ORDER BY k.name",
                (resource, namespace, key),
            ).fetchall()

        rows = await self._read(indexed_blocking, "read indexed objects")
        return [self._decode(body, sealed) for body, sealed in rows]

    async def list(self, query: ListQuery) -> ListPage:
        """Items ordered by (namespace, name), filtered by selectors compiled to SQL."""
        rows, list_rv, next_token, remaining = await self._list_rows(query)
        return ListPage([self._decode(body, sealed) for body, sealed in rows], list_rv, next_token, remaining)

    @metrics.timed_calls(metrics.STORE_SECONDS, store="sqlite", operation="list")
    async def list_encoded(self, query: ListQuery) -> EncodedListPage:
        """``list`` with each item's JSON text; only rows with sealed fields are decoded (to open them)."""
        rows, list_rv, next_token, remaining = await self._list_rows(query)
        return EncodedListPage(encoded_items(rows, self._decode), list_rv, next_token, remaining)

    async def _list_rows(self, query: ListQuery) -> tuple[list[tuple[str, str | None]], int, str, int]:
        """One page of (body, sealed) rows in key order: keyset paging on the primary key's index.

        A page costs its own rows whatever the table's size: the continue token names the
        last (namespace, name) seen and the next page seeks past it. The count of what
        follows walks the index only (no bodies).
        """
        if query.limit < 0:
            raise BadRequest(f"limit must not be negative, not {query.limit}")
        where, params = compile_list_filter(query)
        token = ContinueToken.decode(query.continue_token, query.resource) if query.continue_token else None
        if token is not None:
            after, after_params = after_token(token, query.namespace, "?")
            where += f" AND {after}"
            params += after_params
        select = f"SELECT o.namespace, o.name, o.body, o.sealed FROM objects o WHERE {where} " \
                 "ORDER BY o.namespace, o.name"

        def list_blocking(conn: sqlite3.Connection) -> tuple[int, list[Any], int]:
            rv = int(conn.execute(
                "SELECT value FROM meta WHERE key = 'resource_version'").fetchone()[0])
            if not query.limit:
                return rv, conn.execute(select, params).fetchall(), 0
            # One row more than asked shows whether another page follows (within the int64 LIMIT takes).
            rows = conn.execute(select + " LIMIT ?", [*params, min(query.limit + 1, 2**63 - 1)]).fetchall()
            if len(rows) <= query.limit:
                return rv, rows, 0
            rows = rows[: query.limit]
            last = ContinueToken(query.resource, 0, rows[-1][0], rows[-1][1])
            rest, rest_params = after_token(last, query.namespace, "?")
            count = f"SELECT COUNT(*) FROM objects o WHERE {where} AND {rest}"
            remaining = conn.execute(count, [*params, *rest_params]).fetchone()[0]
            return rv, rows, int(remaining)

        rv, rows, remaining = await self._read(list_blocking, "list objects")
        list_rv = token.resource_version if token is not None else rv
        next_token = ""
        if remaining:
            next_token = ContinueToken(query.resource, list_rv, rows[-1][0], rows[-1][1]).encode()
        return [(body, sealed) for _, _, body, sealed in rows], list_rv, next_token, remaining

    @asynccontextmanager
    async def watch(self, query: WatchQuery) -> AsyncIterator[AsyncIterator[WatchEvent]]:
        """Events after ``query.since`` in rv order; Expired if ``since`` was compacted away."""
        await trio.lowlevel.checkpoint()
        if query.since < self._floor:
            raise expired(query.since, self._floor)
        yield WatchStream(self._fanout, self, query, query.since)

    async def read_events(
        self, query: WatchQuery, after: int, upto: int, limit: int
    ) -> tuple[list[LoggedEvent], int]:
        """The EventSource side of watch: a catch-up batch from the events table."""
        sql = ("SELECT rv, resource, namespace, type, body, sealed FROM events "
               "WHERE rv > ? AND rv <= ? AND resource = ?")
        params: list[Any] = [after, upto, query.resource]
        if query.namespace:
            sql += " AND namespace = ?"
            params.append(query.namespace)
        sql += " ORDER BY rv LIMIT ?"
        params.append(limit)

        def events_blocking(conn: sqlite3.Connection) -> tuple[list[Any], int]:
            floor = int(conn.execute(
                "SELECT value FROM meta WHERE key = 'events_floor'").fetchone()[0])
            return conn.execute(sql, params).fetchall(), floor

        rows, floor = await self._read(events_blocking, "read watch events")
        events = [
            LoggedEvent(
                rv, resource, namespace, kind,
                body if sealed is None
                else json.dumps(self._decode(body, sealed), separators=(",", ":")),
            )
            for rv, resource, namespace, kind, body, sealed in rows
        ]
        return events, floor

    async def resource_version(self) -> int:
        await trio.lowlevel.checkpoint()
        return self._rv

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone(), "answer a ping")

    # -- leases and locks (one process: in memory) ---------------------------------------

    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew ``name`` for ``holder`` (see the Store protocol); trio's clock."""
        return await self._leases.acquire(name, holder, ttl_s)

    async def release_lease(self, name: str, holder: str) -> None:
        await self._leases.release(name, holder)

    @asynccontextmanager
    async def lock(self, name: str, *, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> AsyncIterator[None]:
        """Hold ``name`` (see the Store protocol): this process is every writer there is."""
        check_lock_args(name, timeout_s)
        async with self._locks.hold(name, timeout_s):
            yield

    def __repr__(self) -> str:
        return f"SqliteStore({str(self._path)!r})"

