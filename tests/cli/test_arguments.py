"""porchctl command lines in cobra's forms against a real server, repo sync --run-once, several names in one delete.

Porch has no golden file for these; the expected texts are porchctl's own lines
(pkg/cli/commands: repo/sync, rpkg/del) and cobra's flag rules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from porch_embedded.cli._repo import format_rfc3339
from tests.cli.conftest import Cli

PORCH_TEST = "http://gitea.gitea.svc.cluster.local:3000/nephio/porch-test"
NOT_FOUND = 'packagerevisions.porch.kpt.dev "{}" not found'


async def test_flags_before_between_and_after_positional_arguments(cli: Cli) -> None:
    await cli.namespace("forms")
    await cli.register("forms", "git", PORCH_TEST)
    name = "git.pkg.w1"
    await cli.ok("porchctl", "rpkg", "init", "pkg", "--namespace=forms", "--repository=git", "--workspace=w1",
                 stdout=f"{name} created\n")
    for place, argv in (("between", ("rpkg", "pull", name, "--namespace=forms", "{dir}")),
                        ("after", ("rpkg", "pull", name, "{dir}", "-n", "forms")),
                        ("before-verb", ("rpkg", "-n", "forms", "pull", name, "{dir}")),
                        ("before-group", ("--namespace", "forms", "rpkg", "pull", name, "{dir}")),
                        ("after-dash-dash", ("rpkg", "pull", "-nforms", "--", name, "{dir}"))):
        target = cli.tmp / place
        await cli.ok("porchctl", *(str(target) if a == "{dir}" else a for a in argv), stdout="")
        assert (target / "Kptfile").is_file() and (target / ".KptRevisionMetadata").is_file(), place
    await cli.ok("porchctl", "rpkg", "push", name, "-n", "forms", str(cli.tmp / "after"), stdout=f"{name} pushed\n")
    await cli.ok("porchctl", "rpkg", "propose", "-n", "forms", "--", name, stdout=f"{name} proposed\n")
    # After --, a word that looks like a flag is a package revision name.
    odd = "--namespace=elsewhere"
    await cli.fails("porchctl", "rpkg", "approve", "-n", "forms", "--", odd,
                    stderr=f"{odd} failed ({NOT_FOUND.format(odd)})\nError: errors:\n  {NOT_FOUND.format(odd)} \n")
    await cli.ok("porchctl", "rpkg", "get", "--namespace=forms", name, "--output",
                 "custom-columns=LIFECYCLE:.spec.lifecycle", stdout="LIFECYCLE\nProposed\n")


async def test_boolean_flags_take_every_form_pflag_accepts(cli: Cli) -> None:
    await cli.namespace("bools")
    forms = [("plain", "--deployment", "true"), ("true", "--deployment=true", "true"),
             ("false", "--deployment=false", "<none>"), ("one", "--deployment=1", "true"),
             ("zero", "--deployment=0", "<none>"), ("capital-false", "--deployment=False", "<none>"),
             ("upper-true", "--deployment=TRUE", "true"), ("t", "--deployment=t", "true")]
    for name, flag, _ in forms:
        await cli.ok("porchctl", "repo", "register", PORCH_TEST, flag, "-n", "bools", f"--name={name}",
                     f"--directory={name}", "--repo-basic-password=secret", "--repo-basic-username=nephio", stdout="")
    # As porchctl: a false deployment is left out of the object, so the column shows <none>.
    rows = sorted(f"{name.ljust(16)}{shown}" for name, _, shown in forms)
    await cli.ok("porchctl", "repo", "get", "-n", "bools", "-o", "custom-columns=NAME:.metadata.name,"
                 "DEPLOYMENT:.spec.deployment", stdout="NAME            DEPLOYMENT\n" + "\n".join(rows) + "\n")
    await cli.fails("porchctl", "repo", "register", PORCH_TEST, "--deployment=yes", "-n", "bools", "--name=yes",
                    stderr='error: invalid argument "yes" for "--deployment" flag: strconv.ParseBool: parsing "yes": '
                           "invalid syntax\n")
    # `--deployment false` is --deployment followed by a second positional argument, as cobra reads it.
    await cli.ok("porchctl", "repo", "register", PORCH_TEST, "--deployment", "false", "-n", "bools", "--name=spaced",
                 "--directory=spaced", "--repo-basic-password=secret", "--repo-basic-username=nephio", stdout="")
    await cli.ok("porchctl", "repo", "get", "spaced", "-n", "bools", "-o", "jsonpath={.spec.deployment}",
                 stdout="true")


async def _run_once_at(cli: Cli, namespace: str, name: str) -> Any:
    async with cli.server.client() as http:
        url = f"/apis/config.porch.kpt.dev/v1alpha1/namespaces/{namespace}/repositories/{name}"
        return ((await http.get(url)).json()["spec"].get("sync") or {}).get("runOnceAt")


async def test_repo_sync_run_once_sets_run_once_at_as_porchctl_does(cli: Cli) -> None:
    await cli.namespace("sync")
    await cli.register("sync", "git", PORCH_TEST, "--directory=git")
    await cli.ok("porchctl", "repo", "sync", "git", "-n", "sync", "--run-once=2099-01-02T03:04:05Z",
                 stdout='Scheduled one-time sync for "git" at 2099-01-02T03:04:05Z\n')
    assert await _run_once_at(cli, "sync", "git") == "2099-01-02T03:04:05Z"
    await cli.ok("porchctl", "repo", "reconcile", "--run-once", "2099-01-02T05:04:05+02:00", "git", "--namespace=sync",
                 stdout='Scheduled one-time sync for "git" at 2099-01-02T05:04:05+02:00\n')
    assert await _run_once_at(cli, "sync", "git") == "2099-01-02T03:04:05Z"

    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = await cli.ok("porchctl", "repo", "sync", "git", "-n", "sync", "--run-once=2h30m")
    stored = await _run_once_at(cli, "sync", "git")
    when = dt.datetime.fromisoformat(stored.replace("Z", "+00:00"))
    assert before + dt.timedelta(minutes=150) <= when <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=150)
    assert result.stdout == f'Scheduled one-time sync for "git" at {format_rfc3339(when.astimezone())}\n'

    # Under a minute is moved to one minute from now, with porchctl's warning on stdout.
    for early in ("30s", "2000-01-01T00:00:00Z"):
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        result = await cli.ok("porchctl", "repo", "sync", "-n", "sync", "git", f"--run-once={early}")
        when = dt.datetime.fromisoformat((await _run_once_at(cli, "sync", "git")).replace("Z", "+00:00"))
        assert before + dt.timedelta(minutes=1) <= when <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        warning = ("Warning: Duration must be at least 1 minute." if early == "30s" else
                   "Warning: Scheduled time is within 1 minute or in the past.")
        assert result.stdout == (f"{warning} Sync time adjusted to comply with minimum delay.\n"
                                 f'Scheduled one-time sync for "git" at {format_rfc3339(when.astimezone())}\n')

    # A value that is neither a duration nor an RFC3339 time is refused and changes nothing.
    kept = await _run_once_at(cli, "sync", "git")
    for bad in ("2099-13-01T00:00:00Z", "tomorrow", "2099-01-02 03:04:05Z", "10"):
        await cli.fails("porchctl", "repo", "sync", "git", "-n", "sync", f"--run-once={bad}",
                        stderr="error: invalid --run-once value\n")
    assert await _run_once_at(cli, "sync", "git") == kept

    # A name that does not exist is reported and skipped; the others are scheduled.
    await cli.register("sync", "other", PORCH_TEST, "--directory=other")
    result = await cli.run("porchctl", "repo", "sync", "nope", "other", "-n", "sync", "--run-once=2099-01-01T00:00:00Z")
    assert result == type(result)('Scheduled one-time sync for "other" at 2099-01-01T00:00:00Z\n',
                                  'Error fetching repository "nope": repositories.config.porch.kpt.dev "nope" not '
                                  "found\n", 0)
    await cli.fails("porchctl", "repo", "sync", "nope", "-n", "sync",
                    stderr='Error fetching repository "nope": repositories.config.porch.kpt.dev "nope" not found\n'
                           'error: no repositories found in namespace "sync"\n')
    await cli.ok("porchctl", "repo", "sync", "--all", "-n", "sync", "--run-once=2099-03-01T00:00:00Z",
                 stdout='Scheduled one-time sync for "git" at 2099-03-01T00:00:00Z\n'
                        'Scheduled one-time sync for "other" at 2099-03-01T00:00:00Z\n')
    assert [await _run_once_at(cli, "sync", n) for n in ("git", "other")] == ["2099-03-01T00:00:00Z"] * 2


async def test_several_names_in_one_delete(cli: Cli) -> None:
    await cli.namespace("delete")
    ns = "--namespace=delete"
    await cli.register("delete", "git", PORCH_TEST)
    names = [f"git.pkg-{i}.w" for i in range(4)]
    for i in range(4):
        await cli.ok("porchctl", "rpkg", "init", f"pkg-{i}", ns, "--repository=git", "--workspace=w",
                     stdout=f"{names[i]} created\n")
    await cli.ok("porchctl", "rpkg", "del", names[0], names[1], ns, stdout=f"{names[0]} deleted\n{names[1]} deleted\n")
    # porchctl goes on past a failure, reports each as "<name> failed (<message>)" and ends with all messages.
    result = await cli.run("porchctl", "rpkg", "delete", names[2], "nope", names[0], names[3], ns)
    assert result == type(result)(
        f"{names[2]} deleted\n{names[3]} deleted\n",
        f"nope failed ({NOT_FOUND.format('nope')})\n{names[0]} failed ({NOT_FOUND.format(names[0])})\n"
        f"Error: errors:\n  {NOT_FOUND.format('nope')}\n  {NOT_FOUND.format(names[0])} \n", 1)
    await cli.ok("porchctl", "rpkg", "get", ns, stdout="")
    # No names: nothing to do, as porchctl.
    await cli.ok("porchctl", "rpkg", "del", ns, stdout="")
