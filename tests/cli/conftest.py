"""porchctl golden scenarios against a real server and a real git server with auth.

``Cli.run`` invokes ``porchctl_main`` in a worker thread (the synchronous client must
not block the trio loop that serves it) with the server's admin kubeconfig, and
returns exact stdout, stderr and exit code; with $PORCH_EMBEDDED_BINARY set it runs
that binary's verbs (``porch-embedded rpkg ...``), or the build's porchctl when
$PORCH_EMBEDDED_PORCHCTL names it, in a child process instead. ``Golden.text`` maps Porch's e2e
fixture addresses and credentials (gitea, nephio/secret) onto the test git server,
so expected outputs are pasted from Porch's golden files unchanged.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from porch_embedded.cli import porchctl_main
from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server, run_git
from tests.parts.server import RunningServer, porchctl_command, start_server

__all__ = ["Cli", "Result", "cli", "git_server"]

GITEA = "http://gitea.gitea.svc.cluster.local:3000/nephio/"

BASENS_KPTFILE = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: basens\ninfo:\n  description: sample description\n"
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: example\n"
UNREADY_KPTFILE = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: unready
info:
  description: A package that is not ready
  readinessGates:
  - conditionType: nephio.org/Ready
status:
  conditions:
  - type: nephio.org/Ready
    status: "False"
    reason: NotReady
    message: waiting for a specializer
"""


def _kptfile(name: str, description: str) -> str:
    return f"apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {name}\ninfo:\n  description: {description}\n"


def _blueprint_commits() -> list[tuple[dict[str, str], list[str]]]:
    """Porch's e2e fixture repository: basens v1-v4, bucket, empty, redis-bucket, unready v1, update v1-v2."""
    commits: list[tuple[dict[str, str], list[str]]] = []
    for version in range(1, 5):
        files = {"basens/Kptfile": BASENS_KPTFILE, "basens/namespace.yaml": NAMESPACE}
        if version > 1:
            files[f"basens/cm-v{version}.yaml"] = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v{version}\n"
        commits.append((files, [f"basens/v{version}"]))
    commits += [({"bucket/Kptfile": _kptfile("bucket", "bucket blueprint")}, ["bucket/v1"]),
                ({"empty/Kptfile": _kptfile("empty", "Empty Blueprint")}, ["empty/v1"]),
                ({"redis-bucket/Kptfile": _kptfile("redis-bucket", "redis bucket")}, ["redis-bucket/v1"]),
                ({"unready/Kptfile": UNREADY_KPTFILE}, ["unready/v1"]),
                ({"update/Kptfile": _kptfile("update", "update v1")}, ["update/v1"]),
                ({"update/Kptfile": _kptfile("update", "update v2")}, ["update/v2"])]
    return commits


@pytest.fixture(scope="session")
def blueprints_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test-blueprints bare repository, built once with the git CLI and copied into each test's server."""
    root = tmp_path_factory.mktemp("blueprints")
    work, bare = root / "work", root / "test-blueprints.git"
    run_git("init", "-q", "-b", "main", str(work))
    for files, tags in [({"README.md": "Created by the test git server\n"}, []), *_blueprint_commits()]:
        for path, text in files.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
        run_git("add", "-A", ".", cwd=work)
        run_git("commit", "-q", "-m", f"add {' '.join(tags) or 'README'}", cwd=work)
        for tag in tags:
            run_git("tag", tag, cwd=work)
    run_git("clone", "-q", "--bare", str(work), str(bare))
    run_git("config", "http.receivepack", "true", cwd=bare)
    return bare


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    code: int


