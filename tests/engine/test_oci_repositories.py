"""OCI repositories through the API: a real registry (docker-registry with htpasswd) and a real server.

The lifecycle, clones between git and OCI, a sync that picks up what another client
pushed and deleted (pushed here with oras-py directly, in Porch's layout), and a
Repository left Ready=False with a clear message when the registry refuses us or is gone.
"""

from __future__ import annotations

import gzip
import io
import json
import secrets
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oras.provider
import pytest
import yaml

from porch_embedded.api import ensure_pki
from tests.engine.conftest import Porch
from tests.parts.git_server import package_files
from tests.parts.registry import Registry, oci_registry, start_registry, stop_process

__all__ = ["oci_registry"]


def prefix() -> str:
    """A registry path of this test's own (the registry lives for the whole session)."""
    return f"p{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, str]]:
    """A registry serving HTTPS only on 127.0.0.1, with a certificate from a CA of its own (PEM returned)."""
    directory = tmp_path_factory.mktemp("tls-registry")
    pki = ensure_pki(directory / "pki")
    registry, process = start_registry(directory, tls=(pki.serving_cert, pki.serving_key))
    try:
        yield registry, pki.ca_cert.read_text()
    finally:
        stop_process(process)


async def register_oci(porch: Porch, name: str, registry: str, *, username: str, password: str,
                       wait: str = "True", ca_bundle: str = "") -> dict[str, Any]:
    data = {"username": username, "password": password, **({"ca.crt": ca_bundle} if ca_bundle else {})}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-auth"},
              "type": "kubernetes.io/basic-auth", "stringData": data}
    response = await porch.http.post(f"/api/v1/namespaces/{porch.namespace}/secrets", json=secret)
    assert response.status_code == 201, response.text
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
            "spec": {"type": "oci", "oci": {"registry": registry, "secretRef": {"name": f"{name}-auth"}}}}
    await porch.ok(await porch.http.post(porch.repositories_url(), json=body), 201)
    return await porch.wait_ready(name, status=wait)


