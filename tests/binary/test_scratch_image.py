"""The static binary in a FROM-scratch image answers kubectl through its kubeconfig and /readyz.

The image is built offline by podman from the binary (packaging/build-image) and holds
nothing else: no shell, no libc, no Python. The container runs read-only as uid 10001,
with /tmp on an executable tmpfs (the binary unpacks itself there) and the data
directory on a volume, so the kubeconfig it writes is read from the host as a user's
kubectl would. A real git server with basic auth stands on loopback (host network).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from tests.parts.fn_images import podman_env
from tests.parts.git_server import PASSWORD, USERNAME, GitServer
from tests.parts.server import RunningServer, free_port, kubectl

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")]

ROOT = Path(__file__).resolve().parents[2]
UID = 10001
IMAGE_FILES = {"etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt", "porch-embedded"}


def podman(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, env=env, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


@pytest.fixture(scope="module")
def image(static_binary: Path, containers_conf: Path) -> Iterator[str]:
    """The image, built by the repository's script from the binary under test, removed afterwards."""
    tag = f"localhost/porch-embedded-test:{uuid.uuid4().hex[:12]}"
    env = podman_env(containers_conf)
    subprocess.run([str(ROOT / "packaging" / "build-image"), str(static_binary), tag], env=env, check=True,
                   timeout=300)
    try:
        yield tag
    finally:
        podman(env, "rmi", "-f", tag, check=False)


def test_image_holds_the_binary_and_nothing_else(image: str, containers_conf: Path, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    podman(podman_env(containers_conf), "save", "--format", "docker-archive", "-o", str(archive), image)
    files: set[str] = set()
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                files |= {member.name.lstrip("./") for member in inner.getmembers() if not member.isdir()}
    assert files == IMAGE_FILES


async def test_scratch_container_answers_kubectl_and_stops_cleanly_on_sigterm(
        image: str, containers_conf: Path, git_server: GitServer, tmp_path: Path) -> None:
    env = podman_env(containers_conf)
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, UID, UID)
    port = free_port()
    name = f"porch-embedded-test-{uuid.uuid4().hex[:12]}"
    git_server.create_repo("blueprints").commit(
        {"basens/Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: basens\n"}, tags=["basens/v1"])
    podman(env, "run", "-d", "--name", name, "--network=host", "--read-only",
           "--tmpfs", "/tmp:rw,exec,mode=1777", "-v", f"{data}:/data", image,
           "serve", "--data-dir", "/data", "--listen", f"127.0.0.1:{port}", "--function-runner", "none")
    try:
        server = RunningServer(f"https://127.0.0.1:{port}", data)
        await wait_ready(server, env, name)
        assert (await kubectl(server, "get", "--raw", "/readyz")).stdout == b"ok"
        resources = (await kubectl(server, "api-resources", "--api-group=porch.kpt.dev", "-o", "name")).stdout
        assert b"packagerevisions.porch.kpt.dev" in resources.split()
        await kubectl(server, "apply", "-f", "-", stdin=repository_manifests(git_server).encode())
        await kubectl(server, "wait", "--for=condition=Ready", "repositories/blueprints", "--timeout=60s")
        listed = await kubectl(server, "get", "packagerevisions", "-o",
                               "custom-columns=PACKAGE:.spec.packageName,REVISION:.spec.revision,"
                               "LIFECYCLE:.spec.lifecycle", "--no-headers")
        rows = sorted(tuple(line.split()) for line in listed.stdout.decode().splitlines())
        assert rows == [("basens", "-1", "Published"), ("basens", "1", "Published")]  # -1: the main placeholder
        # SIGTERM reaches the server through both launchers (staticx, then PyInstaller) and it drains.
        podman(env, "stop", "-t", "30", name)
        state = json.loads(podman(env, "inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 0, podman(env, "logs", name).stderr[-3000:]
    finally:
        podman(env, "rm", "-f", "-t", "0", name, check=False)


async def wait_ready(server: RunningServer, env: dict[str, str], name: str) -> None:
    """Wait until the container's server answers /readyz; fail with its log if it exits first."""
    with trio.fail_after(90):
        while True:
            running = podman(env, "inspect", "--format", "{{.State.Running}}", name).stdout.strip()
            if running != "true":
                logs = podman(env, "logs", name, check=False)
                raise AssertionError(f"the container stopped: {logs.stdout[-2000:]}{logs.stderr[-3000:]}")
            if server.kubeconfig.exists() and server.ca_file.exists():
                try:
                    context = ssl.create_default_context(cafile=str(server.ca_file))
                    async with httpx.AsyncClient(verify=context, timeout=2) as client:
                        if (await client.get(f"{server.url}/readyz")).status_code == 200:
                            return
                except (httpx.HTTPError, ssl.SSLError):
                    pass
            await trio.sleep(0.2)


def repository_manifests(git: GitServer) -> str:
    return f"""\
apiVersion: v1
kind: Secret
metadata:
  name: blueprints-auth
type: kubernetes.io/basic-auth
stringData:
  username: {USERNAME}
  password: {PASSWORD}
---
apiVersion: config.porch.kpt.dev/v1alpha1
kind: Repository
metadata:
  name: blueprints
spec:
  type: git
  git:
    repo: {git.url("blueprints")}
    branch: main
    secretRef:
      name: blueprints-auth
"""
