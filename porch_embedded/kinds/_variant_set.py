"""config.porch.kpt.dev/v1alpha2 PackageVariantSet: schema and admission checks.

v1alpha2 is Porch's storage version of the kind (its controller reads nothing else).
Porch finds a bad spec only when its controller runs (validate.go, then Stalled=True
ValidationError); here the same checks, with Porch's messages, refuse the object at
admission (422 with one cause per problem), together with what Porch finds only while
rendering: CEL that does not compile, and names that can never be Repository or
package names. The controller runs ``variant_set_causes`` again on what is stored, so
an object written before a check existed still reads as Stalled with the reason.
"""

from __future__ import annotations

from typing import Any

from porch_embedded.errors import Cause, StatusError
from porch_embedded.kinds._cel import cel_compile_error
from porch_embedded.kinds._common import condition_schema, envelope
from porch_embedded.kinds._config import GROUP, _function, _upstream
from porch_embedded.kinds._kind import Body, Kind, PrinterColumn
from porch_embedded.kinds._schema import array, obj, preserve, string, string_map
from porch_embedded.meta import LabelSelector, dns1123_label_errors

__all__ = ["PACKAGE_VARIANT_SET", "variant_set_causes"]

VERSION = "v1alpha2"
_API_VERSION = f"{GROUP}/{VERSION}"

_map_expr = obj({"key": string(), "value": string(), "keyExpr": string("CEL giving the key."),
                 "valueExpr": string("CEL giving the value.")})
_label_selector = obj({
    "matchLabels": string_map(),
    "matchExpressions": array(obj({"key": string(), "operator": string(), "values": array(string())},
                                  required=("key", "operator"))),
})
_function_template = {**_function, "properties": {**_function["properties"], "configMapExprs": array(_map_expr)}}
_template = obj(
    {
        "downstream": obj({"repo": string(), "package": string(), "repoExpr": string(), "packageExpr": string()}),
        "adoptionPolicy": string("adoptNone (default) or adoptExisting."),
        "deletionPolicy": string("delete (default) or orphan."),
        "labels": string_map(),
        "labelExprs": array(_map_expr),
        "annotations": string_map(),
        "annotationExprs": array(_map_expr),
        "packageContext": obj({"data": string_map(), "removeKeys": array(string()),
                               "dataExprs": array(_map_expr), "removeKeyExprs": array(string())}),
        "pipeline": obj({"validators": array(_function_template), "mutators": array(_function_template)}),
        "injectors": array(obj({"group": string(), "version": string(), "kind": string(), "name": string(),
                                "nameExpr": string()})),
    }
)
_target = obj(
    {
        "repositories": array(obj({"name": string(), "packageNames": array(string())}, required=("name",))),
        "repositorySelector": _label_selector,
        "objectSelector": obj({**_label_selector["properties"], "apiVersion": string(), "kind": string(),
                               "name": string()}),
        "template": _template,
    }
)
_spec = obj({"upstream": _upstream, "targets": array(_target)})
_status = obj({"conditions": array(condition_schema)})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def variant_set_causes(body: Body) -> list[Cause]:
    """Everything wrong with a PackageVariantSet spec, Porch's validate.go checks first."""
    spec = _dict(body.get("spec"))
    causes: list[Cause] = []
    upstream = spec.get("upstream")
    if not isinstance(upstream, dict):
        causes.append(Cause("spec.upstream is a required field", "spec.upstream", "FieldValueRequired"))
    else:
        if not upstream.get("package"):
            causes.append(Cause("spec.upstream.package is a required field", "spec.upstream.package",
                                "FieldValueRequired"))
        if not upstream.get("repo"):
            causes.append(Cause("spec.upstream.repo is a required field", "spec.upstream.repo", "FieldValueRequired"))
        if not upstream.get("revision") and not upstream.get("workspaceName"):
            causes.append(Cause("either spec.upstream.revision or spec.upstream.workspaceName must be specified",
                                "spec.upstream", "FieldValueRequired"))
    targets = _list(spec.get("targets"))
    if not targets:
        causes.append(Cause("must specify at least one item in spec.targets", "spec.targets", "FieldValueRequired"))
    for index, target in enumerate(targets):
        causes += _target_causes(index, _dict(target))
    return causes


