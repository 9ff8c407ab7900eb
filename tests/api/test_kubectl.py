"""The real kubectl, pointed at the server with nothing but the generated kubeconfig."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import trio
import yaml

from tests.parts.server import RunningServer, kubectl

REPOSITORY = """\
apiVersion: config.porch.kpt.dev/v1alpha1
kind: Repository
metadata:
  name: blueprints
  namespace: default
spec:
  description: Blueprint packages
  type: git
  git:
    repo: http://127.0.0.1:1/blueprints.git
    directory: /
"""


async def test_api_resources_lists_porch_kinds_and_core_kinds(server: RunningServer) -> None:
    listed = (await kubectl(server, "api-resources", "--no-headers")).stdout.decode()
    rows = {line.split()[0]: line.split() for line in listed.splitlines()}
    assert rows["repositories"][1] == "repo"
    assert "config.porch.kpt.dev/v1alpha1" in rows["repositories"]
    for resource in ("packagerevisions", "packagerevisionresources", "packages"):
        assert "porch.kpt.dev/v1alpha1" in rows[resource]
    assert "config.porch.kpt.dev/v1alpha1" in rows["packagevariants"]
    assert "config.porch.kpt.dev/v1alpha2" in rows["packagevariantsets"]  # the preferred of its two versions
    assert rows["namespaces"][:3] == ["namespaces", "ns", "v1"]
    assert rows["secrets"][1:3] == ["v1", "true"]


async def test_apply_twice_creates_then_leaves_unchanged(server: RunningServer) -> None:
    first = await kubectl(server, "apply", "-f", "-", stdin=REPOSITORY.encode())
    assert first.stdout.decode().strip() == "repository.config.porch.kpt.dev/blueprints created"
    second = await kubectl(server, "apply", "-f", "-", stdin=REPOSITORY.encode())
    assert second.stdout.decode().strip() == "repository.config.porch.kpt.dev/blueprints unchanged"
    changed = REPOSITORY.replace("Blueprint packages", "Changed")
    third = await kubectl(server, "apply", "-f", "-", stdin=changed.encode())
    assert third.stdout.decode().strip() == "repository.config.porch.kpt.dev/blueprints configured"
    body = json.loads((await kubectl(server, "get", "repo", "blueprints", "-o", "json")).stdout)
    assert body["spec"]["description"] == "Changed"
    assert body["metadata"]["generation"] == 2


async def test_get_prints_porch_columns_from_the_server_side_table(server: RunningServer) -> None:
    await kubectl(server, "apply", "-f", "-", stdin=REPOSITORY.encode())
    output = (await kubectl(server, "get", "repositories")).stdout.decode().splitlines()
    assert output[0].split() == ["NAME", "TYPE", "CONTENT", "SYNC", "SCHEDULE", "DEPLOYMENT", "READY",
                                 "ADDRESS", "BRANCH", "AGE"]
    cells = output[1].split()
    assert cells[:3] == ["blueprints", "git", "Package"]
    assert "http://127.0.0.1:1/blueprints.git" in cells
    assert cells[-2] == "main"


async def test_get_yaml_shows_defaults_and_server_metadata(server: RunningServer) -> None:
    await kubectl(server, "apply", "-f", "-", stdin=REPOSITORY.encode())
    body = yaml.safe_load((await kubectl(server, "get", "repo", "blueprints", "-o", "yaml")).stdout)
    assert body["spec"]["git"]["branch"] == "main"
    assert body["metadata"]["uid"]
    assert int(body["metadata"]["resourceVersion"]) > 0
    assert body["metadata"]["creationTimestamp"].endswith("Z")


async def test_patch_merge_and_json_and_immutable_field(server: RunningServer) -> None:
    await kubectl(server, "apply", "-f", "-", stdin=REPOSITORY.encode())
    await kubectl(server, "patch", "repo", "blueprints", "--type", "merge", "-p", '{"spec":{"deployment":true}}')
    await kubectl(server, "patch", "repo", "blueprints", "--type", "json",
                  "-p", '[{"op":"replace","path":"/spec/description","value":"via json patch"}]')
    body = json.loads((await kubectl(server, "get", "repo", "blueprints", "-o", "json")).stdout)
    assert body["spec"]["deployment"] is True
    assert body["spec"]["description"] == "via json patch"
    refused = await kubectl(server, "patch", "repo", "blueprints", "--type", "merge",
                            "-p", '{"spec":{"git":{"repo":"https://elsewhere/x.git"}}}', check=False)
    assert refused.returncode != 0
    assert "spec.git.repo is immutable" in refused.stderr.decode()


async def test_edit_with_an_editor_script(server: RunningServer, tmp_path: Path) -> None:
    await kubectl(server, "apply", "-f", "-", stdin=REPOSITORY.encode())
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/Blueprint packages/Edited in place/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    result = await kubectl(server, "edit", "repo", "blueprints", env={"KUBE_EDITOR": str(editor)})
    assert "edited" in result.stdout.decode()
    body = json.loads((await kubectl(server, "get", "repo", "blueprints", "-o", "json")).stdout)
    assert body["spec"]["description"] == "Edited in place"


async def test_delete_removes_the_repository(server: RunningServer) -> None:
    await kubectl(server, "apply", "-f", "-", stdin=REPOSITORY.encode())
    deleted = await kubectl(server, "delete", "repo", "blueprints")
    assert 'repository.config.porch.kpt.dev "blueprints" deleted' in deleted.stdout.decode()
    missing = await kubectl(server, "get", "repo", "blueprints", check=False)
    assert missing.returncode == 1
    assert 'repositories.config.porch.kpt.dev "blueprints" not found' in missing.stderr.decode()


async def test_get_watch_prints_a_row_per_change(server: RunningServer) -> None:
    environment = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir)}
    async with trio.open_nursery() as nursery:
        process = await nursery.start(lambda task_status: trio.run_process(
            ["kubectl", "get", "repositories", "--watch", "--request-timeout=0"],
            stdout=subprocess.PIPE, env=environment, check=False,
            task_status=task_status))
        await kubectl(server, "apply", "-f", "-", stdin=REPOSITORY.encode())
        await kubectl(server, "patch", "repo", "blueprints", "--type", "merge", "-p", '{"spec":{"deployment":true}}')
        lines: list[str] = []
        buffer = b""
        with trio.fail_after(20):
            while not any(cell(lines[0], line, "DEPLOYMENT") == "true" for line in lines[1:]):
                buffer += await process.stdout.receive_some()
                *complete, buffer = buffer.split(b"\n")
                lines += [line.decode() for line in complete if line.strip()]
        process.kill()
    assert lines[0].split()[0] == "NAME"
    assert cell(lines[0], lines[1], "NAME") == "blueprints"
    assert cell(lines[0], lines[1], "DEPLOYMENT") in ("", "false")
    assert all(cell(lines[0], line, "NAME") == "blueprints" for line in lines[1:])


def cell(header: str, row: str, column: str) -> str:
    """The text of ``column`` in a kubectl table row, found by the header's offsets."""
    start = header.index(column)
    following = [header.index(name, start + 1) for name in header[start + len(column):].split() if name]
    end = following[0] if following else len(row)
    return row[start:end].strip()


