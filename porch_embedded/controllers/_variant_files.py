"""What a PackageVariant does to its downstream package's files: context, pipeline, injection.

Each step is Porch's: ``packageContext`` sets and removes keys of the package-context.yaml
ConfigMap; ``pipeline`` functions go first in the Kptfile pipeline, named
``PackageVariant.<variant>.<function>.<index>`` so that a later pass finds and replaces
exactly the ones this variant added; injectors fill the injection points
(``_injection``). Applying the steps to their own output changes nothing, and files
are compared by meaning (YAML documents, Kptfile conditions in any order), so a
downstream that already carries the variant's mutations is left alone: a steady state
makes no writes even after a render reformatted the files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from porch_embedded.controllers._injection import InjectionSource, inject
from porch_embedded.errors import Invalid
from porch_embedded.kinds import Body
from porch_embedded.kpt import KPTFILE, PACKAGE_CONTEXT, YamlError, dump_yaml, load_yaml, new_map, split_documents, to_plain

__all__ = ["FUNCTION_PREFIX", "function_name", "is_variant_function", "mutated_files", "same_files",
           "with_package_context", "with_pipeline"]

FUNCTION_PREFIX = "PackageVariant"
_PACKAGE_CONTEXT_NAME = "kptfile.kpt.dev"


def function_name(function: str, variant: str, index: int) -> str:
    """The name a variant's pipeline function gets in the downstream Kptfile."""
    return f"{FUNCTION_PREFIX}.{variant}.{function}.{index}"


def is_variant_function(function: Mapping[str, Any], variant: str) -> bool:
    """True for a function this variant put in the pipeline (four dot-separated parts, Porch's rule)."""
    parts = str(function.get("name") or "").split(".")
    return len(parts) == 4 and parts[0] == FUNCTION_PREFIX and parts[1] == variant and \
        re.fullmatch(r"-?\d+", parts[3]) is not None


def _load(files: Mapping[str, str], path: str, reference: str) -> Any:
    if path not in files:
        raise Invalid(f'"{path}" not found in PackageRevisionResources {reference}')
    try:
        return load_yaml(files[path])
    except YamlError as error:
        raise Invalid(f'failed to parse "{path}" of PackageRevisionResources {reference}: {error}') from error


def with_package_context(files: Mapping[str, str], context: Mapping[str, Any] | None, reference: str) -> dict[str, str]:
    """Set ``context.data`` and drop ``context.removeKeys`` in package-context.yaml's data."""
    result = dict(files)
    data_wanted = dict((context or {}).get("data") or {})
    remove = list((context or {}).get("removeKeys") or [])
    if not data_wanted and not remove:
        return result
    config_map = _load(files, PACKAGE_CONTEXT, reference)
    if not isinstance(config_map, dict) or config_map.get("kind") != "ConfigMap":
        raise Invalid(f'"{PACKAGE_CONTEXT}" does not contain kind "ConfigMap" in PackageRevisionResources {reference}')
    if (config_map.get("metadata") or {}).get("name") != _PACKAGE_CONTEXT_NAME:
        raise Invalid(f'"{PACKAGE_CONTEXT}" does not contain resource named "{_PACKAGE_CONTEXT_NAME}" in '
                      f"PackageRevisionResources {reference}")
    data = config_map.get("data")
    if not isinstance(data, dict):
        raise Invalid(f"PackageRevisionResources {reference} PackageContext no data field found")
    before = dict(data)
    for key, value in data_wanted.items():
        data[key] = value
    for key in remove:
        data.pop(key, None)
    if dict(data) != before:
        result[PACKAGE_CONTEXT] = dump_yaml(config_map)
    return result


def with_pipeline(files: Mapping[str, str], pipeline: Mapping[str, Any] | None, variant: str,
                  reference: str) -> dict[str, str]:
    """Put the variant's validators and mutators first in the Kptfile pipeline, replacing its earlier ones."""
    result = dict(files)
    kptfile = _load(files, KPTFILE, reference)
    if not isinstance(kptfile, dict):
        raise Invalid(f'"{KPTFILE}" of PackageRevisionResources {reference} is not a YAML mapping')
    before = to_plain(kptfile.get("pipeline"))
    current = kptfile.get("pipeline") if isinstance(kptfile.get("pipeline"), dict) else new_map()
    for field_name in ("validators", "mutators"):
        theirs = [f for f in current.get(field_name) or [] if not (isinstance(f, dict) and is_variant_function(f, variant))]
        ours = []
        for index, function in enumerate((pipeline or {}).get(field_name) or []):
            renamed = new_map(dict(function))
            renamed["name"] = function_name(str(function.get("name") or ""), variant, index)
            ours.append(renamed)
        if ours or theirs:
            current[field_name] = ours + theirs
        else:
            current.pop(field_name, None)
    if current.get("validators") or current.get("mutators"):
        kptfile["pipeline"] = current
    else:
        kptfile.pop("pipeline", None)
    if to_plain(kptfile.get("pipeline")) != before:
        result[KPTFILE] = dump_yaml(kptfile, "wide")
    return result


async def mutated_files(variant: Body, files: Mapping[str, str], reference: str,
                        source: InjectionSource) -> dict[str, str]:
    """The downstream files as the variant wants them: package context, pipeline, then injection.

    Raises Invalid when the package cannot take the mutations (no package-context.yaml,
    a Kptfile that is not YAML, ambiguous injection points); ``reference`` names the
    PackageRevisionResources in those messages.
    """
    spec = variant.get("spec") or {}
    result = with_package_context(files, spec.get("packageContext"), reference)
    result = with_pipeline(result, spec.get("pipeline"), variant["metadata"]["name"], reference)
    injectors: Sequence[Mapping[str, Any]] = spec.get("injectors") or []
    return await inject(result, variant["metadata"]["namespace"], injectors, source)


def _meaning(path: str, text: str) -> Any:
    """A file's content for comparison: its YAML documents as plain data, else its text."""
    if not (path.rsplit("/", 1)[-1] == KPTFILE or path.endswith((".yaml", ".yml"))):
        return text
    try:
        documents = [to_plain(load_yaml(doc)) for doc in split_documents(text)]
    except YamlError:
        return text
    documents = [doc for doc in documents if doc is not None]
    for doc in documents:
        status = doc.get("status") if isinstance(doc, dict) else None
        if isinstance(status, dict) and isinstance(status.get("conditions"), list):
            status["conditions"] = sorted(status["conditions"], key=lambda c: str(c.get("type")))
    return documents


def same_files(old: Mapping[str, str], new: Mapping[str, str]) -> bool:
    """Whether two packages mean the same: the same paths, each file equal as text or as YAML data."""
    if old.keys() != new.keys():
        return False
    return all(old[path] == new[path] or _meaning(path, old[path]) == _meaning(path, new[path]) for path in old)