@dataclass
class Cli:
    """porchctl against one test server, with Porch's fixture names mapped onto ours."""

    server: RunningServer
    git: GitServer
    tmp: Path

    def text(self, golden: str) -> str:
        """A golden file's text with its gitea URLs, credentials and /tmp paths mapped onto this test."""
        return (golden.replace(GITEA + "porch-test", self.git.url("porch-test"))
                .replace(GITEA + "test-blueprints.git", self.git.url("test-blueprints"))
                .replace("--repo-basic-username=nephio", f"--repo-basic-username={USERNAME}")
                .replace("--repo-basic-password=secret", f"--repo-basic-password={PASSWORD}")
                .replace("/tmp/porch-e2e/", f"{self.tmp}/"))

    async def run(self, *args: str, stdin: str = "") -> Result:
        """Run ``porchctl ARGS`` (args in golden form) and capture everything."""
        argv = [self.text(arg) for arg in args]
        assert argv[0] == "porchctl", "pass the command as Porch's golden files spell it"
        argv = argv[1:]
        # The test server's kubeconfig, as a flag before any "--" (after it, it would be an argument).
        end = argv.index("--") if "--" in argv else len(argv)
        argv[end:end] = ["--kubeconfig", str(self.server.kubeconfig)]
        command = porchctl_command()
        if command is not None:
            return await self._run_binary(command, argv, self.text(stdin))
        out, err = io.StringIO(), io.StringIO()
        code = await trio.to_thread.run_sync(
            lambda: porchctl_main(argv, stdin=io.StringIO(self.text(stdin)), stdout=out, stderr=err))
        return Result(out.getvalue(), err.getvalue(), code)

    @staticmethod
    async def _run_binary(command: list[str], argv: list[str], stdin: str) -> Result:
        """``porch-embedded ARGS`` (the binary's porchctl verbs) or ``porchctl ARGS``, in a child process.

        Its help and usage lines name the program porch-embedded where porchctl's name
        porchctl; that name, and nothing else, is mapped back for the golden texts.
        """
        done = await trio.run_process([*command, *argv], stdin=stdin.encode(), capture_stdout=True,
                                      capture_stderr=True, check=False)
        out, err = (stream.decode().replace("porch-embedded", "porchctl") for stream in (done.stdout, done.stderr))
        return Result(out, err, done.returncode)

    async def ok(self, *args: str, stdout: str | None = None, stdin: str = "") -> Result:
        """Run and expect exit 0, no stderr, and (if given) this exact stdout."""
        result = await self.run(*args, stdin=stdin)
        assert (result.code, result.stderr) == (0, ""), result
        if stdout is not None:
            assert result.stdout == self.text(stdout), result.stdout
        return result

    async def fails(self, *args: str, stderr: str, stdin: str = "", contains: bool = False) -> Result:
        """Run and expect exit 1 with this exact stderr (or containing it) and no stdout."""
        result = await self.run(*args, stdin=stdin)
        assert result.code == 1, result
        if contains:
            assert self.text(stderr) in result.stderr, result.stderr
        else:
            assert result.stderr == self.text(stderr), result.stderr
        return result

    async def namespace(self, name: str) -> None:
        """Create a namespace, as Porch's e2e harness does before each scenario."""
        async with self.server.client() as http:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            response = await http.post("/api/v1/namespaces", json=body)
            assert response.status_code == 201, response.text

    async def wait_ready(self, namespace: str, name: str) -> dict[str, Any]:
        """Wait until the Repository has synced once (porchctl does not wait; Porch's e2e harness does)."""
        async with self.server.client() as http:
            url = f"/apis/config.porch.kpt.dev/v1alpha1/namespaces/{namespace}/repositories/{name}"
            with trio.fail_after(30):
                while True:
                    body = (await http.get(url)).json()
                    ready = [c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
                    if ready and ready[0]["status"] == "True":
                        return dict(body)
                    await trio.sleep(0.05)

    async def register(self, namespace: str, name: str, url: str, *extra: str) -> None:
        """``porchctl repo register`` with the fixture credentials, then wait for the first sync."""
        await self.ok("porchctl", "repo", "register", f"--namespace={namespace}", f"--name={name}",
                      "--repo-basic-password=secret", "--repo-basic-username=nephio", url, *extra, stdout="")
        await self.wait_ready(namespace, name)

    async def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        """``kubectl annotate packagerevisions NAME KEY=VALUE``, as a merge patch."""
        async with self.server.client() as http:
            url = f"/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packagerevisions/{name}"
            response = await http.patch(url, json={"metadata": {"annotations": {key: value}}},
                                        headers={"content-type": "application/merge-patch+json"})
            assert response.status_code == 200, response.text


def stable_yaml(text: str) -> Any:
    """YAML as Porch's harness compares it: parsed, without resourceVersion and creationTimestamp lines."""
    kept = "\n".join(line for line in text.splitlines()
                     if "resourceVersion:" not in line and "creationTimestamp:" not in line)
    return yaml.safe_load(kept)


def assert_yaml(text: str, expected: Any) -> None:
    """Assert that YAML output equals Porch's golden ``expected`` as Porch's harness compares it."""
    actual = stable_yaml(text)
    assert actual == expected, "got:\n" + yaml.safe_dump(actual) + "\nwanted:\n" + yaml.safe_dump(expected)


@pytest.fixture
async def cli(tmp_path: Path, git_server: GitServer, blueprints_template: Path) -> AsyncIterator[Cli]:
    shutil.copytree(blueprints_template, git_server.bare("test-blueprints"))
    git_server.create_repo("porch-test")
    async with start_server(tmp_path / "data", function_runner="none", sync_interval_s=3600) as server:
        yield Cli(server, git_server, tmp_path)
