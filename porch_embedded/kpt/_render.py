"""``kpt fn render`` and ``kpt fn eval`` over an in-memory package.

Render semantics follow kpt (reference kpt.md §3.5-3.7): subpackages are rendered
first, depth-first in alphabetical order; each pipeline sees its own package's
resources plus the rendered resources of its descendants, never a parent's or a
sibling's; mutators run in order and validators get copies they cannot change;
selectors/exclude choose what a step sees and its output is merged back; the first
failing function stops everything and no file is changed.

Functions run through the injected ``FunctionEvaluator``; a function failure is
reported in the ``RenderResult`` (never raised), while a malformed Kptfile raises
``Invalid``/``BadRequest`` because it is the caller's input that is wrong.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from porch_embedded import metrics
from porch_embedded.errors import BadRequest
from porch_embedded.kpt._evaluation import FunctionEvaluator, FunctionOutput
from porch_embedded.kpt._kptfile import KPTFILE, Kptfile, PipelineFunction, Selector, parse_kptfile, scalar_text
from porch_embedded.kpt._package import (
    PackageError,
    Resource,
    default_path,
    krm_error,
    package_dirs,
    read_resources,
    write_resources,
)
from porch_embedded.kpt._resourcelist import (
    ANNOTATION_ID,
    ANNOTATION_INDEX,
    ANNOTATION_LEGACY_ID,
    ANNOTATION_LEGACY_INDEX,
    ANNOTATION_LEGACY_PATH,
    ANNOTATION_PACKAGE_PATH,
    ANNOTATION_PATH,
    ANNOTATION_SEQINDENT,
    INTERNAL_ANNOTATIONS,
    FunctionOutputError,
    FunctionResult,
    FunctionResultList,
    build_resource_list,
    config_map,
    parse_resource_list,
    read_resource_list,
    resource_list_object,
)
from porch_embedded.kpt._yaml import COMPACT, WIDE, new_map

__all__ = ["RenderResult", "eval_function", "render", "selector_matches"]


@dataclass(frozen=True)
class RenderResult:
    """What a render (or eval) produced.

    ``files`` is the whole package after the run: on success every resource file
    rewritten and emptied files pruned; on failure the input, unchanged (the user's
    edit is never lost). ``results`` lists every function that ran, in order;
    ``error`` says what failed and why, or is None.
    """

    files: Mapping[str, str]
    results: FunctionResultList = field(default_factory=FunctionResultList)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _RenderFailed(Exception):
    """Stops the pipeline; the message is the RenderResult's error."""


def selector_matches(selector: Selector, obj: Any) -> bool:
    """True if every non-empty field of ``selector`` equals the object's (labels/annotations: subset)."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    if selector.api_version and scalar_text(obj.get("apiVersion")) != selector.api_version:
        return False
    if selector.kind and scalar_text(obj.get("kind")) != selector.kind:
        return False
    if selector.name and scalar_text(metadata.get("name")) != selector.name:
        return False
    if selector.namespace and scalar_text(metadata.get("namespace")) != selector.namespace:
        return False
    for key, value in ((selector.labels, "labels"), (selector.annotations, "annotations")):
        have = metadata.get(value) if isinstance(metadata.get(value), dict) else {}
        if any(scalar_text(have.get(k)) != v or k not in have for k, v in key.items()):
            return False
    return True


def _package_label(package: str) -> str:
    return package or "."


def _set_annotations(obj: Any, values: Mapping[str, str]) -> None:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = obj["metadata"] = new_map()
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = new_map()
    for key, value in values.items():
        annotations[key] = value


def _pop_annotations(obj: Any) -> dict[str, str]:
    """Remove kpt's internal annotations; return them. An emptied annotations map goes too."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return {}
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        return {}
    found = {}
    for key in list(annotations):
        if key in INTERNAL_ANNOTATIONS:
            found[key] = scalar_text(annotations.pop(key))
    if not annotations:
        del metadata["annotations"]
    return found


def _head_comment(obj: Any) -> Any:
    ca = getattr(obj, "ca", None)
    if ca is None or not ca.comment or len(ca.comment) < 2:
        return None
    return ca.comment[1]


def _strip_head_comment(obj: Any) -> None:
    ca = getattr(obj, "ca", None)
    if ca is not None and ca.comment and len(ca.comment) > 1:
        ca.comment[1] = None


def _restore_head_comment(obj: Any, head: Any) -> None:
    if head is None or _head_comment(obj) or not hasattr(obj, "ca"):
        return
    if not obj.ca.comment:
        obj.ca.comment = [None, head]
    else:
        obj.ca.comment[1] = head


