"""Porch's CLI golden scenarios rpkg-push, rpkg-push-on-render-failure and rpkg-unready.

Porch's files edit pulled packages with ``kpt fn eval search-replace``; these tests make
the same edit to the pulled file directly (kpt is not part of this project).
"""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli

PORCH_TEST = "http://gitea.gitea.svc.cluster.local:3000/nephio/porch-test"
BLUEPRINTS = "http://gitea.gitea.svc.cluster.local:3000/nephio/test-blueprints.git"

PUSH_STDIN = """\
apiVersion: config.kubernetes.io/v1
items:
- apiVersion: ""
  kind: KptRevisionMetadata
  metadata:
    annotations:
      config.kubernetes.io/index: "0"
      config.kubernetes.io/path: .KptRevisionMetadata
      internal.config.kubernetes.io/index: "0"
      internal.config.kubernetes.io/path: .KptRevisionMetadata
    name: git.test-package.push
    namespace: rpkg-push
    uid: uid:test-package:push{rv}
- apiVersion: kpt.dev/v1
  info:
    description: {description}
  kind: Kptfile
  metadata:
    annotations:
      config.kubernetes.io/index: "0"
      config.kubernetes.io/local-config: "true"
      config.kubernetes.io/path: Kptfile
      internal.config.kubernetes.io/index: "0"
      internal.config.kubernetes.io/path: Kptfile
    name: test-package
- apiVersion: v1
  data:
    name: example
  kind: ConfigMap
  metadata:
    annotations:
      config.kubernetes.io/index: "0"
      config.kubernetes.io/local-config: "true"
      config.kubernetes.io/path: package-context.yaml
      internal.config.kubernetes.io/index: "0"
      internal.config.kubernetes.io/path: package-context.yaml
    name: kptfile.kpt.dev
kind: ResourceList
"""
BROKEN_PIPELINE = ("pipeline:\n  mutators:\n  - image: ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.0\n"
                   "    configMap:\n      namespace: example-ns\n"
                   "  - image: ghcr.io/kptdev/krm-functions-catalog/set-annotations:v0.1.4\n")
MISSING_FUNCTION = "pipeline:\n  mutators:\n  - image: quay.io/invalid/nonexistent-fn:v0.0.1\n"


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


async def test_rpkg_push(cli: Cli) -> None:
    await cli.namespace("rpkg-push")
    ns = "--namespace=rpkg-push"
    await cli.register("rpkg-push", "git", PORCH_TEST)
    await cli.ok("porchctl", "rpkg", "init", ns, "--repository=git", "--workspace=push", "test-package",
                 stdout="git.test-package.push created\n")
    # Porch wraps this as 500 "Internal error occurred: ..."; this server answers 400 BadRequest, same message.
    await cli.fails("porchctl", "rpkg", "push", ns, "git.test-package.push", "-",
                    stdin=PUSH_STDIN.format(rv="", description="sample description"),
                    stderr="Error: resourceVersion must be specified for an update \n")
    directory = cli.tmp / "rpkg-push-git.test-package.push"
    await cli.ok("porchctl", "rpkg", "pull", ns, "git.test-package.push", str(directory), stdout="")
    kptfile = directory / "Kptfile"
    kptfile.write_text(kptfile.read_text().replace("description: sample description",
                                                   "description: Updated Test Package Description"))
    await cli.ok("porchctl", "rpkg", "push", ns, "git.test-package.push", str(directory),
                 stdout="git.test-package.push pushed\n")
    pulled = await cli.ok("porchctl", "rpkg", "pull", ns, "git.test-package.push")
    assert "description: Updated Test Package Description" in pulled.stdout
    # Porch wraps this conflict as 500 "Internal error occurred: ..."; this server answers 409, same message.
    await cli.fails("porchctl", "rpkg", "push", ns, "git.test-package.push", "-",
                    stdin=PUSH_STDIN.format(rv='\n    resourceVersion: "1"',
                                            description="Updated Test Package Description"),
                    stderr='Error: Operation cannot be fulfilled on packagerevisionresources.porch.kpt.dev '
                           '"git.test-package.push": the object has been modified; please apply your changes to '
                           "the latest version and try again \n")
    invalid = cli.tmp / "testing-invalid-render"
    await cli.ok("porchctl", "rpkg", "pull", ns, "git.test-package.push", str(invalid), stdout="")
    append(invalid / "Kptfile", BROKEN_PIPELINE)
    await cli.fails("porchctl", "rpkg", "push", ns, "git.test-package.push", str(invalid), contains=True,
                    stderr="error rendering package in kpt function pipeline. Package NOT pushed to remote. Fix "
                           "locally (until 'kpt fn render' succeeds) and retry.")


