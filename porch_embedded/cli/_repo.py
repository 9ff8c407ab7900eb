"""``repo``: porchctl's repository verbs (register, get, unregister, sync) over the API."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import re
from typing import Any

from croniter import croniter

from porch_embedded.cli._rpkg import get_and_print
from porch_embedded.cli._session import CommandError, Session, for_each_name
from porch_embedded.errors import NotFound
from porch_embedded.kinds import REPOSITORY, SECRET

__all__ = ["add_repo_verbs", "run_once_at"]

MIN_RUN_ONCE = dt.timedelta(minutes=1)
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _register(session: Session) -> None:
    args = session.args
    url: str = args.repository
    if url.startswith("oci://"):
        raise CommandError(f"cannot register {url}: OCI repositories are not supported by this server yet; "
                           "register a git repository instead")
    if args.sync_schedule and not croniter.is_valid(args.sync_schedule):
        raise CommandError(f"invalid sync-schedule cron expression {args.sync_schedule!r}: expected five fields "
                           "(minute hour day-of-month month day-of-week)")
    if bool(args.repo_basic_username) != bool(args.repo_basic_password):
        raise CommandError("--repo-basic-username and --repo-basic-password go together")
    name = args.name or url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    git: dict[str, Any] = {"repo": url, "branch": args.branch, "directory": args.directory}
    if args.create_branch:
        git["createBranch"] = True
    client = session.client
    if args.repo_basic_username:
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
                  "metadata": {"name": f"{name}-auth", "namespace": session.namespace},
                  "data": {"username": base64.b64encode(args.repo_basic_username.encode()).decode(),
                           "password": base64.b64encode(args.repo_basic_password.encode()).decode()}}
        client.create(SECRET, secret)
        git["secretRef"] = {"name": f"{name}-auth"}
    spec: dict[str, Any] = {"description": args.description, "content": "Package", "deployment": args.deployment,
                            "type": "git", "git": git}
    if args.sync_schedule:
        spec["sync"] = {"schedule": args.sync_schedule}
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": name, "namespace": session.namespace}, "spec": spec}
    client.create(REPOSITORY, body)


def _get(session: Session) -> None:
    get_and_print(session, REPOSITORY, session.args.names, label_selector=session.args.selector or "")


def _unregister(session: Session) -> None:
    client = session.client
    repository = client.get(REPOSITORY, session.args.name)
    client.delete(REPOSITORY, session.args.name)
    secret = (((repository.get("spec") or {}).get("git") or {}).get("secretRef") or {}).get("name")
    if secret and not session.args.keep_auth_secret:
        try:
            client.delete(SECRET, secret)
        except NotFound:
            pass


def run_once_at(value: str, now: dt.datetime) -> tuple[dt.datetime, str]:
    """When ``--run-once`` asks for the sync: a Go duration from now or an RFC3339 time.

    Returns the time and a warning (or "") when it was moved to the one-minute minimum.
    Raises CommandError for anything else.
    """
    match = _DURATION.match(value.strip())
    if value.strip() and match and any(match.groups()):
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        delay = dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
        if delay < MIN_RUN_ONCE:
            return now + MIN_RUN_ONCE, f"--run-once {value} is below the minimum of 1m; using 1m"
        return now + delay, ""
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise CommandError(f"invalid --run-once {value!r}: use a duration (10m, 1h30m) or an RFC3339 time") \
            from error
    if when.tzinfo is None:
        raise CommandError(f"invalid --run-once {value!r}: an RFC3339 time needs a zone (e.g. Z)")
    if when < now + MIN_RUN_ONCE:
        return now + MIN_RUN_ONCE, f"--run-once {value} is less than 1m from now; using 1m from now"
    return when, ""


def _sync(session: Session) -> None:
    args = session.args
    client = session.client
    if args.all or args.all_namespaces:
        repositories = client.list(REPOSITORY, all_namespaces=args.all_namespaces).get("items") or []
        targets = [(r["metadata"]["name"], r["metadata"].get("namespace", session.namespace)) for r in repositories]
    elif args.names:
        targets = [(name, session.namespace) for name in args.names]
    else:
        raise CommandError("name the repositories to sync, or use --all")
    when, warning = run_once_at(args.run_once, dt.datetime.now(dt.UTC).replace(microsecond=0))
    if warning:
        session.err(f"warning: {warning}")
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    namespaces = dict(targets)

    def sync(name: str) -> None:
        client.patch(REPOSITORY, name, {"spec": {"sync": {"runOnceAt": stamp}}}, namespace=namespaces[name])
        session.out(f"Repository {name} sync scheduled at {stamp}")

    for_each_name(session, [name for name, _ in targets], sync)


def add_repo_verbs(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add porchctl's ``repo`` verbs (and their aliases) to a subparsers action."""
    def verb(name: str, aliases: list[str], handler: Any, summary: str, usage_text: str,
             examples: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = verbs.add_parser(
            name, aliases=aliases, parents=[common], help=summary, description=f"{summary}\n{usage_text}",
            epilog=f"examples:\n{examples}", formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.set_defaults(handler=handler)
        return parser

    register = verb("reg", ["register"], _register, "Register a package repository.",
                    "REPOSITORY is the git URL of the repository (oci:// repositories are not supported yet).",
                    "  porchctl repo register https://github.com/org/blueprints.git --namespace=default\n"
                    "  porchctl repo register https://github.com/org/deploy.git --name=foo --deployment "
                    "--sync-schedule='*/10 * * * *'")
    register.add_argument("repository", metavar="REPOSITORY")
    register.add_argument("--name", default="", help="repository name (default: last segment of the URL)")
    register.add_argument("--description", default="", help="description of the repository")
    register.add_argument("--branch", default="main", help="branch where published packages are committed")
    register.add_argument("--create-branch", action="store_true", help="create the branch if it does not exist")
    register.add_argument("--directory", default="/", help="directory within the repository holding packages")
    register.add_argument("--deployment", action="store_true", help="tag the repository as a deployment repository")
    register.add_argument("--sync-schedule", default="", help="cron schedule (5 fields) for syncing the repository")
    register.add_argument("--repo-basic-username", default="", help="username for basic auth to the repository")
    register.add_argument("--repo-basic-password", default="", help="password for basic auth to the repository")

    get = verb("get", ["ls", "list"], _get, "List registered repositories.",
               "Shows all repositories, or only the named ones.",
               "  porchctl repo get --namespace default\n  porchctl repo get foo --namespace bar")
    get.add_argument("names", nargs="*", metavar="REPOSITORY_NAME")
    get.add_argument("-o", "--output", default="",
                     help="output format: wide, yaml, json, name, custom-columns=..., jsonpath=...")
    get.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    get.add_argument("--no-headers", action="store_true", help="print tables without headers")
    get.add_argument("--show-labels", action="store_true", help="add a LABELS column to tables")
    get.add_argument("-l", "--selector", default="", help="label selector")

    unregister = verb("unreg", ["unregister"], _unregister, "Unregister a repository.",
                      "Deletes the Repository and, unless --keep-auth-secret, the Secret it references.",
                      "  porchctl repo unreg registered-repository --namespace=default --keep-auth-secret")
    unregister.add_argument("name", metavar="REPOSITORY_NAME")
    unregister.add_argument("--keep-auth-secret", action="store_true",
                            help="keep the Secret with the repository's credentials")

    sync = verb("sync", ["reconcile"], _sync, "Schedule a one-time sync for registered repositories.",
                "--run-once takes a duration (10m, 1h30m; minimum 1m) or an RFC3339 time (default: 1m from now).",
                "  porchctl repo sync --all --namespace default\n  porchctl repo sync foo --run-once=10m")
    sync.add_argument("names", nargs="*", metavar="REPOSITORY_NAME")
    sync.add_argument("--all", action="store_true", help="sync every repository in the namespace")
    sync.add_argument("-A", "--all-namespaces", action="store_true", help="sync every repository in all namespaces")
    sync.add_argument("--run-once", default="1m", help="when to sync: a duration from now or an RFC3339 time")