def _target_causes(index: int, target: dict[str, Any]) -> list[Cause]:
    field = f"spec.targets[{index}]"
    causes: list[Cause] = []
    count = 0
    if target.get("repositories") is not None:
        count += 1
        repositories = _list(target.get("repositories"))
        if not repositories:
            causes.append(Cause(f"{field}.repositories must not be an empty list if specified",
                                f"{field}.repositories"))
        for j, repository in enumerate(repositories):
            repository = _dict(repository)
            name = repository.get("name") or ""
            if not name:
                causes.append(Cause(f"{field}.repositories[{j}].name cannot be empty",
                                    f"{field}.repositories[{j}].name", "FieldValueRequired"))
            else:
                causes += _label_causes(name, f"{field}.repositories[{j}].name", "a Repository name")
            for k, package in enumerate(_list(repository.get("packageNames"))):
                if not package:
                    causes.append(Cause(f"{field}.repositories[{j}].packageNames[{k}] cannot be empty",
                                        f"{field}.repositories[{j}].packageNames[{k}]", "FieldValueRequired"))
                else:
                    causes += _package_causes(str(package), f"{field}.repositories[{j}].packageNames[{k}]")
    if target.get("repositorySelector") is not None:
        count += 1
        causes += _selector_causes(target["repositorySelector"], f"{field}.repositorySelector")
    if target.get("objectSelector") is not None:
        count += 1
        selector = _dict(target["objectSelector"])
        if not selector.get("apiVersion"):
            causes.append(Cause(f"{field}.objectselector.apiVersion cannot be empty",
                                f"{field}.objectSelector.apiVersion", "FieldValueRequired"))
        if not selector.get("kind"):
            causes.append(Cause(f"{field}.objectselector.kind cannot be empty", f"{field}.objectSelector.kind",
                                "FieldValueRequired"))
        causes += _selector_causes(selector, f"{field}.objectSelector")
    if count != 1:
        causes.append(Cause(f"{field} must specify one of `repositories`, `repositorySelector`, or `objectSelector`",
                            field))
    template = target.get("template")
    if isinstance(template, dict):
        causes += _template_causes(template, f"{field}.template")
    return causes


def _template_causes(template: dict[str, Any], field: str) -> list[Cause]:
    causes: list[Cause] = []
    adoption, deletion = template.get("adoptionPolicy"), template.get("deletionPolicy")
    if adoption is not None and adoption not in ("adoptNone", "adoptExisting"):
        causes.append(Cause(f'{field}.adoptionPolicy can only be "adoptNone" or "adoptExisting"',
                            f"{field}.adoptionPolicy", "FieldValueNotSupported"))
    if deletion is not None and deletion not in ("orphan", "delete"):
        causes.append(Cause(f'{field}.deletionPolicy can only be "orphan" or "delete"', f"{field}.deletionPolicy",
                            "FieldValueNotSupported"))
    downstream = template.get("downstream")
    if isinstance(downstream, dict):
        for plain, expression in (("repo", "repoExpr"), ("package", "packageExpr")):
            if downstream.get(plain) is not None and downstream.get(expression) is not None:
                causes.append(Cause(f"{field} may specify only one of `downstream.{plain}` and "
                                    f"`downstream.{expression}`", f"{field}.downstream"))
            causes += _expression_causes(downstream.get(expression), f"{field}.downstream.{expression}")
        if downstream.get("repo"):
            causes += _label_causes(str(downstream["repo"]), f"{field}.downstream.repo", "a Repository name")
        if downstream.get("package"):
            causes += _package_causes(str(downstream["package"]), f"{field}.downstream.package")
    for name in ("labelExprs", "annotationExprs"):
        causes += _map_expr_causes(template.get(name), f"{field}.{name}")
    context = template.get("packageContext")
    if isinstance(context, dict):
        causes += _map_expr_causes(context.get("dataExprs"), f"{field}.packageContext.dataExprs")
        for i, expression in enumerate(_list(context.get("removeKeyExprs"))):
            causes += _expression_causes(expression, f"{field}.packageContext.removeKeyExprs[{i}]")
    for i, injector in enumerate(_list(template.get("injectors"))):
        injector = _dict(injector)
        if injector.get("name") is not None and injector.get("nameExpr") is not None:
            causes.append(Cause(f"{field}.injectors[{i}] may specify only one of `name` and `nameExpr`",
                                f"{field}.injectors[{i}]"))
        if injector.get("name") is None and injector.get("nameExpr") is None:
            causes.append(Cause(f"{field}.injectors[{i}] must specify either `name` or `nameExpr`",
                                f"{field}.injectors[{i}]", "FieldValueRequired"))
        causes += _expression_causes(injector.get("nameExpr"), f"{field}.injectors[{i}].nameExpr")
    pipeline = template.get("pipeline")
    if isinstance(pipeline, dict):
        for list_name in ("validators", "mutators"):
            for i, function in enumerate(_list(pipeline.get(list_name))):
                function, at = _dict(function), f"{field}.pipeline.{list_name}[{i}]"
                if not function.get("image"):
                    causes.append(Cause(f"{at}.image must not be empty", f"{at}.image", "FieldValueRequired"))
                if "." in str(function.get("name") or ""):
                    causes.append(Cause(f"{at}.name must not contain '.'", f"{at}.name"))
                causes += _map_expr_causes(function.get("configMapExprs"), f"{at}.configMapExprs")
    return causes


