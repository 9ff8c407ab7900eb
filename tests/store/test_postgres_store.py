"""What only the PostgreSQL store promises: several processes, reconnects, no leaked passwords."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import trio
from cryptography.fernet import Fernet

from porch_embedded.errors import Conflict, StoreUnavailable
from porch_embedded.kinds import package_key, upstream_key
from porch_embedded.store import ListQuery, WatchEvent, WatchQuery, open_store
from porch_embedded.store import _postgres

KEY = Fernet.generate_key()
THINGS = "things.example.dev"
HANG_GUARD_S = 30  # deadlines against hangs, not timing assertions


def thing(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}}


async def take(events: AsyncIterator[WatchEvent], count: int) -> list[str]:
    names: list[str] = []
    with trio.fail_after(HANG_GUARD_S):
        async for event in events:
            names.append(event.object["metadata"]["name"])
            if len(names) == count:
                break
    return names


async def test_two_stores_on_one_database_see_each_others_writes(postgres_database_url: str) -> None:
    async with open_store(postgres_database_url, encryption_key=KEY) as one, \
            open_store(postgres_database_url, encryption_key=KEY) as two:
        start = await one.resource_version()
        async with one.watch(WatchQuery(THINGS, since=start)) as seen_by_one, \
                two.watch(WatchQuery(THINGS, since=start)) as seen_by_two:
            written = []
            for i in range(6):
                writer = one if i % 2 else two
                written.append(await writer.create(THINGS, thing(f"t{i}")))
            names = [f"t{i}" for i in range(6)]
            assert await take(seen_by_one, 6) == names
            assert await take(seen_by_two, 6) == names
        rvs = [int(body["metadata"]["resourceVersion"]) for body in written]
        assert rvs == sorted(set(rvs)), "one monotonic counter across both stores"
        assert await one.get(THINGS, "ns", "t0") == await two.get(THINGS, "ns", "t0")


async def test_concurrent_writers_in_two_stores_are_seen_in_rv_order(postgres_database_url: str) -> None:
    async with open_store(postgres_database_url, encryption_key=KEY) as one, \
            open_store(postgres_database_url, encryption_key=KEY) as two:
        start = await one.resource_version()
        async with one.watch(WatchQuery(THINGS, since=start)) as events:
            async with trio.open_nursery() as nursery:
                for index, store in enumerate((one, two, one, two)):
                    async def write(store: Any = store, index: int = index) -> None:
                        for i in range(15):
                            await store.create(THINGS, thing(f"w{index}-{i}"))
                    nursery.start_soon(write)
            got: list[int] = []
            with trio.fail_after(HANG_GUARD_S):
                async for event in events:
                    got.append(event.resource_version)
                    if len(got) == 60:
                        break
        assert got == sorted(set(got))
        listed = await two.list(ListQuery(THINGS))
        assert sorted(int(i["metadata"]["resourceVersion"]) for i in listed.items) == got


class _Proxy:
    """A TCP forwarder to the PostgreSQL server that a test can cut and restore."""

    def __init__(self) -> None:
        self.port = 0
        self.up = True
        self._cut = trio.Event()

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        if not self.up:
            await client.aclose()
            return
        cut = self._cut
        server = await trio.open_tcp_stream("127.0.0.1", 5432)
        async with client, server, trio.open_nursery() as nursery:
            async def pump(source: trio.SocketStream, sink: trio.SocketStream) -> None:
                try:
                    while data := await source.receive_some(65536):
                        await sink.send_all(data)
                except trio.BrokenResourceError:
                    pass
                nursery.cancel_scope.cancel()

            async def watch_cut() -> None:
                await cut.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(pump, client, server)
            nursery.start_soon(pump, server, client)
            nursery.start_soon(watch_cut)

    def cut(self) -> None:
        self.up = False
        self._cut.set()
        self._cut = trio.Event()

    def restore(self) -> None:
        self.up = True


async def test_connection_loss_raises_and_watch_resumes_without_loss_or_duplicates(
    postgres_database_url: str,
) -> None:
    proxy = _Proxy()
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        proxied = postgres_database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        async with _postgres.open_postgres_store(
            proxied, password=None, encryption_key=KEY, sealed_fields={},
            event_retention=1000, pool_timeout=2,
        ) as far, open_store(postgres_database_url, encryption_key=KEY) as near:
            start = await far.resource_version()
            async with far.watch(WatchQuery(THINGS, since=start)) as events:
                await near.create(THINGS, thing("before"))
                assert await take(events, 1) == ["before"]

                proxy.cut()
                with trio.fail_after(HANG_GUARD_S), pytest.raises(StoreUnavailable) as caught:
                    await far.get(THINGS, "ns", "before")
                assert "PostgreSQL store at 127.0.0.1" in caught.value.message
                await near.create(THINGS, thing("during-1"))
                await near.create(THINGS, thing("during-2"))

                proxy.restore()
                assert await take(events, 2) == ["during-1", "during-2"]
                await near.create(THINGS, thing("after"))
                assert await take(events, 1) == ["after"], "nothing delivered twice"
            with trio.fail_after(HANG_GUARD_S):
                while True:
                    try:
                        assert (await far.get(THINGS, "ns", "after"))["metadata"]["name"] == "after"
                        break
                    except StoreUnavailable:
                        await trio.sleep(0.2)  # the pool reconnects with its own backoff
        nursery.cancel_scope.cancel()


async def test_an_unreachable_server_is_store_unavailable_without_the_password() -> None:
    with trio.fail_after(HANG_GUARD_S):
        for url, password in [
            ("postgresql://postgres@127.0.0.1:1/nowhere", "hunter2-given-apart"),
            ("postgresql://postgres:hunter2-in-url@127.0.0.1:1/nowhere", None),
        ]:
            with pytest.raises(StoreUnavailable) as caught:
                async with open_store(url, encryption_key=KEY, password=password):
                    pass
            assert "127.0.0.1:1/nowhere" in caught.value.message
            assert "hunter2" not in caught.value.message
            assert "hunter2" not in repr(caught.value.__cause__)


async def test_a_newer_schema_is_refused_and_left_untouched(postgres_database_url: str) -> None:
    async with open_store(postgres_database_url, encryption_key=KEY) as store:
        await store.create(THINGS, thing("a"))
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        conn.execute("UPDATE porch_meta SET value = '99' WHERE key = 'schema_version'")
        conn.execute("DROP TABLE porch_leases")  # as if version 99 had replaced it
    before = _contents(postgres_database_url)
    with pytest.raises(StoreUnavailable) as caught:
        async with open_store(postgres_database_url, encryption_key=KEY):
            pass
    assert "newer porch-embedded (store schema version 99" in caught.value.message
    assert "nothing was changed" in caught.value.message
    assert _contents(postgres_database_url) == before


def _contents(url: str) -> list[Any]:
    """Every table of the store's schema with its rows, and the counter sequence."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "ORDER BY table_name")]
        rows = [conn.execute(f"SELECT t::text FROM {table} t ORDER BY 1").fetchall() for table in tables]
        return [tables, rows, conn.execute("SELECT last_value, is_called FROM porch_rv").fetchone()]


