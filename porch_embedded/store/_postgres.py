"""The PostgreSQL store: several processes share one database and one resourceVersion.

psycopg 3's sync API with a ``psycopg_pool.ConnectionPool``; every call runs in a worker
thread behind a ``trio.CapacityLimiter`` the size of the pool (async psycopg needs an
asyncio loop, which trio does not have). The counter is the sequence ``porch_rv``;
writers take a transaction-scoped advisory lock before drawing from it, so transactions
commit in resourceVersion order and "every event above N" is always a prefix of the log.

Watch across processes: each commit NOTIFYs ``porch_events``. One listener connection
per store wakes one poller task, which reads the events table after the newest event it
has published and feeds the in-process ring (``EventFanout``); a timer poll covers lost
notifications, and after a reconnect the same read catches up, so nothing is lost or
delivered twice. Connection failures raise StoreUnavailable; connect, statement and
lock timeouts plus TCP keepalives make sure nothing waits forever. Passwords are passed
to libpq out of band and scrubbed from every message.

Replicas' leases and named locks are in ``_postgres_coordination``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from functools import partial
from typing import Any, TypeVar

import psycopg
import trio
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from porch_embedded import metrics
from porch_embedded.errors import BadRequest, StatusError, StoreUnavailable
from porch_embedded.store._bodies import Body, encoded_items, stamp
from porch_embedded.store._changes import ChangeShortcuts, StoredRow, check_change
from porch_embedded.store._fanout import EventFanout, LoggedEvent, WatchStream
from porch_embedded.store._messages import expired, not_found
from porch_embedded.store._paging import ContinueToken, after_token
from porch_embedded.store._postgres_coordination import PostgresCoordination
from porch_embedded.store._postgres_query import compile_list_filter
from porch_embedded.store._postgres_schema import WRITE_LOCK, migrate_blocking
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

__all__ = ["PostgresStore", "open_postgres_store"]

_log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL = "porch_events"
RING_CAPACITY = 4096
POLL_INTERVAL_S = 1.0
RECONNECT_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)
POLL_BATCH = 1000
CONNECT_TIMEOUT_S = 5
TCP_USER_TIMEOUT_MS = 30_000
"""Unacknowledged data on a connection for this long (a silent network partition) drops it."""
POOL_TIMEOUT_S = 10.0
def _connection_kwargs(url: str, password: str | None, application_name: str) -> dict[str, Any]:
    """libpq settings that bound every wait; the URL's own ``options`` (e.g. a
    search_path) are kept, with our timeouts added after them."""
    options = ("-c statement_timeout=30000 -c lock_timeout=10000 "
               "-c idle_in_transaction_session_timeout=60000")
    url_options = conninfo_to_dict(url).get("options")
    if url_options:
        options = f"{url_options} {options}"
    kwargs: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": application_name,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "options": options,
        "autocommit": True,
    }
    if password is not None:
        kwargs["password"] = password
    return kwargs


class _Target:
    """Where the database is, for messages: host, port and database, never credentials."""

    def __init__(self, url: str, password: str | None) -> None:
        try:
            parts = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise BadRequest("the PostgreSQL store URL cannot be parsed: check its syntax") from exc
        self.secrets = [s for s in (password, parts.get("password")) if s]
        self.where = (
            f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/"
            f"{parts.get('dbname') or parts.get('user') or ''}"
        )

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(str(secret), "***")
        return text


@asynccontextmanager
async def open_postgres_store(
    url: str,
    *,
    password: str | None,
    encryption_key: bytes,
    sealed_fields: Mapping[str, Sequence[str]],
    event_retention: int,
    pool_size: int = 8,
    pool_timeout: float = POOL_TIMEOUT_S,
) -> AsyncIterator[PostgresStore]:
    """Open the store in the PostgreSQL database named by ``url`` (``postgresql://...``).

    ``password`` (if not None) is given to libpq apart from the URL and never appears in a
    message. Raises StoreUnavailable when the server cannot be reached or the schema is
    newer or sealed with another key; BadRequest for a malformed URL or key. A call
    that cannot get a working connection within ``pool_timeout`` seconds raises
    StoreUnavailable; each pooled connection is checked before use, so a database
    restart costs no failed calls once the server is back.
    """
    if event_retention < 1:
        raise BadRequest(f"event_retention must be at least 1, not {event_retention}")
    sealer = Sealer(encryption_key, sealed_fields)
    target = _Target(url, password)
    store = PostgresStore(url, password, target, sealer, event_retention, pool_size, pool_timeout)
    try:
        await store._thread(store._open_blocking, "open the store")
        async with trio.open_nursery() as nursery:
            await nursery.start(store._run_listener)
            nursery.start_soon(store._run_poller)
            try:
                yield store
            finally:
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(store._coordination.close_blocking)
            await trio.to_thread.run_sync(store._pool.close)


class PostgresStore(ChangeShortcuts):
    """The Store protocol over one PostgreSQL database. Make one with ``open_postgres_store``."""

    def __init__(
        self,
        url: str,
        password: str | None,
        target: _Target,
        sealer: Sealer,
        event_retention: int,
        pool_size: int,
        pool_timeout: float,
    ) -> None:
        self._url = url
        self._password = password
        self._target = target
        self._sealer = sealer
        self._retention = event_retention
        self._compact_every = max(1, event_retention // 10)
        self._writes_since_compact = 0
        self._pool = ConnectionPool(
            url,
            kwargs=_connection_kwargs(url, password, "porch-embedded"),
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=pool_timeout,
            check=ConnectionPool.check_connection,
            name="porch-embedded-store",
        )
        self._pool_timeout = pool_timeout
        self._limiter = trio.CapacityLimiter(pool_size)
        self._coordination = PostgresCoordination(
            url, _connection_kwargs(url, password, "porch-embedded-lock"), self._pool, self._thread,
            self._errors, pool_timeout)
        self._write_lock = trio.Lock()
        self._fanout = EventFanout(floor=0, capacity=RING_CAPACITY)
        self._wake_poller = trio.Event()

    # -- plumbing ----------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate psycopg failures into StoreUnavailable, without credentials."""
        try:
            yield
        except StatusError:
            raise
        except psycopg.Error as exc:
            detail = self._target.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            hint = "; check that PostgreSQL runs there and accepts this user, password and database" \
                if isinstance(exc, psycopg.OperationalError) else ""
            raise StoreUnavailable(
                f"the PostgreSQL store at {self._target.where} failed to {what}: "
                f"{type(exc).__name__}: {detail}{hint}"
            ) from None if self._target.secrets else exc

    async def _thread(self, fn: Callable[[], T], what: str, *, abandon_on_cancel: bool = False) -> T:
        def guarded() -> T:
            with self._errors(what):
                return fn()

        return await trio.to_thread.run_sync(guarded, limiter=self._limiter, abandon_on_cancel=abandon_on_cancel)

    def _read_tx(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """Run ``fn`` in one REPEATABLE READ, READ ONLY transaction (one snapshot)."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return fn(conn)

    def _decode(self, body: str, sealed: str | None) -> Body:
        decoded: Body = json.loads(body)
        return self._sealer.unseal(decoded, sealed)

    def _open_blocking(self) -> None:
        with psycopg.Connection.connect(
            self._url, **_connection_kwargs(self._url, self._password, "porch-embedded-migrate")
        ) as conn:
            migrate_blocking(conn, self._sealer, self._target.where)
            row = conn.execute(
                "SELECT value FROM porch_meta WHERE key = 'resource_version'").fetchone()
        self._fanout = EventFanout(floor=int(row[0]) if row else 0, capacity=RING_CAPACITY)
        self._pool.open(wait=True, timeout=self._pool_timeout)
        self._coordination.open_blocking()

    # -- background: listen and poll ---------------------------------------------------

    async def _run_listener(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold a LISTEN connection; on every notification (and reconnect) wake the poller."""
        failures = 0
        while True:
            conn: psycopg.Connection | None = None
            try:
                conn = await self._thread(self._listen_blocking, "listen for changes")
                failures = 0
                self._wake_poller.set()  # whatever happened while we were away
                task_status.started()
                task_status = trio.TASK_STATUS_IGNORED
                while True:
                    await trio.lowlevel.wait_readable(conn.pgconn.socket)
                    await self._thread(partial(self._drain_blocking, conn), "receive notifications")
                    self._wake_poller.set()
            except (StoreUnavailable, psycopg.Error, OSError) as exc:
                if task_status is not trio.TASK_STATUS_IGNORED:
                    raise  # the first connection failed: opening the store fails
                delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                failures += 1
                _log.warning("store listener lost its connection (retrying in %ss): %s",
                             delay, getattr(exc, "message", type(exc).__name__))
                await trio.sleep(delay)
            finally:
                if conn is not None:
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(conn.close)

    def _listen_blocking(self) -> psycopg.Connection:
        conn = psycopg.Connection.connect(
            self._url, **_connection_kwargs(self._url, self._password, "porch-embedded-listen")
        )
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _drain_blocking(conn: psycopg.Connection) -> None:
        if not list(conn.notifies(timeout=0)):
            # Readable without a notification: often the server hanging up. Probe, so a
            # dead connection raises instead of waking us forever.
            conn.execute("SELECT 1")

    async def _run_poller(self) -> None:
        """Publish new events from the table to the ring, on wake-ups and on a timer."""
        while True:
            with trio.move_on_after(POLL_INTERVAL_S):
                await self._wake_poller.wait()
            self._wake_poller = trio.Event()
            try:
                await self._publish_new_events()
            except StoreUnavailable as exc:
                _log.warning("store poller cannot read new events: %s", exc.message)

    async def _publish_new_events(self) -> None:
        while True:
            after = self._fanout.newest

            def new_blocking(conn: psycopg.Connection) -> tuple[int, list[Any]]:
                floor = int(conn.execute(
                    "SELECT value FROM porch_meta WHERE key = 'events_floor'").fetchone()[0])
                rows = conn.execute(
                    "SELECT rv, resource, namespace, type, body::text, sealed FROM porch_events "
                    "WHERE rv > %s ORDER BY rv LIMIT %s", (after, POLL_BATCH)).fetchall()
                return floor, rows

            floor, rows = await self._thread(partial(self._read_tx, new_blocking), "read new events")
            if floor > after:
                # We were away so long that events we never saw were compacted: watchers
                # that still need them get Expired from the table read.
                self._fanout.reset(floor)
                continue
            self._fanout.publish([self._logged(row) for row in rows])
            if len(rows) < POLL_BATCH:
                return

    def _logged(self, row: tuple[Any, ...]) -> LoggedEvent:
        rv, resource, namespace, kind, body, sealed = row
        if sealed is not None:
            body = json.dumps(self._decode(body, sealed), separators=(",", ":"))
        return LoggedEvent(int(rv), resource, namespace, kind, body)

    # -- writes ------------------------------------------------------------------------

    @metrics.timed_calls(metrics.STORE_SECONDS, store="postgresql", operation="apply")
    async def apply(self, changes: Sequence[Change]) -> list[Body]:
        """Apply all changes in one transaction, or none (see the Store protocol)."""
        changes = list(changes)
        if not changes:
            await trio.lowlevel.checkpoint()
            return []
        async with self._write_lock:
            with trio.CancelScope(shield=True):
                results = await self._thread(partial(self._apply_blocking, changes), "write")
                self._wake_poller.set()
                self._writes_since_compact += len(changes)
                if self._writes_since_compact > self._compact_every:
                    self._writes_since_compact = 0
                    try:
                        await self._thread(partial(self._compact_blocking, self._retention),
                                           "compact the event log")
                    except StoreUnavailable as exc:
                        _log.warning("automatic compaction of the watch log failed: %s", exc.message)
        return results

    def _apply_blocking(self, changes: list[Change]) -> list[Body]:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            results = [self._change_blocking(conn, change) for change in changes]
            newest = results[-1]["metadata"]["resourceVersion"]
            conn.execute("UPDATE porch_meta SET value = %s WHERE key = 'resource_version'", (newest,))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, newest))
        return results

    def _change_blocking(self, conn: psycopg.Connection, change: Change) -> Body:
        resource = change.resource

        def lookup(resource: str, namespace: str, name: str, with_body: bool) -> StoredRow | None:
            row = conn.execute(
                "SELECT rv, body::text, sealed FROM porch_objects "
                "WHERE resource = %s AND namespace = %s AND name = %s",
                (resource, namespace, name),
            ).fetchone()
            if row is None:
                return None
            return StoredRow(int(row[0]), self._decode(row[1], row[2]) if with_body else None)

        checked = check_change(change, lookup)
        namespace, name, body, kind = checked.namespace, checked.name, checked.body, checked.kind
        if kind == "DELETED":
            conn.execute(
                "DELETE FROM porch_objects WHERE resource = %s AND namespace = %s AND name = %s",
                (resource, namespace, name),
            )
        rv = int(conn.execute("SELECT nextval('porch_rv')").fetchone()[0])
        stamp(body, rv)
        public, sealed = self._sealer.seal(resource, body)
        public_json = json.dumps(public, separators=(",", ":"))
        if kind != "DELETED":
            conn.execute(
                "INSERT INTO porch_objects (resource, namespace, name, rv, body, sealed) "
                "VALUES (%s, %s, %s, %s, %s::json, %s) ON CONFLICT (resource, namespace, name) "
                "DO UPDATE SET rv = excluded.rv, body = excluded.body, sealed = excluded.sealed",
                (resource, namespace, name, rv, public_json, sealed),
            )
        conn.execute(
            "INSERT INTO porch_events (rv, resource, namespace, name, type, body, sealed) "
            "VALUES (%s, %s, %s, %s, %s, %s::json, %s)",
            (rv, resource, namespace, name, kind, public_json, sealed),
        )
        if resource in INDEXED_RESOURCES:
            conn.execute("DELETE FROM porch_object_keys WHERE resource = %s AND namespace = %s AND name = %s",
                         (resource, namespace, name))
            rows = key_rows(resource, namespace, name, None if kind == "DELETED" else body)
            if rows:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO porch_object_keys (resource, namespace, key, name) VALUES (%s, %s, %s, %s)",
                        rows)
        return body

    async def compact(self, *, keep: int) -> int:
        """Drop all but the newest ``keep`` events; return the oldest rv a watch can still get.

        That is the compaction floor + 1: a watch from ``since >= floor`` resumes.
        """
        if keep < 0:
            raise BadRequest(f"compact keep must be >= 0, not {keep}")
        with trio.CancelScope(shield=True):
            floor = await self._thread(partial(self._compact_blocking, keep), "compact the event log")
        return floor + 1

    def _compact_blocking(self, keep: int) -> int:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            floor = int(conn.execute(
                "SELECT value FROM porch_meta WHERE key = 'events_floor'").fetchone()[0])
            row = conn.execute(
                "SELECT rv FROM porch_events ORDER BY rv DESC OFFSET %s LIMIT 1", (keep,)
            ).fetchone()
            if row is not None and int(row[0]) > floor:
                floor = int(row[0])
                conn.execute("DELETE FROM porch_events WHERE rv <= %s", (floor,))
                conn.execute(
                    "UPDATE porch_meta SET value = %s WHERE key = 'events_floor'", (str(floor),))
        return floor

    # -- reads -------------------------------------------------------------------------

    @metrics.timed_calls(metrics.STORE_SECONDS, store="postgresql", operation="get")
    async def get(self, resource: str, namespace: str, name: str) -> Body:
        def get_blocking() -> Any:
            with self._pool.connection() as conn:
                return conn.execute(
                    "SELECT body::text, sealed FROM porch_objects "
                    "WHERE resource = %s AND namespace = %s AND name = %s",
                    (resource, namespace, name),
                ).fetchone()

        row = await self._thread(get_blocking, "read an object")
        if row is None:
            raise not_found(resource, name)
        return self._decode(*row)

    async def indexed(self, resource: str, namespace: str, key: str) -> list[Body]:
        """The ``resource`` objects in ``namespace`` with the index key ``key``, ordered by name."""
        def indexed_blocking() -> list[Any]:
            with self._pool.connection() as conn:
                return conn.execute(
                    "SELECT o.body::text, o.sealed FROM porch_object_keys k JOIN porch_objects o "
                    "ON o.resource = k.resource AND o.namespace = k.namespace AND o.name = k.name "
                    "WHERE k.resource = %s AND k.namespace = %s AND k.key = %s ORDER BY k.name",
                    (resource, namespace, key),
                ).fetchall()

        rows = await self._thread(indexed_blocking, "read indexed objects")
        return [self._decode(body, sealed) for body, sealed in rows]

    @metrics.timed_calls(metrics.STORE_SECONDS, store="postgresql", operation="list")
    async def list(self, query: ListQuery) -> ListPage:
        """Items ordered by (namespace, name) in byte order, filtered by selectors in SQL."""
        rows, list_rv, next_token, remaining = await self._list_rows(query)
        return ListPage([self._decode(body, sealed) for body, sealed in rows], list_rv, next_token, remaining)

    @metrics.timed_calls(metrics.STORE_SECONDS, store="postgresql", operation="list")
    async def list_encoded(self, query: ListQuery) -> EncodedListPage:
        """``list`` with each item's JSON text; only rows with sealed fields are decoded (to open them)."""
        rows, list_rv, next_token, remaining = await self._list_rows(query)
        return EncodedListPage(encoded_items(rows, self._decode), list_rv, next_token, remaining)

    async def _list_rows(self, query: ListQuery) -> tuple[list[tuple[str, str | None]], int, str, int]:
        """One page of (body text, sealed) rows in key order: keyset paging on the primary key's index.

        A page costs its own rows whatever the table's size: the continue token names the
        last (namespace, name) seen and the next page seeks past it.
        """
        if query.limit < 0:
            raise BadRequest(f"limit must not be negative, not {query.limit}")
        where, params = compile_list_filter(query)
        token = ContinueToken.decode(query.continue_token, query.resource) if query.continue_token else None
        if token is not None:
            after, after_params = after_token(token, query.namespace, "%s")
            where += f" AND {after}"
            params += after_params
        select = (f"SELECT o.namespace, o.name, o.body::text, o.sealed FROM porch_objects o "
                  f"WHERE {where} ORDER BY o.namespace, o.name")

        def list_blocking(conn: psycopg.Connection) -> tuple[int, list[Any], int]:
            rv = int(conn.execute(
                "SELECT value FROM porch_meta WHERE key = 'resource_version'").fetchone()[0])
            if not query.limit:
                return rv, conn.execute(select, params).fetchall(), 0
            # One row more than asked shows whether another page follows (within the int64 LIMIT takes).
            rows = conn.execute(select + " LIMIT %s", [*params, min(query.limit + 1, 2**63 - 1)]).fetchall()
            if len(rows) <= query.limit:
                return rv, rows, 0
            rows = rows[: query.limit]
            last = ContinueToken(query.resource, 0, rows[-1][0], rows[-1][1])
            rest, rest_params = after_token(last, query.namespace, "%s")
            count = f"SELECT COUNT(*) FROM porch_objects o WHERE {where} AND {rest}"
            remaining = conn.execute(count, [*params, *rest_params]).fetchone()[0]
            return rv, rows, int(remaining)

        rv, rows, remaining = await self._thread(partial(self._read_tx, list_blocking), "list objects")
        list_rv = token.resource_version if token is not None else rv
        next_token = ""
        if remaining:
            next_token = ContinueToken(query.resource, list_rv, rows[-1][0], rows[-1][1]).encode()
        return [(body, sealed) for _, _, body, sealed in rows], list_rv, next_token, remaining

    @asynccontextmanager
    async def watch(self, query: WatchQuery) -> AsyncIterator[AsyncIterator[WatchEvent]]:
        """Events after ``query.since`` in rv order, from every process writing this database.

        Raises Expired on entry if ``since`` was compacted away, and from the iterator if
        the watcher falls behind a compaction.
        """
        floor = await self._events_floor()
        if query.since < floor:
            raise expired(query.since, floor)
        yield WatchStream(self._fanout, self, query, query.since)

    async def _events_floor(self) -> int:
        def floor_blocking() -> int:
            with self._pool.connection() as conn:
                return int(conn.execute(
                    "SELECT value FROM porch_meta WHERE key = 'events_floor'").fetchone()[0])

        return await self._thread(floor_blocking, "read the event log floor")

    async def read_events(
        self, query: WatchQuery, after: int, upto: int, limit: int
    ) -> tuple[list[LoggedEvent], int]:
        """The EventSource side of watch: a catch-up batch from the events table."""
        sql = ("SELECT rv, resource, namespace, type, body::text, sealed FROM porch_events "
               "WHERE rv > %s AND rv <= %s AND resource = %s")
        params: list[Any] = [after, upto, query.resource]
        if query.namespace:
            sql += " AND namespace = %s"
            params.append(query.namespace)
        sql += " ORDER BY rv LIMIT %s"
        params.append(limit)

        def events_blocking(conn: psycopg.Connection) -> tuple[list[Any], int]:
            floor = int(conn.execute(
                "SELECT value FROM porch_meta WHERE key = 'events_floor'").fetchone()[0])
            return conn.execute(sql, params).fetchall(), floor

        rows, floor = await self._thread(partial(self._read_tx, events_blocking), "read watch events")
        return [self._logged(row) for row in rows], floor

    async def resource_version(self) -> int:
        def rv_blocking() -> int:
            with self._pool.connection() as conn:
                return int(conn.execute(
                    "SELECT value FROM porch_meta WHERE key = 'resource_version'").fetchone()[0])

        return await self._thread(rv_blocking, "read the resource version")

    async def ping(self) -> None:
        def ping_blocking() -> None:
            with self._pool.connection() as conn:
                conn.execute("SELECT 1")

        # A ping writes nothing: when the caller's deadline passes (readyz during an
        # outage), give up waiting for the thread rather than for the pool's timeout.
        await self._thread(ping_blocking, "answer a ping", abandon_on_cancel=True)

    # -- leases and locks (several replicas): see _postgres_coordination -----------------

    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew ``name`` for ``holder`` (see the Store protocol), by the database clock."""
        return await self._coordination.acquire_lease(name, holder, ttl_s)

    async def release_lease(self, name: str, holder: str) -> None:
        await self._coordination.release_lease(name, holder)

    def lock(self, name: str, *, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> AbstractAsyncContextManager[None]:
        """Hold ``name`` across every process on this database (see the Store protocol)."""
        return self._coordination.lock(name, timeout_s=timeout_s)

    def __repr__(self) -> str:
        return f"PostgresStore({self._target.where!r})"
