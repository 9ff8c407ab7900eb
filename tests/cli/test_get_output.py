"""porchctl get output beyond Porch's golden files: -o wide, -o name, --show-labels, -A, empty lists.

Porch has no golden file for these; the expected texts follow kubectl's printers as
porchctl uses them (server-side Table, tabwriter layout, LABELS last, NAMESPACE first).
"""

from __future__ import annotations

import json

import yaml

from tests.cli.conftest import Cli
from tests.cli.test_repo_register import BLUEPRINTS, GET_BASENS


async def test_rpkg_get_wide_name_and_show_labels(cli: Cli) -> None:
    ns = "--namespace=get-output"
    await cli.namespace("get-output")
    await cli.register("get-output", "test-blueprints", BLUEPRINTS)
    # Porch's PackageRevision table has no priority columns, so wide is the default table.
    await cli.ok("porchctl", "rpkg", "get", ns, "--name=basens", "-o", "wide", stdout=GET_BASENS)
    await cli.ok("porchctl", "rpkg", "get", ns, "--name=basens", "--output=wide", stdout=GET_BASENS)
    await cli.ok("porchctl", "rpkg", "get", ns, "--name=basens", "-o", "name", stdout="".join(
        f"packagerevision.porch.kpt.dev/test-blueprints.basens.{w}\n" for w in ("main", "v1", "v2", "v3", "v4")))
    await cli.ok("porchctl", "rpkg", "get", "test-blueprints.bucket.v1", "test-blueprints.empty.v1", ns, "-oname",
                 stdout="packagerevision.porch.kpt.dev/test-blueprints.bucket.v1\n"
                        "packagerevision.porch.kpt.dev/test-blueprints.empty.v1\n")
    await cli.ok("porchctl", "rpkg", "get", ns, "--name=basens", "--show-labels", stdout="""\
NAME                          PACKAGE   WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY        LABELS
test-blueprints.basens.main   basens    main            -1         false    Published   test-blueprints   <none>
test-blueprints.basens.v1     basens    v1              1          false    Published   test-blueprints   <none>
test-blueprints.basens.v2     basens    v2              2          false    Published   test-blueprints   <none>
test-blueprints.basens.v3     basens    v3              3          false    Published   test-blueprints   <none>
test-blueprints.basens.v4     basens    v4              4          true     Published   test-blueprints   kpt.dev/latest-revision=true
""")
    # Columns are at least six wide (kubectl's tabwriter), so REVISION's "-1" still gets four spaces.
    await cli.ok("porchctl", "rpkg", "get", "-A", "--show-labels", "--no-headers", "--name=bucket", stdout="""\
get-output   test-blueprints.bucket.main   bucket   main   -1    false   Published   test-blueprints   <none>
get-output   test-blueprints.bucket.v1     bucket   v1     1     true    Published   test-blueprints   kpt.dev/latest-revision=true
""")
    await cli.ok("porchctl", "repo", "get", ns, "-o", "name", stdout="repository.config.porch.kpt.dev/test-blueprints\n")
    shown = await cli.ok("porchctl", "repo", "get", ns, "--show-labels", "-o", "wide")
    header, row = shown.stdout.splitlines()
    columns = ["NAME", "TYPE", "CONTENT", "SYNC SCHEDULE", "DEPLOYMENT", "READY", "ADDRESS", "BRANCH", "AGE", "LABELS"]
    starts = [header.index(column) for column in columns]
    ends = [*starts[1:], max(len(header), len(row))]
    assert [header[s:e].rstrip() for s, e in zip(starts, ends, strict=True)] == columns, header
    cells = [row[s:e].strip() for s, e in zip(starts, ends, strict=True)]
    # The AGE cell depends on the clock; every other cell is exact (no schedule, no deployment: empty cells).
    assert cells[:8] + cells[9:] == ["test-blueprints", "git", "Package", "", "", "True",
                                     cli.git.url("test-blueprints"), "main", "<none>"], row


async def test_objects_print_one_by_one_as_porchctl_hands_them_to_kubectls_printers(cli: Cli) -> None:
    ns = "--namespace=objects"
    await cli.namespace("objects")
    await cli.register("objects", "test-blueprints", BLUEPRINTS)
    names = ["test-blueprints.bucket.v1", "test-blueprints.empty.v1"]
    await cli.ok("porchctl", "rpkg", "get", *names, ns, "-o", "jsonpath={.metadata.name}",
                 stdout="test-blueprints.bucket.v1test-blueprints.empty.v1")
    await cli.ok("porchctl", "rpkg", "get", *names, ns, "-o", "jsonpath={.metadata.name}{'\\n'}",
                 stdout="test-blueprints.bucket.v1\ntest-blueprints.empty.v1\n")
    shown = await cli.ok("porchctl", "rpkg", "get", *names, ns, "-o", "yaml")
    documents = shown.stdout.split("---\n")
    assert [yaml.safe_load(d)["metadata"]["name"] for d in documents] == names
    assert documents[0].startswith("apiVersion: porch.kpt.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n")
    shown = await cli.ok("porchctl", "rpkg", "get", *names, ns, "-o", "json")
    decoder, objects, position = json.JSONDecoder(), [], 0
    while position < len(shown.stdout):
        found, position = decoder.raw_decode(shown.stdout, position)
        objects.append(found)
        position += 1
    assert [o["metadata"]["name"] for o in objects] == names
    assert shown.stdout == "".join(json.dumps(o, indent=4, sort_keys=True) + "\n" for o in objects)


async def test_get_on_an_empty_namespace_prints_nothing(cli: Cli) -> None:
    await cli.namespace("empty")
    for output in ([], ["-o", "wide"], ["--no-headers"], ["--show-labels"], ["-o", "name"], ["-o", "yaml"],
                   ["-o", "json"], ["-o", "jsonpath={.metadata.name}"], ["-o", "custom-columns=NAME:.metadata.name"]):
        for group in ("rpkg", "repo"):
            await cli.ok("porchctl", group, "get", "--namespace=empty", *output, stdout="")
