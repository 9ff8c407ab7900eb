"""A kill -9 in the middle of a stream of creates loses no acknowledged object, on either store."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.parts.server import start_server_process
from tests.server.conftest import store_args, store_contents

COLLECTION = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"


def repository(index: int) -> dict[str, object]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": f"repo-{index}"},
            "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/{index}.git"}}}


def test_kill_9_during_creates_loses_no_acknowledged_object(tmp_path: Path, new_store_url: Callable[[], str]) -> None:
    data = tmp_path / "data"
    store_url = new_store_url()
    store = store_args(store_url)
    server = start_server_process(data, store)
    acknowledged: list[str] = []
    failures: list[str] = []
    try:
        token = (data / "admin-token").read_text().strip()
        client = httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=str(data / "pki" / "ca.crt")),
                              headers={"Authorization": f"Bearer {token}"}, timeout=5)

        def create_forever() -> None:
            index = 0
            while True:
                try:
                    response = client.post(COLLECTION, json=repository(index))
                except httpx.HTTPError as error:
                    failures.append(type(error).__name__)
                    return
                if response.status_code == 201:
                    acknowledged.append(response.json()["metadata"]["name"])
                index += 1

        writer = threading.Thread(target=create_forever)
        writer.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill9()
        writer.join(timeout=30)
        client.close()
        assert len(acknowledged) >= 200
        assert failures, "the writer should have seen the server die"

        server.start(store)
        with httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=str(data / "pki" / "ca.crt")),
                          headers={"Authorization": f"Bearer {token}"}) as again:
            stored = {item["metadata"]["name"] for item in again.get(COLLECTION).json()["items"]}
            assert set(acknowledged) <= stored
            assert len(stored) - len(acknowledged) <= 1, "at most the one unacknowledged in-flight create"
            fresh = again.post(COLLECTION, json=repository(10**6))
            assert fresh.status_code == 201
        assert f"repo-{10**6}".encode() in store_contents(store_url, data)  # the store under test held them
    finally:
        server.stop()