def _map_expr_causes(entries: Any, field: str) -> list[Cause]:
    causes: list[Cause] = []
    for j, entry in enumerate(_list(entries)):
        entry = _dict(entry)
        if entry.get("key") is not None and entry.get("keyExpr") is not None:
            causes.append(Cause(f"{field}[{j}] may specify only one of `key` and `keyExpr`", f"{field}[{j}]"))
        if entry.get("value") is not None and entry.get("valueExpr") is not None:
            causes.append(Cause(f"{field}[{j}] may specify only one of `value` and `valueExpr`", f"{field}[{j}]"))
        causes += _expression_causes(entry.get("keyExpr"), f"{field}[{j}].keyExpr")
        causes += _expression_causes(entry.get("valueExpr"), f"{field}[{j}].valueExpr")
    return causes


def _expression_causes(expression: Any, field: str) -> list[Cause]:
    if not isinstance(expression, str) or not expression:
        return []
    error = cel_compile_error(expression)
    return [Cause(f"Invalid value: \"{expression}\": {field} is not a valid CEL expression: {error}", field)] \
        if error else []


def _label_causes(name: str, field: str, what: str) -> list[Cause]:
    return [Cause(f"Invalid value: \"{name}\": {field} must be {what}, a DNS label: {error}", field)
            for error in dns1123_label_errors(name)]


def _package_causes(package: str, field: str) -> list[Cause]:
    """A package path: DNS labels joined by '/' (the downstream PackageRevision's packageName)."""
    parts = package.split("/")
    for part in parts:
        errors = dns1123_label_errors(part)
        if errors:
            return [Cause(f"Invalid value: \"{package}\": {field} must be a package name, DNS labels joined "
                          f"by '/': \"{part}\": {errors[0]}", field)]
    return []


def _selector_causes(selector: Any, field: str) -> list[Cause]:
    try:
        LabelSelector.from_json({k: v for k, v in _dict(selector).items()
                                 if k in ("matchLabels", "matchExpressions")})
    except StatusError as error:
        return [Cause(f"Invalid value: {field}: {error.message}", field)]
    return []


PACKAGE_VARIANT_SET = Kind(
    group=GROUP,
    version=VERSION,
    kind="PackageVariantSet",
    plural="packagevariantsets",
    singular="packagevariantset",
    namespaced=True,
    categories=("porch",),
    schema=envelope("PackageVariantSet", _API_VERSION, _spec, _status,
                    "Fans an upstream package out into PackageVariants over many repositories."),
    printer_columns=(
        PrinterColumn("Upstream", "string", ".spec.upstream.package"),
        PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    subresources=("status",),
    validate=variant_set_causes,
)
