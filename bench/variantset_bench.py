"""PackageVariantSet fan-out benchmark: one set over N downstream repositories.

A server runs as a child process (SQLite store) against the test git smart-HTTP server
(basic auth, loopback). One blueprint package is published in ``blueprints``; N empty
downstream repositories are registered, each labelled ``fleet=bench``. Then one
PackageVariantSet with a ``repositorySelector`` on that label and a CEL template
(package name and a label from the repository) is created, and the benchmark prints:

- the time until all N PackageVariants exist, and until the set reports Ready;
- when a PackageVariant controller runs in the server (it turns each variant into a
  downstream draft), the time until every downstream draft exists, and the number of
  git pushes the server made meanwhile (one per draft is the ideal); without one, it
  says so after ``--draft-wait`` seconds without a draft;
- the time of a no-op re-reconcile (a spec change rendering the same variants) and
  whether it wrote any PackageVariant (it must not).

Figures are printed, never asserted.

    python bench/variantset_bench.py [--repositories 100] [--draft-wait 20]
"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.parts.git_server import PASSWORD, USERNAME, GitServer, package_files, serve_git  # noqa: E402
from tests.parts.server import ServerProcess, free_port  # noqa: E402

NAMESPACE = "default"
CONFIG = f"/apis/config.porch.kpt.dev/v1alpha1/namespaces/{NAMESPACE}"
SETS = f"/apis/config.porch.kpt.dev/v1alpha2/namespaces/{NAMESPACE}/packagevariantsets"
REVISIONS = f"/apis/porch.kpt.dev/v1alpha1/namespaces/{NAMESPACE}/packagerevisions"
OWNER_LABEL = "config.porch.kpt.dev/packagevariantset"


class PushCounter:
    """Counts receive-pack requests (pushes) the git server answers."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def install(self) -> None:
        original = GitServer.app
        counter = self

        def app(server: GitServer, environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").endswith("/git-receive-pack"):
                with counter._lock:
                    counter.count += 1
            return original(server, environ, start_response)

        GitServer.app = app  # type: ignore[method-assign]


def client(server: ServerProcess) -> httpx.Client:
    token = (server.data_dir / "admin-token").read_text().strip()
    context = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, verify=context,
                        timeout=60)


def register(http: httpx.Client, git: GitServer, name: str, labels: dict[str, str]) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-auth"},
              "type": "kubernetes.io/basic-auth", "stringData": {"username": USERNAME, "password": PASSWORD}}
    response = http.post(f"/api/v1/namespaces/{NAMESPACE}/secrets", json=secret)
    assert response.status_code in (201, 409), response.text
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": name, "labels": labels},
            "spec": {"type": "git", "deployment": name != "blueprints",
                     "git": {"repo": git.url(name), "branch": "main", "secretRef": {"name": f"{name}-auth"}}}}
    response = http.post(f"{CONFIG}/repositories", json=body)
    assert response.status_code == 201, response.text


