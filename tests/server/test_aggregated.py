"""`serve --aggregated` behind a kube-apiserver, against the apiserver double.

No kube-apiserver runs here: tests/parts/kube_double.py is a contract double of the
endpoints used (TokenReview, SubjectAccessReview, custom resources with list/watch,
Secrets, Leases), and its FrontProxy plays the aggregator: kubectl authenticates to it,
and it forwards to porch-embedded over a client certificate signed by the requestheader
CA with X-Remote-User/X-Remote-Group headers. The git server is real, and so is kubectl.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import yaml

from porch_embedded.server import AggregatedSettings
from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server, package_files
from tests.parts.kube_double import (
    CertificateAuthority,
    FrontProxy,
    KubeDouble,
    NoKubelet,
    start_front_proxy,
    start_kube_double,
)
from tests.parts.server import RunningServer, start_server

__all__ = ["git_server"]

Json = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
PR = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions"


def printed_crds() -> list[Json]:
    """The CRDs as `porch-embedded crds` prints them."""
    done = subprocess.run([sys.executable, "-m", "porch_embedded", "crds"], capture_output=True, text=True,
                          check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def porch_rbac(spec: Json) -> tuple[bool, bool, str]:
    """The cluster's RBAC as the double's SubjectAccessReview policy.

    Discovery for every authenticated user (system:discovery); porch-editors work on
    package revisions in default; only porch-approvers may update packagerevisions/approval;
    mallory is denied outright.
    """
    groups = spec.get("groups") or []
    if spec.get("user") == "mallory":
        return False, True, "mallory is denied by policy"
    if "nonResourceAttributes" in spec:
        return "system:authenticated" in groups and spec["nonResourceAttributes"]["verb"] == "get", False, ""
    attributes = spec["resourceAttributes"]
    if attributes.get("group") != "porch.kpt.dev" or attributes.get("namespace") != "default":
        return False, False, ""
    resource = attributes["resource"] + (f"/{attributes['subresource']}" if attributes.get("subresource") else "")
    if resource == "packagerevisions/approval":
        return "porch-approvers" in groups and attributes["verb"] in ("update", "patch"), False, ""
    if "porch-editors" in groups and resource in ("packagerevisions", "packagerevisionresources", "packages"):
        return True, False, ""
    return False, False, ""


@dataclass
class Cluster:
    double: KubeDouble
    kubeconfig: Path
    requestheader_ca: CertificateAuthority
    client_ca: CertificateAuthority
    front_proxy_cert: tuple[Path, Path]
    directory: Path

    def sars(self) -> list[Json]:
        return [r["spec"] for r in self.double.reviews if r["kind"] == "SubjectAccessReview"]

    def token_reviews(self) -> list[Json]:
        return [r["spec"] for r in self.double.reviews if r["kind"] == "TokenReview"]


@pytest.fixture
def cluster(tmp_path: Path, git_server: GitServer) -> Iterator[Cluster]:
    """The double with the CRDs applied, a Secret and a Repository CR for a seeded git repository."""
    directory = tmp_path / "cluster"
    directory.mkdir()
    double, kubeconfig = start_kube_double(directory, NoKubelet(),
                                           namespaces={"default", "kube-system", "porch-system", "porch-fn-system"})
    try:
        double.install_crds(printed_crds())
        double.authorize = porch_rbac
        git_server.create_repo("blueprints").commit(package_files("basens"), tags=["basens/v1"])
        double.put("secrets", "default", {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
                                          "metadata": {"name": "blueprints-auth"},
                                          "data": {"username": base64.b64encode(USERNAME.encode()).decode(),
                                                   "password": base64.b64encode(PASSWORD.encode()).decode()}})
        double.put("repositories", "default", repository_cr("blueprints", git_server))
        requestheader_ca = CertificateAuthority.create(directory, "front-proxy-ca")
        client_ca = CertificateAuthority.create(directory, "client-ca")
        proxy_cert = requestheader_ca.issue(directory, "front-proxy-client")
        yield Cluster(double, kubeconfig, requestheader_ca, client_ca, proxy_cert, directory)
    finally:
        double.stop()


def repository_cr(name: str, git_server: GitServer) -> Json:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
            "spec": {"type": "git", "git": {"repo": git_server.url(name), "branch": "main",
                                            "secretRef": {"name": f"{name}-auth"}}}}


def aggregated(cluster: Cluster, **overrides: Any) -> AggregatedSettings:
    settings: Json = dict(kubeconfig=cluster.kubeconfig,
                          requestheader_client_ca_file=cluster.requestheader_ca.cert_file,
                          requestheader_allowed_names=("front-proxy-client",), leader_elect_namespace="porch-system")
    settings.update(overrides)
    return AggregatedSettings(**settings)


@pytest.fixture
async def porch(tmp_path: Path, cluster: Cluster) -> AsyncIterator[RunningServer]:
    async with start_server(tmp_path / "data", aggregated=aggregated(cluster), client_ca_file=cluster.client_ca.cert_file,
                            function_runner="none", sync_interval_s=3600) as running:
        yield running


def aggregator_client(server: RunningServer, cert: tuple[Path, Path] | None, headers: list[tuple[str, str]],
                      ) -> httpx.AsyncClient:
    """A client as the aggregator is one: our serving CA trusted, a client certificate, identity headers."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return httpx.AsyncClient(base_url=server.url, verify=context, timeout=30, headers=httpx.Headers(headers))


