"""Porch's CLI golden scenario rpkg-upgrade (test/e2e/cli/testdata/rpkg-upgrade/config.yaml), and
porchctl's ``rpkg upgrade`` refusals.

The scenario's commands run as the file gives them, ``sh -c`` edits and ``kubectl``
included, and their outputs are compared as Porch's harness compares them: exact
stdout with the lines after a table's header sorted, exact stderr without the
``[PASS]`` lines, exit code 0.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import trio
import yaml

from tests.cli.conftest import Cli, Result

PORCH_TEST = "http://gitea.gitea.svc.cluster.local:3000/nephio/porch-test"
BLUEPRINTS = "http://gitea.gitea.svc.cluster.local:3000/nephio/test-blueprints.git"
NS = "--namespace=rpkg-upgrade"

DOWNSTREAM_EDIT = r"""echo "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: configmap1\ndata:\n  foo: \"bar\" # kpt-set: \${foo}\n" > /tmp/porch-e2e/rpkg-upgrade/upgrade-downstream-v1/cm1.yaml
echo "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setters\ndata:\n  foo: \"baz\"\n" > /tmp/porch-e2e/rpkg-upgrade/upgrade-downstream-v1/setters.yaml
echo "pipeline:\n  mutators:\n  - image: apply-setters:v0.2\n    configPath: setters.yaml" >> /tmp/porch-e2e/rpkg-upgrade/upgrade-downstream-v1/Kptfile
"""  # noqa: E501 - Porch's file, verbatim
UPSTREAM_EDIT = r"""echo "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: configmap2\ndata:\n  fruit: \"apple\" # kpt-set: \${fruit}\n" > /tmp/porch-e2e/rpkg-upgrade/upgrade-orig-v2/cm2.yaml
echo "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setters\ndata:\n  fruit: \"pear\"\n" > /tmp/porch-e2e/rpkg-upgrade/upgrade-orig-v2/setters.yaml
echo "pipeline:\n  mutators:\n  - image: apply-setters:v0.2\n    configPath: setters.yaml" >> /tmp/porch-e2e/rpkg-upgrade/upgrade-orig-v2/Kptfile
"""  # noqa: E501 - Porch's file, verbatim


def harness(stdout: str) -> str:
    """Porch's reorderCommandStdout: the first line kept, the others sorted."""
    if not stdout:
        return stdout
    header, *body = stdout.splitlines()
    return "".join(line + "\n" for line in [header, *sorted(body)])


async def step(cli: Cli, *args: str, stdout: str = "", stderr: str = "") -> Result:
    """One command of the golden file: exit 0, and stdout and stderr as the harness compares them."""
    result = await cli.run(*args)
    got_stderr = "".join(line + "\n" for line in result.stderr.splitlines() if "[PASS]" not in line)
    assert (result.code, harness(result.stdout), got_stderr) == (0, harness(cli.text(stdout)), cli.text(stderr)), \
        result
    return result


async def shell(cli: Cli, script: str) -> None:
    """A ``sh -c`` step of the golden file, with its /tmp paths mapped onto this test."""
    done = subprocess.run(["sh", "-c", cli.text(script)], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), done


async def kubectl(cli: Cli, *args: str) -> str:
    """A ``kubectl`` step, against this test's server (run as a process: the server shares this event loop)."""
    environment = {**os.environ, "KUBECONFIG": str(cli.server.kubeconfig), "HOME": str(cli.server.data_dir)}
    done = await trio.run_process(["kubectl", *args], capture_stdout=True, capture_stderr=True, check=False,
                                  env=environment)
    assert (done.returncode, done.stderr) == (0, b""), done
    return done.stdout.decode()


async def register(cli: Cli, name: str, *flags: str) -> None:
    await step(cli, "porchctl", "repo", "register", NS, f"--name={name}", "--repo-basic-password=secret",
               "--repo-basic-username=nephio", "--deployment=true", *flags, PORCH_TEST)
    await cli.wait_ready("rpkg-upgrade", name)


