"""Porch's CLI golden scenarios rpkg-init, rpkg-clone, rpkg-copy and rpkg-lifecycle (test/e2e/cli/testdata).

Expected texts are Porch's golden files; YAML outputs compare as Porch's harness
compares them (parsed, resourceVersion and creationTimestamp lines dropped).
"""

from __future__ import annotations

from typing import Any

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
        PACKAGE_CONTEXT]})
    # Porch answers 500 "Internal error occurred: ..." here; this server answers 409 Conflict with the same
    # message, and porchctl prints the server's message either way.
    await cli.fails("porchctl", "rpkg", "init", ns, "--repository=git", "--workspace=init-2", "init-package",
                    stderr='Error: package "init-package" already exists in repository "git" \n')


def basens_clone(name: str, namespace: str, uid: str, commit: str, url: str) -> dict[str, Any]:
    """The pulled ResourceList of a clone of test-blueprints' basens/v1 (Porch's golden rpkg-clone/rpkg-copy)."""
    upstream = {"directory": "basens", "ref": "basens/v1", "repo": url}
    return {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [
        metadata_item(f"git.{name}", namespace, uid),
        {"apiVersion": "kpt.dev/v1", "kind": "Kptfile", "info": {"description": "sample description"},
         "metadata": {"annotations": annotations("Kptfile", **{
             "internal.kpt.dev/upstream-identifier": f"kpt.dev|Kptfile|default|{name.split('.')[0]}"}),
             "name": name.split(".")[0]},
         "status": RENDERED,
         "upstream": {"git": upstream, "type": "git"},
         "upstreamLock": {"git": {**upstream, "commit": commit}, "type": "git"}},
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"annotations": annotations("namespace.yaml", **{
             "internal.kpt.dev/upstream-identifier": "|Namespace|default|example"}), "name": "example"}}]}


async def test_rpkg_clone(cli: Cli) -> None:
    await cli.namespace("rpkg-clone")
    ns = "--namespace=rpkg-clone"
    await cli.register("rpkg-clone", "git", PORCH_TEST)
    # The golden clones from the git URL anonymously (gitea allows it); this git server needs credentials, so the
    # clone names the Secret that `repo register` made.
    await cli.ok("porchctl", "rpkg", "clone", ns, BLUEPRINTS + "/basens@basens/v1", "--repository=git",
                 "--workspace=clone-2", "--secret-ref=git-auth", "basens-clone",
                 stdout="git.basens-clone.clone-2 created\n")
    await cli.fails("porchctl", "rpkg", "clone", ns, BLUEPRINTS + "/basens@basens/v1", "--repository=git",
                    "--workspace=clone-3", "--secret-ref=git-auth", "basens-clone",
                    stderr='Error: `clone` cannot create a new revision for package "basens-clone" that already '
                           'exists in repo "git"; make subsequent revisions using `copy` \n')
    await cli.register("rpkg-clone", "test-blueprints", BLUEPRINTS, "--description", "Test Blueprints")
    # The golden reads "test-blueprints.empty.v1\n": Porch's harness rewrites stdout line by line, ending each with
    # a newline; porchctl itself (kubectl's JSONPath printer) adds none.
    await cli.ok("porchctl", "rpkg", "get", ns, "--name=empty", "--revision=1",
                 "--output=jsonpath={.metadata.name}", stdout="test-blueprints.empty.v1")
    await cli.ok("porchctl", "rpkg", "clone", ns, "test-blueprints.empty.v1", "--repository=git",
                 "--workspace=clone-1", "empty-clone", stdout="git.empty-clone.clone-1 created\n")
    basens_v1 = cli.git.git("test-blueprints", "rev-parse", "basens/v1^{commit}").strip()
    pulled = await cli.ok("porchctl", "rpkg", "pull", ns, "git.basens-clone.clone-2")
    assert_yaml(pulled.stdout, basens_clone("basens-clone.clone-2", "rpkg-clone",
                                            "710e4f9b-b21f-5786-bf04-1d1d9b32d57c", basens_v1,
                                            cli.git.url("test-blueprints")))
    empty_v1 = cli.git.git("test-blueprints", "rev-parse", "empty/v1^{commit}").strip()
    upstream = {"directory": "empty", "ref": "empty/v1", "repo": cli.git.url("test-blueprints")}
    pulled = await cli.ok("porchctl", "rpkg", "pull", ns, "git.empty-clone.clone-1")
    assert_yaml(pulled.stdout, {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [
        metadata_item("git.empty-clone.clone-1", "rpkg-clone", "e8317a47-90ce-5c75-b548-26e7de2e2508"),
        {"apiVersion": "kpt.dev/v1", "kind": "Kptfile", "info": {"description": "Empty Blueprint"},
         "metadata": {"annotations": annotations("Kptfile", **{
             "internal.kpt.dev/upstream-identifier": "kpt.dev|Kptfile|default|empty-clone"}), "name": "empty-clone"},
         "status": RENDERED, "upstream": {"git": upstream, "type": "git"},
         "upstreamLock": {"git": {**upstream, "commit": empty_v1}, "type": "git"}}]})