def oras_client(registry: Registry) -> oras.provider.Registry:
    client = oras.provider.Registry(hostname=registry.host, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth(registry.username, registry.password)
    return client


def push_as_another_client(registry: Registry, repository: str, tag: str, files: dict[str, str],
                           lifecycle: str, revision: str, work: Path) -> None:
    """Push a package revision in Porch's layout with oras-py alone: a layer, a config, a manifest."""
    client = oras_client(registry)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, text in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    layer = work / f"{tag}.tar.gz"
    layer.write_bytes(gzip.compress(raw.getvalue()))
    task = {"type": "init", "init": {"description": "pushed by another client"}}
    config = work / f"{tag}.json"
    config.write_text(json.dumps({"architecture": "", "os": "", "config": {},
                                  "rootfs": {"type": "layers", "diff_ids": []},
                                  "history": [{"created_by": "kpt:" + json.dumps(task)}]}))
    container = client.get_container(f"{registry.host}/{repository}:{tag}")
    layer_desc = oras.oci.NewLayer(str(layer), media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    config_desc = oras.oci.NewLayer(str(config), media_type="application/vnd.oci.image.config.v1+json")
    assert client.upload_blob(str(layer), container, layer_desc).status_code in (200, 201)
    assert client.upload_blob(str(config), container, config_desc).status_code in (200, 201)
    manifest = oras.oci.NewManifest()
    manifest["layers"] = [layer_desc]
    manifest["config"] = config_desc
    manifest["annotations"] = {"kpt.dev/lifecycle": lifecycle, "kpt.dev/revision": revision}
    assert client.upload_manifest(manifest, container).status_code == 201


async def test_the_lifecycle_of_an_oci_package_through_the_api(porch: Porch, oci_registry: Registry) -> None:
    path = prefix()
    ready = await register_oci(porch, "images", f"{oci_registry.host}/{path}", username=oci_registry.username,
                               password=oci_registry.password)
    assert ready["status"]["packageCount"] == 0
    draft = await porch.init("images", "app", "ws1")
    assert draft["status"]["selfLock"]["type"] == "oci"
    assert draft["status"]["selfLock"]["oci"]["image"].startswith(f"{oci_registry.host}/{path}/app:ws1@sha256:")
    files = (await porch.resources("images.app.ws1"))["spec"]["resources"]
    files["cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
    await porch.push_files("images.app.ws1", files)
    published = await porch.publish(draft)
    assert (published["spec"]["lifecycle"], published["spec"]["revision"]) == ("Published", 1)
    assert published["status"]["publishedBy"]

    tags = oras_client(oci_registry).get_tags(f"{oci_registry.host}/{path}/app")
    assert tags == ["ws1"], "each workspace is one tag of the package's repository"
    manifest = oras_client(oci_registry).get_manifest(f"{oci_registry.host}/{path}/app:ws1")
    assert manifest["annotations"]["kpt.dev/lifecycle"] == "Published"
    assert manifest["annotations"]["kpt.dev/revision"] == "v1"
    assert len(manifest["layers"]) == 2, "one layer per update: init, then the pushed resources"

    second = await porch.init("images", "app", "ws2", tasks=[{"type": "edit", "edit": {
        "sourceRef": {"name": "images.app.ws1"}}}])
    assert (await porch.resources("images.app.ws2"))["spec"]["resources"]["cm.yaml"] == files["cm.yaml"]
    assert (await porch.set_lifecycle(second, "Proposed"))["spec"]["lifecycle"] == "Proposed"
    v2 = await porch.set_lifecycle(await porch.ok(await porch.http.get(porch.revisions_url("images.app.ws2"))),
                                   "Published", via="approval")
    assert v2["spec"]["revision"] == 2
    assert v2["metadata"]["labels"]["kpt.dev/latest-revision"] == "true"

    marked = await porch.set_lifecycle(await porch.ok(await porch.http.get(porch.revisions_url("images.app.ws1"))),
                                       "DeletionProposed")
    assert marked["spec"]["lifecycle"] == "DeletionProposed"
    assert (await porch.http.delete(porch.revisions_url("images.app.ws1"))).status_code == 200
    assert oras_client(oci_registry).get_tags(f"{oci_registry.host}/{path}/app") == ["ws2"]

    await porch.sync_now("images")  # a full sync from the registry agrees with what the writes left
    names = {r["metadata"]["name"]: r["spec"]["lifecycle"] for r in await porch.list_revisions()}
    assert names == {"images.app.ws2": "Published"}
    packages = await porch.ok(await porch.http.get(
        f"/apis/porch.kpt.dev/v1alpha1/namespaces/{porch.namespace}/packages"))
    assert [p["status"]["latestRevision"] for p in packages["items"]] == [2]


async def test_clone_from_git_into_oci_and_from_oci_into_git(porch: Porch, oci_registry: Registry) -> None:
    seeder = porch.git.create_repo("blueprints")
    tagged = seeder.commit(package_files("basens"), tags=["basens/v1"])
    porch.git.create_repo("deploy").commit({"README.md": "x\n"})
    await porch.register("blueprints")
    await porch.register("deploy")
    path = prefix()
    await register_oci(porch, "images", f"{oci_registry.host}/{path}", username=oci_registry.username,
                       password=oci_registry.password)

    into_oci = await porch.init("images", "basens-oci", "ws", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}])
    assert into_oci["status"]["upstreamLock"]["git"]["commit"] == tagged
    files = (await porch.resources("images.basens-oci.ws"))["spec"]["resources"]
    assert yaml.safe_load(files["Kptfile"])["upstreamLock"]["git"]["commit"] == tagged
    published = await porch.publish(into_oci)
    image = published["status"]["selfLock"]["oci"]["image"]

    into_git = await porch.init("deploy", "from-oci", "ws", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "images.basens-oci.ws"}}}}])
    kptfile = yaml.safe_load((await porch.resources(into_git["metadata"]["name"]))["spec"]["resources"]["Kptfile"])
    reference, digest = image.split("@")
    assert kptfile["upstreamLock"] == {"type": "generic", "generic": {
        "storeID": "oci", "resourceID": reference, "resourceVersion": digest}}
    assert "upstream" not in kptfile and kptfile["metadata"]["name"] == "from-oci"
    assert any(ref.startswith("refs/heads/drafts/from-oci/") for ref in porch.git.refs("deploy"))

    # Porch's upstreamRef.oci names no Secret: a registry that wants credentials says what to do instead.
    unregistered = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "deploy", "packageName": "by-image", "workspaceName": "ws", "tasks": [{"type": "clone", "clone": {
            "upstreamRef": {"type": "oci", "oci": {"image": image}}}}]}})
    assert unregistered.status_code == 503
    assert unregistered.json()["message"].endswith(
        "upstreamRef.oci names no Secret (as in Porch): register the registry as a Repository and clone its "
        "package revision through upstreamRef.upstreamRef")


