"""``rpkg``: porchctl's package revision verbs over the API.

Each verb is a function of a Session; it prints porchctl's success lines on
stdout and raises CommandError (or lets the client's StatusError through) with the
server's message, which the runner prints in porchctl's ``Error: ... `` format.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from porch_embedded.cli._command import Command, Flag
from porch_embedded.cli._output import print_objects, print_table
from porch_embedded.cli._resourcelist import directory_files, resource_list, resource_list_files, write_directory
from porch_embedded.cli._session import CommandError, FlagError, Session, for_each_name
from porch_embedded.cli._upgrade import upgrade_command
from porch_embedded.kinds import PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, Kind

__all__ = ["OUTPUT_FLAGS", "get_and_print", "rpkg_commands"]

API_VERSION = "porch.kpt.dev/v1alpha1"
ANY_REVISION = -2


def _revision_body(session: Session, repository: str, package: str, workspace: str,
                   task: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "PackageRevision", "metadata": {"namespace": session.namespace},
            "spec": {"packageName": package, "workspaceName": workspace, "repository": repository,
                     "lifecycle": "Draft", "tasks": [task]}}


def _create(session: Session, body: dict[str, Any], doing: str) -> None:
    session.progress(f"{doing} {body['spec']['repository']}/{body['spec']['packageName']}...")
    try:
        created = session.client.create(PACKAGE_REVISION, body)
    finally:
        session.progress("")
    session.out(f"{created['metadata']['name']} created")


# -- get ------------------------------------------------------------------------------

def get_and_print(session: Session, kind: Kind, names: list[str], *, field_selector: str = "",
                  label_selector: str = "") -> None:
    """List or get objects of ``kind`` and print them with the -o/--no-headers/-A/--show-labels flags."""
    args = session.args
    output = args.output or ""
    all_namespaces = bool(getattr(args, "all_namespaces", False))
    client = session.client
    kind_name = f"{kind.singular}.{kind.group}" if kind.group else kind.singular
    if output in ("", "wide"):
        if names:
            tables = [client.get(kind, name, table=True) for name in names]
            table = dict(tables[0])
            table["rows"] = [row for t in tables for row in t.get("rows") or []]
        else:
            table = client.list(kind, all_namespaces=all_namespaces, field_selector=field_selector,
                                label_selector=label_selector, table=True)
        # Nothing at all for an empty list: porchctl prints tables through kubectl's printer
        # alone, without kubectl get's "No resources found" line.
        print_table(table, session.io.stdout, wide=output == "wide", no_headers=args.no_headers,
                    with_namespace=all_namespaces, show_labels=args.show_labels)
        return
    if names:
        items = [client.get(kind, name) for name in names]
    else:
        items = list(client.list(kind, all_namespaces=all_namespaces, field_selector=field_selector,
                                 label_selector=label_selector).get("items") or [])
    print_objects(items, output, session.io.stdout, no_headers=args.no_headers,
                  kind_name=kind_name)


def _get(session: Session) -> None:
    args = session.args
    names: list[str] = args.args
    if "namespace" in args.changed and not args.namespace:
        raise FlagError("namespace flag specified without a value; please provide a value for --namespace/-n or "
                        "omit the flag")
    if args.show_kptfile:
        if args.all_namespaces:
            raise FlagError("--show-kptfile cannot be combined with --all-namespaces")
        if args.name or args.revision != ANY_REVISION or args.workspace:
            raise FlagError("--show-kptfile cannot be combined with --name, --revision, or --workspace")
        if len(names) != 1:
            raise FlagError("--show-kptfile requires exactly one package revision name as an argument")
        resources = session.client.get(PACKAGE_REVISION_RESOURCES, names[0])
        kptfile = ((resources.get("spec") or {}).get("resources") or {}).get("Kptfile")
        if kptfile is None:
            raise CommandError(f"package revision {names[0]} has no Kptfile")
        session.io.stdout.write(kptfile if kptfile.endswith("\n") else kptfile + "\n")
        return
    selectors = []
    if args.name:
        selectors.append(f"spec.packageName={args.name}")
    if args.revision != ANY_REVISION:
        selectors.append(f"spec.revision={args.revision}")
    if args.workspace:
        selectors.append(f"spec.workspaceName={args.workspace}")
    get_and_print(session, PACKAGE_REVISION, names, field_selector=",".join(selectors),
                  label_selector=args.selector or "")


# -- init, clone, copy ----------------------------------------------------------------------

def _require(value: str | None, message: str) -> str:
    if not value:
        raise CommandError(message)
    return value


def _positional(args: list[str], count: int, missing: str, extra: str = "") -> list[str]:
    """The first ``count`` positional arguments; CommandError(missing) if fewer, CommandError(extra) if more."""
    if len(args) < count:
        raise CommandError(missing)
    if extra and len(args) > count:
        raise CommandError(extra)
    return args[:count]


def _init(session: Session) -> None:
    args = session.args
    package = _positional(args.args, 1, "PACKAGE_NAME is a required positional argument")[0]
    repository = _require(args.repository, "--repository is required to specify target repository")
    workspace = _require(args.workspace, "--workspace is required to specify workspace name")
    init: dict[str, Any] = {"description": args.description}
    if args.keywords:
        init["keywords"] = list(args.keywords)
    if args.site:
        init["site"] = args.site
    _create(session, _revision_body(session, repository, package, workspace,
                                    {"type": "init", "init": init}), "initializing")


_GIT_URL = re.compile(r"^(https?://|ssh://|git://|file://|git@)")


def parse_git_source(source: str, directory: str | None, ref: str | None) -> dict[str, str]:
    """``https://host/repo.git/dir@ref`` to ``{repo, directory, ref}``; flags must not contradict it."""
    repo, parsed_dir, parsed_ref = source, "", ""
    at_git = source.find(".git/")
    if at_git < 0 and source.endswith(".git"):
        at_git = len(source) - 4
    tail_start = at_git + 4 if at_git >= 0 else source.find("/", source.find("//") + 2)
    at = source.rfind("@")
    if at > max(tail_start, 0):
        repo, parsed_ref = source[:at], source[at + 1:]
    if at_git >= 0:
        repo, parsed_dir = repo[:at_git + 4], repo[at_git + 4:].strip("/")
    if directory and parsed_dir and directory.strip("/") != parsed_dir:
        raise CommandError(f"directory {directory!r} specified by --directory contradicts directory "
                           f"{parsed_dir!r} specified by SOURCE_PACKAGE")
    if ref and parsed_ref and ref != parsed_ref:
        raise CommandError(f"ref {ref!r} specified by --ref contradicts ref {parsed_ref!r} "
                           "specified by SOURCE_PACKAGE")
    return {"repo": repo, "directory": parsed_dir or (directory or "/"), "ref": parsed_ref or ref or "main"}