def as_user(user: str, *groups: str) -> list[tuple[str, str]]:
    return [("X-Remote-User", user), *(("X-Remote-Group", group) for group in groups)]


async def wait_for_revisions(http: httpx.AsyncClient, expected: set[str]) -> list[Json]:
    with trio.fail_after(30):
        while True:
            response = await http.get(PR)
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            if {item["metadata"]["name"] for item in items} >= expected:
                return items
            await trio.sleep(0.1)


async def run_kubectl(kubeconfig: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
    return await trio.run_process(["kubectl", *args], stdin=stdin, capture_stdout=True, capture_stderr=True,
                                  check=False, env=env)


# -- the CRDs ------------------------------------------------------------------------------

def _untyped_nodes(schema: Any, path: str = "") -> list[str]:
    if not isinstance(schema, dict):
        return []
    found = [] if "type" in schema else [path or "<root>"]
    for name, child in (schema.get("properties") or {}).items():
        found += _untyped_nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _untyped_nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _untyped_nodes(schema["additionalProperties"], f"{path}{{}}")
    return found


def test_crds_are_structural_and_name_the_served_kinds() -> None:
    crds = {crd["metadata"]["name"]: crd for crd in printed_crds()}
    assert set(crds) == {"repositories.config.porch.kpt.dev", "packagevariants.config.porch.kpt.dev",
                         "packagevariantsets.config.porch.kpt.dev"}
    repository = crds["repositories.config.porch.kpt.dev"]["spec"]
    assert repository["names"]["shortNames"] == ["repo"] and repository["scope"] == "Namespaced"
    version = repository["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]][:3] == ["Type", "Content", "Sync schedule"]
    for name, crd in crds.items():
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert _untyped_nodes(schema) == [], name
        assert schema["properties"]["metadata"] == {"type": "object"}


def test_the_cluster_refuses_a_repository_the_crd_schema_refuses(cluster: Cluster) -> None:
    bad = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "svn"},
           "spec": {"type": "svn"}}
    with pytest.raises(Exception) as refused:
        cluster.double.put("repositories", "default", bad)
    assert getattr(refused.value, "code", None) == 422


# -- kubectl through the aggregator ------------------------------------------------------------

