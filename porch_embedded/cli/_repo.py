"""``repo``: porchctl's repository verbs (register, get, unregister, sync) over the API."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any

from porch_embedded.cli._command import Command, Flag
from porch_embedded.cli._rpkg import OUTPUT_FLAGS, get_and_print
from porch_embedded.cli._session import CommandError, FlagError, Session
from porch_embedded.errors import NotFound, StatusError
from porch_embedded.kinds import REPOSITORY, SECRET

__all__ = ["format_rfc3339", "parse_go_duration", "repo_commands", "run_once_at"]

MIN_RUN_ONCE = dt.timedelta(minutes=1)
SHORT_DURATION = "Warning: Duration must be at least 1 minute. Sync time adjusted to comply with minimum delay."
EARLY_TIME = ("Warning: Scheduled time is within 1 minute or in the past. Sync time adjusted to comply with minimum "
              "delay.")
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?(Z|[+-]\d{2}:\d{2})$")


def _register(session: Session) -> None:
    args = session.args
    if not args.args:
        raise CommandError("repository is required positional argument")
    url: str = args.args[0]
    # croniter is imported here, not at the top: its import runs `file -b` on the interpreter
    # (platform.architecture), a child process that every porchctl command would pay for.
    from croniter import croniter

    if args.sync_schedule and not croniter.is_valid(args.sync_schedule):
        raise CommandError(f"invalid sync-schedule cron expression {args.sync_schedule!r}: expected five fields "
                           "(minute hour day-of-month month day-of-week)")
    if bool(args.repo_basic_username) != bool(args.repo_basic_password):
        raise CommandError("--repo-basic-username and --repo-basic-password go together")
    name = args.name or url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    # As porchctl: oci://HOST/PATH registers spec.oci.registry HOST/PATH, and the git-only
    # flags (--branch, --create-branch, --directory) are left out of it.
    kind = "oci" if url.startswith("oci://") else "git"
    location: dict[str, Any] = {"registry": url.removeprefix("oci://")} if kind == "oci" else {
        "repo": url, "branch": args.branch, "directory": args.directory}
    if args.create_branch and kind == "git":
        location["createBranch"] = True
    client = session.client
    if args.repo_basic_username:
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
                  "metadata": {"name": f"{name}-auth", "namespace": session.namespace},
                  "data": {"username": base64.b64encode(args.repo_basic_username.encode()).decode(),
                           "password": base64.b64encode(args.repo_basic_password.encode()).decode()}}
        client.create(SECRET, secret)
        location["secretRef"] = {"name": f"{name}-auth"}
    # As porchctl's typed object serialises: empty description and false deployment are left out
    # (so custom columns show <none> for them, as with porchctl); the server defaults content.
    spec: dict[str, Any] = {"type": kind, kind: location}
    if args.description:
        spec["description"] = args.description
    if args.deployment:
        spec["deployment"] = True
    if args.sync_schedule:
        spec["sync"] = {"schedule": args.sync_schedule}
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": name, "namespace": session.namespace}, "spec": spec}
    client.create(REPOSITORY, body)


def _get(session: Session) -> None:
    get_and_print(session, REPOSITORY, session.args.args, label_selector=session.args.selector or "")


def _unregister(session: Session) -> None:
    if not session.args.args:
        raise CommandError("REPOSITORY is a required positional argument")
    name = session.args.args[0]
    client = session.client
    repository = client.get(REPOSITORY, name)
    client.delete(REPOSITORY, name)
    spec = repository.get("spec") or {}
    secret = ((spec.get("git") or spec.get("oci") or {}).get("secretRef") or {}).get("name")
    if secret and not session.args.keep_auth_secret:
        try:
            client.delete(SECRET, secret)
        except NotFound:
            pass


def parse_go_duration(value: str) -> dt.timedelta | None:
    """Go's time.ParseDuration ("90s", "1h30m", "1.5h", "-2m", "0"), or None if it is not one."""
    body = value[1:] if value[:1] in ("+", "-") else value
    if body == "0":
        return dt.timedelta(0)
    seconds, position = 0.0, 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if not match or not (match.group(1) or match.group(2)):
            return None
        number = float(f"{match.group(1) or 0}.{match.group(2) or 0}")
        seconds += number * _UNIT_SECONDS[match.group(3)]
        position = match.end()
    if not body:
        return None
    return dt.timedelta(seconds=-seconds if value.startswith("-") else seconds)


def parse_rfc3339(value: str) -> dt.datetime | None:
    """Go's time.Parse(time.RFC3339, value), or None if it is not one."""
    if not _RFC3339.match(value):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None


