"""OCI benchmark: create, approve and list through the server against the same pushes done with oras-py.

For each size N (default 10 and 1,000 published revisions already in the registry) this:

1. starts a real registry (Debian's docker-registry, htpasswd auth, loopback) and seeds a
   fresh registry path with N published revisions in Porch's layout (one package each,
   tag ``v1``, a gzip tar layer, a config whose history holds the ``kpt:`` init task,
   and the lifecycle and revision annotations), pushed with oras-py directly;
2. starts ``porch-embedded serve`` as a child process (fresh data directory, SQLite),
   registers the path as an OCI Repository with a basic-auth Secret and times the first
   sync (Ready);
3. times, ``--reps`` times each (median and tail):
   - create: POST a PackageRevision (init task) | oras: upload a layer and a config blob
     and PUT a Draft manifest;
   - approve: PUT .../approval of a Proposed revision | oras: GET the manifest and PUT it
     again with the Published and revision annotations;
   - list: GET every PackageRevision (the cache) | oras: what any client must do to list
     a registry path: the catalog, each repository's tags, and a HEAD of each tag;
4. prints both side by side with the ratio ours / oras.

oras-py is used as it comes: it answers each 401 challenge with a second request (the
server sends basic credentials up front). The registry checks the htpasswd bcrypt hash on
every authenticated request, which dominates both columns at 1,000 revisions.

Nothing is asserted; these are figures to read. The registry, the server and the
temporary directories are removed on the way out, also on error or Ctrl-C.

    .venv/bin/python bench/oci_bench.py [--sizes 10,1000] [--reps 10]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import secrets
import ssl
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import oras.provider

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stats import tail  # noqa: E402
from tests.parts.git_server import kptfile  # noqa: E402
from tests.parts.registry import Registry, start_registry, stop_process  # noqa: E402
from tests.parts.server import ServerProcess, free_port  # noqa: E402

PORCH = "/apis/porch.kpt.dev/v1alpha1/namespaces/default"
CONFIG = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Oras:
    """The pushes and reads another OCI client makes, with oras-py's session and auth."""

    def __init__(self, registry: Registry) -> None:
        self.client = oras.provider.Registry(hostname=registry.host, insecure=True, auth_backend="basic")
        self.client.auth.set_basic_auth(registry.username, registry.password)
        self.base = f"http://{registry.host}/v2"

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.client.do_request(url, method, **kwargs)
        assert response.status_code < 300, (method, url, response.status_code, response.text[:200])
        return response

    def blob(self, repository: str, data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        started = self.request("POST", f"{self.base}/{repository}/blobs/uploads/")
        location = started.headers["Location"]
        location = location if location.startswith("http") else f"http://{self.base.split('/')[2]}{location}"
        self.request("PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}", data=data,
                     headers={"Content-Type": "application/octet-stream"})
        return {"digest": digest, "size": len(data)}

    def push(self, repository: str, tag: str, name: str, lifecycle: str, revision: str = "") -> None:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            data = kptfile(name).encode()
            info = tarfile.TarInfo("Kptfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        layer = self.blob(repository, gzip.compress(raw.getvalue(), mtime=0))
        task = {"type": "init", "init": {"description": name}}
        config = self.blob(repository, json.dumps({
            "architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created_by": "kpt:" + json.dumps(task)}]}).encode())
        annotations = {"kpt.dev/lifecycle": lifecycle, **({"kpt.dev/revision": revision} if revision else {})}
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": {"mediaType": CONFIG_TYPE, **config},
                    "layers": [{"mediaType": LAYER, **layer}], "annotations": annotations}
        self.request("PUT", f"{self.base}/{repository}/manifests/{tag}", data=json.dumps(manifest).encode(),
                     headers={"Content-Type": MANIFEST})

    def approve(self, repository: str, tag: str) -> None:
        manifest = self.request("GET", f"{self.base}/{repository}/manifests/{tag}",
                                headers={"Accept": MANIFEST}).json()
        manifest["annotations"] = {**manifest.get("annotations", {}), "kpt.dev/lifecycle": "Published",
                                   "kpt.dev/revision": "v1"}
        self.request("PUT", f"{self.base}/{repository}/manifests/{tag}", data=json.dumps(manifest).encode(),
                     headers={"Content-Type": MANIFEST})

    def list(self, prefix: str) -> int:
        repositories: list[str] = []
        url = f"{self.base}/_catalog?n=1000"
        while url:
            page = self.request("GET", url)
            repositories += [r for r in page.json()["repositories"] if r.startswith(prefix + "/")]
            link = page.links.get("next", {}).get("url")
            url = f"http://{self.base.split('/')[2]}{link}" if link else ""
        pairs = [(r, t) for r in repositories
                 for t in self.request("GET", f"{self.base}/{r}/tags/list").json().get("tags") or []]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda p: self.request("HEAD", f"{self.base}/{p[0]}/manifests/{p[1]}",
                                                 headers={"Accept": MANIFEST}), pairs))
        return len(pairs)