async def test_kubectl_through_the_aggregator_is_authorized_by_subject_access_review(
        porch: RunningServer, cluster: Cluster, tmp_path: Path) -> None:
    proxy: FrontProxy = start_front_proxy(tmp_path / "aggregator", porch.url, porch.ca_file, cluster.front_proxy_cert)
    try:
        proxy.users = {
            "alice-token": {"username": "alice", "groups": ["porch-editors"]},
            "carol-token": {"username": "carol", "groups": ["porch-editors", "porch-approvers"]},
            "bob-token": {"username": "bob", "groups": []},
        }
        alice = proxy.kubeconfig(tmp_path, "alice-token")
        async with aggregator_client(porch, cluster.front_proxy_cert, as_user("alice", "porch-editors")) as http:
            await wait_for_revisions(http, {"blueprints.basens.v1"})

        listed = await run_kubectl(alice, "get", "packagerevisions", "-n", "default")
        assert listed.returncode == 0, listed.stderr
        assert b"blueprints.basens.v1" in listed.stdout
        assert {"user": "alice", "groups": ["porch-editors", "system:authenticated"], "extra": {},
                "resourceAttributes": {"namespace": "default", "verb": "list", "group": "porch.kpt.dev",
                                       "version": "v1alpha1", "resource": "packagerevisions"}} in cluster.sars()

        refused = await run_kubectl(proxy.kubeconfig(tmp_path, "bob-token"), "get", "packagerevisions", "-n", "default")
        assert refused.returncode != 0
        assert (b'packagerevisions.porch.kpt.dev is forbidden: User "bob" cannot list resource "packagerevisions" '
                b'in API group "porch.kpt.dev" in the namespace "default"') in refused.stderr

        draft = {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                 "metadata": {"namespace": "default"},
                 "spec": {"repository": "blueprints", "packageName": "fresh", "workspaceName": "ws",
                          "tasks": [{"type": "init", "init": {"description": "new"}}]}}
        created = await run_kubectl(alice, "create", "-o", "json", "-f", "-", stdin=json.dumps(draft).encode())
        assert created.returncode == 0, created.stderr
        name = json.loads(created.stdout)["metadata"]["name"]
        proposed = json.loads(created.stdout)
        proposed["spec"]["lifecycle"] = "Proposed"
        replaced = await run_kubectl(alice, "replace", "-o", "json", "-f", "-", stdin=json.dumps(proposed).encode())
        assert replaced.returncode == 0, replaced.stderr
        approval = json.loads(replaced.stdout)
        approval["spec"]["lifecycle"] = "Published"
        approval_file = tmp_path / "approval.json"
        approval_file.write_text(json.dumps(approval))
        approval_path = f"{PR}/{name}/approval"

        denied = await run_kubectl(alice, "replace", "--raw", approval_path, "-f", str(approval_file))
        assert denied.returncode != 0
        assert f'cannot update resource "packagerevisions/approval"'.encode() in denied.stderr
        assert {"user": "alice", "groups": ["porch-editors", "system:authenticated"], "extra": {},
                "resourceAttributes": {"namespace": "default", "verb": "update", "group": "porch.kpt.dev",
                                       "version": "v1alpha1", "resource": "packagerevisions",
                                       "subresource": "approval", "name": name}} in cluster.sars()

        approved = await run_kubectl(proxy.kubeconfig(tmp_path, "carol-token"), "replace", "--raw", approval_path,
                                     "-f", str(approval_file))
        assert approved.returncode == 0, approved.stderr
        assert json.loads(approved.stdout)["spec"]["lifecycle"] == "Published"
    finally:
        proxy.stop()


# -- the front-proxy certificate -----------------------------------------------------------------

async def test_identity_headers_count_only_over_the_front_proxy_certificate(
        porch: RunningServer, cluster: Cluster) -> None:
    headers = as_user("alice", "porch-editors")
    async with aggregator_client(porch, cluster.front_proxy_cert, headers) as http:
        assert (await http.get(PR)).status_code == 200

    async with aggregator_client(porch, None, headers) as http:
        response = await http.get(PR)
    assert response.status_code == 403
    assert 'User "system:anonymous" cannot list' in response.json()["message"]
    assert cluster.sars()[-1]["user"] == "system:anonymous"

    erin = cluster.client_ca.issue(cluster.directory, "erin", ("porch-editors",))
    async with aggregator_client(porch, erin, as_user("alice", "porch-approvers")) as http:
        assert (await http.get(PR)).status_code == 200
    assert cluster.sars()[-1]["user"] == "erin"
    assert cluster.sars()[-1]["groups"] == ["porch-editors", "system:authenticated"]

    impostor = cluster.client_ca.issue(cluster.directory, "front-proxy-client")
    async with aggregator_client(porch, impostor, as_user("alice", "porch-editors")) as http:
        assert (await http.get(PR)).status_code == 403
    assert cluster.sars()[-1]["user"] == "front-proxy-client"

    wrong_name = cluster.requestheader_ca.issue(cluster.directory, "someone-else")
    async with aggregator_client(porch, wrong_name, headers) as http:
        response = await http.get(PR)
    assert response.status_code == 401
    assert "x509: subject with cn=someone-else is not in the allowed list" in response.json()["message"]


