"""Moving a stopped deployment from SQLite to PostgreSQL: ``migrate_store`` and its CLI."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio
from cryptography.fernet import Fernet

from porch_embedded.errors import BadRequest, Conflict, Expired, NotFound, StoreUnavailable
from porch_embedded.kinds import upstream_key
from porch_embedded.store import Create, ListQuery, Store, WatchEvent, WatchQuery, migrate_store, open_store

KEY = Fernet.generate_key()
SEALED = {"secrets": ("data", "stringData")}
REPOS = "repositories.config.porch.kpt.dev"
REVS = "packagerevisions.porch.kpt.dev"
SECRETS = "secrets"
RESOURCES = (REPOS, REVS, SECRETS)
REPO_ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 20  # a deadline against hangs, not a timing assertion


def obj(name: str, namespace: str = "default", **top: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"}, **top}


@dataclass
class Source:
    """A stopped deployment's SQLite store, and what it held when it stopped."""

    path: Path
    url: str
    objects: dict[str, list[dict[str, Any]]]
    events: list[tuple[str, WatchEvent]]
    """(resource, event) in resourceVersion order."""
    counts: dict[str, int]
    """How many of those events each resource has."""
    floor: int
    counter: int


async def _everything(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {resource: (await store.list(ListQuery(resource))).items for resource in RESOURCES}


async def _events(store: Store, since: int, counts: dict[str, int]) -> list[tuple[str, WatchEvent]]:
    """Every (resource, event) after ``since``, in resourceVersion order; ``counts`` per resource."""
    got: list[tuple[str, WatchEvent]] = []
    with trio.fail_after(HANG_GUARD_S):
        for resource, count in counts.items():
            async with store.watch(WatchQuery(resource, since=since)) as events:
                async for event in events:
                    got.append((resource, event))
                    if sum(1 for r, _ in got if r == resource) == count:
                        break
    return sorted(got, key=lambda pair: pair[1].resource_version)


def _file_digest(path: Path) -> dict[str, str]:
    return {candidate.name: hashlib.sha256(candidate.read_bytes()).hexdigest()
            for candidate in sorted(path.parent.glob(f"{path.name}*")) if candidate.name != f"{path.name}.lock"}


@pytest.fixture
async def source(tmp_path: Path) -> Source:
    path = tmp_path / "data" / "store.db"
    url = f"sqlite:///{path}"
    async with open_store(url, encryption_key=KEY, sealed_fields=SEALED) as store:
        await store.apply([Create(REPOS, obj(f"repo-{i}", namespace=f"ns-{i % 3}", spec={"i": i}))
                           for i in range(30)])
        await store.create(REVS, obj("repo-1.pkg.v1", spec={"lifecycle": "Draft"}))
        secret = await store.create(SECRETS, obj("git-auth", type="Opaque",
                                                 data={"password": "c2VjcmV0LXBhc3N3b3Jk"}))
        await store.update(SECRETS, dict(secret, data={"password": "bmV3LXNlY3JldC0xMjM="}),
                           expect_rv=secret["metadata"]["resourceVersion"])
        for i in range(5):
            current = await store.get(REPOS, f"ns-{i % 3}", f"repo-{i}")
            await store.update(REPOS, dict(current, spec={"i": i, "edited": True}),
                               expect_rv=current["metadata"]["resourceVersion"])
        await store.delete(REPOS, "ns-2", "repo-29")
        floor = await store.compact(keep=20) - 1  # some history is gone, as in a long-lived store
        counter = await store.resource_version()
        objects = await _everything(store)
        with sqlite3.connect(path) as conn:
            counts = dict(conn.execute(
                "SELECT resource, count(*) FROM events GROUP BY resource ORDER BY resource").fetchall())
        conn.close()
        events = await _events(store, floor, counts)
    assert len(events) == counter - floor == 20
    return Source(path, url, objects, events, counts, floor, counter)


async def test_objects_watch_history_and_counter_move_to_postgres(
    source: Source, postgres_database_url: str
) -> None:
    before = _file_digest(source.path)
    report = await migrate_store(source.url, postgres_database_url, encryption_key=KEY, sealed_fields=SEALED)
    assert (report.objects, report.events) == (sum(map(len, source.objects.values())), len(source.events))
    assert (report.resource_version, report.events_floor) == (source.counter, source.floor)
    assert _file_digest(source.path) == before, "the source was only read"

    async with open_store(postgres_database_url, encryption_key=KEY, sealed_fields=SEALED) as target:
        assert await _everything(target) == source.objects
        assert await target.resource_version() == source.counter
        # a client watching the old server resumes on the new one from its last resourceVersion
        assert await _events(target, source.floor, source.counts) == source.events
        resumed_at = source.events[7][1].resource_version
        replayed = [event for resource, event in source.events
                    if resource == REPOS and event.resource_version > resumed_at]
        assert replayed
        async with target.watch(WatchQuery(REPOS, since=resumed_at)) as events:
            later = await target.create(REPOS, obj("after-the-move"))
            got: list[WatchEvent] = []
            with trio.fail_after(HANG_GUARD_S):
                async for event in events:
                    got.append(event)
                    if len(got) == len(replayed) + 1:
                        break
        assert got[:-1] == replayed and got[-1].object == later
        assert int(later["metadata"]["resourceVersion"]) == source.counter + 1, "the counter continues"
        with pytest.raises(Expired):
            async with target.watch(WatchQuery(REPOS, since=source.floor - 1)):
                pass

    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        raw = "\n".join(row[0] for row in conn.execute(
            "SELECT t::text FROM porch_objects t UNION ALL SELECT t::text FROM porch_events t"))
    assert "git-auth" in raw
    assert "bmV3LXNlY3JldC0xMjM" not in raw and "c2VjcmV0LXBhc3N3b3Jk" not in raw, "still sealed"


async def test_index_keys_move_with_the_revisions(tmp_path: Path, postgres_database_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clone = {"spec": {"tasks": [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "up"}}}}]}}
    async with open_store(url, encryption_key=KEY, sealed_fields=SEALED) as store:
        await store.apply([Create(REVS, obj("b", **clone)), Create(REVS, obj("a", **clone)), Create(REVS, obj("up"))])
    await migrate_store(url, postgres_database_url, encryption_key=KEY, sealed_fields=SEALED)
    async with open_store(postgres_database_url, encryption_key=KEY, sealed_fields=SEALED) as target:
        assert [item["metadata"]["name"] for item in await target.indexed(REVS, "default", upstream_key("up"))] == \
            ["a", "b"]