async def test_rpkg_upgrade(cli: Cli) -> None:
    await cli.namespace("rpkg-upgrade")
    await register(cli, "git", "--directory=upstream")
    # The golden clones from the git URL anonymously (gitea allows it); this git server needs credentials, so the
    # clone names the Secret that `repo register` made.
    await step(cli, "porchctl", "rpkg", "clone", NS, BLUEPRINTS, "--directory=basens", "--ref=basens/v1",
               "--repository=git", "--workspace=v1", "--secret-ref=git-auth", "upgrade-orig",
               stdout="git.upgrade-orig.v1 created\n")
    await step(cli, "porchctl", "rpkg", "propose", NS, "git.upgrade-orig.v1", stdout="git.upgrade-orig.v1 proposed\n")
    await step(cli, "porchctl", "rpkg", "approve", NS, "git.upgrade-orig.v1", stdout="git.upgrade-orig.v1 approved\n")
    await step(cli, "porchctl", "rpkg", "clone", NS, "git.upgrade-orig.v1", "--directory=basens", "--ref=basens/v1",
               "--repository=git", "--workspace=v1", "upgrade-downstream",
               stdout="git.upgrade-downstream.v1 created\n")
    await step(cli, "porchctl", "rpkg", "pull", NS, "git.upgrade-downstream.v1",
               "/tmp/porch-e2e/rpkg-upgrade/upgrade-downstream-v1")
    await shell(cli, DOWNSTREAM_EDIT)
    await step(cli, "porchctl", "rpkg", "push", NS, "git.upgrade-downstream.v1",
               "/tmp/porch-e2e/rpkg-upgrade/upgrade-downstream-v1", stdout="git.upgrade-downstream.v1 pushed\n",
               stderr='[RUNNING] "ghcr.io/kptdev/krm-functions-catalog/apply-setters:v0.2" \n'
                      '[Results]: [info] data.foo: set field value to "baz"\n')
    await step(cli, "porchctl", "rpkg", "propose", NS, "git.upgrade-downstream.v1",
               stdout="git.upgrade-downstream.v1 proposed\n")
    await step(cli, "porchctl", "rpkg", "approve", NS, "git.upgrade-downstream.v1",
               stdout="git.upgrade-downstream.v1 approved\n")
    await step(cli, "porchctl", "rpkg", "copy", NS, "--workspace=v2", "git.upgrade-orig.v1",
               stdout="git.upgrade-orig.v2 created\n")
    await step(cli, "porchctl", "rpkg", "pull", NS, "git.upgrade-orig.v2", "/tmp/porch-e2e/rpkg-upgrade/upgrade-orig-v2")
    await shell(cli, UPSTREAM_EDIT)
    await step(cli, "porchctl", "rpkg", "push", NS, "git.upgrade-orig.v2", "/tmp/porch-e2e/rpkg-upgrade/upgrade-orig-v2",
               stdout="git.upgrade-orig.v2 pushed\n",
               stderr='[RUNNING] "ghcr.io/kptdev/krm-functions-catalog/apply-setters:v0.2" \n'
                      '[Results]: [info] data.fruit: set field value to "pear"\n')
    await step(cli, "porchctl", "rpkg", "propose", NS, "git.upgrade-orig.v2", stdout="git.upgrade-orig.v2 proposed\n")
    await step(cli, "porchctl", "rpkg", "approve", NS, "git.upgrade-orig.v2", stdout="git.upgrade-orig.v2 approved\n")
    await step(cli, "porchctl", "rpkg", "get", NS, stdout="""\
NAME                          PACKAGE              WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY
git.upgrade-downstream.main   upgrade-downstream   main            -1         false    Published   git
git.upgrade-downstream.v1     upgrade-downstream   v1              1          true     Published   git
git.upgrade-orig.main         upgrade-orig         main            -1         false    Published   git
git.upgrade-orig.v1           upgrade-orig         v1              1          false    Published   git
git.upgrade-orig.v2           upgrade-orig         v2              2          true     Published   git
""")
    await step(cli, "porchctl", "rpkg", "upgrade", NS, "--discover=upstream", "git.upgrade-downstream.v1", stdout="""\
PACKAGE REVISION            UPSTREAM REPOSITORY   UPSTREAM UPDATES
git.upgrade-downstream.v1   git                   v2
""")
    await step(cli, "porchctl", "rpkg", "upgrade", NS, "--discover=upstream", stdout="""\
PACKAGE REVISION              UPSTREAM REPOSITORY   UPSTREAM UPDATES
git.upgrade-downstream.main   git                   v2
git.upgrade-downstream.v1     git                   v2
git.upgrade-orig.main                               No update available
git.upgrade-orig.v1                                 No update available
git.upgrade-orig.v2                                 No update available
""")
    await step(cli, "porchctl", "rpkg", "upgrade", NS, "--discover=downstream", stdout="""\
PACKAGE REVISION      DOWNSTREAM PACKAGE            DOWNSTREAM UPDATE
git.upgrade-orig.v2   git.upgrade-downstream.main   v1->v2
git.upgrade-orig.v2   git.upgrade-downstream.v1     v1->v2
""")
    await step(cli, "porchctl", "rpkg", "upgrade", NS, "git.upgrade-downstream.v1", "--workspace=v2",
               stdout="git.upgrade-downstream.v1 upgraded to git.upgrade-downstream.v2\n")
    # Not in Porch's file: what the upgrade made. Upstream's new ConfigMap and setter joined the local ones, the
    # render after the merge ran the merged pipeline, and the Kptfile follows upstream v2.
    files = (await resources(cli, "git.upgrade-downstream.v2"))
    assert yaml.safe_load(files["cm1.yaml"])["data"] == {"foo": "baz"}
    assert yaml.safe_load(files["cm2.yaml"])["data"] == {"fruit": "pear"}
    assert yaml.safe_load(files["setters.yaml"])["data"] == {"foo": "baz", "fruit": "pear"}
    lock = yaml.safe_load(files["Kptfile"])["upstreamLock"]["git"]
    assert (lock["repo"], lock["directory"], lock["ref"]) == (cli.git.url("porch-test"), "upstream/upgrade-orig",
                                                              "upstream/upgrade-orig/v2")

    for downstream in ("downstream1", "downstream2"):
        await register(cli, downstream, f"--directory={downstream}")
        await step(cli, "porchctl", "rpkg", "clone", NS, "git.upgrade-orig.v1", f"--repository={downstream}",
                   "--workspace=v1", "upgrade-orig", stdout=f"{downstream}.upgrade-orig.v1 created\n")
        await step(cli, "porchctl", "rpkg", "propose", NS, f"{downstream}.upgrade-orig.v1",
                   stdout=f"{downstream}.upgrade-orig.v1 proposed\n")
        await step(cli, "porchctl", "rpkg", "approve", NS, f"{downstream}.upgrade-orig.v1",
                   stdout=f"{downstream}.upgrade-orig.v1 approved\n")
        await step(cli, "porchctl", "rpkg", "upgrade", NS, f"{downstream}.upgrade-orig.v1", "--workspace=v2",
                   stdout=f"{downstream}.upgrade-orig.v1 upgraded to {downstream}.upgrade-orig.v2\n")
        assert harness(await kubectl(cli, "get", "packagerevisions.v1alpha1.porch.kpt.dev",
                                     f"{downstream}.upgrade-orig.v2", "--namespace=rpkg-upgrade",
                                     "-o=jsonpath={.spec.tasks[0].upgrade.newUpstreamRef.name}")) == \
            "git.upgrade-orig.v2\n"
        if downstream == "downstream1":
            await step(cli, "porchctl", "rpkg", "propose", NS, f"{downstream}.upgrade-orig.v2",
                       stdout=f"{downstream}.upgrade-orig.v2 proposed\n")
            await step(cli, "porchctl", "rpkg", "approve", NS, f"{downstream}.upgrade-orig.v2",
                       stdout=f"{downstream}.upgrade-orig.v2 approved\n")

    # Not in Porch's file: the upgrade of the customised package, proposed, approved, and read back from git.
    await step(cli, "porchctl", "rpkg", "propose", NS, "git.upgrade-downstream.v2",
               stdout="git.upgrade-downstream.v2 proposed\n")
    await step(cli, "porchctl", "rpkg", "approve", NS, "git.upgrade-downstream.v2",
               stdout="git.upgrade-downstream.v2 approved\n")
    in_git = cli.git.files_at("porch-test", "upstream/upgrade-downstream/v2", "upstream/upgrade-downstream",
                              cli.tmp / "porch-test-clone")
    assert in_git == files


