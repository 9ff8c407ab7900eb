"""/metrics: every metric of porch_embedded.metrics, reported by the layer that measures it.

API, watch and store figures come from a server with its controllers off; git, render
and sync figures from a server syncing a real git repository and rendering a draft.
Several servers in one process each keep their own registry.
"""

from __future__ import annotations

from typing import Any

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from porch_embedded import metrics
from tests.engine.conftest import Porch, porch
from tests.engine.test_lifecycle import CONFIGMAP, PIPELINE_KPTFILE
from tests.parts.git_server import git_server, package_files
from tests.parts.server import RunningServer, start_server

__all__ = ["git_server", "porch"]

REPOSITORIES = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"
SET_LABELS = "gcr.io/kpt-fn/set-labels:v0.2.0"
SET_NAMESPACE = "gcr.io/kpt-fn/set-namespace:v0.4.1"


async def samples(http: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The /metrics exposition as {(sample name, labels): value}."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels``; 0 when absent."""
    return found.get((name, frozenset(labels.items())), 0.0)


def repository(name: str) -> dict[str, Any]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
            "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/{name}.git"}}}


async def test_every_metric_is_declared_once_and_exposed(server: RunningServer) -> None:
    async with server.client() as admin:
        text = (await admin.get("/metrics")).text
    names = [metric.name for metric in metrics.METRICS]
    assert len(names) == len(set(names))
    for metric in metrics.METRICS:
        shown = f"{metric.name}_total" if metric.kind == "counter" else metric.name
        assert f"# HELP {shown} {metric.help}" in text, metric.name
        assert f"# TYPE {shown} {metric.kind}" in text, metric.name


async def test_request_latency_watch_count_and_store_latency(server: RunningServer) -> None:
    store = "postgresql" if server.store_url.startswith("postgresql") else "sqlite"
    async with server.client() as admin:
        assert (await admin.post(REPOSITORIES, json=repository("one"))).status_code == 201
        assert (await admin.get(f"{REPOSITORIES}/one")).status_code == 200
        assert (await admin.get(REPOSITORIES)).status_code == 200
        found = await samples(admin)
        assert value(found, "apiserver_request_duration_seconds_count", verb="create", resource="repositories") == 1
        assert value(found, "apiserver_request_duration_seconds_count", verb="get", resource="repositories") == 1
        assert value(found, "apiserver_request_duration_seconds_count", verb="list", resource="repositories") == 1
        assert value(found, "apiserver_request_total", verb="create", group="config.porch.kpt.dev",
                     resource="repositories", code="201") == 1
        assert value(found, "porch_store_operation_duration_seconds_count", store=store, operation="apply") >= 1
        assert value(found, "porch_store_operation_duration_seconds_count", store=store, operation="get") >= 1
        assert value(found, "porch_store_operation_duration_seconds_count", store=store, operation="list") >= 1
        assert value(found, "porch_watches", resource="repositories") == 0

        async with admin.stream("GET", REPOSITORIES, params={"watch": "true", "timeoutSeconds": "30"}) as watch:
            lines = watch.aiter_lines()
            assert '"ADDED"' in await lines.__anext__()
            open_now = await samples(admin)
            assert value(open_now, "porch_watches", resource="repositories") == 1
        # The client left a quiet watch (no events, no bookmarks): the server hears of it.
        with trio.fail_after(10):
            while value(await samples(admin), "porch_watches", resource="repositories") != 0:
                await trio.sleep(0.05)


async def test_each_server_in_a_process_has_its_own_registry(server: RunningServer, tmp_path: Any) -> None:
    async with start_server(tmp_path / "other", controllers=False) as other:
        async with server.client() as first, other.client() as second:
            for _ in range(3):
                assert (await first.get(REPOSITORIES)).status_code == 200
            assert (await second.get(REPOSITORIES)).status_code == 200
            assert value(await samples(first), "apiserver_request_duration_seconds_count",
                         verb="list", resource="repositories") == 3
            assert value(await samples(second), "apiserver_request_duration_seconds_count",
                         verb="list", resource="repositories") == 1
            assert value(await samples(second), "porch_store_operation_duration_seconds_count",
                         store="sqlite", operation="list") >= 1


async def test_git_render_and_sync_metrics(porch: Porch) -> None:
    porch.git.create_repo("blueprints").commit(package_files("basens"), tags=["basens/v1"])
    await porch.register("blueprints")
    await porch.register("broken", repo="missing", wait=False)
    await porch.wait_ready("broken", status="False")
    draft = await porch.init("blueprints", "app", "ws1")
    await porch.push_files(draft["metadata"]["name"], {"Kptfile": PIPELINE_KPTFILE, "cm.yaml": CONFIGMAP})
    found = await samples(porch.http)

    assert value(found, "porch_git_operation_duration_seconds_count", operation="fetch", result="ok") >= 1
    assert value(found, "porch_git_operation_duration_seconds_count", operation="push", result="ok") >= 2
    assert value(found, "porch_git_bytes_total", operation="fetch", direction="received") > 0
    assert value(found, "porch_git_bytes_total", operation="push", direction="sent") > 0
    failed = sum(value(found, "porch_git_operation_duration_seconds_count", operation=op, result="error")
                 for op in ("ls-remote", "fetch"))
    assert failed >= 1  # the repository that does not exist

    assert value(found, "porch_repository_sync_duration_seconds_count", namespace="default",
                 repository="blueprints", result="ok") >= 1
    assert value(found, "porch_repository_sync_duration_seconds_count", namespace="default",
                 repository="broken", result="error") >= 1
    assert value(found, "porch_repository_sync_duration_seconds_count", namespace="default",
                 repository="broken", result="ok") == 0

    assert value(found, "porch_render_function_duration_seconds_count",
                 function=SET_LABELS, result="ok") == 1
    failing = PIPELINE_KPTFILE.replace(SET_LABELS, SET_NAMESPACE)  # set-namespace without a namespace fails
    await porch.push_files(draft["metadata"]["name"], {"Kptfile": failing, "cm.yaml": CONFIGMAP}, code=422)
    assert value(await samples(porch.http), "porch_render_function_duration_seconds_count",
                 function=SET_NAMESPACE, result="error") == 1