# -- several replicas: locks and leases across stores ---------------------------------


async def test_two_stores_contending_for_a_lock_take_turns(postgres_database_url: str) -> None:
    name = "repository/default/blueprints"
    order: list[str] = []
    async with open_store(postgres_database_url, encryption_key=KEY) as one, \
            open_store(postgres_database_url, encryption_key=KEY) as two:
        with trio.fail_after(HANG_GUARD_S):
            async with trio.open_nursery() as nursery:
                async with one.lock(name):
                    order.append("one in")

                    async def second() -> None:
                        async with two.lock(name, timeout_s=HANG_GUARD_S):
                            order.append("two in")

                    nursery.start_soon(second)
                    with pytest.raises(Conflict) as caught:
                        async with two.lock(name, timeout_s=0.3):
                            pytest.fail("two stores inside one lock")
                    await trio.sleep(0.3)  # the waiter is parked on the database meanwhile
                    order.append("one out")
        assert order == ["one in", "one out", "two in"]
        assert "another writer holds it" in caught.value.message
    assert _advisory_locks(postgres_database_url) == 0, "every lock went back with its connection"


async def test_a_lock_holder_that_loses_its_connection_loses_the_lock(postgres_database_url: str) -> None:
    name = "repository/default/blueprints"
    proxy = _Proxy()
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        proxied = postgres_database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        async with open_store(proxied, encryption_key=KEY) as far, \
                open_store(postgres_database_url, encryption_key=KEY) as near:
            with trio.fail_after(HANG_GUARD_S):
                async with far.lock(name):
                    with pytest.raises(Conflict):
                        async with near.lock(name, timeout_s=0.2):
                            pytest.fail("two stores inside one lock")
                    proxy.cut()  # e.g. the replica's node went away: its session ends
                    async with near.lock(name, timeout_s=HANG_GUARD_S):
                        pass
                # leaving the lost lock neither raises nor hangs; once back, it works again
                proxy.restore()
                async with far.lock(name, timeout_s=HANG_GUARD_S):
                    pass
        nursery.cancel_scope.cancel()


