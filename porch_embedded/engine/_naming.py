"""Porch's object names and uids for package revisions and packages.

``<repo>.<path segments>.<package>.<workspace>``: every part a DNS label, the whole a
DNS-1123 subdomain; uids are UUIDv5 of the namespace and name, so the same revision
has the same uid across restarts and replicas (as Porch computes them).
"""

from __future__ import annotations

import uuid

from porch_embedded.errors import Cause
from porch_embedded.meta import dns1123_label_errors, dns1123_subdomain_errors

__all__ = ["package_object_name", "revision_name", "revision_name_causes", "revision_uid"]

_UID_NAMESPACE = uuid.UUID("aac71d91-5c67-456f-8fd2-902ef6da820e")


def revision_name(repository: str, package: str, workspace: str) -> str:
    return ".".join([repository, *package.split("/"), workspace])


def package_object_name(repository: str, package: str) -> str:
    return ".".join([repository, *package.split("/")])


def revision_uid(namespace: str, name: str, *, kind: str = "packagerevision") -> str:
    return str(uuid.uuid5(_UID_NAMESPACE, f"{kind}:porch.kpt.dev/v1alpha1/{namespace}/{name}"))


def revision_name_causes(repository: str, package: str, workspace: str) -> list[Cause]:
    """Why a new revision's package path or workspace cannot be used, with Porch's wording."""
    causes: list[Cause] = []
    if not package:
        causes.append(Cause("Required value: spec.packageName is required", "spec.packageName", "FieldValueRequired"))
    elif "//" in package or package.startswith("/") or package.endswith("/"):
        causes.append(Cause(f"Invalid value: \"{package}\": package path must not start or end with '/' "
                            "or contain '//'", "spec.packageName"))
    else:
        joined = package.replace("/", "")
        if dns1123_label_errors(joined):
            causes.append(Cause(
                f"Invalid value: \"{package}\": the package path without its '/' separators must be a "
                "valid DNS label: at most 63 lowercase alphanumeric characters or '-', starting and "
                "ending alphanumeric", "spec.packageName"))
        for part in package.split("/"):
            for error in dns1123_label_errors(part):
                causes.append(Cause(f"Invalid value: \"{package}\": package path part \"{part}\" of object "
                                    f"name invalid: {error}", "spec.packageName"))
    if not workspace:
        causes.append(Cause("Required value: spec.workspaceName is required", "spec.workspaceName",
                            "FieldValueRequired"))
    else:
        for error in dns1123_label_errors(workspace):
            causes.append(Cause(f"Invalid value: \"{workspace}\": workspace name part \"{workspace}\" of package "
                                f"revision name invalid: {error}", "spec.workspaceName"))
    if not causes:
        for error in dns1123_subdomain_errors(revision_name(repository, package, workspace)):
            causes.append(Cause(f"package revision kubernetes resource name invalid: {error}", "metadata.name"))
    return causes
