"""config.porch.kpt.dev/v1alpha1: Repository, PackageVariant (PackageVariantSet: _variant_set).

Field names, defaults, printer columns and CEL-rule messages follow Porch's CRDs so
manifests written for Porch apply unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from croniter import croniter

from porch_embedded.errors import Cause
from porch_embedded.kinds._common import condition_schema, envelope
from porch_embedded.kinds._kind import Body, Kind, PrinterColumn, SelectableField
from porch_embedded.kinds._schema import array, boolean, integer, obj, preserve, string, string_map

__all__ = ["PACKAGE_VARIANT", "REPOSITORY", "package_variant_causes"]

GROUP, VERSION = "config.porch.kpt.dev", "v1alpha1"
_API_VERSION = f"{GROUP}/{VERSION}"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

_secret_ref = obj({"name": string("Name of a Secret in the Repository's namespace.")}, required=("name",))

_repository_spec = obj(
    {
        "description": string("User-friendly description of the repository."),
        "deployment": boolean("The repository holds deployment packages, not blueprints."),
        "type": string("Type of the repository.", enum=["git", "oci"]),
        "content": string("Deprecated; only Package is supported.", enum=["Package"]),
        "sync": obj(
            {
                "schedule": string("5-field cron expression of full syncs; empty means the default interval."),
                "runOnceAt": string("Run one full sync at this time.", format="date-time"),
            }
        ),
        "git": obj(
            {
                "repo": string("Address of the git repository, e.g. https://example.com/org/repo.git."),
                "branch": string("Branch holding published packages.", minLength=1),
                "createBranch": boolean("Create the branch if it does not exist."),
                "directory": string("Directory in the repository that holds packages; root if empty."),
                "secretRef": _secret_ref,
                "author": string("Author of commits; the requesting user if empty."),
                "email": string("Email of the commit author."),
            },
            required=("repo",),
        ),
        "oci": obj(
            {
                "registry": string("Registry and repository prefix, e.g. 127.0.0.1:5000/packages."),
                "secretRef": _secret_ref,
            },
            required=("registry",),
        ),
    },
    required=("type",),
)

_repository_status = obj(
    {
        "conditions": array(condition_schema),
        "lastFullSyncTime": string(format="date-time"),
        "nextFullSyncTime": string(format="date-time"),
        "observedGeneration": integer(),
        "observedRunOnceAt": string(format="date-time"),
        "packageCount": integer(),
        "gitCommitHash": string(),
    }
)


def _repository_defaults(body: Body) -> None:
    spec = body.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("content", "Package")
        git = spec.get("git")
        if isinstance(git, dict) and not git.get("branch"):
            git["branch"] = "main"


def _repository_causes(body: Body) -> list[Cause]:
    causes = []
    name = (body.get("metadata") or {}).get("name", "")
    if name and (len(name) > 63 or not _NAME_RE.match(name)):
        causes.append(Cause(
            f"Invalid value: \"{name}\": repository name must be a lowercase RFC 1123 label: at most "
            "63 lowercase alphanumeric characters or '-', starting and ending alphanumeric",
            "metadata.name",
        ))
    spec = body.get("spec") or {}
    kind = spec.get("type")
    if kind == "git" and not isinstance(spec.get("git"), dict):
        causes.append(Cause("Required value: spec.git is required when spec.type is git", "spec.git",
                            "FieldValueRequired"))
    if kind == "oci" and not isinstance(spec.get("oci"), dict):
        causes.append(Cause("Required value: spec.oci is required when spec.type is oci", "spec.oci",
                            "FieldValueRequired"))
    schedule = _dig(spec, ("sync", "schedule"))
    if isinstance(schedule, str) and schedule.strip() and not _is_cron(schedule):
        causes.append(Cause(
            f'Invalid value: "{schedule}": spec.sync.schedule must be a 5-field cron expression (minute hour '
            'day-of-month month day-of-week), e.g. "*/10 * * * *", or one of @hourly, @daily, @weekly, @monthly, '
            '@yearly; leave it empty for the default interval',
            "spec.sync.schedule"))
    return causes


def _is_cron(schedule: str) -> bool:
    """Five fields, or a descriptor, that the sync controller's croniter can schedule.

    croniter also takes a sixth (seconds) field, which Porch's standard cron parser does not.
    """
    fields = schedule.split()
    return (len(fields) == 5 or (len(fields) == 1 and fields[0].startswith("@"))) and croniter.is_valid(schedule)


_IMMUTABLE_REPOSITORY_FIELDS = (
    ("spec", "type"),
    ("spec", "git", "repo"),
    ("spec", "git", "branch"),
    ("spec", "git", "directory"),
    ("spec", "oci", "registry"),
)


def _dig(body: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _repository_update_causes(old: Body, new: Body) -> list[Cause]:
    causes = []
    for path in _IMMUTABLE_REPOSITORY_FIELDS:
        before, after = _dig(old, path), _dig(new, path)
        if path[-1] == "directory":
            before, after = (before or "").strip("/"), (after or "").strip("/")
        if before != after:
            dotted = ".".join(path)
            causes.append(Cause(f"Invalid value: \"{after}\": {dotted} is immutable", dotted))
    return causes


REPOSITORY = Kind(
    group=GROUP,
    version=VERSION,
    kind="Repository",
    plural="repositories",
    singular="repository",
    namespaced=True,
    short_names=("repo",),
    schema=envelope("Repository", _API_VERSION, _repository_spec, _repository_status,
                    "A git or OCI repository of kpt packages registered with porch-embedded."),
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type"),
        PrinterColumn("Content", "string", ".spec.content"),
        PrinterColumn("Sync schedule", "string", ".spec.sync.schedule"),
        PrinterColumn("Deployment", "boolean", ".spec.deployment"),
        PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Address", "string", ".spec['git','oci']['repo','registry']"),
        PrinterColumn("Branch", "string", ".spec.git.branch"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    field_selectors={"spec.type": SelectableField(("spec", "type")),
                     "spec.git.repo": SelectableField(("spec", "git", "repo"))},
    subresources=("status",),
    defaults=_repository_defaults,
    validate=_repository_causes,
    validate_update=_repository_update_causes,
)

_function = obj(
    {
        "image": string("Function image, e.g. ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2."),
        "exec": string(),
        "configPath": string(),
        "configMap": string_map(),
        "name": string(),
        "selectors": array(preserve()),
        "exclude": array(preserve()),
    }
)
_pipeline = obj({"mutators": array(_function), "validators": array(_function)})
_upstream = obj({"repo": string(), "package": string(), "workspaceName": string(), "revision": integer()})
_downstream = obj({"repo": string(), "package": string()})
_injector = obj({"group": string(), "version": string(), "kind": string(), "name": string()})

_package_variant_spec = obj(
    {
        "upstream": _upstream,
        "downstream": _downstream,
        "adoptionPolicy": string(enum=["adoptExisting", "adoptNone"]),
        "deletionPolicy": string(enum=["delete", "orphan"]),
        "labels": string_map(),
        "annotations": string_map(),
        "packageContext": obj({"data": string_map(), "removeKeys": array(string())}),
        "pipeline": _pipeline,
        "injectors": array(_injector),
    }
)
_package_variant_status = obj(
    {
        "conditions": array(condition_schema),
        "downstreamTargets": array(obj({"name": string(), "renderStatus": preserve()})),
    }
)


def _package_variant_defaults(body: Body) -> None:
    spec = body.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("adoptionPolicy", "adoptNone")
        spec.setdefault("deletionPolicy", "delete")


_RESERVED_CONTEXT_KEYS = ("name", "package-path")
"""package-context.yaml keys the server writes itself; a variant may neither set nor remove them."""


def package_variant_causes(body: Body) -> list[Cause]:
    """Porch's checks of a PackageVariant spec (its controller's validation), with its messages.

    Porch finds these only when its controller runs and marks the variant Stalled; here
    the same checks refuse the object at admission (422), and the controller runs them
    again on what was stored before, so both paths say the same thing.
    """
    spec = body.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    causes: list[Cause] = []

    def required(path: str) -> None:
        causes.append(Cause(f"missing required field {path}", path, "FieldValueRequired"))

    for side in ("upstream", "downstream"):
        part = spec.get(side)
        if not isinstance(part, dict):
            required(f"spec.{side}")
            continue
        for key in ("repo", "package"):
            if not part.get(key):
                required(f"spec.{side}.{key}")
    adoption, deletion = spec.get("adoptionPolicy") or "adoptNone", spec.get("deletionPolicy") or "delete"
    if adoption not in ("adoptNone", "adoptExisting"):
        causes.append(Cause('spec.adoptionPolicy field can only be "adoptNone" or "adoptExisting"',
                            "spec.adoptionPolicy", "FieldValueNotSupported"))
    if deletion not in ("orphan", "delete"):
        causes.append(Cause('spec.deletionPolicy can only be "orphan" or "delete"', "spec.deletionPolicy",
                            "FieldValueNotSupported"))
    context = spec.get("packageContext")
    if isinstance(context, dict):
        for key in _RESERVED_CONTEXT_KEYS:
            for field_name, values in (("data", context.get("data") or {}), ("removeKeys", context.get("removeKeys") or [])):
                if key in values:
                    causes.append(Cause(f"Invalid value: spec.packageContext.{field_name}: must not contain the key "
                                        f"{key!r}; the server sets it", f"spec.packageContext.{field_name}"))
    for index, injector in enumerate(spec.get("injectors") or []):
        if not isinstance(injector, dict) or not injector.get("name"):
            causes.append(Cause(f"spec.injectors[{index}].name must not be empty", f"spec.injectors[{index}].name",
                                "FieldValueRequired"))
    return causes


PACKAGE_VARIANT = Kind(
    group=GROUP,
    version=VERSION,
    kind="PackageVariant",
    plural="packagevariants",
    singular="packagevariant",
    namespaced=True,
    categories=("porch",),
    schema=envelope("PackageVariant", _API_VERSION, _package_variant_spec, _package_variant_status,
                    "Keeps a downstream package a customised clone of an upstream package."),
    printer_columns=(
        PrinterColumn("Upstream", "string", ".spec.upstream.package"),
        PrinterColumn("Downstream Repo", "string", ".spec.downstream.repo"),
        PrinterColumn("Downstream Package", "string", ".spec.downstream.package"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    subresources=("status",),
    defaults=_package_variant_defaults,
    validate=package_variant_causes,
)