async def test_a_non_empty_target_is_refused_and_left_unchanged(
    source: Source, postgres_database_url: str
) -> None:
    async with open_store(postgres_database_url, encryption_key=KEY) as target:
        await target.create(REPOS, obj("already-here"))
    before = _dump(postgres_database_url)
    with pytest.raises(Conflict) as caught:
        await migrate_store(source.url, postgres_database_url, encryption_key=KEY, sealed_fields=SEALED)
    assert "is not empty (1 objects, 1 watch events, resourceVersion 1)" in caught.value.message
    assert "nothing was changed" in caught.value.message
    assert _dump(postgres_database_url) == before


async def test_a_target_of_a_newer_schema_is_refused_and_left_unchanged(
    source: Source, postgres_database_url: str
) -> None:
    async with open_store(postgres_database_url, encryption_key=KEY):
        pass
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        conn.execute("UPDATE porch_meta SET value = '99' WHERE key = 'schema_version'")
    before = _dump(postgres_database_url)
    with pytest.raises(StoreUnavailable) as caught:
        await migrate_store(source.url, postgres_database_url, encryption_key=KEY, sealed_fields=SEALED)
    assert "newer porch-embedded (store schema version 99" in caught.value.message
    assert _dump(postgres_database_url) == before


async def test_an_empty_store_that_a_server_created_is_a_valid_target(
    source: Source, postgres_database_url: str
) -> None:
    async with open_store(postgres_database_url, encryption_key=KEY):
        pass  # e.g. a replica was started once before the migration
    await migrate_store(source.url, postgres_database_url, encryption_key=KEY, sealed_fields=SEALED)
    with pytest.raises(Conflict):  # and a second run is refused: the first one filled it
        await migrate_store(source.url, postgres_database_url, encryption_key=KEY, sealed_fields=SEALED)


async def test_a_source_in_use_by_a_server_is_refused(source: Source, postgres_database_url: str) -> None:
    async with open_store(source.url, encryption_key=KEY, sealed_fields=SEALED):
        with pytest.raises(StoreUnavailable) as caught:
            await migrate_store(source.url, postgres_database_url, encryption_key=KEY)
    assert "in use by a running porch-embedded: stop it before migrating" in caught.value.message
    assert _tables(postgres_database_url) == []


async def test_a_wrong_key_is_refused_before_the_target_is_touched(
    source: Source, postgres_database_url: str
) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await migrate_store(source.url, postgres_database_url, encryption_key=Fernet.generate_key())
    assert "different encryption key" in caught.value.message
    assert _tables(postgres_database_url) == []