@dataclass
class _Run:
    """State of one render or eval: the evaluator and the results recorded so far."""

    evaluate: FunctionEvaluator
    results: list[FunctionResult] = field(default_factory=list)
    with_package_path: bool = True

    async def step(
        self,
        function: PipelineFunction,
        items: list[Resource],
        package: str,
        function_config: Any | None,
        *,
        validator: bool,
    ) -> list[Resource]:
        """Run one function on ``items`` (already scoped to ``package``); the new items.

        Selected items are annotated, sent, and the output merged back in place of them;
        validators see copies and their output is dropped.
        """
        label = function.resolved_image or function.exec
        role = "validator" if validator else "mutator"
        if function.selectors or function.exclude:
            chosen = [
                i
                for i, r in enumerate(items)
                if (not function.selectors or any(selector_matches(s, r.obj) for s in function.selectors))
                and not any(selector_matches(s, r.obj) for s in function.exclude if not s.is_empty())
            ]
        else:
            chosen = list(range(len(items)))

        sent: dict[str, tuple[int, Resource, Any]] = {}
        objs = []
        for n, i in enumerate(chosen, start=1):
            resource = items[i]
            obj = copy.deepcopy(resource.obj)
            head = _head_comment(obj)
            _strip_head_comment(obj)
            annotations = {
                ANNOTATION_PATH: resource.path,
                ANNOTATION_INDEX: str(resource.index),
                ANNOTATION_LEGACY_PATH: resource.path,
                ANNOTATION_LEGACY_INDEX: str(resource.index),
                ANNOTATION_SEQINDENT: resource.seqindent,
            }
            if self.with_package_path:
                annotations[ANNOTATION_PACKAGE_PATH] = _package_label(resource.package)
            annotations[ANNOTATION_ID] = str(n)
            annotations[ANNOTATION_LEGACY_ID] = str(n)
            _set_annotations(obj, annotations)
            objs.append(obj)
            sent[str(n)] = (i, resource, head)

        try:
            with metrics.timed(metrics.RENDER_FUNCTION_SECONDS, function=label) as timing:
                output, out_items, results, parse_error = await self._evaluate(function, objs, function_config, label)
                if output.exit_code != 0 or parse_error:
                    timing["result"] = "error"
        except Exception as exc:  # the runner could not start the function at all
            self.results.append(
                FunctionResult(
                    image=function.resolved_image,
                    exec=function.exec,
                    stderr=str(exc),
                    exit_code=1,
                    name=function.name,
                    package=package,
                    validator=validator,
                )
            )
            raise _RenderFailed(
                f'package "{_package_label(package)}": {role} "{label}" could not be run: {exc}'
            ) from exc
        self.results.append(
            FunctionResult(
                image=function.resolved_image,
                exec=function.exec,
                stderr=output.stderr,
                exit_code=output.exit_code,
                results=tuple(results),
                name=function.name,
                package=package,
                validator=validator,
            )
        )
        if output.exit_code != 0:
            raise _RenderFailed(
                f'package "{_package_label(package)}": {role} "{label}" failed with exit code '
                f"{output.exit_code}: {_failure_detail(output.stderr, results)}"
            )
        if parse_error:
            raise _RenderFailed(f'package "{_package_label(package)}": {role} "{label}": {parse_error}')
        if validator:
            return items

        produced: list[tuple[str | None, Resource]] = []
        for obj in out_items:
            found = _pop_annotations(obj)
            origin = sent.get(found.get(ANNOTATION_ID) or found.get(ANNOTATION_LEGACY_ID) or "")
            reason = krm_error(obj, found.get(ANNOTATION_PATH, ""))
            if reason:
                raise _RenderFailed(
                    f'package "{_package_label(package)}": {role} "{label}" returned a non-KRM resource: {reason}'
                )
            produced.append((None if origin is None else found.get(ANNOTATION_ID) or found.get(ANNOTATION_LEGACY_ID),
                             self._locate(obj, found, origin, package, label)))
            if origin is not None:
                _restore_head_comment(obj, origin[2])

        by_origin: dict[int, list[Resource]] = {}
        new: list[Resource] = []
        for sent_id, resource in produced:
            if sent_id is None:
                new.append(resource)
            else:
                by_origin.setdefault(sent[sent_id][0], []).append(resource)
        chosen_set = set(chosen)
        merged: list[Resource] = []
        if len(chosen) == len(items):
            merged = [r for _id, r in produced]
        else:
            for i, resource in enumerate(items):
                if i not in chosen_set:
                    merged.append(resource)
                else:
                    merged.extend(by_origin.get(i, ()))
            merged.extend(new)
        _assign_indices(merged)
        return merged

    async def _evaluate(
        self, function: PipelineFunction, objs: list[Any], function_config: Any | None, label: str
    ) -> tuple[FunctionOutput, list[Any], list[dict[str, Any]], str | None]:
        """Run one step: in-process on objects when the evaluator can, else over YAML bytes.

        Returns the output (stdout empty on the in-process path), the output items, the
        results, and why the output could not be read (None when it could).
        """
        in_process = getattr(self.evaluate, "evaluate_in_process", None)
        if in_process is not None:
            config = copy.deepcopy(function_config) if function_config is not None else None
            ran = await in_process(function, resource_list_object(objs, config))
            if ran is not None:
                output = FunctionOutput(b"", ran.stderr, ran.exit_code)
                try:
                    items, results = read_resource_list(ran.resource_list, f'"{label}"')
                except FunctionOutputError as exc:
                    return output, [], [], str(exc)
                return output, items, results, None
        output = await self.evaluate(function, build_resource_list(objs, function_config))
        if not isinstance(output, FunctionOutput):
            output = FunctionOutput(*output)
        try:
            items, results = parse_resource_list(output.stdout, f'"{label}"')
        except FunctionOutputError as exc:
            return output, [], [], str(exc)
        return output, items, results, None

    def _locate(
        self, obj: Any, found: Mapping[str, str], origin: tuple[int, Resource, Any] | None, package: str, label: str
    ) -> Resource:
        """Where an output item lives: path/index from its annotations, else new in ``package``."""
        before = origin[1] if origin is not None else None
        path = found.get(ANNOTATION_PATH)
        legacy = found.get(ANNOTATION_LEGACY_PATH)
        if before is not None and path == before.path and legacy and legacy != before.path:
            path = legacy
        path = path or legacy
        index_text = found.get(ANNOTATION_INDEX)
        legacy_index = found.get(ANNOTATION_LEGACY_INDEX)
        if before is not None and index_text == str(before.index) and legacy_index and legacy_index != index_text:
            index_text = legacy_index
        index_text = index_text or legacy_index
        owner = before.package if before is not None else package
        pkg_path = found.get(ANNOTATION_PACKAGE_PATH)
        if pkg_path and self.with_package_path:
            owner = "" if pkg_path == "." else pkg_path
            if package and owner != package and not owner.startswith(package + "/"):
                raise _RenderFailed(f'function "{label}" must not modify resources outside of package')
        seqindent = found.get(ANNOTATION_SEQINDENT) or (before.seqindent if before is not None else COMPACT)
        if not path:
            return Resource(obj, owner, default_path(obj), -1, seqindent if seqindent in (WIDE, COMPACT) else COMPACT)
        normalized = posixpath.normpath(path)
        if posixpath.isabs(path) or normalized == ".." or normalized.startswith("../"):
            raise _RenderFailed(f'function "{label}" must not modify resources outside of package')
        try:
            index = int(index_text) if index_text is not None else -1
        except ValueError:
            index = -1
        return Resource(obj, owner, normalized, index, seqindent if seqindent in (WIDE, COMPACT) else COMPACT)


