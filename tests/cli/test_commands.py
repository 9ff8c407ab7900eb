"""The command line itself: both entry points, help, flag errors, SRC parsing, repo sync times."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys

import pytest
import trio

from porch_embedded.cli import porchctl_main
from porch_embedded.cli._repo import run_once_at
from porch_embedded.cli._rpkg import parse_git_source
from porch_embedded.cli._session import CommandError
from tests.cli.conftest import Cli


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = porchctl_main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_git_source_url_is_split_into_repo_directory_and_ref() -> None:
    assert parse_git_source("https://h/r.git/basens@basens/v1", None, None) == {
        "repo": "https://h/r.git", "directory": "basens", "ref": "basens/v1"}
    assert parse_git_source("https://h/r.git", "basens", "basens/v1") == {
        "repo": "https://h/r.git", "directory": "basens", "ref": "basens/v1"}
    assert parse_git_source("https://h/r.git", None, None) == {"repo": "https://h/r.git", "directory": "/",
                                                               "ref": "main"}
    with pytest.raises(CommandError, match="contradicts"):
        parse_git_source("https://h/r.git/a@v1", "b", None)


def test_run_once_takes_durations_and_times_with_a_one_minute_minimum() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert run_once_at("1h30m", now) == (now + dt.timedelta(minutes=90), "")
    assert run_once_at("10s", now)[0] == now + dt.timedelta(minutes=1)
    assert run_once_at("2026-01-01T13:00:00Z", now) == (now + dt.timedelta(hours=1), "")
    with pytest.raises(CommandError):
        run_once_at("soon", now)


def test_flag_errors_exit_1_in_porchctl_format() -> None:
    code, out, err = run("rpkg", "init", "pkg", "--bogus")
    assert (code, out) == (1, "") and err.startswith("Error: unrecognized arguments: --bogus\n")
    code, out, err = run("rpkg", "get", "--help")
    assert code == 0 and out.startswith("usage: porchctl rpkg get") and "--show-kptfile" in out


def test_oci_repositories_are_refused_before_any_request(tmp_path: object) -> None:
    code, out, err = run("repo", "register", "oci://registry.example/blueprints", "--kubeconfig", "/nonexistent")
    assert (code, out) == (1, "")
    assert "OCI repositories are not supported by this server yet" in err


async def test_porch_embedded_and_porchctl_entry_points_run_the_same_commands(cli: Cli) -> None:
    await cli.namespace("entry")
    await cli.register("entry", "git", "http://gitea.gitea.svc.cluster.local:3000/nephio/porch-test")
    env = {**os.environ, "KUBECONFIG": str(cli.server.kubeconfig)}
    expected = ("NAME   TYPE   CONTENT   SYNC SCHEDULE   DEPLOYMENT   READY   ADDRESS", "git    git    Package")
    for command in ([sys.executable, "-m", "porch_embedded", "repo", "get", "-n", "entry"],
                    [os.path.join(os.path.dirname(sys.executable), "porchctl"), "repo", "ls", "--namespace=entry"]):
        done = await trio.run_process(command, capture_stdout=True, capture_stderr=True, env=env, check=False)
        lines = done.stdout.decode().splitlines()
        assert done.returncode == 0, done.stderr
        assert lines[0].startswith(expected[0]) and lines[1].startswith(expected[1]), lines
    done = await trio.run_process([sys.executable, "-m", "porch_embedded", "rpkg", "get", "nope.x.y", "-n", "entry"],
                                  capture_stdout=True, capture_stderr=True, env=env, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, b"", b'Error: packagerevisions.porch.kpt.dev "nope.x.y" not found \n')
    assert subprocess.run([sys.executable, "-m", "porch_embedded", "rpkg", "--help"], capture_output=True,
                          check=False).returncode == 0