def wait_for(check: Any, timeout_s: float, interval_s: float = 0.05) -> float | None:
    """Seconds until ``check()`` is truthy, or None after ``timeout_s``."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if check():
            return time.perf_counter() - started
        time.sleep(interval_s)
    return None


def variants(http: httpx.Client, uid: str) -> list[dict[str, Any]]:
    response = http.get(f"/apis/config.porch.kpt.dev/v1alpha1/namespaces/{NAMESPACE}/packagevariants",
                        params={"labelSelector": f"{OWNER_LABEL}={uid}"})
    return list(response.json()["items"])


def ready_generation(http: httpx.Client, name: str) -> int | None:
    body = http.get(f"{SETS}/{name}").json()
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition["type"] == "Ready" and condition["status"] == "True":
            return int(condition.get("observedGeneration") or 0)
    return None


def downstream_drafts(http: httpx.Client, count: int) -> int:
    items = http.get(REVISIONS).json()["items"]
    return sum(1 for item in items if item["spec"].get("repository", "").startswith("site-")
               and item["spec"].get("lifecycle") == "Draft")


def main(count: int, draft_wait_s: float) -> None:
    pushes = PushCounter()
    pushes.install()
    with tempfile.TemporaryDirectory() as temporary, serve_git(Path(temporary) / "git") as git:
        git.create_repo("blueprints").commit(package_files("basens"), tags=["basens/v1"])
        for index in range(count):
            git.create_repo(f"site-{index:03d}")
        server = ServerProcess(Path(temporary) / "data", free_port())
        server.start(["--function-runner", "none"])
        try:
            with client(server) as http:
                started = time.perf_counter()
                register(http, git, "blueprints", {})
                for index in range(count):
                    register(http, git, f"site-{index:03d}", {"fleet": "bench", "env": "prod" if index % 2 else "dev"})
                print(f"{count} downstream repositories registered in {time.perf_counter() - started:.2f} s")
                upstream_seen = wait_for(lambda: any(
                    i["metadata"]["name"] == "blueprints.basens.v1" for i in http.get(REVISIONS).json()["items"]), 120)
                print(f"upstream revision visible after {upstream_seen:.2f} s" if upstream_seen is not None
                      else "upstream revision never appeared")
                pushes_before = pushes.count
                spec = {"upstream": {"repo": "blueprints", "package": "basens", "revision": 1}, "targets": [{
                    "repositorySelector": {"matchLabels": {"fleet": "bench"}},
                    "template": {"downstream": {"packageExpr": "'basens-' + repository.labels['env']"},
                                 "labelExprs": [{"key": "site", "valueExpr": "repository.name"}]}}]}
                body = {"apiVersion": "config.porch.kpt.dev/v1alpha2", "kind": "PackageVariantSet",
                        "metadata": {"name": "fleet"}, "spec": spec}
                started = time.perf_counter()
                created = http.post(SETS, json=body)
                assert created.status_code == 201, created.text
                uid = created.json()["metadata"]["uid"]
                all_variants = wait_for(lambda: len(variants(http, uid)) == count, 300)
                ready = wait_for(lambda: ready_generation(http, "fleet") == 1, 300)
                total = time.perf_counter() - started
                print(f"all {count} PackageVariants exist after {all_variants:.2f} s" if all_variants is not None
                      else f"only {len(variants(http, uid))} of {count} PackageVariants after 300 s")
                print(f"set Ready after {total:.2f} s" if ready is not None else "set never Ready")
                first = wait_for(lambda: downstream_drafts(http, count) > 0, draft_wait_s, 0.2)
                if first is None:
                    print(f"no downstream draft within {draft_wait_s:.0f} s: no PackageVariant controller runs "
                          "in this server, drafts not measured")
                else:
                    drafts = wait_for(lambda: downstream_drafts(http, count) >= count, 300, 0.2)
                    elapsed = time.perf_counter() - started
                    made = downstream_drafts(http, count)
                    print(f"{made} downstream drafts exist after {elapsed:.2f} s"
                          + ("" if drafts is not None else " (not all within 300 s)"))
                    print(f"git pushes since the set was created: {pushes.count - pushes_before} "
                          f"(drafts: {made})")
                before = {v["metadata"]["name"]: v["metadata"]["resourceVersion"] for v in variants(http, uid)}
                started = time.perf_counter()
                same = {"targets": [{"repositorySelector": {"matchLabels": {"fleet": "bench"}},
                                     "template": {"downstream": {"packageExpr": "'basens-' + repository.labels.env"},
                                                  "labelExprs": [{"key": "site", "valueExpr": "repository.name"}]}}]}
                patched = http.patch(f"{SETS}/fleet", json={"spec": same},
                                     headers={"content-type": "application/merge-patch+json"})
                assert patched.status_code == 200, patched.text
                again = wait_for(lambda: ready_generation(http, "fleet") == 2, 300)
                after = {v["metadata"]["name"]: v["metadata"]["resourceVersion"] for v in variants(http, uid)}
                written = sum(1 for name, rv in after.items() if before.get(name) != rv)
                print(f"no-op re-reconcile of {count} targets: {again:.2f} s, PackageVariants written: {written}"
                      if again is not None else "re-reconcile never finished")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repositories", type=int, default=100)
    parser.add_argument("--draft-wait", type=float, default=20.0)
    arguments = parser.parse_args()
    main(arguments.repositories, arguments.draft_wait)