def _clone(session: Session) -> None:
    args = session.args
    source, package = _positional(args.args, 2, "SOURCE_PACKAGE and NAME are required positional arguments; "
                                                f"{len(args.args)} provided")
    repository = _require(args.repository, "--repository is required to specify downstream repository")
    workspace = _require(args.workspace, "--workspace is required to specify downstream workspace name")
    if source.startswith("oci://"):
        upstream: dict[str, Any] = {"type": "oci", "oci": {"image": source.removeprefix("oci://")}}
    elif _GIT_URL.match(source):
        git = parse_git_source(source, args.directory, args.ref)
        upstream = {"type": "git", "git": {**git, "secretRef": {"name": args.secret_ref or ""}}}
    else:
        # porchctl ignores --directory and --ref for a registered source (Porch's rpkg-upgrade golden passes them).
        upstream = {"upstreamRef": {"name": source}}
    task = {"type": "clone", "clone": {"upstreamRef": upstream}}
    _create(session, _revision_body(session, repository, package, workspace, task), "cloning")


def _copy(session: Session) -> None:
    args = session.args
    name = _positional(args.args, 1, "SOURCE_PACKAGE is a required positional argument",
                       "too many arguments; SOURCE_PACKAGE is the only accepted positional arguments")[0]
    workspace = _require(args.workspace, "--workspace is required to specify workspace name")
    source = session.client.get(PACKAGE_REVISION, name)
    spec = source.get("spec") or {}
    task = {"type": "edit", "edit": {"sourceRef": {"name": name}}}
    _create(session, _revision_body(session, spec.get("repository", ""), spec.get("packageName", ""), workspace,
                                    task), "copying")