async def test_a_certificate_from_an_unknown_ca_is_refused_at_the_handshake(
        porch: RunningServer, cluster: Cluster) -> None:
    rogue = CertificateAuthority.create(cluster.directory / "rogue", "front-proxy-ca")
    forged = rogue.issue(cluster.directory / "rogue", "front-proxy-client")
    async with aggregator_client(porch, forged, as_user("alice", "system:masters")) as http:
        # TLS 1.3: the client's side of the handshake is done before the server checks the
        # certificate, so the refusal shows as a connection closed without an answer.
        with pytest.raises((httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
            await http.get(PR)
    assert not any(spec["user"] == "alice" for spec in cluster.sars())


async def test_groups_and_extras_reach_the_review_as_sent(porch: RunningServer, cluster: Cluster) -> None:
    headers = [*as_user("alice", "porch-editors", "team,with-comma"),
               ("X-Remote-Uid", "uid-1"),
               ("X-Remote-Extra-Authentication.kubernetes.io%2Fpod-name", "web-0"),
               ("X-Remote-Extra-Scopes", "a"), ("X-Remote-Extra-Scopes", "b")]
    async with aggregator_client(porch, cluster.front_proxy_cert, headers) as http:
        assert (await http.get(PR)).status_code == 200
    review = cluster.sars()[-1]
    assert review["user"] == "alice" and review["uid"] == "uid-1"
    assert review["groups"] == ["porch-editors", "team,with-comma", "system:authenticated"]
    assert review["extra"] == {"authentication.kubernetes.io/pod-name": ["web-0"], "scopes": ["a", "b"]}


async def test_system_masters_and_health_skip_the_review(porch: RunningServer, cluster: Cluster) -> None:
    async with aggregator_client(porch, cluster.front_proxy_cert,
                                 as_user("system:kube-aggregator", "system:masters")) as http:
        assert (await http.get("/apis/porch.kpt.dev/v1alpha1")).status_code == 200
    async with aggregator_client(porch, None, []) as http:
        assert (await http.get("/readyz")).status_code == 200
    assert cluster.sars() == []


async def test_a_denied_review_and_a_failed_review_are_403(porch: RunningServer, cluster: Cluster) -> None:
    async with aggregator_client(porch, cluster.front_proxy_cert, as_user("mallory", "porch-editors")) as http:
        assert (await http.get(PR)).status_code == 403

    def broken(spec: Json) -> tuple[bool, bool, str]:
        raise RuntimeError("the authorizer webhook is down")

    cluster.double.authorize = broken
    async with aggregator_client(porch, cluster.front_proxy_cert, as_user("dora", "porch-editors")) as http:
        response = await http.get(PR)
    assert response.status_code == 403
    assert 'User "dora" cannot list resource "packagerevisions"' in response.json()["message"]


# -- bearer tokens ------------------------------------------------------------------------------

async def test_bearer_tokens_are_checked_by_token_review_and_cached(porch: RunningServer, cluster: Cluster) -> None:
    cluster.double.user_tokens["dave-token"] = {"username": "dave", "uid": "d-1", "groups": ["porch-editors"]}
    async with aggregator_client(porch, None, [("Authorization", "Bearer dave-token")]) as http:
        assert (await http.get(PR)).status_code == 200
        assert (await http.get(PR + "?limit=1")).status_code == 200
    assert cluster.token_reviews() == [{"token": "dave-token"}]
    assert cluster.sars()[-1]["user"] == "dave" and cluster.sars()[-1]["uid"] == "d-1"

    async with aggregator_client(porch, None, [("Authorization", "Bearer who-knows")]) as http:
        response = await http.get(PR)
    assert response.status_code == 401
    assert "invalid bearer token" in response.json()["message"]


# -- objects from the cluster -------------------------------------------------------------------

async def test_repository_custom_resources_are_followed(porch: RunningServer, cluster: Cluster,
                                                        git_server: GitServer) -> None:
    git_server.create_repo("catalog").commit(package_files("app"), tags=["app/v1"])
    cluster.double.put("secrets", "default", {**cluster.double.get("secrets", "default", "blueprints-auth"),
                                              "metadata": {"name": "catalog-auth"}})
    cluster.double.put("repositories", "default", repository_cr("catalog", git_server))
    async with aggregator_client(porch, cluster.front_proxy_cert, as_user("alice", "porch-editors")) as http:
        await wait_for_revisions(http, {"catalog.app.v1", "blueprints.basens.v1"})
        cluster.double.delete("repositories", "default", "catalog")
        with trio.fail_after(30):
            while any(item["spec"]["repository"] == "catalog" for item in (await http.get(PR)).json()["items"]):
                await trio.sleep(0.1)
    async with aggregator_client(porch, cluster.front_proxy_cert, as_user("root", "system:masters")) as http:
        # config.porch.kpt.dev is the cluster's (CRDs), not served here.
        assert (await http.get("/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories")
                ).status_code == 404


async def test_the_controllers_lead_by_a_lease_in_the_cluster(porch: RunningServer, cluster: Cluster) -> None:
    with trio.fail_after(30):
        while (lease := cluster.double.get("leases", "porch-system", "porch-embedded-controllers")) is None:
            await trio.sleep(0.05)
    spec = lease["spec"]
    assert spec["holderIdentity"] and spec["leaseDurationSeconds"] == 10
    assert spec["renewTime"].endswith("Z") and len(spec["renewTime"].split(".")[1]) == 7


async def test_the_requestheader_settings_come_from_the_cluster_when_not_given(
        tmp_path: Path, cluster: Cluster) -> None:
    cluster.double.put("configmaps", "kube-system", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "extension-apiserver-authentication"},
        "data": {"requestheader-client-ca-file": cluster.requestheader_ca.cert_file.read_text(),
                 "requestheader-allowed-names": '["front-proxy-client"]',
                 "requestheader-username-headers": '["X-Remote-User"]',
                 "requestheader-group-headers": '["X-Remote-Group"]',
                 "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]'}})
    settings = aggregated(cluster, requestheader_client_ca_file=None, requestheader_allowed_names=None)
    async with start_server(tmp_path / "data", aggregated=settings, function_runner="none",
                            controllers=False) as running:
        async with aggregator_client(running, cluster.front_proxy_cert, as_user("alice", "porch-editors")) as http:
            assert (await http.get(PR)).status_code == 200
        wrong_name = cluster.requestheader_ca.issue(cluster.directory, "not-the-proxy")
        async with aggregator_client(running, wrong_name, as_user("alice", "porch-editors")) as http:
            assert (await http.get(PR)).status_code == 401


async def test_review_answers_are_cached_for_a_while(porch: RunningServer, cluster: Cluster) -> None:
    async with aggregator_client(porch, cluster.front_proxy_cert, as_user("alice", "porch-editors")) as http:
        for _ in range(3):
            assert (await http.get(PR)).status_code == 200
    mine = [spec for spec in cluster.sars() if spec["user"] == "alice"]
    assert len(mine) == 1


# -- the command line ------------------------------------------------------------------------------

async def test_serve_aggregated_from_the_command_line(tmp_path: Path, cluster: Cluster) -> None:
    from tests.parts.server import free_port

    port = free_port()
    data = tmp_path / "data"
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "porch_embedded", "serve", "--aggregated", "--data-dir", str(data),
         "--listen", f"127.0.0.1:{port}", "--kubeconfig", str(cluster.kubeconfig),
         "--requestheader-client-ca-file", str(cluster.requestheader_ca.cert_file),
         "--requestheader-allowed-names", "front-proxy-client", "--function-runner", "none"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        running = RunningServer(f"https://127.0.0.1:{port}", data)
        with trio.fail_after(60):
            while True:
                assert process.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                try:
                    if (data / "pki" / "ca.crt").exists():
                        async with aggregator_client(running, None, []) as http:
                            if (await http.get("/readyz")).status_code == 200:
                                break
                except httpx.HTTPError:
                    pass
                await trio.sleep(0.1)
        assert not (data / "kubeconfig").exists()  # no admin: the cluster authenticates
        async with aggregator_client(running, cluster.front_proxy_cert, as_user("alice", "porch-editors")) as http:
            await wait_for_revisions(http, {"blueprints.basens.v1"})
        lease = cluster.double.get("leases", "porch-system", "porch-embedded-controllers")
        assert lease is not None
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_aggregated_flags_without_aggregated_are_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "porch_embedded", "serve", "--data-dir", str(tmp_path),
                           "--requestheader-client-ca-file", str(tmp_path / "ca.crt")],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          timeout=60)
    assert done.returncode == 2
    assert "--requestheader-client-ca-file only apply with --aggregated" in done.stderr


async def test_the_cluster_is_listed_again_when_the_watch_expired(tmp_path: Path, cluster: Cluster,
                                                                  git_server: GitServer) -> None:
    repositories = "/apis/config.porch.kpt.dev/v1alpha1/repositories"

    def expired_watches() -> int:
        return sum(1 for r in cluster.double.requests if r.path == repositories and r.status == 410)

    async with start_server(tmp_path / "data", aggregated=aggregated(cluster, watch_timeout_s=1),
                            function_runner="none", sync_interval_s=3600) as running:
        async with aggregator_client(running, cluster.front_proxy_cert, as_user("alice", "porch-editors")) as http:
            await wait_for_revisions(http, {"blueprints.basens.v1"})
            cluster.double.put("leases", "porch-system", {"metadata": {"name": "unrelated"}, "spec": {}})
            cluster.double.compacted_rv = cluster.double._rv  # the mirror's resourceVersion is now too old
            with trio.fail_after(30):
                while expired_watches() == 0:
                    await trio.sleep(0.05)
            git_server.create_repo("catalog").commit(package_files("app"), tags=["app/v1"])
            cluster.double.put("secrets", "default", {**cluster.double.get("secrets", "default", "blueprints-auth"),
                                                      "metadata": {"name": "catalog-auth"}})
            cluster.double.put("repositories", "default", repository_cr("catalog", git_server))
            await wait_for_revisions(http, {"catalog.app.v1"})
    lists = [r for r in cluster.double.requests if r.path == repositories and "watch" not in r.query]
    assert len(lists) >= 2


async def test_discovery_and_openapi_answer_the_aggregator_for_porch_kpt_dev_only(
        porch: RunningServer, cluster: Cluster) -> None:
    v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    async with aggregator_client(porch, cluster.front_proxy_cert,
                                 as_user("system:kube-aggregator", "system:masters")) as http:
        response = await http.get("/apis", headers={"Accept": f"{v2},application/json"})
        assert response.status_code == 200 and response.headers["content-type"] == v2
        assert [group["metadata"]["name"] for group in response.json()["items"]] == ["porch.kpt.dev"]
        resources = (await http.get("/apis/porch.kpt.dev/v1alpha1")).json()["resources"]
        assert "packagerevisions/approval" in {resource["name"] for resource in resources}
    async with aggregator_client(porch, cluster.front_proxy_cert, as_user("system:aggregator")) as http:
        root = await http.get("/openapi/v3")
    assert root.status_code == 200
    assert list(root.json()["paths"]) == ["apis/porch.kpt.dev/v1alpha1"]
    assert cluster.sars() == [{"user": "system:aggregator", "groups": ["system:authenticated"], "extra": {},
                               "nonResourceAttributes": {"path": "/openapi/v3", "verb": "get"}}]