def timed(samples: dict[str, list[float]], key: str, action: Callable[[], object]) -> None:
    started = time.perf_counter()
    action()
    samples.setdefault(key, []).append(time.perf_counter() - started)


def admin(server: ServerProcess) -> httpx.Client:
    token = (server.data_dir / "admin-token").read_text().strip()
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=300,
                        verify=ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt")))


def wait_ready(http: httpx.Client, name: str) -> None:
    while True:
        status = http.get(f"{CONFIG}/repositories/{name}").json().get("status") or {}
        ready = next((c for c in status.get("conditions") or () if c["type"] == "Ready"), None)
        if ready and ready["status"] == "True":
            return
        if ready and ready["status"] == "False":
            raise RuntimeError(f"repository {name} not ready: {ready.get('message')}")
        time.sleep(0.05)


def run_size(registry: Registry, size: int, reps: int, work: Path) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    client = Oras(registry)
    prefix = f"b{secrets.token_hex(4)}"
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.push(f"{prefix}/seed{i:05d}", "v1", f"seed{i:05d}", "Published", "v1"),
                      range(size)))
    samples["seed (oras, N pushes)"] = [time.perf_counter() - started]
    server = ServerProcess(work / f"data-{size}", free_port())
    server.start(["--function-runner", "none", "--sync-interval", "3600"])
    try:
        with admin(server) as http:
            secret = {"metadata": {"name": "bench-auth"}, "type": "kubernetes.io/basic-auth",
                      "stringData": {"username": registry.username, "password": registry.password}}
            assert http.post("/api/v1/namespaces/default/secrets", json=secret).status_code == 201
            repository = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                          "metadata": {"name": "bench"},
                          "spec": {"type": "oci", "oci": {"registry": f"{registry.host}/{prefix}",
                                                          "secretRef": {"name": "bench-auth"}}}}
            timed(samples, "first sync", lambda: (http.post(f"{CONFIG}/repositories", json=repository),
                                                  wait_ready(http, "bench")))
            for rep in range(reps):
                created: dict[str, Any] = {}

                def create(rep: int = rep) -> None:
                    response = http.post(f"{PORCH}/packagerevisions", json={"spec": {
                        "repository": "bench", "packageName": f"new{rep:03d}", "workspaceName": "ws"}})
                    assert response.status_code == 201, response.text
                    created.update(response.json())

                timed(samples, "create", create)
                timed(samples, "create (oras)", lambda rep=rep: client.push(f"{prefix}/direct{rep:03d}", "ws",
                                                                            f"direct{rep:03d}", "Proposed"))
                created["spec"]["lifecycle"] = "Proposed"
                name = created["metadata"]["name"]
                proposed = http.put(f"{PORCH}/packagerevisions/{name}", json=created).json()
                proposed["spec"]["lifecycle"] = "Published"
                timed(samples, "approve", lambda: http.put(f"{PORCH}/packagerevisions/{name}/approval",
                                                           json=proposed).raise_for_status())
                timed(samples, "approve (oras)", lambda rep=rep: client.approve(f"{prefix}/direct{rep:03d}", "ws"))
                timed(samples, "list", lambda: http.get(f"{PORCH}/packagerevisions").raise_for_status())
                timed(samples, "list (oras)", lambda: client.list(prefix))
    finally:
        server.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000")
    parser.add_argument("--reps", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oci-bench-") as temp:
        work = Path(temp)
        (work / "registry").mkdir()
        registry, process = start_registry(work / "registry")
        try:
            print(f"{'N':>6}  {'operation':<22} {'ours median':>12} {'tail':>14} {'oras median':>12} "
                  f"{'tail':>14} {'ours/oras':>9}")
            for size in (int(s) for s in options.sizes.split(",")):
                samples = run_size(registry, size, options.reps, work)
                for key in ("seed (oras, N pushes)", "first sync"):
                    print(f"{size:>6}  {key:<22} {statistics.median(samples[key]):>11.3f}s")
                for operation in ("create", "approve", "list"):
                    ours, theirs = samples[operation], samples[f"{operation} (oras)"]
                    label, value = tail(ours, 0.9)
                    their_label, their_value = tail(theirs, 0.9)
                    print(f"{size:>6}  {operation:<22} {statistics.median(ours):>11.4f}s "
                          f"{label + ' ' + format(value, '.4f') + 's':>14} {statistics.median(theirs):>11.4f}s "
                          f"{their_label + ' ' + format(their_value, '.4f') + 's':>14} "
                          f"{statistics.median(ours) / statistics.median(theirs):>9.2f}")
        finally:
            stop_process(process)


if __name__ == "__main__":
    main()