# -- pull, push ------------------------------------------------------------------------------

def _pull(session: Session) -> None:
    args = session.args
    package = _positional(args.args, 1, "PACKAGE is a required positional argument")[0]
    target = Path(args.args[1]) if len(args.args) > 1 else None
    if target is not None and target.exists():
        raise CommandError(f"cannot pull into {str(target)!r}: it already exists")
    resources = session.client.get(PACKAGE_REVISION_RESOURCES, package)
    files = dict((resources.get("spec") or {}).get("resources") or {})
    metadata = dict(resources.get("metadata") or {})
    if target is not None:
        write_directory(target, files, metadata)
        return
    try:
        session.io.stdout.write(resource_list(files, metadata))
    except ValueError as error:
        raise CommandError(str(error)) from error


def _result_line(entry: dict[str, Any]) -> str:
    """One function result as porchctl words it: ``[severity] apiVersion/Kind/namespace/name field: message``."""
    ref = entry.get("resourceRef") or {}
    ids = "/".join(str(ref[k]) for k in ("apiVersion", "kind", "namespace", "name") if ref.get(k))
    field = (entry.get("field") or {}).get("path") if entry.get("field") else None
    line = f"[{entry.get('severity') or 'info'}]" + (f" {ids}" if ids else "") + \
        (f" {field}" if field is not None else "") + f": {entry.get('message', '')}"
    return line.replace("\n", " ").strip()


def _print_render_status(session: Session, status: dict[str, Any]) -> None:
    """Print a render's outcome as porchctl's push does, on stderr.

    Per function ``[RUNNING] "<image>" ``, then ``[PASS] "<image>"`` or ``[FAIL] "<image>"``,
    then its results on one line: ``[Results]: <result>, <result>``.
    """
    render = status.get("renderStatus") or {}
    if render.get("error"):
        session.err("Package is updated, but failed to render the package.")
        session.err(f"Error: {render['error']}")
    for item in (render.get("result") or {}).get("items") or []:
        image = json.dumps(item.get("image") or "")
        session.err(f"[RUNNING] {image} ")
        session.err(f"[{'FAIL' if int(item.get('exitCode') or 0) != 0 else 'PASS'}] {image}")
        if item.get("results"):
            session.err("[Results]: " + ", ".join(_result_line(entry) for entry in item["results"]))


def _push(session: Session) -> None:
    args = session.args
    package = _positional(args.args, 1, "PACKAGE name is a required positional argument")[0]
    source = args.args[1] if len(args.args) > 1 else "-"
    try:
        if source == "-":
            files, metadata = resource_list_files(session.io.stdin.read())
        else:
            files, metadata = directory_files(Path(source))
    except (ValueError, OSError) as error:
        raise CommandError(str(error)) from error
    if metadata is None:
        raise CommandError('no .KptRevisionMetadata found; use "porchctl rpkg pull" to download the remote '
                           "package metadata before pushing")
    body_metadata = {"name": package, "namespace": session.namespace}
    for key in ("resourceVersion", "labels", "annotations"):
        if metadata.get(key):
            body_metadata[key] = metadata[key]
    body = {"apiVersion": API_VERSION, "kind": "PackageRevisionResources", "metadata": body_metadata,
            "spec": {"resources": files}}
    session.progress(f"pushing {package}...")
    try:
        updated = session.client.update(PACKAGE_REVISION_RESOURCES, body)
    finally:
        session.progress("")
    _print_render_status(session, updated.get("status") or {})
    session.out(f"{package} pushed")


# -- lifecycle ---------------------------------------------------------------------------------

def _readiness_met(revision: dict[str, Any]) -> bool:
    conditions = {c.get("type"): c.get("status") for c in (revision.get("status") or {}).get("conditions") or []}
    gates = (revision.get("spec") or {}).get("readinessGates") or []
    return all(conditions.get(gate.get("conditionType")) == "True" for gate in gates)


