"""Porch's CLI golden scenarios repo-register and rpkg-get (test/e2e/cli/testdata)."""

from __future__ import annotations

from tests.cli.conftest import Cli, stable_yaml

BLUEPRINTS = "http://gitea.gitea.svc.cluster.local:3000/nephio/test-blueprints.git"


async def test_repo_register(cli: Cli) -> None:
    ns = "--namespace=repo-register"
    await cli.namespace("repo-register")
    await cli.ok("porchctl", "repo", "register", "--repo-basic-password=secret", "--repo-basic-username=nephio",
                 BLUEPRINTS, ns, "--name=test-blueprints", "--description", "Test Blueprints", stdout="")
    await cli.wait_ready("repo-register", "test-blueprints")
    address = cli.git.url("test-blueprints")
    await cli.ok("porchctl", "repo", "get", ns,
                 "--output=custom-columns=NAME:.metadata.name,ADDRESS:.spec.git.repo,BRANCH:.spec.git.branch,"
                 "DIR:.spec.git.directory",
                 stdout=f"NAME              {'ADDRESS'.ljust(len(address) + 3)}BRANCH   DIR\n"
                        f"test-blueprints   {address}   main     /\n")
    await cli.ok("porchctl", "repo", "get", ns, "--output=custom-columns=NAME:.metadata.name,DESC:.spec.description",
                 stdout="NAME              DESC\ntest-blueprints   Test Blueprints\n")
    await cli.ok("porchctl", "repo", "get", ns,
                 "--output=custom-columns=NAME:.metadata.name,TYPE:.spec.type,CONTENT:.spec.content,"
                 "READY:.status.conditions[?(@.type=='Ready')].status,ADDRESS:.spec.git.repo,BRANCH:.spec.git.branch",
                 stdout=f"NAME              TYPE   CONTENT   READY   {'ADDRESS'.ljust(len(address) + 3)}BRANCH\n"
                        f"test-blueprints   git    Package   True    {address}   main\n")
    await cli.ok("porchctl", "repo", "unregister", ns, "test-blueprints", stdout="")
    # porchctl prints its tables with kubectl's printer only: an empty list prints nothing, on either stream.
    await cli.ok("porchctl", "repo", "get", ns, stdout="")


GET_ALL = """\
NAME                                PKG            REPO              REV
test-blueprints.basens.main         basens         test-blueprints   -1
test-blueprints.basens.v1           basens         test-blueprints   1
test-blueprints.basens.v2           basens         test-blueprints   2
test-blueprints.basens.v3           basens         test-blueprints   3
test-blueprints.basens.v4           basens         test-blueprints   4
test-blueprints.bucket.main         bucket         test-blueprints   -1
test-blueprints.bucket.v1           bucket         test-blueprints   1
test-blueprints.empty.main          empty          test-blueprints   -1
test-blueprints.empty.v1            empty          test-blueprints   1
test-blueprints.redis-bucket.main   redis-bucket   test-blueprints   -1
test-blueprints.redis-bucket.v1     redis-bucket   test-blueprints   1
test-blueprints.unready.main        unready        test-blueprints   -1
test-blueprints.unready.v1          unready        test-blueprints   1
test-blueprints.update.main         update         test-blueprints   -1
test-blueprints.update.v1           update         test-blueprints   1
test-blueprints.update.v2           update         test-blueprints   2
"""


GET_BASENS = """\
NAME                          PACKAGE   WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY
test-blueprints.basens.main   basens    main            -1         false    Published   test-blueprints
test-blueprints.basens.v1     basens    v1              1          false    Published   test-blueprints
test-blueprints.basens.v2     basens    v2              2          false    Published   test-blueprints
test-blueprints.basens.v3     basens    v3              3          false    Published   test-blueprints
test-blueprints.basens.v4     basens    v4              4          true     Published   test-blueprints
"""


async def test_rpkg_get(cli: Cli) -> None:
    ns = "--namespace=rpkg-get"
    await cli.namespace("rpkg-get")
    await cli.register("rpkg-get", "test-blueprints", BLUEPRINTS, "--description", "Test Blueprints")
    await cli.ok("porchctl", "rpkg", "get", ns,
                 "--output=custom-columns=NAME:.metadata.name,PKG:.spec.packageName,REPO:.spec.repository,"
                 "REV:.spec.revision", stdout=GET_ALL)
    await cli.ok("porchctl", "rpkg", "get", ns, "test-blueprints.basens.v1", stdout="""\
NAME                        PACKAGE   WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY
test-blueprints.basens.v1   basens    v1              1          false    Published   test-blueprints
""")
    await cli.ok("porchctl", "rpkg", "get", ns, "--name=basens", stdout=GET_BASENS)
    shown = await cli.ok("porchctl", "rpkg", "get", "--show-kptfile", ns, "test-blueprints.basens.v1")
    assert stable_yaml(shown.stdout) == {"apiVersion": "kpt.dev/v1", "info": {"description": "sample description"},
                                         "kind": "Kptfile", "metadata": {"name": "basens"}}
    await cli.fails("porchctl", "rpkg", "get", "--show-kptfile", ns,
                    stderr="error: --show-kptfile requires exactly one package revision name as an argument\n")
    await cli.fails("porchctl", "rpkg", "get", "--show-kptfile", "--name=basens", ns, "test-blueprints.basens.v1",
                    stderr="error: --show-kptfile cannot be combined with --name, --revision, or --workspace\n")
    await cli.fails("porchctl", "rpkg", "get", "--show-kptfile", "--all-namespaces", "test-blueprints.basens.v1",
                    stderr="error: --show-kptfile cannot be combined with --all-namespaces\n")
