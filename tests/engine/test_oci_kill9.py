"""kill -9 during a stream of approvals on an OCI repository, then restart: the registry, the API and
the cache agree, on either store."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import oras.provider

from tests.parts.registry import Registry, oci_registry
from tests.parts.server import start_server_process
from tests.server.conftest import store_args, store_contents
from tests.server.test_crash_during_approvals import REVISIONS, client, wait_synced

__all__ = ["oci_registry"]

PACKAGES = 12


def test_kill_9_during_oci_approvals_loses_nothing(
        tmp_path: Path, oci_registry: Registry, new_store_url: Callable[[], str]) -> None:
    store_url = new_store_url()
    registry = f"{oci_registry.host}/k{secrets.token_hex(4)}"
    args = ["--function-runner", "none", "--sync-interval", "3600", *store_args(store_url)]
    server = start_server_process(tmp_path / "data", args)
    try:
        with client(server) as http:
            secret = {"metadata": {"name": "crash-auth"}, "type": "kubernetes.io/basic-auth",
                      "stringData": {"username": oci_registry.username, "password": oci_registry.password}}
            assert http.post("/api/v1/namespaces/default/secrets", json=secret).status_code == 201
            repository = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                          "metadata": {"name": "crash"},
                          "spec": {"type": "oci", "oci": {"registry": registry, "secretRef": {"name": "crash-auth"}}}}
            assert http.post("/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories",
                             json=repository).status_code == 201
            wait_synced(http)
            for index in range(PACKAGES):
                created = http.post(REVISIONS, json={"spec": {
                    "repository": "crash", "packageName": f"pkg{index}", "workspaceName": "ws"}})
                assert created.status_code == 201, created.text
                body = created.json()
                body["spec"]["lifecycle"] = "Proposed"
                assert http.put(f"{REVISIONS}/{body['metadata']['name']}", json=body).status_code == 200

        approved: list[str] = []

        def approve_all() -> None:
            with client(server) as http:
                for index in range(PACKAGES):
                    name = f"crash.pkg{index}.ws"
                    try:
                        body = http.get(f"{REVISIONS}/{name}").json()
                        body["spec"]["lifecycle"] = "Published"
                        response = http.put(f"{REVISIONS}/{name}/approval", json=body)
                    except httpx.HTTPError:
                        return
                    if response.status_code == 200:
                        approved.append(name)

        writer = threading.Thread(target=approve_all)
        writer.start()
        deadline = time.monotonic() + 60
        while len(approved) < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill9()
        writer.join(timeout=60)
        assert 4 <= len(approved) < PACKAGES

        before_restart = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        server.start(args)
        with client(server) as http:
            wait_synced(http, after=before_restart)
            items = {i["metadata"]["name"]: i for i in http.get(REVISIONS).json()["items"]}
        reader = oras.provider.Registry(hostname=oci_registry.host, insecure=True, auth_backend="basic")
        reader.auth.set_basic_auth(oci_registry.username, oci_registry.password)
        for index in range(PACKAGES):
            name = f"crash.pkg{index}.ws"
            assert name in items, f"{name} was lost"
            annotations = reader.get_manifest(f"{registry}/pkg{index}:ws")["annotations"]
            lifecycle = items[name]["spec"]["lifecycle"]
            assert lifecycle == annotations["kpt.dev/lifecycle"], name
            if name in approved:
                assert lifecycle == "Published", name
            if lifecycle == "Published":
                assert items[name]["spec"]["revision"] == 1 and annotations["kpt.dev/revision"] == "v1", name
            else:
                assert lifecycle == "Proposed", name
        assert b"crash.pkg0.ws" in store_contents(store_url, server.data_dir)  # the store under test held them
    finally:
        server.stop()
