"""The command line itself: both entry points, help, flag errors, SRC parsing, repo sync times."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import subprocess
import sys

import pytest
import trio

from porch_embedded.cli import main, porchctl_main
from porch_embedded.cli._command import parse_command_line
from porch_embedded.cli._porchctl import porchctl_tree
from porch_embedded.cli._repo import format_rfc3339, run_once_at
from porch_embedded.cli._rpkg import parse_git_source
from porch_embedded.cli._session import CommandError, FlagError
from tests.cli.conftest import Cli


def _with_kubeconfig(argv: tuple[str, ...]) -> list[str]:
    """A kubeconfig that does not exist, right after the command group (a persistent flag there)."""
    if argv[:1] in (("rpkg",), ("repo",)):
        return [argv[0], "--kubeconfig", "/nonexistent", *argv[1:]]
    return list(argv)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = porchctl_main(_with_kubeconfig(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run_embedded(*argv: str) -> tuple[int, str, str]:
    """``porch-embedded ARGV``, through its own main, capturing the process's streams."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(_with_kubeconfig(argv))
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


def test_run_once_takes_go_durations_and_rfc3339_times_with_porchctls_one_minute_minimum() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert run_once_at("1h30m", now) == (now + dt.timedelta(minutes=90), "")
    assert run_once_at("1.5h", now) == (now + dt.timedelta(minutes=90), "")
    assert run_once_at("", now) == (now + dt.timedelta(minutes=1), "")
    short = "Warning: Duration must be at least 1 minute. Sync time adjusted to comply with minimum delay."
    assert run_once_at("10s", now) == (now + dt.timedelta(minutes=1), short)
    assert run_once_at("-5m", now) == (now + dt.timedelta(minutes=1), short)
    assert run_once_at("2026-01-01T13:00:00Z", now) == (now + dt.timedelta(hours=1), "")
    assert run_once_at("2026-01-01T15:00:00+02:00", now)[0] == now + dt.timedelta(hours=1)
    early = ("Warning: Scheduled time is within 1 minute or in the past. Sync time adjusted to comply with minimum "
             "delay.")
    assert run_once_at("2026-01-01T12:00:30Z", now) == (now + dt.timedelta(minutes=1), early)
    for bad in ("soon", "10", "2026-01-01 13:00:00Z", "2026-01-01T13:00:00", "1h30"):
        with pytest.raises(FlagError, match="^invalid --run-once value$"):
            run_once_at(bad, now)
    assert format_rfc3339(dt.datetime(2026, 1, 1, 13, 0, 5, 999, tzinfo=dt.UTC)) == "2026-01-01T13:00:05Z"
    assert format_rfc3339(dt.datetime(2026, 1, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))) == \
        "2026-01-01T13:00:00-05:00"


def parse(*argv: str) -> tuple[str, dict[str, object]]:
    parsed = parse_command_line(porchctl_tree("porchctl"), argv)
    return parsed.command.path, vars(parsed.values)


@pytest.mark.parametrize("argv", [
    ("rpkg", "pull", "--namespace=ns", "name", "dir"),
    ("rpkg", "pull", "name", "--namespace=ns", "dir"),
    ("rpkg", "pull", "name", "dir", "--namespace=ns"),
    ("rpkg", "pull", "name", "dir", "--namespace", "ns"),
    ("rpkg", "pull", "name", "-n", "ns", "dir"),
    ("rpkg", "pull", "name", "-nns", "dir"),
    ("rpkg", "pull", "name", "-n=ns", "dir"),
    ("rpkg", "--namespace=ns", "pull", "name", "dir"),
    ("-n", "ns", "rpkg", "pull", "name", "dir"),
    ("rpackage", "source", "name", "dir", "-n", "ns"),
    ("rpkg", "pull", "-n", "ns", "--", "name", "dir"),
])
def test_flags_go_anywhere_among_positional_arguments(argv: tuple[str, ...]) -> None:
    path, values = parse(*argv)
    assert path == "porchctl rpkg pull"
    assert (values["namespace"], values["args"]) == ("ns", ["name", "dir"])


@pytest.mark.parametrize(("flags", "deployment", "args"), [
    ((), False, ["url"]),
    (("--deployment",), True, ["url"]),
    (("--deployment=true",), True, ["url"]),
    (("--deployment=false",), False, ["url"]),
    (("--deployment=1",), True, ["url"]),
    (("--deployment=0",), False, ["url"]),
    (("--deployment=t",), True, ["url"]),
    (("--deployment=F",), False, ["url"]),
    (("--deployment=TRUE",), True, ["url"]),
    (("--deployment=False",), False, ["url"]),
    # A boolean never takes the next word: "false" here is a positional argument, as in cobra.
    (("--deployment", "false"), True, ["url", "false"]),
    (("--deployment=true", "--deployment=false"), False, ["url"]),
])
def test_boolean_flags_take_the_forms_pflag_accepts(flags: tuple[str, ...], deployment: bool,
                                                   args: list[str]) -> None:
    path, values = parse("repo", "register", "url", *flags)
    assert (path, values["deployment"], values["args"]) == ("porchctl repo reg", deployment, args)


def test_double_dash_ends_the_flags() -> None:
    assert parse("rpkg", "del", "-n", "ns", "--", "-odd-name", "--namespace=x")[1]["args"] == [
        "-odd-name", "--namespace=x"]
    assert parse("rpkg", "get", "-A", "--", "-n")[1]["args"] == ["-n"]


