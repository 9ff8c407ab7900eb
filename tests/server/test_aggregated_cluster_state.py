"""`serve --aggregated`: what it reads from and writes back to the cluster while it serves.

Against the apiserver double of tests/parts/kube_double.py (not a kube-apiserver: a
contract double of the endpoints used, with the request and response bodies of the
Kubernetes API reference), with the fixtures of test_aggregated.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import trio
import yaml

from tests.parts.git_server import GitServer, kptfile
from tests.parts.kube_double import CertificateAuthority
from tests.parts.server import RunningServer, start_server
from tests.server.test_aggregated import (
    PR,
    Cluster,
    aggregated,
    aggregator_client,
    as_user,
    cluster,
    git_server,
    porch,
    repository_cr,
)

__all__ = ["cluster", "git_server", "porch"]

AUTHENTICATION = "/api/v1/namespaces/kube-system/configmaps"


def authentication_configmap(ca: CertificateAuthority) -> dict[str, object]:
    """kube-system/extension-apiserver-authentication as kube-apiserver writes it (front-proxy keys)."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
            "data": {"requestheader-client-ca-file": ca.cert_file.read_text(),
                     "requestheader-allowed-names": '["front-proxy-client"]',
                     "requestheader-username-headers": '["X-Remote-User"]',
                     "requestheader-group-headers": '["X-Remote-Group"]',
                     "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]'}}


async def test_a_rotated_front_proxy_ca_is_picked_up_from_the_configmap(tmp_path: Path, cluster: Cluster,
                                                                       git_server: GitServer) -> None:
    cluster.double.put("configmaps", "kube-system", authentication_configmap(cluster.requestheader_ca))
    settings = aggregated(cluster, requestheader_client_ca_file=None, requestheader_allowed_names=None)
    async with start_server(tmp_path / "data", aggregated=settings, function_runner="none",
                            controllers=False) as running:
        async with aggregator_client(running, cluster.front_proxy_cert, as_user("alice", "porch-editors")) as http:
            assert (await http.get(PR)).status_code == 200

        rotated = CertificateAuthority.create(cluster.directory / "rotated", "front-proxy-ca-2")
        new_proxy_cert = rotated.issue(cluster.directory / "rotated", "front-proxy-client")
        cluster.double.put("configmaps", "kube-system", authentication_configmap(rotated))
        with trio.fail_after(30):
            while True:
                try:
                    async with aggregator_client(running, new_proxy_cert, as_user("alice", "porch-editors")) as http:
                        if (await http.get(PR)).status_code == 200:
                            break
                except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                    pass  # refused at the handshake until the new CA is in
                await trio.sleep(0.1)
        assert cluster.sars()[-1]["user"] == "alice"

        # The old CA left the ConfigMap: what it issued no longer speaks for anyone.
        async with aggregator_client(running, cluster.front_proxy_cert, as_user("alice", "porch-editors")) as http:
            response = await http.get(PR)
        assert response.status_code == 403
        assert 'User "system:anonymous" cannot list' in response.json()["message"]

    reads = [r for r in cluster.double.requests if r.path == AUTHENTICATION]
    assert reads and all(r.query["fieldSelector"] == ["metadata.name=extension-apiserver-authentication"]
                         for r in reads)


REPOSITORIES = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"
RESOURCES = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources"


async def wait_for_status(cluster: Cluster, name: str, ready: str = "True",
                          generation: int = 1) -> dict[str, object]:
    """The Repository CR's status once its Ready condition says ``ready`` for ``generation``."""
    with trio.fail_after(30):
        while True:
            status = (cluster.double.get("repositories", "default", name) or {}).get("status") or {}
            conditions = {c["type"]: c for c in status.get("conditions") or ()}
            if conditions.get("Ready", {}).get("status") == ready and status.get("observedGeneration") == generation:
                return status
            await trio.sleep(0.05)


async def test_repository_status_is_written_to_the_custom_resource(porch: RunningServer, cluster: Cluster) -> None:
    status = await wait_for_status(cluster, "blueprints")
    # The shape of Porch's repository controller: one Ready condition, the sync fields.
    assert status["conditions"] == [{"type": "Ready", "status": "True", "reason": "Ready",
                                     "message": "Repository Ready", "observedGeneration": 1,
                                     "lastTransitionTime": status["conditions"][0]["lastTransitionTime"]}]
    assert status["packageCount"] == 1 and len(status["gitCommitHash"]) == 40
    assert status["lastFullSyncTime"] and status["nextFullSyncTime"]
    writes = [r for r in cluster.double.requests if r.path == f"{REPOSITORIES}/blueprints/status"]
    assert writes and writes[0].method == "PUT" and writes[0].status == 200
    assert writes[0].body["kind"] == "Repository" and writes[0].body["apiVersion"] == "config.porch.kpt.dev/v1alpha1"
    assert writes[0].body["metadata"]["resourceVersion"]  # optimistic concurrency, as Status().Update
    assert writes[0].body["spec"] == cluster.double.get("repositories", "default", "blueprints")["spec"]

    # A spec change bumps the generation; the next status says it observed it. Another writer
    # changes the object between our read and our write once: the 409 is read again and retried.
    interfered: list[str] = []

    def another_writer(method: str, path: str, body: object) -> None:
        if method == "PUT" and path == f"{REPOSITORIES}/blueprints/status" and not interfered:
            interfered.append(path)
            cluster.double.update("repositories", "default", "blueprints",
                                  lambda obj: obj["metadata"].setdefault("labels", {}).update(team="edge"))

    cluster.double.before_request = another_writer
    broken = cluster.double.get("repositories", "default", "blueprints")
    broken["spec"]["git"]["secretRef"]["name"] = "missing-auth"  # (the URL is immutable)
    cluster.double.put("repositories", "default", broken)
    status = await wait_for_status(cluster, "blueprints", ready="False", generation=2)
    assert status["conditions"][0]["reason"] == "Error" and status["conditions"][0]["observedGeneration"] == 2
    codes = [r.status for r in cluster.double.requests if r.path == f"{REPOSITORIES}/blueprints/status"]
    assert 409 in codes and codes[-1] == 200
    assert cluster.double.get("repositories", "default", "blueprints")["metadata"]["labels"] == {"team": "edge"}


async def test_injectors_read_configmaps_from_the_cluster(porch: RunningServer, cluster: Cluster,
                                                          git_server: GitServer) -> None:
    point = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: region\n  annotations:\n"
             "    kpt.dev/config-injection: required\ndata:\n  region: unset\n")
    git_server.create_repo("catalog").commit({"app/Kptfile": kptfile("app"), "app/region.yaml": point},
                                             tags=["app/v1"])
    git_server.create_repo("deploy")
    for name in ("catalog", "deploy"):
        cluster.double.put("secrets", "default", {**cluster.double.get("secrets", "default", "blueprints-auth"),
                                                  "metadata": {"name": f"{name}-auth"}})
        cluster.double.put("repositories", "default", repository_cr(name, git_server))
    cluster.double.put("configmaps", "default", {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "east"}, "data": {"region": "us-east"}})
    cluster.double.put("packagevariants", "default", {
        "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "PackageVariant", "metadata": {"name": "site"},
        "spec": {"upstream": {"repo": "catalog", "package": "app", "revision": 1},
                 "downstream": {"repo": "deploy", "package": "site"},
                 "injectors": [{"kind": "ConfigMap", "name": "east"}]}})
    async with aggregator_client(porch, cluster.front_proxy_cert, as_user("root", "system:masters")) as http:
        with trio.fail_after(60):
            while True:
                drafts = [item for item in (await http.get(PR)).json()["items"]
                          if item["spec"]["repository"] == "deploy" and item["spec"]["packageName"] == "site"]
                if drafts:
                    resources = (await http.get(RESOURCES + "/" + drafts[0]["metadata"]["name"])).json()
                    region = yaml.safe_load(resources["spec"]["resources"]["region.yaml"])
                    if region["metadata"]["annotations"].get("kpt.dev/injected-resource") == "east":
                        break
                await trio.sleep(0.1)
    assert region["data"] == {"region": "us-east"}
    lists = [r for r in cluster.double.requests if r.path == "/api/v1/namespaces/default/configmaps"]
    assert lists and lists[-1].method == "GET" and lists[-1].status == 200