async def test_explain_reads_the_openapi_v3_schema(server: RunningServer) -> None:
    output = (await kubectl(server, "explain", "repository.spec.git")).stdout.decode()
    assert "config.porch.kpt.dev" in output
    for field in ("repo", "branch", "directory", "secretRef", "createBranch"):
        assert field in output


async def test_explain_reads_the_openapi_v2_protobuf_document(server: RunningServer) -> None:
    """kubectl asks /openapi/v2 for gnostic's protobuf Document; the fields come from its definitions."""
    output = (await kubectl(server, "explain", "--output=plaintext-openapiv2", "packagerevisions.spec")).stdout.decode()
    assert "KIND:     PackageRevision" in output or "KIND:       PackageRevision" in output, output
    for field in ("packageName", "repository", "workspaceName", "lifecycle", "tasks", "readinessGates"):
        assert f"   {field}\t" in output, (field, output)
    lifecycle = (await kubectl(server, "explain", "--output=plaintext-openapiv2",
                               "packagerevisions.spec.lifecycle")).stdout.decode()
    assert "FIELD:    lifecycle <string>" in lifecycle or "FIELD: lifecycle <string>" in lifecycle, lifecycle
    recursive = (await kubectl(server, "explain", "--output=plaintext-openapiv2", "--recursive",
                               "repositories.spec.git")).stdout.decode()
    for field in ("repo", "branch", "directory", "secretRef", "name"):
        assert f"   {field}\t" in recursive, (field, recursive)


async def test_secrets_round_trip_through_kubectl(server: RunningServer) -> None:
    await kubectl(server, "create", "secret", "generic", "blueprints-auth", "--type=kubernetes.io/basic-auth",
                  "--from-literal=username=git", "--from-literal=password=s3cr3t")
    body = json.loads((await kubectl(server, "get", "secret", "blueprints-auth", "-o", "json")).stdout)
    assert body["type"] == "kubernetes.io/basic-auth"
    assert body["data"]["password"] == "czNjcjN0"


async def test_namespaces_scope_objects(server: RunningServer) -> None:
    await kubectl(server, "create", "namespace", "team-a")
    await kubectl(server, "apply", "-n", "team-a", "-f", "-",
                  stdin=REPOSITORY.replace("namespace: default", "namespace: team-a").encode())
    everywhere = (await kubectl(server, "get", "repo", "-A", "--no-headers")).stdout.decode()
    assert everywhere.split()[:2] == ["team-a", "blueprints"]
    assert (await kubectl(server, "get", "repo", "--no-headers")).stdout.strip() == b""
    missing_namespace = await kubectl(server, "apply", "-n", "nowhere", "-f", "-", check=False,
                                      stdin=REPOSITORY.replace("namespace: default", "namespace: nowhere").encode())
    assert 'namespaces "nowhere" not found' in missing_namespace.stderr.decode()