async def test_rpkg_copy(cli: Cli) -> None:
    await cli.namespace("rpkg-copy")
    ns = "--namespace=rpkg-copy"
    await cli.register("rpkg-copy", "git", PORCH_TEST)
    await cli.ok("porchctl", "rpkg", "clone", ns, BLUEPRINTS, "--directory=basens", "--ref=basens/v1",
                 "--repository=git", "--workspace=copy-1", "--secret-ref=git-auth", "basens-edit",
                 stdout="git.basens-edit.copy-1 created\n")
    await cli.ok("porchctl", "rpkg", "propose", ns, "git.basens-edit.copy-1", stdout="git.basens-edit.copy-1 proposed\n")
    await cli.ok("porchctl", "rpkg", "approve", ns, "git.basens-edit.copy-1", stdout="git.basens-edit.copy-1 approved\n")
    await cli.ok("porchctl", "rpkg", "copy", ns, "--workspace=copy-2", "git.basens-edit.copy-1",
                 stdout="git.basens-edit.copy-2 created\n")
    basens_v1 = cli.git.git("test-blueprints", "rev-parse", "basens/v1^{commit}").strip()
    pulled = await cli.ok("porchctl", "rpkg", "pull", ns, "git.basens-edit.copy-2")
    assert_yaml(pulled.stdout, basens_clone("basens-edit.copy-2", "rpkg-copy", "dc403caa-3f59-5a61-8a79-adcdf40bc52a",
                                            basens_v1, cli.git.url("test-blueprints")))


def table(name: str, revision: int, latest: str, lifecycle: str) -> str:
    rows = [["NAME", "PACKAGE", "WORKSPACENAME", "REVISION", "LATEST", "LIFECYCLE", "REPOSITORY"],
            [name, "lifecycle-package", "lifecycle", str(revision), latest, lifecycle, "git"]]
    widths = [max(len(r[i]) for r in rows) + 3 for i in range(6)]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[6] + "\n" for r in rows)


async def test_rpkg_lifecycle(cli: Cli) -> None:
    await cli.namespace("rpkg-lifecycle")
    ns = "--namespace=rpkg-lifecycle"
    name = "git.lifecycle-package.lifecycle"
    await cli.register("rpkg-lifecycle", "git", PORCH_TEST)
    await cli.ok("porchctl", "rpkg", "init", ns, "--repository=git", "--workspace=lifecycle", "lifecycle-package",
                 stdout=f"{name} created\n")
    await cli.ok("porchctl", "rpkg", "propose", ns, name, stdout=f"{name} proposed\n")
    not_published = f"can only propose published packages for deletion; package {name} is not published"
    await cli.fails("porchctl", "rpkg", "propose-delete", name, ns,
                    stderr=f"{name} failed ({not_published})\nError: errors:\n  {not_published} \n")
    await cli.ok("porchctl", "rpkg", "get", name, ns,
                 "--output=custom-columns=NAME:.metadata.name,PKG:.spec.packageName,REV:.spec.revision,"
                 "LIFECYCLE:.spec.lifecycle", stdout=f"""\
NAME                              PKG                 REV      LIFECYCLE
{name}   lifecycle-package   <none>   Proposed
""")
    await cli.ok("porchctl", "rpkg", "reject", ns, name, stdout=f"{name} no longer proposed for approval\n")
    await cli.ok("porchctl", "rpkg", "get", name, ns, stdout=table(name, 0, "false", "Draft"))
    await cli.fails("porchctl", "rpkg", "propose-delete", name, ns,
                    stderr=f"{name} failed ({not_published})\nError: errors:\n  {not_published} \n")
    await cli.ok("porchctl", "rpkg", "propose", ns, name, stdout=f"{name} proposed\n")
    await cli.ok("porchctl", "rpkg", "get", name, ns, stdout=table(name, 0, "false", "Proposed"))
    await cli.ok("porchctl", "rpkg", "approve", ns, name, stdout=f"{name} approved\n")
    await cli.ok("porchctl", "rpkg", "get", name, ns, stdout=table(name, 1, "true", "Published"))
    forbidden = (f'packagerevisions.porch.kpt.dev "{name}" is forbidden: published PackageRevisions must be '
                 "proposed for deletion by setting spec.lifecycle to 'DeletionProposed' prior to deletion")
    await cli.fails("porchctl", "rpkg", "delete", name, ns,
                    stderr=f"{name} failed ({forbidden})\nError: errors:\n  {forbidden} \n")
    await cli.ok("porchctl", "rpkg", "propose-delete", name, ns, stdout=f"{name} proposed for deletion\n")
    result = await cli.run("porchctl", "rpkg", "propose-delete", name, ns)
    assert result == type(result)("", f"{name} is already proposed for deletion\n", 0)
    await cli.ok("porchctl", "rpkg", "get", name, ns, stdout=table(name, 1, "true", "DeletionProposed"))
    await cli.ok("porchctl", "rpkg", "reject", name, ns, stdout=f"{name} no longer proposed for deletion\n")
    cannot = f"cannot reject {name} with lifecycle 'Published'"
    await cli.fails("porchctl", "rpkg", "reject", name, ns, stderr=f"{name} failed ({cannot})\nError: errors:\n  {cannot} \n")
    await cli.ok("porchctl", "rpkg", "get", name, ns, stdout=table(name, 1, "true", "Published"))
    await cli.ok("porchctl", "rpkg", "propose-delete", name, ns, stdout=f"{name} proposed for deletion\n")
    await cli.ok("porchctl", "rpkg", "get", name, ns, stdout=table(name, 1, "true", "DeletionProposed"))
    await cli.ok("porchctl", "rpkg", "delete", name, ns, stdout=f"{name} deleted\n")
    # Porch's golden: 'Error: the server could not find the requested resource (get packagerevisions.porch.kpt.dev
    # <name>) ' (its aggregated server's generic 404); this server sends Kubernetes' standard NotFound message.
    await cli.fails("porchctl", "rpkg", "get", name, ns,
                    stderr=f'Error: packagerevisions.porch.kpt.dev "{name}" not found \n')