def _set_lifecycle(session: Session, revision: dict[str, Any], lifecycle: str, *, approval: bool) -> None:
    revision["spec"]["lifecycle"] = lifecycle
    session.client.update(PACKAGE_REVISION, revision, subresource="approval" if approval else "")


def _propose(session: Session) -> None:
    def propose(name: str) -> None:
        revision = session.client.get(PACKAGE_REVISION, name)
        lifecycle = revision["spec"].get("lifecycle") or "Draft"
        if lifecycle == "Proposed":
            session.err(f"{name} is already proposed")
            return
        if lifecycle != "Draft":
            raise CommandError(f"cannot propose {lifecycle} package")
        if not _readiness_met(revision):
            raise CommandError("readiness conditions not met")
        _set_lifecycle(session, revision, "Proposed", approval=False)
        session.out(f"{name} proposed")

    for_each_name(session, session.args.args, propose)


def _approve(session: Session) -> None:
    def approve(name: str) -> None:
        revision = session.client.get(PACKAGE_REVISION, name)
        if not _readiness_met(revision):
            raise CommandError("readiness conditions not met")
        session.progress(f"approving {name}...")
        try:
            _set_lifecycle(session, revision, "Published", approval=True)
        finally:
            session.progress("")
        session.out(f"{name} approved")

    for_each_name(session, session.args.args, approve)


def _reject(session: Session) -> None:
    def reject(name: str) -> None:
        revision = session.client.get(PACKAGE_REVISION, name)
        lifecycle = revision["spec"].get("lifecycle") or "Draft"
        if lifecycle == "Proposed":
            _set_lifecycle(session, revision, "Draft", approval=False)
            session.out(f"{name} no longer proposed for approval")
        elif lifecycle == "DeletionProposed":
            _set_lifecycle(session, revision, "Published", approval=True)
            session.out(f"{name} no longer proposed for deletion")
        else:
            raise CommandError(f"cannot reject {name} with lifecycle '{lifecycle}'")

    for_each_name(session, _positional(session.args.args, 1, "PACKAGE_REVISION is a required positional argument")
                  + session.args.args[1:], reject)


def _propose_delete(session: Session) -> None:
    def propose_delete(name: str) -> None:
        revision = session.client.get(PACKAGE_REVISION, name)
        lifecycle = revision["spec"].get("lifecycle") or "Draft"
        if lifecycle == "DeletionProposed":
            session.err(f"{name} is already proposed for deletion")
            return
        if lifecycle != "Published":
            raise CommandError(f"can only propose published packages for deletion; package {name} is not published")
        _set_lifecycle(session, revision, "DeletionProposed", approval=True)
        session.out(f"{name} proposed for deletion")

    for_each_name(session, session.args.args, propose_delete)


def _delete(session: Session) -> None:
    def delete(name: str) -> None:
        session.client.delete(PACKAGE_REVISION, name)
        session.out(f"{name} deleted")

    for_each_name(session, session.args.args, delete)


# -- commands ----------------------------------------------------------------------------------------

OUTPUT_FLAGS = [
    Flag("output", shorthand="o", help="Output format: wide, yaml, json, name, custom-columns=..., jsonpath=..."),
    Flag("all-namespaces", "bool", False, "List across all namespaces (ignores --namespace)", "A"),
    Flag("no-headers", "bool", False, "Print tables without headers"),
    Flag("show-labels", "bool", False, "Add a LABELS column to tables"),
    Flag("selector", shorthand="l", help="Label selector, e.g. kpt.dev/latest-revision=true"),
]
"""kubectl's printing flags as porchctl's get verbs take them (-l is this server's addition)."""


def _verb(use: str, summary: str, text: str, handler: Any, *, aliases: tuple[str, ...] = (),
          flags: list[Flag] | None = None, example: str = "") -> Command:
    return Command(use, summary, long=f"{summary}\n{text}", example=example, aliases=aliases, flags=flags or [],
                   run=handler)