async def test_rpkg_push_on_render_failure(cli: Cli) -> None:
    namespace = "rpkg-push-on-render-failure"
    ns = f"--namespace={namespace}"
    await cli.namespace(namespace)
    await cli.register(namespace, "git", PORCH_TEST)
    for package, annotation, saved in (("test-push-true", "true", True), ("test-push-false", "false", False),
                                       ("test-no-annotation", None, False)):
        name = f"git.{package}.v1"
        await cli.ok("porchctl", "rpkg", "init", ns, "--repository=git", "--workspace=v1", package,
                     stdout=f"{name} created\n")
        if annotation is not None:
            await cli.annotate(namespace, name, "porch.kpt.dev/push-on-render-failure", annotation)
        directory = cli.tmp / package
        await cli.ok("porchctl", "rpkg", "pull", ns, name, str(directory), stdout="")
        append(directory / "Kptfile", MISSING_FUNCTION)
        expected = "Package pushed to remote despite render failure" if saved else "Package NOT pushed to remote"
        await cli.fails("porchctl", "rpkg", "push", ns, name, str(directory), stderr=expected, contains=True)
        verify = cli.tmp / f"{package}-verify"
        await cli.ok("porchctl", "rpkg", "pull", ns, name, str(verify), stdout="")
        assert ("nonexistent-fn" in (verify / "Kptfile").read_text()) is saved


async def test_rpkg_unready(cli: Cli) -> None:
    await cli.namespace("rpkg-unready")
    ns = "--namespace=rpkg-unready"
    await cli.register("rpkg-unready", "git", PORCH_TEST)
    await cli.ok("porchctl", "rpkg", "clone", ns, BLUEPRINTS + "/unready@unready/v1", "--repository=git",
                 "--workspace=clone-1", "--secret-ref=git-auth", "unready-edit",
                 stdout="git.unready-edit.clone-1 created\n")
    # Not in Porch's file: with the readiness gate's condition False, porchctl refuses client-side.
    await cli.fails("porchctl", "rpkg", "propose", ns, "git.unready-edit.clone-1",
                    stderr="git.unready-edit.clone-1 failed (readiness conditions not met)\n"
                           "Error: errors:\n  readiness conditions not met \n")
    directory = cli.tmp / "pkg-unready-git.unready-edit.clone-1"
    await cli.ok("porchctl", "rpkg", "pull", ns, "git.unready-edit.clone-1", str(directory), stdout="")
    kptfile = directory / "Kptfile"
    kptfile.write_text(kptfile.read_text().replace('status: "False"', 'status: "True"'))
    await cli.ok("porchctl", "rpkg", "push", ns, "git.unready-edit.clone-1", str(directory),
                 stdout="git.unready-edit.clone-1 pushed\n")
    await cli.ok("porchctl", "rpkg", "propose", ns, "git.unready-edit.clone-1",
                 stdout="git.unready-edit.clone-1 proposed\n")
    await cli.ok("porchctl", "rpkg", "approve", ns, "git.unready-edit.clone-1",
                 stdout="git.unready-edit.clone-1 approved\n")
    await cli.ok("porchctl", "rpkg", "copy", ns, "--workspace=copy-2", "git.unready-edit.clone-1",
                 stdout="git.unready-edit.copy-2 created\n")
    await cli.ok("porchctl", "rpkg", "propose", ns, "git.unready-edit.copy-2", stdout="git.unready-edit.copy-2 proposed\n")
    await cli.ok("porchctl", "rpkg", "approve", ns, "git.unready-edit.copy-2", stdout="git.unready-edit.copy-2 approved\n")


async def test_rpkg_push_retries_after_a_failed_render(cli: Cli) -> None:
    """Pull, break the pipeline, push (refused), fix, push again: the retry lands, as in Porch.

    The refused pushes leave their render result on the PackageRevisionResources (a GET
    shows it), yet the directory's .KptRevisionMetadata, pulled before them, still pushes.
    """
    namespace = "rpkg-push-retry"
    ns = f"--namespace={namespace}"
    name = "git.retry-package.v1"
    await cli.namespace(namespace)
    await cli.register(namespace, "git", PORCH_TEST)
    await cli.ok("porchctl", "rpkg", "init", ns, "--repository=git", "--workspace=v1", "retry-package",
                 stdout=f"{name} created\n")
    directory = cli.tmp / "retry-package"
    await cli.ok("porchctl", "rpkg", "pull", ns, name, str(directory), stdout="")
    kptfile = directory / "Kptfile"
    fixed = kptfile.read_text()
    (directory / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: retried\n")
    append(kptfile, MISSING_FUNCTION)
    for _ in range(2):  # a second refusal keeps the pulled resourceVersion usable too
        await cli.fails("porchctl", "rpkg", "push", ns, name, str(directory), contains=True,
                        stderr="Package NOT pushed to remote")
        async with cli.server.client() as http:
            stored = (await http.get(f"/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/"
                                     f"packagerevisionresources/{name}")).json()
        assert "nonexistent-fn" in stored["status"]["renderStatus"]["error"]
        assert "cm.yaml" not in stored["spec"]["resources"]
    kptfile.write_text(fixed)
    await cli.ok("porchctl", "rpkg", "push", ns, name, str(directory), stdout=f"{name} pushed\n")
    pulled = await cli.ok("porchctl", "rpkg", "pull", ns, name)
    assert "name: retried" in pulled.stdout
    # The allowance ends with the write that used it: the same directory is now stale.
    await cli.fails("porchctl", "rpkg", "push", ns, name, str(directory), contains=True,
                    stderr="the object has been modified")