async def until(check: Callable[[], Awaitable[object]], seconds: float = 60) -> object:
    """Poll ``check`` until it returns something true (within ``seconds``); that value."""
    with trio.fail_after(seconds):
        while not (value := await check()):
            await trio.sleep(0.1)
    return value


async def test_variant_sets_make_variants_in_the_cluster_and_finalizers_hold_their_deletion(
        porch: RunningServer, cluster: Cluster, git_server: GitServer) -> None:
    git_server.create_repo("deploy")
    cluster.double.put("secrets", "default", {**cluster.double.get("secrets", "default", "blueprints-auth"),
                                              "metadata": {"name": "deploy-auth"}})
    cluster.double.put("repositories", "default", repository_cr("deploy", git_server))
    cluster.double.put("packagevariantsets", "default", {
        "apiVersion": "config.porch.kpt.dev/v1alpha2", "kind": "PackageVariantSet", "metadata": {"name": "sites"},
        "spec": {"upstream": {"repo": "blueprints", "package": "basens", "revision": 1},
                 "targets": [{"repositories": [{"name": "deploy", "packageNames": ["site-a"]}]}]}})
    owner = cluster.double.get("packagevariantsets", "default", "sites")

    async def variant() -> dict[str, Any] | None:
        return next(iter(cluster.double.objects_of("packagevariants")), None)

    made = await until(variant)
    assert isinstance(made, dict)
    # Made in the cluster by the set's controller, as Porch's: owned by the set, held by the finalizer.
    assert made["spec"]["downstream"] == {"repo": "deploy", "package": "site-a"}
    assert made["metadata"]["ownerReferences"] == [{"apiVersion": "config.porch.kpt.dev/v1alpha2",
                                                    "kind": "PackageVariantSet", "name": "sites",
                                                    "uid": owner["metadata"]["uid"], "controller": True}]
    assert made["metadata"]["finalizers"] == ["config.porch.kpt.dev/packagevariants"]
    created = [r for r in cluster.double.requests if r.method == "POST" and r.path.endswith("/packagevariants")]
    assert created and created[0].status == 201

    async with aggregator_client(porch, cluster.front_proxy_cert, as_user("root", "system:masters")) as http:
        async def downstream() -> list[dict[str, Any]]:
            return [item for item in (await http.get(PR)).json()["items"]
                    if item["spec"]["repository"] == "deploy" and item["spec"]["packageName"] == "site-a"]

        await until(downstream)

        async def statuses() -> bool:
            pvs = cluster.double.get("packagevariantsets", "default", "sites") or {}
            pv = await variant() or {}
            ready = [c for c in (pvs.get("status") or {}).get("conditions") or () if c["type"] == "Ready"]
            pv_ready = [c for c in (pv.get("status") or {}).get("conditions") or () if c["type"] == "Ready"]
            return bool(ready and ready[0]["status"] == "True" and pv_ready and pv_ready[0]["status"] == "True")

        await until(statuses)  # both controllers' status, written to the cluster

        # The set goes: the apiserver's garbage collection deletes its variant, which the finalizer
        # holds until the controller applied the deletion policy (delete the downstream draft).
        cluster.double.delete("packagevariantsets", "default", "sites")

        async def finalized() -> bool:
            return await variant() is None and not await downstream()

        await until(finalized)
    marked = [e for rv, kind, res, e in cluster.double.events
              if res == "packagevariants" and kind == "MODIFIED" and e["metadata"].get("deletionTimestamp")]
    assert marked and marked[0]["metadata"]["finalizers"] == ["config.porch.kpt.dev/packagevariants"]
