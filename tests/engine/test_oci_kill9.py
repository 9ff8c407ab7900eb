"""kill -9 during a stream of approvals on an OCI repository, then restart: the registry, the API and
the cache agree, on either store."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import oras.provider

from tests.parts.registry import Registry, oci_registry
from tests.parts.server import start_server_process
from tests.server.conftest import store_args, store_contents
from tests.server.test_crash_during_approvals import PACKAGES, approvals_cut_by_kill_9

__all__ = ["oci_registry"]


def test_kill_9_during_oci_approvals_loses_nothing(
        tmp_path: Path, oci_registry: Registry, new_store_url: Callable[[], str]) -> None:
    store_url = new_store_url()
    registry = f"{oci_registry.host}/k{secrets.token_hex(4)}"
    args = ["--function-runner", "none", "--sync-interval", "3600", *store_args(store_url)]
    server = start_server_process(tmp_path / "data", args)
    try:
        approved, items = approvals_cut_by_kill_9(
            server, args, {"username": oci_registry.username, "password": oci_registry.password},
            {"type": "oci", "oci": {"registry": registry, "secretRef": {"name": "crash-auth"}}})
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