async def test_a_sync_brings_tags_pushed_and_deleted_by_another_client(porch: Porch, oci_registry: Registry,
                                                                       tmp_path: Path) -> None:
    path = prefix()
    await register_oci(porch, "shared", f"{oci_registry.host}/{path}", username=oci_registry.username,
                       password=oci_registry.password)
    ours = await porch.init("shared", "ours", "ws")
    theirs_files = {k.removeprefix("theirs/"): v for k, v in package_files("theirs").items()}
    push_as_another_client(oci_registry, f"{path}/theirs", "v1", theirs_files, "Published", "v1", tmp_path)
    push_as_another_client(oci_registry, f"{path}/theirs", "draft", {"Kptfile": "x: 1\n"}, "Draft", "", tmp_path)
    await porch.sync_now("shared")
    found = {r["metadata"]["name"]: r for r in await porch.list_revisions()}
    assert set(found) == {"shared.ours.ws", "shared.theirs.v1", "shared.theirs.draft"}
    theirs = found["shared.theirs.v1"]
    assert (theirs["spec"]["lifecycle"], theirs["spec"]["revision"]) == ("Published", 1)
    assert theirs["spec"]["tasks"] == [{"type": "init", "init": {"description": "pushed by another client"}}]
    resources = (await porch.resources("shared.theirs.v1"))["spec"]["resources"]
    assert resources == theirs_files

    oras_client(oci_registry).delete_tag(f"{oci_registry.host}/{path}/theirs", "draft")
    await porch.sync_now("shared")
    assert {r["metadata"]["name"] for r in await porch.list_revisions()} == {"shared.ours.ws", "shared.theirs.v1"}
    assert ours["spec"]["lifecycle"] == "Draft"


async def test_refused_credentials_leave_the_repository_not_ready_naming_the_secret(
        porch: Porch, oci_registry: Registry) -> None:
    failed = await register_oci(porch, "locked", f"{oci_registry.host}/{prefix()}", username=oci_registry.username,
                                password="wrong-password", wait="False")
    ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Error"
    assert ready["message"] == (
        f"{oci_registry.host}: the OCI registry refused the credentials of Secret 'locked-auth' while checking "
        "the registry; check the username and password (or bearerToken) it holds")
    assert "wrong-password" not in json.dumps(failed)


async def test_a_registry_path_that_overlaps_a_registered_one_is_a_conflict(
        porch: Porch, oci_registry: Registry) -> None:
    """The same path twice, a nested path, or the registry's root beside a path serve the same images."""
    path = f"{oci_registry.host}/{prefix()}"
    await register_oci(porch, "first", path, username=oci_registry.username, password=oci_registry.password)

    async def refused(name: str, registry: str) -> str:
        body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
                "spec": {"type": "oci", "oci": {"registry": registry}}}
        response = await porch.http.post(porch.repositories_url(), json=body)
        assert response.status_code == 409, response.text
        status = response.json()
        assert (status["reason"], status["details"]["name"]) == ("Conflict", name), status
        return str(status["message"])

    for name, registry in [("again", path), ("spelled", f"oci://{path}/"), ("nested", f"{path}/team"),
                           ("root", oci_registry.host)]:
        message = await refused(name, registry)
        assert message.startswith("Repository conflict with existing repository: default/first (same OCI "
                                  "registry, and its path overlaps this one's)"), (registry, message)
    sibling = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "sibling"},
               "spec": {"type": "oci", "oci": {"registry": f"{path}-other"}}}
    await porch.ok(await porch.http.post(porch.repositories_url(), json=sibling), 201)
    await porch.ok(await porch.http.post("/api/v1/namespaces", json={"metadata": {"name": "other"}}), 201)
    elsewhere = Porch(porch.server, porch.http, porch.git, namespace="other")
    same_elsewhere = {**sibling, "metadata": {"name": "first"}, "spec": {"type": "oci", "oci": {"registry": path}}}
    await elsewhere.ok(await porch.http.post(elsewhere.repositories_url(), json=same_elsewhere), 201)


