"""The serving flags of `porch-embedded serve`, through the real command and real clients.

``--tls-san`` names end up in the generated serving certificate, ``--client-ca-file``
decides which client certificates authenticate, ``issue-client-cert`` writes one that
the server takes as its CN and O, and ``--max-request-body-bytes`` is the largest body
accepted. Each server runs as ``python -m porch_embedded serve`` so the flags are
parsed as a user's would be.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509

from porch_embedded.server import issue_client_certificate_files
from tests.parts.server import ServerProcess, start_server_process

COLLECTION = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"
SAN = "porch.example.test"

POLICY = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: repository-editor}
rules:
- apiGroups: [config.porch.kpt.dev]
  resources: [repositories]
  verbs: [get, list, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: editors, namespace: default}
roleRef: {kind: ClusterRole, name: repository-editor}
subjects:
- {kind: Group, name: repo-editors}
"""


@contextmanager
def serving(data: Path, *args: str) -> Iterator[ServerProcess]:
    server = start_server_process(data, args)
    try:
        yield server
    finally:
        server.stop()


def repository(name: str, description: str = "") -> dict[str, Any]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
            "spec": {"type": "git", "description": description, "git": {"repo": f"http://127.0.0.1:1/{name}.git"}}}


def client(server: ServerProcess, *, token: bool = True, cert: tuple[Path, Path] | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    headers = {"Authorization": f"Bearer {(server.data_dir / 'admin-token').read_text().strip()}"} if token else {}
    return httpx.Client(base_url=server.url, verify=context, headers=headers, timeout=30)


def kubectl(*args: str, kubeconfig: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
    return subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


def user_kubeconfig(server: ServerProcess, cert: Path, key: Path, path: Path) -> Path:
    """A kubeconfig with only a client certificate: no token to fall back on."""
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": {"server": server.url,
                                                     "certificate-authority": str(server.data_dir / "pki" / "ca.crt")}}],
              "users": [{"name": "u", "user": {"client-certificate": str(cert), "client-key": str(key)}}],
              "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "default"}}]}
    path.write_text(yaml.safe_dump(config))
    return path


def alternative_names(certificate: Path) -> list[str]:
    parsed = x509.load_pem_x509_certificate(certificate.read_bytes())
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [*names.get_values_for_type(x509.DNSName), *map(str, names.get_values_for_type(x509.IPAddress))]


def test_tls_san_names_the_server_for_clients_that_connect_by_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    by_name = {"sni_hostname": SAN}
    with serving(data) as server, client(server) as http:
        assert SAN not in alternative_names(data / "pki" / "serving.crt")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            http.get("/version", extensions=by_name)
        refused = kubectl("--tls-server-name", SAN, "get", "repositories", kubeconfig=data / "kubeconfig")
        assert refused.returncode != 0 and "x509" in refused.stderr

    with serving(data, "--tls-san", SAN, "--tls-san", "10.9.8.7") as server, client(server) as http:
        assert http.get("/version", extensions=by_name).status_code == 200
        accepted = kubectl("--tls-server-name", SAN, "get", "repositories", kubeconfig=data / "kubeconfig")
        assert accepted.returncode == 0, accepted.stderr
        names = alternative_names(data / "pki" / "serving.crt")
        assert SAN in names and "10.9.8.7" in names, "names added on a later start are added"
        assert http.get("/version").status_code == 200, "the default names stay"


def test_client_ca_file_decides_which_certificates_authenticate(tmp_path: Path) -> None:
    data, company, policy = tmp_path / "data", tmp_path / "company", tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    dave = issue_client_certificate_files(company, "dave", ("repo-editors",), tmp_path / "dave")
    with serving(data, "--client-ca-file", str(company / "pki" / "ca.crt"),
                 "--authorization-policy-file", str(policy)) as server:
        with client(server, token=False, cert=dave) as as_dave:
            assert as_dave.get(COLLECTION).status_code == 200
            created = as_dave.post(COLLECTION, json=repository("daves"))
            assert created.status_code == 201, created.text
            forbidden = as_dave.delete(f"{COLLECTION}/daves")
            assert forbidden.status_code == 403
            assert forbidden.json()["message"].startswith('repositories.config.porch.kpt.dev "daves" is forbidden: '
                                                          'User "dave" cannot delete')

        generated = issue_client_certificate_files(data, "eve", ("system:masters",), tmp_path / "eve")
        with client(server, token=False, cert=generated) as as_eve, pytest.raises(httpx.TransportError):
            as_eve.get(COLLECTION)
        with client(server) as admin:
            assert [item["metadata"]["name"] for item in admin.get(COLLECTION).json()["items"]] == ["daves"]


