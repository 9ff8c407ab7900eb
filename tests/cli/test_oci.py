"""porchctl against an OCI repository: ``repo register oci://HOST/PATH`` and the rpkg lifecycle on it."""

from __future__ import annotations

import secrets

from tests.cli.conftest import Cli
from tests.parts.registry import Registry, oci_registry

__all__ = ["oci_registry"]

HEADER = "NAME                PACKAGE   WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY\n"


def row(revision: int, latest: str, lifecycle: str) -> str:
    return (HEADER + "blueprints.app.v1   app       v1              "
            f"{revision:<11}{latest:<9}{lifecycle:<12}blueprints\n")


async def test_register_an_oci_registry_and_move_a_package_through_its_lifecycle(
        cli: Cli, oci_registry: Registry) -> None:
    await cli.namespace("oci")
    ns = "--namespace=oci"
    address = f"{oci_registry.host}/c{secrets.token_hex(4)}/blueprints"
    await cli.ok("porchctl", "repo", "register", ns, f"oci://{address}", "--description=OCI blueprints",
                 f"--repo-basic-username={oci_registry.username}", f"--repo-basic-password={oci_registry.password}",
                 stdout="")
    ready = await cli.wait_ready("oci", "blueprints")
    assert ready["spec"] == {"type": "oci", "description": "OCI blueprints", "content": "Package",
                             "oci": {"registry": address, "secretRef": {"name": "blueprints-auth"}}}
    await cli.ok("porchctl", "repo", "get", ns, "--output=custom-columns=NAME:.metadata.name,TYPE:.spec.type,"
                 "ADDRESS:.spec.oci.registry,READY:.status.conditions[?(@.type=='Ready')].status",
                 stdout=f"NAME         TYPE   {'ADDRESS'.ljust(len(address) + 3)}READY\n"
                        f"blueprints   oci    {address}   True\n")

    name = "blueprints.app.v1"
    await cli.ok("porchctl", "rpkg", "init", ns, "--repository=blueprints", "--workspace=v1", "app",
                 stdout=f"{name} created\n")
    await cli.ok("porchctl", "rpkg", "propose", ns, name, stdout=f"{name} proposed\n")
    await cli.ok("porchctl", "rpkg", "get", name, ns, stdout=row(0, "false", "Proposed"))
    await cli.ok("porchctl", "rpkg", "approve", ns, name, stdout=f"{name} approved\n")
    await cli.ok("porchctl", "rpkg", "get", name, ns, stdout=row(1, "true", "Published"))
    pulled = await cli.ok("porchctl", "rpkg", "pull", ns, name)
    assert "kind: Kptfile" in pulled.stdout and "name: app" in pulled.stdout
    await cli.ok("porchctl", "rpkg", "propose-delete", name, ns, stdout=f"{name} proposed for deletion\n")
    await cli.ok("porchctl", "rpkg", "delete", name, ns, stdout=f"{name} deleted\n")
    await cli.ok("porchctl", "rpkg", "get", ns, stdout="")

    await cli.ok("porchctl", "repo", "unregister", ns, "blueprints", stdout="")
    async with cli.server.client() as http:
        assert (await http.get("/api/v1/namespaces/oci/secrets/blueprints-auth")).status_code == 404
