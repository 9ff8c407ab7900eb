"""What only the SQLite store promises: its file, schema versions, crash safety, fan-out."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
import trio
from cryptography.fernet import Fernet

from porch_embedded.errors import BadRequest, Expired, StoreUnavailable
from porch_embedded.kinds import package_key, upstream_key
from porch_embedded.store import Create, FieldMatch, ListQuery, WatchQuery, open_store
from porch_embedded.store import _sqlite, _sqlite_schema

KEY = Fernet.generate_key()
THINGS = "things.example.dev"
REPO_ROOT = Path(__file__).resolve().parents[2]


def thing(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}}


def url(path: Path) -> str:
    return f"sqlite:///{path}"


async def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with open_store(url(path), encryption_key=KEY) as store:
        await store.create(THINGS, thing("a"))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        conn.execute("PRAGMA journal_mode = DELETE")  # fold the WAL in: the file is all there is
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreUnavailable) as caught:
        async with open_store(url(path), encryption_key=KEY):
            pass
    assert "newer porch-embedded" in caught.value.message
    assert "schema version 99" in caught.value.message
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


async def test_an_older_schema_is_migrated_keeping_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    async with open_store(url(path), encryption_key=KEY) as store:
        created = await store.create(THINGS, thing("a"))
        counter = await store.resource_version()

    def add_owner_column(db: sqlite_utils.Database) -> None:
        db["objects"].add_column("owner", str)  # type: ignore[union-attr]

    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", [*_sqlite_schema.MIGRATIONS, add_owner_column])
    monkeypatch.setattr(_sqlite_schema, "SCHEMA_VERSION", len(_sqlite_schema.MIGRATIONS))
    async with open_store(url(path), encryption_key=KEY) as store:
        assert await store.get(THINGS, "ns", "a") == created
        assert await store.resource_version() == counter
    db = sqlite_utils.Database(path)
    assert "owner" in db["objects"].columns_dict  # type: ignore[union-attr]
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == \
        str(_sqlite_schema.SCHEMA_VERSION)
    db.close()


REVS = "packagerevisions.porch.kpt.dev"


def clone_of(name: str, upstream: str, number: int = 0) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"repository": "r", "packageName": "p", "revision": number, "tasks": [
                {"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": upstream}}}}]}}


async def test_a_version_1_database_gains_the_index_keys_of_the_revisions_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    with monkeypatch.context() as patched:
        patched.setattr(_sqlite_schema, "MIGRATIONS", _sqlite_schema.MIGRATIONS[:1])
        patched.setattr(_sqlite_schema, "SCHEMA_VERSION", 1)
        patched.setattr(_sqlite, "INDEXED_RESOURCES", frozenset())  # as a version 1 server wrote it
        async with open_store(url(path), encryption_key=KEY) as store:
            await store.apply([Create(REVS, clone_of("b", "up")), Create(REVS, clone_of("a", "up")),
                               Create(REVS, clone_of("main", "up", number=-1)), Create(THINGS, thing("t"))])
    async with open_store(url(path), encryption_key=KEY) as store:
        assert [item["metadata"]["name"] for item in await store.indexed(REVS, "ns", upstream_key("up"))] == \
            ["a", "b"]
        assert [item["metadata"]["name"] for item in await store.indexed(REVS, "ns", package_key("r", "p"))] == \
            ["a", "b", "main"]
    db = sqlite_utils.Database(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == \
        str(_sqlite_schema.SCHEMA_VERSION)
    db.close()


async def test_a_second_opener_of_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with open_store(url(path), encryption_key=KEY):
        with pytest.raises(StoreUnavailable) as caught:
            async with open_store(url(path), encryption_key=KEY):
                pass
    assert "in use by another porch-embedded process" in caught.value.message
    async with open_store(url(path), encryption_key=KEY) as store:
        await store.ping()


async def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    conn.close()
    with pytest.raises(StoreUnavailable) as caught:
        async with open_store(url(path), encryption_key=KEY):
            pass
    assert "something else" in caught.value.message


async def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable) as caught:
        async with open_store(url(path), encryption_key=KEY):
            pass
    assert str(path) in caught.value.message


async def test_a_path_with_a_quote_cannot_be_selected(tmp_path: Path) -> None:
    async with open_store(url(tmp_path / "s.db"), encryption_key=KEY) as store:
        with pytest.raises(BadRequest):
            await store.list(ListQuery(THINGS, fields=(FieldMatch(('a"b',), "=", "x"),)))


async def test_watchers_that_keep_up_never_read_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = 0
    original = _sqlite.SqliteStore.read_events

    async def counting(self: _sqlite.SqliteStore, *args: Any) -> Any:
        nonlocal reads
        reads += 1
        return await original(self, *args)

    monkeypatch.setattr(_sqlite.SqliteStore, "read_events", counting)
    async with open_store(url(tmp_path / "s.db"), encryption_key=KEY) as store:
        start = await store.resource_version()
        totals: list[int] = []

        async def watcher(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            async with store.watch(WatchQuery(THINGS, since=start)) as events:
                task_status.started()
                count = 0
                async for _ in events:
                    count += 1
                    if count == 20:
                        break
                totals.append(count)

        async with trio.open_nursery() as nursery:
            for _ in range(100):
                await nursery.start(watcher)
            for i in range(20):
                await store.create(THINGS, thing(f"t{i}"))
    assert totals == [20] * 100
    assert reads == 0


async def test_a_watcher_behind_the_ring_catches_up_from_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite, "RING_CAPACITY", 4)
    async with open_store(url(tmp_path / "s.db"), encryption_key=KEY) as store:
        start = await store.resource_version()
        async with store.watch(WatchQuery(THINGS, since=start)) as events:
            written = [await store.create(THINGS, thing(f"t{i:02}")) for i in range(30)]
            got = []
            with trio.fail_after(20):
                async for event in events:
                    got.append(event.object)
                    if len(got) == 30:
                        break
    assert got == written


async def test_a_watcher_whose_history_is_compacted_mid_stream_gets_expired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite, "RING_CAPACITY", 4)
    async with open_store(url(tmp_path / "s.db"), encryption_key=KEY) as store:
        start = await store.resource_version()
        async with store.watch(WatchQuery(THINGS, since=start)) as events:
            for i in range(30):
                await store.create(THINGS, thing(f"t{i:02}"))
            await store.compact(keep=5)
            with pytest.raises(Expired):
                with trio.fail_after(20):
                    async for _ in events:
                        pass


_WRITER = """
import sys, trio
from porch_embedded.store import open_store

