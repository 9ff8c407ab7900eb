"""What one target of a PackageVariantSet becomes: the PackageVariant spec and name.

A port of the behaviour of Porch's render.go and of its naming: the template's plain
fields are copied, its expressions (CEL) evaluated over the variables ``repoDefault``,
``packageDefault``, ``upstream`` (the upstream PackageRevision), ``target`` (the
selected object, or ``{repo, package}`` for a listed repository) and ``repository``
(the downstream Repository), expressions winning over plain entries of the same key.
Errors name the template field, as Porch's do (``template.labelExprs[1].valueExpr: ...``).
Pure: the controller hands in what it read.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

from porch_embedded.kinds import Body, CelError, evaluate_string

__all__ = ["RenderError", "VariantTarget", "object_input", "render_variant_spec", "variant_identifier",
           "variant_name"]

NAME_MAX_LENGTH = 63
NAME_HASH_LENGTH = 8


class RenderError(ValueError):
    """A target whose PackageVariant cannot be rendered (bad CEL result, missing repository)."""


@dataclass(frozen=True)
class VariantTarget:
    """One unrolled target: defaults for the downstream, the template, the selected object."""

    repo_default: str
    package_default: str
    template: dict[str, Any] | None = None
    target: Body | None = field(default=None, compare=False)


def object_input(body: Body) -> dict[str, Any]:
    """What CEL sees of an object: name, namespace, labels, annotations (Porch's allow list)."""
    metadata = body.get("metadata") or {}
    return {"name": metadata.get("name", ""), "namespace": metadata.get("namespace", ""),
            "labels": dict(metadata.get("labels") or {}), "annotations": dict(metadata.get("annotations") or {})}


def variant_identifier(set_name: str, spec: Body) -> str:
    """Which PackageVariant of a set this is: ``<set>-<downstream repo>-<downstream package>``."""
    downstream = spec.get("downstream") or {}
    return f"{set_name}-{downstream.get('repo', '')}-{downstream.get('package', '')}"


def variant_name(identifier: str) -> str:
    """The identifier, or when longer than 63 its head and 8 hex digits of its sha1."""
    if len(identifier) <= NAME_MAX_LENGTH:
        return identifier
    digest = hashlib.sha1(identifier.encode()).hexdigest()[:NAME_HASH_LENGTH]  # noqa: S324 - a name, not security
    return f"{identifier[:NAME_MAX_LENGTH - NAME_HASH_LENGTH - 1]}-{digest}"


def _evaluate(expression: str, inputs: dict[str, Any], field_name: str) -> str:
    try:
        return evaluate_string(expression, inputs)
    except CelError as error:
        raise RenderError(f"{field_name}: {error}") from None


def render_variant_spec(set_body: Body, repositories: dict[str, Body], upstream: Body,
                        target: VariantTarget) -> Body:
    """The PackageVariant spec for ``target``; raises RenderError saying which field failed."""
    spec: Body = {"upstream": copy.deepcopy((set_body.get("spec") or {}).get("upstream")),
                  "downstream": {"repo": target.repo_default, "package": target.package_default}}
    template = target.template
    if template is None:
        return spec
    inputs: dict[str, Any] = {
        "repoDefault": target.repo_default, "packageDefault": target.package_default,
        "upstream": object_input(upstream),
        "target": object_input(target.target) if target.target is not None
        else {"repo": target.repo_default, "package": target.package_default},
    }
    repo = target.repo_default
    downstream = template.get("downstream")
    if isinstance(downstream, dict):
        if downstream.get("repo"):
            repo = str(downstream["repo"])
        if downstream.get("repoExpr"):
            repo = _evaluate(downstream["repoExpr"], inputs, "template.downstream.repoExpr")
        spec["downstream"]["repo"] = repo
    repository = repositories.get(repo)
    if repository is None:
        raise RenderError(f"repository {repo!r} could not be loaded".replace("'", '"'))
    inputs["repository"] = object_input(repository)
    if isinstance(downstream, dict):
        if downstream.get("package"):
            spec["downstream"]["package"] = str(downstream["package"])
        if downstream.get("packageExpr"):
            spec["downstream"]["package"] = _evaluate(downstream["packageExpr"], inputs,
                                                      "template.downstream.packageExpr")
    for name in ("adoptionPolicy", "deletionPolicy"):
        if template.get(name):
            spec[name] = template[name]
    for name in ("labels", "annotations"):
        rendered = _overlay(f"template.{name[:-1]}Exprs", template.get(name), template.get(f"{name[:-1]}Exprs"),
                            inputs)
        if rendered:
            spec[name] = rendered
    context = template.get("packageContext")
    if isinstance(context, dict):
        spec["packageContext"] = _package_context(context, inputs)
    injectors = []
    for i, injector in enumerate(template.get("injectors") or []):
        rendered = {key: injector[key] for key in ("group", "version", "kind") if injector.get(key) is not None}
        rendered["name"] = injector.get("name") or ""
        if injector.get("nameExpr"):
            rendered["name"] = _evaluate(injector["nameExpr"], inputs, f"template.injectors[{i}].nameExpr")
        injectors.append(rendered)
    if injectors:
        spec["injectors"] = injectors
    pipeline = template.get("pipeline")
    if isinstance(pipeline, dict):
        rendered_pipeline = {}
        for list_name in ("validators", "mutators"):
            functions = _functions(f"template.pipeline.{list_name}", pipeline.get(list_name) or [], inputs)
            if functions:
                rendered_pipeline[list_name] = functions
        if rendered_pipeline:
            spec["pipeline"] = rendered_pipeline
    return spec


def _package_context(context: dict[str, Any], inputs: dict[str, Any]) -> Body:
    rendered: Body = {}
    data = _overlay("template.packageContext.dataExprs", context.get("data"), context.get("dataExprs"), inputs)
    if data:
        rendered["data"] = data
    keys = set(context.get("removeKeys") or [])
    for i, expression in enumerate(context.get("removeKeyExprs") or []):
        keys.add(_evaluate(expression, inputs, f"template.packageContext.removeKeyExprs[{i}]"))
    if keys:
        rendered["removeKeys"] = sorted(keys)
    return rendered


def _functions(field_name: str, templates: list[Any], inputs: dict[str, Any]) -> list[Body]:
    functions = []
    for i, function in enumerate(templates):
        rendered = {k: copy.deepcopy(v) for k, v in function.items() if k not in ("configMapExprs", "configMap")}
        config = _overlay(f"{field_name}[{i}].configMapExprs", function.get("configMap"),
                          function.get("configMapExprs"), inputs)
        if config:
            rendered["configMap"] = config
        functions.append(rendered)
    return functions


def _overlay(field_name: str, plain: dict[str, str] | None, expressions: list[Any] | None,
             inputs: dict[str, Any]) -> dict[str, str]:
    """``plain`` with each map expression's key and value set over it, in order."""
    result = dict(plain or {})
    for i, entry in enumerate(expressions or []):
        key, value = entry.get("key") or "", entry.get("value") or ""
        if entry.get("keyExpr") is not None:
            key = _evaluate(entry["keyExpr"], inputs, f"{field_name}[{i}].keyExpr")
        if entry.get("valueExpr") is not None:
            value = _evaluate(entry["valueExpr"], inputs, f"{field_name}[{i}].valueExpr")
        result[key] = value
    return result