def test_shorthands_combine_and_underscores_read_as_dashes() -> None:
    values = parse("rpkg", "get", "-Ao", "yaml", "--show_labels")[1]
    assert (values["all_namespaces"], values["output"], values["show_labels"]) == (True, "yaml", True)
    values = parse("rpkg", "get", "-Aoyaml", "--revision=0x10")[1]
    assert (values["all_namespaces"], values["output"], values["revision"]) == (True, "yaml", 16)
    assert parse("rpkg", "init", "p", "--keywords=a,b", "--keywords", "c")[1]["keywords"] == ["a", "b", "c"]


@pytest.mark.parametrize(("argv", "stderr"), [
    (("rpkg", "init", "pkg", "--bogus"), "error: unknown flag: --bogus\n"),
    (("rpkg", "init", "pkg", "--bogus=1"), "error: unknown flag: --bogus\n"),
    (("rpkg", "get", "-x"), "error: unknown shorthand flag: 'x' in -x\n"),
    (("rpkg", "get", "-Ax"), "error: unknown shorthand flag: 'x' in -x\n"),
    (("rpkg", "get", "--namespace"), "error: flag needs an argument: --namespace\n"),
    (("rpkg", "get", "-n"), "error: flag needs an argument: 'n' in -n\n"),
    (("rpkg", "get", "---x"), "error: bad flag syntax: ---x\n"),
    (("repo", "register", "url", "--deployment=yes"),
     'error: invalid argument "yes" for "--deployment" flag: strconv.ParseBool: parsing "yes": invalid syntax\n'),
    (("rpkg", "get", "-A=maybe"), 'error: invalid argument "maybe" for "-A, --all-namespaces" flag: '
                                  'strconv.ParseBool: parsing "maybe": invalid syntax\n'),
    (("rpkg", "get", "--revision", "one"),
     'error: invalid argument "one" for "--revision" flag: strconv.ParseInt: parsing "one": invalid syntax\n'),
    (("rpkg", "get", "--revision=99999999999999999999"), 'error: invalid argument "99999999999999999999" for '
     '"--revision" flag: strconv.ParseInt: parsing "99999999999999999999": value out of range\n'),
    (("bogus",), 'error: unknown command "bogus" for "porchctl"\n'),
    (("-n", "ns", "rpkg", "pull"), "Error: PACKAGE is a required positional argument \n"),
    (("rpkg", "get", "--namespace="), "error: namespace flag specified without a value; please provide a value for "
                                      "--namespace/-n or omit the flag\n"),
    (("rpkg", "get", "-n", ""), "error: namespace flag specified without a value; please provide a value for "
                                "--namespace/-n or omit the flag\n"),
    (("rpkg", "init"), "Error: PACKAGE_NAME is a required positional argument \n"),
    (("rpkg", "clone", "only-one"),
     "Error: SOURCE_PACKAGE and NAME are required positional arguments; 1 provided \n"),
    (("rpkg", "copy"), "Error: SOURCE_PACKAGE is a required positional argument \n"),
    (("rpkg", "copy", "a", "b"),
     "Error: too many arguments; SOURCE_PACKAGE is the only accepted positional arguments \n"),
    (("rpkg", "pull"), "Error: PACKAGE is a required positional argument \n"),
    (("rpkg", "push"), "Error: PACKAGE name is a required positional argument \n"),
    (("rpkg", "reject"), "Error: PACKAGE_REVISION is a required positional argument \n"),
    (("rpkg", "upgrade"), "Error: SOURCE_PACKAGE_REVISION is a required positional argument \n"),
    (("rpkg", "upgrade", "a", "--workspace=w", "--strategy=sideways"), 'Error: invalid strategy "sideways"; must '
     "be one of: [resource-merge fast-forward force-delete-replace copy-merge] \n"),
    (("repo", "register"), "Error: repository is required positional argument \n"),
    (("repo", "unregister"), "Error: REPOSITORY is a required positional argument \n"),
    (("repo", "sync"), "error: repository name(s) required unless --all is set\n"),
    (("repo", "sync", "x", "--run-once=soon"), "error: invalid --run-once value\n"),
])
def test_command_line_errors_exit_1_in_porchctls_format(argv: tuple[str, ...], stderr: str) -> None:
    assert run(*argv) == (1, "", stderr)
    if "rpkg" in argv or "repo" in argv:
        assert run_embedded(*argv) == (1, "", stderr.replace('"porchctl"', '"porch-embedded"'))


def test_help_goes_to_stdout_and_a_group_without_a_verb_prints_its_usage_on_stderr() -> None:
    code, out, err = run("rpkg", "get", "--help")
    assert (code, err) == (0, "") and out.startswith("List package revisions in registered repositories.\n")
    assert "\nUsage:\n  porchctl rpkg get [PACKAGE_REVISION...] [flags]\n\nAliases:\n  get, list\n" in out
    assert "  -A, --all-namespaces " in out and "      --revision int " in out and "(default -2)" in out
    assert run("help", "rpkg", "get") == (0, out, "")
    assert run("rpkg", "get", "-h")[1] == out
    code, out, err = run("rpkg")
    assert (code, out) == (0, "") and err.startswith("Usage:\n  porchctl rpkg [command]\n\nAliases:\n  rpkg, rpackage")
    # An unknown verb under a group is cobra's usage too (only the root reports unknown commands).
    assert run("rpkg", "bogus") == (0, "", err)
    code, out, err = run_embedded("repo", "--help")
    assert (code, err) == (0, "") and "\nUsage:\n  porch-embedded repo [command]\n" in out


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