def _assign_indices(resources: Sequence[Resource]) -> None:
    """Give resources without an index the next free index of their file."""
    highest: dict[str, int] = {}
    for resource in resources:
        if resource.index >= 0:
            highest[resource.file] = max(highest.get(resource.file, -1), resource.index)
    for resource in resources:
        if resource.index < 0:
            resource.index = highest.get(resource.file, -1) + 1
            highest[resource.file] = resource.index


def _failure_detail(stderr: str, results: Sequence[Mapping[str, Any]]) -> str:
    errors = [str(r.get("message", "")) for r in results if r.get("severity") == "error" and r.get("message")]
    if errors:
        return "; ".join(errors)
    text = stderr.strip()
    return text if text else "no error message"


def _function_config(
    function: PipelineFunction, items: Sequence[Resource], package: str, role: str
) -> Any | None:
    """The functionConfig kpt passes: inline ConfigMap, or the (current) configPath object."""
    if function.config_map is not None:
        return config_map(function.config_map) if function.config_map else None
    if not function.config_path:
        return None
    found = [r for r in items if r.package == package and r.path == function.config_path]
    if not found:
        raise _RenderFailed(
            f'functionConfig resource for {role} "{function.display_name}" is missing from path '
            f'"{function.config_path}", this also occurs if the file is part of a subpackage'
        )
    if len(found) > 1:
        raise _RenderFailed(
            f'functionConfig file "{function.config_path}" must not contain more than one config, got {len(found)}'
        )
    obj = copy.deepcopy(found[0].obj)
    _pop_annotations(obj)
    return obj