def test_issue_client_cert_authenticates_as_its_user_and_groups(tmp_path: Path) -> None:
    data, policy = tmp_path / "data", tmp_path / "policy.yaml"
    policy.write_text(POLICY)

    def issue(user: str, *groups: str) -> tuple[Path, Path]:
        prefix = tmp_path / user / f"{user}.client"
        prefix.parent.mkdir(exist_ok=True)
        args = [a for g in groups for a in ("--group", g)]
        done = subprocess.run([sys.executable, "-m", "porch_embedded", "issue-client-cert", "--data-dir", str(data),
                               "--user", "frank", *args, "--out", str(prefix)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        cert, key = prefix.parent / f"{user}.client.crt", prefix.parent / f"{user}.client.key"
        assert done.stdout.strip() == f"wrote {cert} and {key}"
        assert key.stat().st_mode & 0o077 == 0, "the private key is readable by its owner only"
        return cert, key

    with serving(data, "--authorization-policy-file", str(policy)) as server:
        editor = issue("editor", "repo-editors", "another-group")
        loner = issue("loner")
        as_editor = user_kubeconfig(server, *editor, tmp_path / "editor" / "kubeconfig")
        as_loner = user_kubeconfig(server, *loner, tmp_path / "loner" / "kubeconfig")

        created = kubectl("create", "-f", "-", kubeconfig=as_editor, stdin=json.dumps(repository("franks")))
        assert created.returncode == 0, created.stderr
        listed = kubectl("get", "repositories", "-o", "name", kubeconfig=as_editor)
        assert listed.stdout.split() == ["repository.config.porch.kpt.dev/franks"]

        refused = kubectl("get", "repositories", kubeconfig=as_loner)
        assert refused.returncode == 1
        assert ('repositories.config.porch.kpt.dev is forbidden: User "frank" cannot list resource "repositories" '
                'in API group "config.porch.kpt.dev" in the namespace "default"') in refused.stderr


def test_max_request_body_bytes_is_the_largest_body_accepted(tmp_path: Path) -> None:
    limit = 4096

    def body_of(size: int, name: str) -> bytes:
        empty = json.dumps(repository(name)).encode()
        padded = json.dumps(repository(name, "x" * (size - len(empty)))).encode()
        assert len(padded) == size
        return padded

    with serving(tmp_path / "data", "--max-request-body-bytes", str(limit)) as server, client(server) as http:
        json_type = {"content-type": "application/json"}
        over = http.post(COLLECTION, content=body_of(limit + 1, "over"), headers=json_type)
        assert over.status_code == 413
        status = over.json()
        assert status["kind"] == "Status" and status["reason"] == "RequestEntityTooLarge" and status["code"] == 413
        assert f"a limit of {limit} bytes" in status["message"] and "--max-request-body-bytes" in status["message"]
        assert http.get(f"{COLLECTION}/over").status_code == 404

        at_limit = http.post(COLLECTION, content=body_of(limit, "fits"), headers=json_type)
        assert at_limit.status_code == 201, at_limit.text

        current = http.get(f"{COLLECTION}/fits").json()
        current["spec"]["description"] = ""
        base = len(json.dumps(current).encode())
        current["spec"]["description"] = "y" * (limit + 1 - base)
        replaced = http.put(f"{COLLECTION}/fits", content=json.dumps(current).encode(), headers=json_type)
        assert replaced.status_code == 413
        assert http.get(f"{COLLECTION}/fits").json()["spec"]["description"] == "x" * (
            limit - len(json.dumps(repository("fits")).encode()))