def format_rfc3339(when: dt.datetime) -> str:
    """Go's time.Format(time.RFC3339): whole seconds, Z for UTC, else the offset."""
    offset = when.utcoffset() or dt.timedelta(0)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
    if not offset:
        return stamp + "Z"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{stamp}{'-' if offset < dt.timedelta(0) else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def run_once_at(value: str, now: dt.datetime) -> tuple[dt.datetime, str]:
    """When ``--run-once`` asks for the sync, as porchctl computes it, and its warning (or "").

    A Go duration from now or an RFC3339 time; under one minute from now is moved to one
    minute from now with porchctl's warning; empty means one minute from now.
    Raises FlagError("invalid --run-once value") for anything else, as porchctl does.
    """
    if not value:
        return now + MIN_RUN_ONCE, ""
    delay = parse_go_duration(value)
    if delay is not None:
        return (now + MIN_RUN_ONCE, SHORT_DURATION) if delay < MIN_RUN_ONCE else (now + delay, "")
    when = parse_rfc3339(value)
    if when is None:
        raise FlagError("invalid --run-once value")
    return (now + MIN_RUN_ONCE, EARLY_TIME) if when - now < MIN_RUN_ONCE else (when, "")


def _sync(session: Session) -> None:
    """Set spec.sync.runOnceAt on the named (or --all) repositories, with porchctl's lines.

    As porchctl: a repository that cannot be read or updated is reported on stderr and
    skipped; only finding none at all fails the command.
    """
    args = session.args
    when, warning = run_once_at(args.run_once, dt.datetime.now().astimezone().replace(microsecond=0))
    if not args.all and not args.args:
        raise FlagError("repository name(s) required unless --all is set")
    if warning:
        session.out(warning)
    client = session.client
    if args.all:
        repositories = list(client.list(REPOSITORY, all_namespaces=args.all_namespaces).get("items") or [])
    else:
        repositories = []
        for name in args.args:
            try:
                repositories.append(client.get(REPOSITORY, name))
            except StatusError as error:
                session.err(f"Error fetching repository {json.dumps(name)}: {error.message}")
    if not repositories:
        raise FlagError("no repositories found across all namespaces" if args.all_namespaces
                        else f"no repositories found in namespace {json.dumps(session.namespace)}")
    stamp = format_rfc3339(when.astimezone(dt.UTC))
    for repository in repositories:
        name = repository["metadata"]["name"]
        # A merge patch, not porchctl's read-modify-update: the sync controller writes the
        # Repository's status meanwhile, and a stale resourceVersion would fail the update.
        try:
            client.patch(REPOSITORY, name, {"spec": {"sync": {"runOnceAt": stamp}}},
                         namespace=repository["metadata"].get("namespace"))
        except StatusError as error:
            session.err(f"Failed to update repository {json.dumps(name)}: {error.message}")
            continue
        session.out(f"Scheduled one-time sync for {json.dumps(name)} at {format_rfc3339(when)}")


def repo_commands() -> list[Command]:
    """porchctl's ``repo`` verbs (and their aliases)."""
    return [
        Command("reg REPOSITORY", "Register a package repository.", aliases=("register",), run=_register,
                long="Register a package repository.\nREPOSITORY is the git URL of the repository, or "
                     "oci://HOST/PATH of an OCI registry path (each package a repository under it).",
                example="  porchctl repo register https://github.com/org/blueprints.git --namespace=default\n"
                        "  porchctl repo register https://github.com/org/deploy.git --name=foo --deployment "
                        "--sync-schedule='*/10 * * * *'\n"
                        "  porchctl repo register oci://registry.example.com/packages --repo-basic-username=u "
                        "--repo-basic-password=p",
                flags=[Flag("name", help="Repository name (default: last segment of the URL)"),
                       Flag("description", help="Description of the repository"),
                       Flag("branch", default="main", help="Branch where published packages are committed"),
                       Flag("create-branch", "bool", False, "Create the branch if it does not exist"),
                       Flag("directory", default="/", help="Directory within the repository holding packages"),
                       Flag("deployment", "bool", False, "Tag the repository as a deployment repository"),
                       Flag("sync-schedule", help="Cron schedule (5 fields) for syncing the repository"),
                       Flag("repo-basic-username", help="Username for basic auth to the repository"),
                       Flag("repo-basic-password", help="Password for basic auth to the repository")]),
        Command("get [REPOSITORY_NAME...]", "List registered repositories.", aliases=("ls", "list"), run=_get,
                long="List registered repositories.\nShows all repositories, or only the named ones.",
                example="  porchctl repo get --namespace default\n  porchctl repo get foo --namespace bar",
                flags=list(OUTPUT_FLAGS)),
        Command("unreg REPOSITORY", "Unregister a repository.", aliases=("unregister",), run=_unregister,
                long="Unregister a repository.\nDeletes the Repository and, unless --keep-auth-secret, the "
                     "Secret it references.",
                example="  porchctl repo unreg registered-repository --namespace=default --keep-auth-secret",
                flags=[Flag("keep-auth-secret", "bool", False, "Keep the Secret with the repository's credentials")]),
        Command("sync [REPOSITORY_NAME...]", "Schedule a one-time sync for registered repositories.",
                aliases=("reconcile",), run=_sync,
                long="Schedule a one-time sync for registered repositories.\n--run-once takes a duration (10m, "
                     "1h30m; minimum 1m) or an RFC3339 time (default: 1m from now).",
                example="  porchctl repo sync --all --namespace default\n  porchctl repo sync foo --run-once=10m",
                flags=[Flag("all", "bool", False, "Sync every repository in the namespace"),
                       Flag("all-namespaces", "bool", False, "With --all, sync repositories in all namespaces",
                            "A"),
                       Flag("run-once", help="When to sync: a duration from now (minimum 1m) or an RFC3339 time")]),
    ]
