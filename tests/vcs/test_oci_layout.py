"""The OCI adapter writes Porch's layout, as other clients see it: oras-py reads the tags,
annotations, history and layers, and podman (an independent OCI reader) flattens the layers
to exactly the package's files, removed files included."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import oras.provider

from porch_embedded.vcs import Author, Credentials, DraftWrite, OciStorage
from tests.parts.fn_images import containers_conf, podman_env
from tests.parts.registry import Registry, oci_registry

__all__ = ["containers_conf", "oci_registry"]

INIT = {"type": "init", "init": {"description": "layout"}}


async def test_revisions_are_tags_with_lifecycle_annotations_history_tasks_and_one_layer_per_update(
        oci_registry: Registry, containers_conf: Path) -> None:
    path = f"{oci_registry.host}/l{secrets.token_hex(4)}"
    storage = OciStorage()
    spec = storage.parse({"metadata": {"name": "layout"}, "spec": {"oci": {"registry": path}}})
    async with storage.open(spec, Credentials(oci_registry.username, oci_registry.password)) as repo:
        draft = await repo.save_draft(DraftWrite("team/app", "ws", {"Kptfile": "a: 1\n", "old/gone.yaml": "g: 1\n"},
                                                 task=INIT, author=Author.from_user("alice")))
        edited = await repo.save_draft(DraftWrite("team/app", "ws", {"Kptfile": "a: 2\n", "new.yaml": "n: 1\n"},
                                                  task={"type": "render"}, parent=draft))
        await repo.approve(await repo.propose(edited), 1, author=Author.from_user("bob"))

    client = oras.provider.Registry(hostname=oci_registry.host, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth(oci_registry.username, oci_registry.password)
    assert client.get_tags(f"{path}/team/app") == ["ws"]
    manifest = client.get_manifest(f"{path}/team/app:ws")
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert {k: v for k, v in manifest["annotations"].items() if k.startswith("kpt.dev/")} == {
        "kpt.dev/lifecycle": "Published", "kpt.dev/revision": "v1"}
    assert manifest["annotations"]["porch.kpt.dev/published-by"] == "bob"
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"] * 2
    config = json.loads(client.get_blob(f"{path}/team/app", manifest["config"]["digest"]).content)
    assert [entry["created_by"] for entry in config["history"]] == [
        "kpt:" + json.dumps(INIT, separators=(",", ":")), 'kpt:{"type":"render"}']
    assert len(config["rootfs"]["diff_ids"]) == 2

    image = f"{path}/team/app:ws"
    env = podman_env(containers_conf)
    pulled = subprocess.run(["podman", "pull", "-q", "--tls-verify=false", "--creds",
                             f"{oci_registry.username}:{oci_registry.password}", image],
                            env=env, capture_output=True, text=True, timeout=60)
    assert pulled.returncode == 0, pulled.stderr
    try:
        mounted = subprocess.run(["podman", "image", "mount", image], env=env, capture_output=True, text=True,
                                 timeout=60, check=True).stdout.strip()
        root = Path(mounted)
        files = {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}
        assert files == {"Kptfile": "a: 2\n", "new.yaml": "n: 1\n"}
    finally:
        subprocess.run(["podman", "image", "unmount", image], env=env, capture_output=True, timeout=60)
        subprocess.run(["podman", "rmi", "-f", image], env=env, capture_output=True, timeout=60)
