"""Standalone authentication (token file, client certificates, anonymous) and RBAC authorization."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch_embedded.server import issue_client_certificate_files
from tests.parts.server import start_server

REPOS = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/team-a/repositories"
APPROVAL = "/apis/porch.kpt.dev/v1alpha1/namespaces/team-a/packagerevisions/repo.pkg.ws/approval"

POLICY = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: repo-reader, namespace: team-a}
rules:
- apiGroups: [config.porch.kpt.dev]
  resources: [repositories]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: team-a}
roleRef: {kind: Role, name: repo-reader}
subjects:
- {kind: User, name: alice}
- {kind: Group, name: auditors}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: approver}
rules:
- apiGroups: [porch.kpt.dev]
  resources: [packagerevisions/approval]
  verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: approvers}
roleRef: {kind: ClusterRole, name: approver}
subjects:
- {kind: User, name: bob}
"""


def failure(code: int, reason: str, message: str, **details: str) -> dict[str, Any]:
    """The Status body a kube-apiserver answers a refused request with."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "details": details, "code": code}


async def test_tokens_certificates_and_rbac(tmp_path: Path, new_store_url: Callable[[], str]) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('alice-token,alice,1001\nbob-token,bob,1002,"approvers"\n')
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    data = tmp_path / "data"
    async with start_server(data, store_url=new_store_url(), token_auth_file=tokens,
                            authorization_policy_file=policy) as server:
        async with server.client() as admin:
            await admin.post("/api/v1/namespaces", json={"metadata": {"name": "team-a"}})
        async with server.client(token="alice-token") as alice:
            assert (await alice.get(REPOS)).status_code == 200
            refused = await alice.post(REPOS, json={"metadata": {"name": "x"}})
            assert refused.status_code == 403
            assert refused.json()["message"] == (
                'repositories.config.porch.kpt.dev is forbidden: User "alice" cannot create resource '
                '"repositories" in API group "config.porch.kpt.dev" in the namespace "team-a"')
            other_namespace = await alice.get("/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories")
            assert other_namespace.status_code == 403
            assert (await alice.get("/apis")).status_code == 200
        async with server.client(token="bob-token") as bob:
            assert (await bob.get(REPOS)).status_code == 403
            # allowed: the request reaches the handler, which has no such revision
            approval = await bob.put(APPROVAL, json={"metadata": {"name": "repo.pkg.ws"}})
            assert (approval.status_code, approval.json()) == (404, failure(
                404, "NotFound", 'packagerevisions.porch.kpt.dev "repo.pkg.ws" not found',
                name="repo.pkg.ws", group="porch.kpt.dev", kind="packagerevisions"))
            denied_main = await bob.put(APPROVAL.removesuffix("/approval"), json={"metadata": {"name": "repo.pkg.ws"}})
            assert (denied_main.status_code, denied_main.json()) == (403, failure(
                403, "Forbidden", 'packagerevisions.porch.kpt.dev "repo.pkg.ws" is forbidden: User "bob" cannot '
                'update resource "packagerevisions" in API group "porch.kpt.dev" in the namespace "team-a"',
                name="repo.pkg.ws", group="porch.kpt.dev", kind="packagerevisions"))

        cert = issue_client_certificate_files(data, "carol", ("auditors",), tmp_path / "carol")
        async with server.client(token=None, cert=cert) as carol:
            assert (await carol.get(REPOS)).status_code == 200
            forbidden = await carol.delete(f"{REPOS}/anything")
            assert (forbidden.status_code, forbidden.json()) == (403, failure(
                403, "Forbidden", 'repositories.config.porch.kpt.dev "anything" is forbidden: User "carol" cannot '
                'delete resource "repositories" in API group "config.porch.kpt.dev" in the namespace "team-a"',
                name="anything", group="config.porch.kpt.dev", kind="repositories"))

        async with server.client(token=None) as anonymous:
            assert (await anonymous.get(REPOS)).status_code == 401


async def test_anonymous_is_allowed_only_with_the_flag_and_still_authorized(
        tmp_path: Path, new_store_url: Callable[[], str]) -> None:
    async with start_server(tmp_path / "data", store_url=new_store_url(), anonymous_auth=True) as server:
        async with server.client(token=None) as anonymous:
            response = await anonymous.get(REPOS)
            assert response.status_code == 403
            assert 'User "system:anonymous"' in response.json()["message"]


async def test_a_certificate_from_another_ca_cannot_connect(tmp_path: Path, new_store_url: Callable[[], str]) -> None:
    async with start_server(tmp_path / "data", store_url=new_store_url()) as server:
        foreign = issue_client_certificate_files(tmp_path / "other-ca", "mallory", ("system:masters",),
                                                 tmp_path / "mallory")
        with pytest.raises(httpx.HTTPError):
            async with server.client(token=None, cert=foreign) as mallory:
                await mallory.get(REPOS)