async def test_a_lease_is_shared_by_the_stores_of_one_database(postgres_database_url: str) -> None:
    async with open_store(postgres_database_url, encryption_key=KEY) as one, \
            open_store(postgres_database_url, encryption_key=KEY) as two:
        assert await one.acquire_lease("controllers", "replica-a", 30)
        assert not await two.acquire_lease("controllers", "replica-b", 30)
        await one.release_lease("controllers", "replica-a")  # e.g. replica-a drains on SIGTERM
        assert await two.acquire_lease("controllers", "replica-b", 30)
        assert not await one.acquire_lease("controllers", "replica-a", 30)
        await two.release_lease("controllers", "replica-b")
        assert await one.acquire_lease("controllers", "replica-a", 30)
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        row = conn.execute("SELECT holder, transitions FROM porch_leases WHERE name = 'controllers'"
                           ).fetchone()
    assert row == ("replica-a", 2)


async def test_lease_expiry_follows_the_database_clock(postgres_database_url: str) -> None:
    async with open_store(postgres_database_url, encryption_key=KEY) as store:
        assert await store.acquire_lease("controllers", "replica-a", 3600)
        with psycopg.connect(postgres_database_url, autocommit=True) as conn:
            # as if the hour had passed on the database server (whatever our clock says)
            conn.execute("UPDATE porch_leases SET expires_at = now() - interval '1 second'")
        assert await store.acquire_lease("controllers", "replica-b", 30)


async def test_a_version_1_database_is_migrated_and_gains_leases(
    postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from porch_embedded.store import _postgres_schema

    with monkeypatch.context() as patched:
        patched.setattr(_postgres_schema, "MIGRATIONS", _postgres_schema.MIGRATIONS[:1])
        patched.setattr(_postgres_schema, "SCHEMA_VERSION", 1)
        async with open_store(postgres_database_url, encryption_key=KEY) as store:
            created = await store.create(THINGS, thing("a"))
    async with open_store(postgres_database_url, encryption_key=KEY) as store:
        assert await store.get(THINGS, "ns", "a") == created
        assert await store.acquire_lease("controllers", "replica-a", 30)
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        version = conn.execute("SELECT value FROM porch_meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(_postgres_schema.SCHEMA_VERSION),)


REVS = "packagerevisions.porch.kpt.dev"


def clone_of(name: str, upstream: str, number: int = 0) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"repository": "r", "packageName": "p", "revision": number, "tasks": [
                {"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": upstream}}}}]}}


async def test_a_version_2_database_gains_the_index_keys_of_the_revisions_it_holds(
    postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from porch_embedded.store import _postgres_schema

    with monkeypatch.context() as patched:
        patched.setattr(_postgres_schema, "MIGRATIONS", _postgres_schema.MIGRATIONS[:2])
        patched.setattr(_postgres_schema, "SCHEMA_VERSION", 2)
        patched.setattr(_postgres, "INDEXED_RESOURCES", frozenset())  # as a version 2 server wrote it
        async with open_store(postgres_database_url, encryption_key=KEY) as store:
            for body in (clone_of("b", "up"), clone_of("a", "up"), clone_of("main", "up", number=-1)):
                await store.create(REVS, body)
    async with open_store(postgres_database_url, encryption_key=KEY) as store:
        assert [item["metadata"]["name"] for item in await store.indexed(REVS, "ns", upstream_key("up"))] == \
            ["a", "b"]
        assert [item["metadata"]["name"] for item in await store.indexed(REVS, "ns", package_key("r", "p"))] == \
            ["a", "b", "main"]
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        version = conn.execute("SELECT value FROM porch_meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(_postgres_schema.SCHEMA_VERSION),)


def _advisory_locks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname = current_database()").fetchone()[0])