async def resources(cli: Cli, name: str) -> dict[str, Any]:
    async with cli.server.client() as http:
        response = await http.get(f"/apis/porch.kpt.dev/v1alpha1/namespaces/rpkg-upgrade/packagerevisionresources/"
                                  f"{name}")
        assert response.status_code == 200, response.text
        return dict(response.json()["spec"]["resources"])


async def test_rpkg_upgrade_finds_the_upstream_and_refuses_with_porchctls_messages(cli: Cli) -> None:
    namespace = "upgrade-refusals"
    ns = f"--namespace={namespace}"
    await cli.namespace(namespace)
    await cli.register(namespace, "test-blueprints", BLUEPRINTS)
    await cli.register(namespace, "git", PORCH_TEST)
    await cli.ok("porchctl", "rpkg", "clone", ns, "test-blueprints.basens.v1", "--repository=git", "--workspace=v1",
                 "basens-down", stdout="git.basens-down.v1 created\n")

    async def fails(*args: str, stderr: str) -> None:
        await cli.fails("porchctl", "rpkg", "upgrade", ns, *args, stderr=f"Error: {stderr} \n")

    await fails("git.basens-down.v1", "--workspace=v2",
                stderr='to upgrade a package, it must be in a published state, not "Draft"')
    for verb in ("propose", "approve"):
        await cli.ok("porchctl", "rpkg", verb, ns, "git.basens-down.v1")
    await fails("git.nothing.v1", "--workspace=v2", stderr="could not find package revision git.nothing.v1")
    await fails("git.basens-down.v1", "--workspace=v2", "--revision=-1",
                stderr="revision must be positive (and not main)")
    await fails("git.basens-down.v1", stderr="workspace is required")
    await fails("git.basens-down.v1", "git.other.v1", "--workspace=v2",
                stderr="too many arguments; SOURCE_PACKAGE_REVISION is the only accepted positional arguments")
    await fails("--discover=sideways", stderr="argument for 'discover' must be one of 'upstream' or 'downstream'")
    await fails("git.basens-down.v1", "--workspace=v2", "--revision=9",
                stderr="revision 9 does not exist for package basens in repo test-blueprints")
    await fails("git.basens-down.v1", "--workspace=v1",
                stderr='failed to do create package revision "": package revision workspaceNames must be unique; '
                       "package revision with name basens-down in repo git with workspaceName v1 already exists")
    # fast-forward takes an untouched clone forward: what the clone itself wrote (the upstream
    # identifiers) is no local change.
    await cli.ok("porchctl", "rpkg", "upgrade", ns, "git.basens-down.v1", "--workspace=ff", "--strategy=fast-forward",
                 stdout="git.basens-down.v1 upgraded to git.basens-down.ff\n")
    await cli.ok("porchctl", "rpkg", "init", ns, "--repository=git", "--workspace=v1", "plain")
    for verb in ("propose", "approve"):
        await cli.ok("porchctl", "rpkg", verb, ns, "git.plain.v1")
    await fails("git.plain.v1", "--workspace=v2",
                stderr='upstream source not found for package revision "plain": no clone or upgrade type package '
                       "revision was found in the history of the package")

    # --revision picks the upstream revision; without it, the latest.
    await cli.ok("porchctl", "rpkg", "upgrade", ns, "git.basens-down.v1", "--workspace=to-v2", "--revision=2",
                 stdout="git.basens-down.v1 upgraded to git.basens-down.to-v2\n")
    await cli.ok("porchctl", "rpkg", "upgrade", ns, "git.basens-down.v1", "--workspace=latest",
                 stdout="git.basens-down.v1 upgraded to git.basens-down.latest\n")
    async with cli.server.client() as http:
        url = f"/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packagerevisions/"
        for name, upstream in (("git.basens-down.to-v2", "test-blueprints.basens.v2"),
                               ("git.basens-down.latest", "test-blueprints.basens.v4")):
            task = (await http.get(url + name)).json()["spec"]["tasks"][0]
            assert task == {"type": "upgrade", "upgrade": {
                "oldUpstreamRef": {"name": "test-blueprints.basens.v1"}, "newUpstreamRef": {"name": upstream},
                "localPackageRevisionRef": {"name": "git.basens-down.v1"}, "strategy": "resource-merge"}}
    # A copy follows its chain of copies back to the clone's upstream.
    await cli.ok("porchctl", "rpkg", "copy", ns, "--workspace=copied", "git.basens-down.v1")
    for verb in ("propose", "approve"):
        await cli.ok("porchctl", "rpkg", verb, ns, "git.basens-down.copied")
    await cli.ok("porchctl", "rpkg", "upgrade", ns, "git.basens-down.copied", "--workspace=from-copy",
                 "--strategy=copy-merge", stdout="git.basens-down.copied upgraded to git.basens-down.from-copy\n")

    # Drafts count too, as in porchctl: the draft that moved to v2 could move on to v3.
    await cli.ok("porchctl", "rpkg", "upgrade", ns, "--discover=downstream", "test-blueprints.basens.v3", stdout="""\
PACKAGE REVISION            DOWNSTREAM PACKAGE       DOWNSTREAM UPDATE
test-blueprints.basens.v3   git.basens-down.copied   v1->v3
test-blueprints.basens.v3   git.basens-down.main     v1->v3
test-blueprints.basens.v3   git.basens-down.to-v2    v2->v3
test-blueprints.basens.v3   git.basens-down.v1       v1->v3
""")
    await cli.ok("porchctl", "rpkg", "upgrade", ns, "--discover=downstream", "test-blueprints.basens.v1",
                 stdout="All downstream packages are up to date.\n")
    await cli.fails("porchctl", "rpkg", "upgrade", ns, "--discover=upstream", "git.nothing.v1", "git.none.v2",
                    stderr="Error: errors:\n  could not find package revision git.nothing.v1\n  could not find package "
                           "revision git.none.v2 \n")
    # A clone of an upstream draft could take every published revision of that package.
    await cli.ok("porchctl", "rpkg", "copy", ns, "--workspace=next", "test-blueprints.basens.v4")
    await cli.ok("porchctl", "rpkg", "clone", ns, "test-blueprints.basens.next", "--repository=git",
                 "--workspace=v1", "from-draft", stdout="git.from-draft.v1 created\n")
    await cli.ok("porchctl", "rpkg", "upgrade", ns, "--discover=downstream", "test-blueprints.basens.v1", stdout="""\
PACKAGE REVISION            DOWNSTREAM PACKAGE   DOWNSTREAM UPDATE
test-blueprints.basens.v1   git.from-draft.v1    (draft "next")->v1
""")
    await cli.ok("porchctl", "rpkg", "upgrade", ns, "--discover=upstream", "git.from-draft.v1", "git.basens-down.v1",
                 stdout="""\
PACKAGE REVISION     UPSTREAM REPOSITORY   UPSTREAM UPDATES
git.from-draft.v1    test-blueprints       v1, v2, v3, v4
git.basens-down.v1   test-blueprints       v2, v3, v4
""")
    # A clone of a branch has a ref porchctl cannot read a revision from.
    await cli.ok("porchctl", "rpkg", "clone", ns, BLUEPRINTS, "--directory=basens", "--ref=main",
                 "--secret-ref=git-auth", "--repository=git", "--workspace=v1", "from-main",
                 stdout="git.from-main.v1 created\n")
    await fails("--discover=upstream", "git.from-main.v1",
                stderr='could not parse upstreamLock in Kptfile of package "git.from-main.v1": malformed '
                       'upstreamLock.Git.Ref "main"')
    await cli.ok("porchctl", "repo", "unregister", ns, "test-blueprints")
    await fails("git.basens-down.v1", "--workspace=v9",
                stderr="upstream package revision test-blueprints.basens.v1 no longer exists")
