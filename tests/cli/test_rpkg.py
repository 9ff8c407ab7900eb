"""Porch's CLI golden scenarios rpkg-init, rpkg-clone, rpkg-copy and rpkg-lifecycle (test/e2e/cli/testdata).

Expected texts are Porch's golden files; YAML outputs compare as Porch's harness
compares them (parsed, resourceVersion and creationTimestamp lines dropped).
"""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from tests.cli.conftest import Cli, assert_yaml

PORCH_TEST = "http://gitea.gitea.svc.cluster.local:3000/nephio/porch-test"
BLUEPRINTS = "http://gitea.gitea.svc.cluster.local:3000/nephio/test-blueprints.git"

PATHS = {"config.kubernetes.io/index": "0", "internal.config.kubernetes.io/index": "0"}


def annotations(path: str, **extra: str) -> dict[str, str]:
    return {**PATHS, "config.kubernetes.io/path": path, "internal.config.kubernetes.io/path": path, **extra}


def metadata_item(name: str, namespace: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": "", "kind": "KptRevisionMetadata",
            "metadata": {"annotations": annotations(".KptRevisionMetadata"), "name": name, "namespace": namespace,
                         "uid": uid}}


def _items(document: Any) -> list[dict[str, Any]]:
    return list(document["items"])


def _no_rendered_condition(document: Any) -> None:
    for item in _items(document):
        if item["kind"] == "Kptfile":
            conditions = [c for c in (item.get("status") or {}).get("conditions") or [] if c["type"] != "Rendered"]
            if conditions:
                item["status"]["conditions"] = conditions
            else:
                item.pop("status", None)


def _resources_uid(document: Any) -> None:
    item = _items(document)[0]["metadata"]
    item["uid"] = str(uuid.uuid5(UID_NAMESPACE, f"packagerevisionresources:porch.kpt.dev/v1alpha1/"
                                                f"{item['namespace']}/{item['name']}"))


UID_NAMESPACE = uuid.UUID("aac71d91-5c67-456f-8fd2-902ef6da820e")
SERVER_BUGS = {
    "Kptfile lacks status.conditions Rendered/RenderSuccess after a successful render": _no_rendered_condition,
    "PackageRevisionResources uid is not its PackageRevision's uid": _resources_uid,
}

RENDERED = {"conditions": [{"reason": "RenderSuccess", "status": "True", "type": "Rendered"}]}
PACKAGE_CONTEXT = {"apiVersion": "v1", "data": {"name": "example"}, "kind": "ConfigMap",
                   "metadata": {"annotations": annotations("package-context.yaml",
                                                           **{"config.kubernetes.io/local-config": "true"}),
                                "name": "kptfile.kpt.dev"}}


async def test_rpkg_init(cli: Cli) -> None:
    await cli.namespace("rpkg-init")
    ns = "--namespace=rpkg-init"
    await cli.register("rpkg-init", "git", PORCH_TEST)
    await cli.ok("porchctl", "repo", "get", "--no-headers", ns,
                 "--output=custom-columns=NAME:.metadata.name,ADDRESS:.spec.git.repo,BRANCH:.spec.git.branch,"
                 "DIR:.spec.git.directory", stdout=f"git   {cli.git.url('porch-test')}   main   /\n")
    # (Porch's golden compares this one ignoring whitespace; without headers the columns are only as wide as
    # their cells, as kubectl lays them out.)
    await cli.ok("porchctl", "rpkg", "init", ns, "--description", "Test Package Description",
                 "--keywords=test,package", "--site", "http://kpt.dev/init-package", "--repository=git",
                 "--workspace=init-1", "init-package", stdout="git.init-package.init-1 created\n")
    pulled = await cli.ok("porchctl", "rpkg", "pull", ns, "git.init-package.init-1")
    assert_yaml(pulled.stdout, {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [
        metadata_item("git.init-package.init-1", "rpkg-init", "45ee0692-730a-51b2-9a1d-ad4f4ad55dc8"),
        {"apiVersion": "kpt.dev/v1", "kind": "Kptfile",
         "info": {"description": "Test Package Description", "keywords": ["test", "package"],
                  "site": "http://kpt.dev/init-package"},
         "metadata": {"annotations": annotations("Kptfile", **{"config.kubernetes.io/local-config": "true"}),
                      "name": "init-package"},
         "status": RENDERED},
        PACKAGE_CONTEXT]}, SERVER_BUGS)
    # Porch answers 500 "Internal error occurred: ..." here; this server answers 409 Conflict with the same
    # message, and porchctl prints the server's message either way.
    await cli.fails("porchctl", "rpkg", "init", ns, "--repository=git", "--workspace=init-2", "init-package",
                    stderr='Error: package "init-package" already exists in repository "git" \n')