def _children(packages: Sequence[str], parent: str) -> list[str]:
    """Direct subpackages of ``parent`` (nearest package ancestor is ``parent``)."""
    pkgs = set(packages)
    out = []
    for pkg in packages:
        if pkg == parent or (parent and not pkg.startswith(parent + "/")):
            continue
        directory = pkg.rsplit("/", 1)[0] if "/" in pkg else ""
        while directory not in pkgs and directory:
            directory = directory.rsplit("/", 1)[0] if "/" in directory else ""
        if directory == parent:
            out.append(pkg)
    return sorted(out)


async def render(files: Mapping[str, str], evaluate: FunctionEvaluator) -> RenderResult:
    """Render the package: run every package's pipeline, subpackages first.

    ``files`` maps root-relative paths to text and must hold a root ``Kptfile``.
    Raises ``BadRequest`` when there is no root Kptfile or a Kptfile is not YAML and
    ``Invalid`` when a Kptfile breaks the schema; every other problem (a function
    failing, bad function output, a non-KRM resource) comes back as ``error``.
    """
    if KPTFILE not in files:
        raise BadRequest("No Kptfile found at the package root")
    packages = package_dirs(files)
    kptfiles: dict[str, Kptfile] = {}
    for pkg in packages:
        path = f"{pkg}/{KPTFILE}" if pkg else KPTFILE
        kptfiles[pkg] = parse_kptfile(files[path], path)

    run = _Run(evaluate)
    try:
        resources, read = read_resources(files)
        rendered = await _hydrate(run, "", packages, kptfiles, resources)
        out = write_resources(files, rendered, read)
    except (_RenderFailed, PackageError) as exc:
        return RenderResult(dict(files), FunctionResultList(tuple(run.results)), str(exc))
    return RenderResult(out, FunctionResultList(tuple(run.results)), None)


async def _hydrate(
    run: _Run, package: str, packages: Sequence[str], kptfiles: Mapping[str, Kptfile], resources: list[Resource]
) -> list[Resource]:
    items = [r for r in resources if r.package == package]
    for child in _children(packages, package):
        items.extend(await _hydrate(run, child, packages, kptfiles, resources))
    kptfile = kptfiles[package]
    for function in kptfile.mutators:
        config = _function_config(function, items, package, "mutator")
        items = await run.step(function, items, package, config, validator=False)
    for function in kptfile.validators:
        config = _function_config(function, items, package, "validator")
        await run.step(function, items, package, config, validator=True)
    return items


async def eval_function(
    files: Mapping[str, str],
    function: PipelineFunction,
    evaluate: FunctionEvaluator,
    *,
    function_config: Any | None = None,
) -> RenderResult:
    """Run one function over every resource of the package tree, as ``kpt fn eval`` does.

    No per-package scoping: paths are relative to the root and Kptfiles are ordinary
    items; no Kptfile is required. The functionConfig is ``function_config`` if given,
    else the step's ``configMap`` (``function-input`` ConfigMap, empty data when
    absent, as kpt's ``-- k=v`` arguments), else its ``configPath`` object, which is
    kept out of the input and left unchanged.
    """
    run = _Run(evaluate, with_package_path=False)
    try:
        resources, read = read_resources(files)
        items = [Resource(r.obj, "", r.file, r.index, r.seqindent) for r in resources]
        held: list[Resource] = []
        config = function_config
        if config is None and function.config_path:
            held = [r for r in items if r.path == function.config_path]
            if len(held) != 1:
                raise _RenderFailed(f'functionConfig file "{function.config_path}" must hold exactly one object')
            config = copy.deepcopy(held[0].obj)
            items = [r for r in items if r not in held]
        elif config is None:
            config = config_map(function.config_map or {})
        items = await run.step(function, items, "", config, validator=False)
        out = write_resources(files, [*items, *held], read)
    except (_RenderFailed, PackageError) as exc:
        return RenderResult(dict(files), FunctionResultList(tuple(run.results)), str(exc))
    return RenderResult(out, FunctionResultList(tuple(run.results)), None)