async def main(path: str, key: str) -> None:
    async with open_store("sqlite:///" + path, encryption_key=key.encode()) as store:
        i = 0
        while True:
            body = await store.create("things.example.dev", {"metadata": {"name": f"t{i}"}})
            print(body["metadata"]["name"], body["metadata"]["resourceVersion"], flush=True)
            i += 1

trio.run(main, sys.argv[1], sys.argv[2])
"""


@pytest.mark.slow
async def test_kill_9_after_apply_returned_loses_no_write(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", _WRITER, str(path), KEY.decode()],
        stdout=subprocess.PIPE, env=env,
    )
    assert process.stdout is not None
    output = b""
    with trio.fail_after(60):
        while output.count(b"\n") < 200:
            chunk = await process.stdout.receive_some()
            assert chunk, "the writer died on its own"
            output += chunk
        process.send_signal(signal.SIGKILL)
        await process.wait()
        while chunk := await process.stdout.receive_some():
            output += chunk
    assert process.returncode == -signal.SIGKILL
    acknowledged = [line.split() for line in output.decode().split("\n")[:-1]]  # whole lines only
    async with open_store(url(path), encryption_key=KEY) as store:
        for name, rv in acknowledged:
            got = await store.get(THINGS, "", name)
            assert got["metadata"]["resourceVersion"] == rv
        assert await store.resource_version() >= int(acknowledged[-1][1])
