"""A server whose watches fall behind the store's retained history relists and keeps serving.

The server reaches PostgreSQL through a TCP proxy the test controls (tests/parts/tcp_proxy.py).
While the proxy is cut, another process's store writes Repository objects and compacts the
event log, so that when the server reconnects the events it never saw are gone: every
watch it holds (the repository index, repository sync) gets Expired and must list again
instead of ending the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from porch_embedded.store import open_store
from tests.parts.postgres import create_schema, drop_schema, postgres_run_database, schema_url
from tests.parts.server import start_server
from tests.parts.tcp_proxy import TcpProxy, tcp_proxy

__all__ = ["postgres_run_database"]

REPOSITORIES = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"


def repository(name: str, url: str) -> dict[str, Any]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 1},
            "spec": {"type": "git", "git": {"repo": url, "branch": "main"}}}


@pytest.fixture
def database(postgres_run_database: str) -> Iterator[str]:
    schema = create_schema(postgres_run_database)
    yield schema_url(postgres_run_database, schema)
    drop_schema(postgres_run_database, schema)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with tcp_proxy(("127.0.0.1", 5432)) as started:
        yield started


async def test_watches_that_lose_compacted_history_relist_and_the_server_keeps_serving(
        tmp_path: Path, database: str, proxy: TcpProxy) -> None:
    proxied = database.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
    data_dir = tmp_path / "data"
    async with start_server(data_dir, store_url=proxied, function_runner="none", sync_interval_s=3600,
                            health_interval_s=3600) as server, server.client() as http:
        first = await http.post(REPOSITORIES, json=repository("first", "http://127.0.0.1:1/first.git"))
        assert first.status_code == 201, first.text
        proxy.cut()
        key = (data_dir / "store.key").read_bytes().strip()
        async with open_store(database, encryption_key=key, event_retention=1) as elsewhere:
            for index in range(10):
                await elsewhere.create("repositories.config.porch.kpt.dev",
                                       repository(f"gap-{index}", f"http://127.0.0.1:1/gap-{index}.git"))
            await elsewhere.delete("repositories.config.porch.kpt.dev", "default", "first")
            await elsewhere.compact(keep=0)
        proxy.restore()
        # The repository index learns of the Repositories written while it could not watch:
        # a second registration of the same git repository is refused, and one of the
        # deleted Repository's repository is accepted.
        with trio.fail_after(60):
            while True:
                again = await http.post(REPOSITORIES, json={**repository("again", "http://127.0.0.1:1/gap-7.git"),
                                                            "metadata": {"name": "again"}})
                if again.status_code == 409:
                    break
                assert again.status_code in (201, 503), again.text
                if again.status_code == 201:
                    deleted = await http.delete(f"{REPOSITORIES}/again")
                    assert deleted.status_code == 200, deleted.text
                await trio.sleep(0.2)
        assert "conflict with existing repository: default/gap-7" in again.json()["message"]
        reuse = await http.post(REPOSITORIES, json={**repository("reuse", "http://127.0.0.1:1/first.git"),
                                                    "metadata": {"name": "reuse"}})
        assert reuse.status_code == 201, reuse.text
        listed = await http.get(REPOSITORIES)
        assert {item["metadata"]["name"] for item in listed.json()["items"]} == \
            {"reuse", *(f"gap-{index}" for index in range(10))}