async def test_wrong_urls_and_a_missing_source_are_refused(tmp_path: Path, postgres_database_url: str) -> None:
    with pytest.raises(BadRequest):
        await migrate_store(postgres_database_url, postgres_database_url, encryption_key=KEY)
    with pytest.raises(BadRequest):
        await migrate_store(f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}",
                            encryption_key=KEY)
    with pytest.raises(NotFound) as caught:
        await migrate_store(f"sqlite:///{tmp_path / 'missing.db'}", postgres_database_url, encryption_key=KEY)
    assert "missing.db" in caught.value.message
    assert not (tmp_path / "missing.db").exists()


async def test_an_unreachable_target_says_where_without_the_password(source: Source) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await migrate_store(source.url, "postgresql://postgres@127.0.0.1:1/nowhere",
                            encryption_key=KEY, password="hunter2-migrate")
    assert "127.0.0.1:1/nowhere" in caught.value.message
    assert "hunter2" not in caught.value.message


def _dump(url: str) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [conn.execute(f"SELECT t::text FROM {table} t ORDER BY 1").fetchall()
                for table in ("porch_meta", "porch_objects", "porch_events")] + [
            conn.execute("SELECT last_value FROM porch_rv").fetchall()]


def _tables(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]


# -- the command line -----------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "porch_embedded", "store", "migrate", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, check=False)


async def test_the_cli_migrates_refuses_and_never_prints_the_password(
    source: Source, postgres_database_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_file = tmp_path / "store.key"
    key_file.write_bytes(KEY + b"\n")
    password_file = tmp_path / "pg-password"
    password_file.write_text("s3cret-from-file\n")
    done = await trio.to_thread.run_sync(lambda: _cli(
        "--from", source.url, "--to", postgres_database_url,
        "--to-password-file", str(password_file), "--key-file", str(key_file)))
    assert done.returncode == 0, done.stderr
    assert f"copied {sum(map(len, source.objects.values()))} objects and {len(source.events)} watch events" \
        in done.stdout
    assert f"resourceVersion continues after {source.counter}" in done.stdout
    async with open_store(postgres_database_url, encryption_key=KEY, sealed_fields=SEALED) as target:
        assert await _everything(target) == source.objects

    # The refusals, in this process (main() runs its own trio loop, so in a thread).
    from porch_embedded.cli import main

    monkeypatch.setenv("PGPASSWORD", "s3cret-from-env")
    argv = ["store", "migrate", "--from", source.url, "--to", postgres_database_url]
    assert await trio.to_thread.run_sync(main, [*argv, "--key-file", str(key_file)]) == 1
    again = capsys.readouterr()
    assert "is not empty" in again.err and "Traceback" not in again.err
    assert await trio.to_thread.run_sync(main, [*argv, "--key-file", str(tmp_path / "nope.key")]) == 1
    missing = capsys.readouterr()
    assert "cannot read --key-file" in missing.err and "nope.key" in missing.err
    assert not (tmp_path / "nope.key").exists()
    for output in (done.stdout, done.stderr, again.out, again.err, missing.out, missing.err):
        assert "s3cret" not in output


async def test_a_store_left_by_a_crash_is_migrated_with_the_commits_in_its_wal(
    tmp_path: Path, postgres_database_url: str
) -> None:
    live, crashed = tmp_path / "live" / "store.db", tmp_path / "crashed" / "store.db"
    crashed.parent.mkdir()
    async with open_store(f"sqlite:///{live}", encryption_key=KEY) as store:
        created = await store.create(REPOS, obj("only-in-the-wal"))
        for suffix in ("", "-wal", "-shm"):  # what kill -9 leaves behind, byte for byte
            Path(f"{crashed}{suffix}").write_bytes(Path(f"{live}{suffix}").read_bytes())
    assert Path(f"{crashed}-wal").stat().st_size > 0
    before = {suffix: Path(f"{crashed}{suffix}").read_bytes() for suffix in ("", "-wal")}
    report = await migrate_store(f"sqlite:///{crashed}", postgres_database_url, encryption_key=KEY)
    assert report.objects == 1
    assert {suffix: Path(f"{crashed}{suffix}").read_bytes() for suffix in ("", "-wal")} == before
    async with open_store(postgres_database_url, encryption_key=KEY) as target:
        assert await target.get(REPOS, "default", "only-in-the-wal") == created
