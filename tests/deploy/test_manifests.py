"""deploy/: rendered by the real kubectl kustomize, every object checked offline.

Each shape (deploy/: one pod on SQLite; deploy/overlays/postgresql: three replicas) is
rendered with `kubectl kustomize` and every object validated, strictly (no unknown
field), against the Kubernetes schemas of kubernetes-validate; what those schemas do
not say is asserted here: the APIService's own rules and that it reaches the
Service and the pod, the Deployment's command line against the flags of
`porch-embedded serve` itself, the pod's hardening, and the delegated-auth RBAC.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.32"
SHAPES = {"single-pod": ROOT / "deploy", "postgresql": ROOT / "deploy" / "overlays" / "postgresql"}
NAMESPACE = "porch-system"
ACCOUNT = {"kind": "ServiceAccount", "name": "porch-embedded", "namespace": NAMESPACE}

Obj = dict[str, Any]


def render(directory: Path) -> list[Obj]:
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=sorted(SHAPES))
def shape(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    return request.param, render(SHAPES[request.param])


def only(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def container(objects: list[Obj]) -> Obj:
    containers = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_every_object_is_valid_against_the_kubernetes_schemas(shape: tuple[str, list[Obj]]) -> None:
    _, objects = shape
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(f"{obj['kind']} {obj['metadata']['name']}: {error.message} at "
                                 f"{'.'.join(str(p) for p in error.path)}") from error
    namespaced = [o for o in objects if o["kind"] not in
                  ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "APIService")]
    assert all(o["metadata"].get("namespace") for o in namespaced), "a namespaced object without a namespace"


def test_the_apiservice_reaches_the_service_and_the_pod(shape: tuple[str, list[Obj]]) -> None:
    _, objects = shape
    api = only(objects, "APIService")
    spec = api["spec"]
    assert api["metadata"]["name"] == f"{spec['version']}.{spec['group']}" == "v1alpha1.porch.kpt.dev"
    assert 0 < spec["groupPriorityMinimum"] <= 20000 and 0 < spec["versionPriority"] <= 1000
    assert bool(spec.get("insecureSkipTLSVerify")) != bool(spec.get("caBundle")), "exactly one way to trust"
    service = only(objects, "Service", spec["service"]["name"])
    assert service["metadata"]["namespace"] == spec["service"]["namespace"] == NAMESPACE
    assert service["spec"]["type"] == "ClusterIP"
    port = next(p for p in service["spec"]["ports"] if p["port"] == spec["service"].get("port", 443))
    assert port["name"], "the aggregator's endpoint check needs a named port"
    pod = only(objects, "Deployment")["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert port["targetPort"] in ports
    listen = next(a for a in container(objects)["args"] if a.startswith("--listen="))
    assert listen == f"--listen=0.0.0.0:{ports[port['targetPort']]}"


def test_the_command_line_uses_only_flags_the_binary_has(shape: tuple[str, list[Obj]]) -> None:
    _, objects = shape
    args = container(objects)["args"]
    assert args[0] == "serve"
    shown = subprocess.run([sys.executable, "-m", "porch_embedded", "serve", "--help"], capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
    assert shown.returncode == 0, shown.stderr
    known = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", shown.stdout))
    for arg in args[1:]:
        assert arg.startswith("--"), f"{arg!r}: flags only, as --name=value"
        assert arg.split("=", 1)[0] in known, f"{arg}: porch-embedded serve has no such flag"
    # The whole line parses (types, choices) before --help ends the command.
    parsed = subprocess.run([sys.executable, "-m", "porch_embedded", *args, "--help"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert parsed.returncode == 0, parsed.stderr


def test_the_pod_is_hardened_probed_and_sized(shape: tuple[str, list[Obj]]) -> None:
    _, objects = shape
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    server = container(objects)
    assert pod["serviceAccountName"] == ACCOUNT["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert server["securityContext"]["allowPrivilegeEscalation"] is False
    assert server["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert server["resources"]["requests"]["cpu"] and server["resources"]["requests"]["memory"]
    assert server["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert server[probe]["httpGet"]["scheme"] == "HTTPS" and server[probe]["httpGet"]["port"] == "https"
    mounts = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "the binary unpacks itself into /tmp"
    assert "--data-dir=/data" in server["args"] and "/data" in mounts
    grace = next(float(a.split("=")[1]) for a in server["args"] if a.startswith("--shutdown-grace-period="))
    assert grace < pod["terminationGracePeriodSeconds"], "the drain must end before the kubelet kills"
    assert "--log-format=json" in server["args"]
    image = server["image"]
    assert image == "localhost/porch-embedded:latest", image


def test_single_pod_keeps_sqlite_on_a_claim_and_never_overlaps() -> None:
    objects = render(SHAPES["single-pod"])
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = only(objects, "PersistentVolumeClaim")
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert not any(a.startswith("--store=") for a in container(objects)["args"])  # SQLite in the data dir


def test_postgresql_runs_three_replicas_sharing_password_key_and_certificate() -> None:
    objects = render(SHAPES["postgresql"])
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3 and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert only(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    server = container(objects)
    flags = dict(a.split("=", 1) for a in server["args"][1:] if "=" in a)
    assert flags["--store"].startswith("postgresql://") and ":" not in flags["--store"].split("@")[0][13:], \
        "no password in the store URL"
    mounts = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"]
               for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    for flag in ("--store-password-file", "--store-key-file", "--tls-cert-file", "--tls-private-key-file"):
        directory = str(Path(flags[flag]).parent)
        assert directory in mounts and mounts[directory] in secrets, f"{flag} is not read from a Secret"
    assert set(secrets.values()) == {"porch-embedded-store", "porch-embedded-store-key",
                                     "porch-embedded-serving-cert"}


def bound_roles(objects: list[Obj]) -> set[tuple[str, str, str]]:
    """(binding kind's namespace or '', role kind, role name) bound to the server's service account."""
    found = set()
    for binding in objects:
        if binding["kind"] in ("RoleBinding", "ClusterRoleBinding") and ACCOUNT in binding["subjects"]:
            found.add((binding["metadata"].get("namespace", ""), binding["roleRef"]["kind"],
                       binding["roleRef"]["name"]))
    return found


def allowed(objects: list[Obj], namespace: str, group: str, resource: str, verb: str) -> bool:
    """Whether the roles of this deployment bound to the account allow it (built-in roles excluded)."""
    for where, kind, name in bound_roles(objects):
        if where and where != namespace:
            continue
        role = next((o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name), None)
        for rule in (role or {}).get("rules", ()):
            if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
                return True
    return False


def test_rbac_delegates_authentication_and_covers_what_the_server_touches(shape: tuple[str, list[Obj]]) -> None:
    _, objects = shape
    roles = bound_roles(objects)
    assert ("", "ClusterRole", "system:auth-delegator") in roles  # TokenReviews, SubjectAccessReviews
    assert ("kube-system", "Role", "extension-apiserver-authentication-reader") in roles
    for crd in (o for o in objects if o["kind"] == "CustomResourceDefinition"):
        plural, group = crd["spec"]["names"]["plural"], crd["spec"]["group"]
        for verb in ("get", "list", "watch", "update"):
            assert allowed(objects, "default", group, plural, verb), (plural, verb)
        assert allowed(objects, "default", group, f"{plural}/status", "update"), plural
    for verb in ("get", "list", "watch"):
        assert allowed(objects, "default", "", "secrets", verb)
    for verb in ("get", "create", "update"):
        assert allowed(objects, NAMESPACE, "coordination.k8s.io", "leases", verb)
    for group, resource, verb in (("batch", "jobs", "create"), ("batch", "jobs", "delete"),
                                  ("", "configmaps", "create"), ("", "pods", "list"), ("", "pods/log", "get")):
        assert allowed(objects, "porch-fn-system", group, resource, verb), (resource, verb)
    assert not allowed(objects, NAMESPACE, "batch", "jobs", "create"), "Jobs only where functions run"


def test_the_crds_are_what_the_kinds_schemas_give() -> None:
    generated = subprocess.run([sys.executable, "-m", "porch_embedded", "crds"], capture_output=True,
                               text=True, timeout=60, cwd=ROOT)
    assert generated.returncode == 0, generated.stderr
    assert (ROOT / "deploy" / "base" / "crds.yaml").read_text() == generated.stdout, \
        "deploy/base/crds.yaml is stale: run porch-embedded crds > deploy/base/crds.yaml"
    crds = {c["spec"]["names"]["kind"]: c for c in yaml.safe_load_all(generated.stdout)}
    assert set(crds) == {"Repository", "PackageVariant", "PackageVariantSet"}
    repository = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                  "metadata": {"name": "blueprints", "namespace": "default"},
                  "spec": {"type": "git", "content": "Package", "deployment": False,
                           "git": {"repo": "https://git.example/blueprints.git", "branch": "main",
                                   "directory": "/", "secretRef": {"name": "blueprints-auth"}}}}
    schema = crds["Repository"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(repository, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**repository, "spec": {**repository["spec"], "deployment": "yes"}}, schema)