async def test_an_unreachable_registry_leaves_the_repository_not_ready(porch: Porch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    failed = await register_oci(porch, "gone", f"127.0.0.1:{port}/packages", username="u", password="p",
                                wait="False")
    ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Error"
    assert ready["message"].startswith(f"127.0.0.1:{port}: the OCI registry did not answer while checking the "
                                       "registry (ConnectionError:")


async def test_a_tls_registry_is_verified_with_the_ca_bundle_of_the_secret(
        porch: Porch, tls_registry: tuple[Registry, str]) -> None:
    registry, ca_bundle = tls_registry
    await register_oci(porch, "secure", f"{registry.host}/{prefix()}", username=registry.username,
                       password=registry.password, ca_bundle=ca_bundle)
    draft = await porch.init("secure", "app", "ws")
    assert draft["status"]["selfLock"]["oci"]["image"].startswith(f"{registry.host}/")

    failed = await register_oci(porch, "unverified", f"{registry.host}/{prefix()}", username=registry.username,
                                password=registry.password, wait="False")
    ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
    assert ready["message"].startswith(f"{registry.host}: TLS to the OCI registry failed while checking the registry")
    assert ready["message"].endswith("give the registry's CA bundle as ca.crt in the repository's Secret")


async def test_an_upgrade_between_oci_revisions_merges_into_a_git_downstream(
        porch: Porch, oci_registry: Registry) -> None:
    porch.git.create_repo("deploy").commit({"README.md": "x\n"})
    await porch.register("deploy")
    await register_oci(porch, "images", f"{oci_registry.host}/{prefix()}", username=oci_registry.username,
                       password=oci_registry.password)
    v1 = await porch.init("images", "app", "v1")
    v1_files = (await porch.resources("images.app.v1"))["spec"]["resources"]
    await porch.publish(v1)
    v2 = await porch.init("images", "app", "v2", tasks=[{"type": "edit", "edit": {
        "sourceRef": {"name": "images.app.v1"}}}])
    await porch.push_files("images.app.v2", {**v1_files, "added.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                             "metadata:\n  name: added-in-v2\n"})
    v2 = await porch.publish(v2)

    local = await porch.init("deploy", "mine", "v1", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "images.app.v1"}}}}])
    local_files = (await porch.resources("deploy.mine.v1"))["spec"]["resources"]
    await porch.push_files("deploy.mine.v1", {**local_files, "local.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                              "metadata:\n  name: local-only\n"})
    await porch.publish(local)
    upgraded = await porch.init("deploy", "mine", "v2", tasks=[{"type": "upgrade", "upgrade": {
        "oldUpstreamRef": {"name": "images.app.v1"}, "newUpstreamRef": {"name": "images.app.v2"},
        "localPackageRevisionRef": {"name": "deploy.mine.v1"}}}])
    files = (await porch.resources(upgraded["metadata"]["name"]))["spec"]["resources"]
    assert {"added.yaml", "local.yaml"} <= set(files)
    reference, digest = v2["status"]["selfLock"]["oci"]["image"].split("@")
    assert yaml.safe_load(files["Kptfile"])["upstreamLock"] == {"type": "generic", "generic": {
        "storeID": "oci", "resourceID": reference, "resourceVersion": digest}}