def rpkg_commands() -> list[Command]:
    """porchctl's ``rpkg`` verbs (and their aliases)."""
    commands = [
        _verb("get [PACKAGE_REVISION...]", "List package revisions in registered repositories.",
              "Shows all package revisions, or only the named ones.", _get, aliases=("list",), flags=[
                  Flag("name", help="Only revisions of the package with this name"),
                  Flag("revision", "int64", ANY_REVISION,
                       help="Only revisions with this revision number (-1: branch placeholders, 0: drafts)"),
                  Flag("workspace", help="Only revisions with this workspace name"),
                  Flag("show-kptfile", "bool", False, "Print the Kptfile of the one named revision"),
                  *OUTPUT_FLAGS],
              example="  porchctl rpkg get --namespace=default\n  porchctl rpkg get --name=basens -o yaml"),
        _verb("init PACKAGE_NAME", "Initialize a new package revision in a repository.",
              "The new revision is a Draft with a Kptfile, README.md and package-context.yaml.", _init, flags=[
                  Flag("repository", help="Repository of the new package (required)"),
                  Flag("workspace", help="Workspace name of the new revision (required)"),
                  Flag("description", default="sample description", help="Short description of the package"),
                  Flag("keywords", "strings", [], "Keywords of the package, comma-separated or repeated"),
                  Flag("site", help="Link to the package's page")],
              example="  porchctl rpkg init my-pkg --repository=blueprints --workspace=v1"),
        _verb("clone SOURCE_PACKAGE NAME", "Create a clone of an existing package revision.",
              "SOURCE_PACKAGE is a registered package revision name, a git URL (https://host/repo.git/DIR@REF) or "
              "an oci:// image.", _clone, flags=[
                  Flag("repository", help="Downstream repository of the new revision (required)"),
                  Flag("workspace", default="v1", help="Workspace name of the new revision"),
                  Flag("directory", help="Directory of the upstream package (git URL sources)"),
                  Flag("ref", help="Branch, tag or commit of the upstream (git URL sources; default main)"),
                  Flag("secret-ref", help="Secret with basic auth for the upstream git repository")],
              example="  porchctl rpkg clone blueprints.basens.v1 my-ns --repository=deployments --workspace=v1\n"
                      "  porchctl rpkg clone https://github.com/org/blueprints.git/basens@basens/v1 my-ns "
                      "--repository=deployments"),
        _verb("copy SOURCE_PACKAGE", "Create a new package revision from an existing one.",
              "The source must be published; the copy is a Draft of the same package.", _copy, aliases=("edit",),
              flags=[Flag("workspace", help="Workspace name of the new revision (required)")],
              example="  porchctl rpkg copy blueprints.basens.v1 --workspace=v2"),
        _verb("pull PACKAGE [DIR]", "Pull the content of a package revision.",
              "Into DIR (which must not exist), or to stdout as a kpt ResourceList.", _pull,
              aliases=("source", "read"), example="  porchctl rpkg pull blueprints.basens.v1 ./basens"),
        _verb("push PACKAGE [DIR]", "Push local content to a draft package revision.",
              "From DIR, or from stdin ('-' or no DIR) as a ResourceList; needs the .KptRevisionMetadata of a pull.",
              _push, aliases=("sink", "write"), example="  porchctl rpkg push blueprints.basens.v2 ./basens"),
    ]
    for use, aliases, handler, summary in (
            ("propose [PACKAGE...]", (), _propose, "Propose that a package revision should be published."),
            ("approve [PACKAGE...]", (), _approve, "Approve a proposal to publish a package revision."),
            ("reject PACKAGE...", (), _reject, "Reject a proposal to publish or delete a package revision."),
            ("propose-delete [PACKAGE...]", ("propose-del",), _propose_delete,
             "Propose deletion of a published package revision."),
            ("del [PACKAGE...]", ("delete",), _delete, "Delete a package revision.")):
        commands.append(_verb(use, summary, "One or more space-separated package revision names.", handler,
                              aliases=aliases, example=f"  porchctl rpkg {use.split()[0]} blueprints.basens.v1 "
                                                       "--namespace=default"))
    commands.append(upgrade_command())
    return commands
