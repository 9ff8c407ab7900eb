"""The Kptfile (kpt.dev/v1): strict parsing and validation with kpt's messages.

kpt decodes a Kptfile strictly (an unknown field is an error) and validates every
pipeline step before running anything (reference kpt.md §1, §1.8). We do the same
so that a bad Kptfile is refused with a message that says what to fix, and never
half-renders. Parse errors raise ``BadRequest``; schema and validation errors raise
``Invalid`` whose cause names the offending field.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from porch_embedded.errors import BadRequest, Cause, Invalid
from porch_embedded.kpt._yaml import YamlError, load_document, to_plain

_CLoader: Any = getattr(yaml, "CSafeLoader", None)
if _CLoader is None:  # PyYAML without libyaml: read_kptfile always takes parse_kptfile's path
    _CLoader = yaml.SafeLoader
    _HAS_LIBYAML = False
else:
    _HAS_LIBYAML = True

__all__ = [
    "DEFAULT_IMAGE_PREFIX",
    "KPTFILE",
    "KPTFILE_API_VERSION",
    "Condition",
    "Kptfile",
    "PipelineFunction",
    "Selector",
    "kptfile_from_object",
    "parse_kptfile",
    "read_kptfile",
    "scalar_text",
    "yaml_kind",
]

DEFAULT_IMAGE_PREFIX = "ghcr.io/kptdev/krm-functions-catalog/"
KPTFILE = "Kptfile"
KPTFILE_API_VERSION = "kpt.dev/v1"

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Selector:
    """One entry of a step's ``selectors`` or ``exclude``: all non-empty fields must match."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def is_empty(self) -> bool:
        """An empty entry matches nothing in ``exclude`` (kpt skips it)."""
        return not (self.api_version or self.kind or self.name or self.namespace or self.labels or self.annotations)


@dataclass(frozen=True)
class PipelineFunction:
    """One step of ``pipeline.mutators`` or ``pipeline.validators``.

    ``image`` is the reference as written in the Kptfile; ``resolved_image`` is what
    kpt runs and records in results (catalog prefix added when the name has no
    ``/``, ``:latest`` when untagged, ``tag`` applied). ``config_map`` None means no
    ``configMap`` was given; an empty one means "no functionConfig" as in kpt.
    """

    image: str = ""
    exec: str = ""
    name: str = ""
    tag: str = ""
    config_map: Mapping[str, str] | None = None
    config_path: str = ""
    selectors: tuple[Selector, ...] = ()
    exclude: tuple[Selector, ...] = ()

    @property
    def resolved_image(self) -> str:
        """The image kpt would run: default catalog prefix and ``:latest`` added as needed."""
        image = self.image
        if not image:
            return ""
        if "/" not in image:
            image = DEFAULT_IMAGE_PREFIX + image
        if self.tag:
            base = image.split("@", 1)[0]
            head, _, last = base.rpartition("/")
            if ":" in last:
                last = last[: last.rfind(":")]
            return f"{head}/{last}:{self.tag}"
        last = image.rsplit("/", 1)[-1]
        if ":" not in last and "@" not in last:
            image += ":latest"
        return image

    @property
    def display_name(self) -> str:
        """How messages name the step: its ``name``, else its image, else its exec."""
        return self.name or self.image or self.exec


@dataclass(frozen=True)
class Condition:
    """One ``status.conditions`` entry."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class Kptfile:
    """A parsed, validated Kptfile. ``raw`` is the whole object as plain data."""

    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    upstream: Mapping[str, Any] | None = None
    upstream_lock: Mapping[str, Any] | None = None
    info: Mapping[str, Any] | None = None
    readiness_gates: tuple[str, ...] = ()
    mutators: tuple[PipelineFunction, ...] = ()
    validators: tuple[PipelineFunction, ...] = ()
    inventory: Mapping[str, Any] | None = None
    conditions: tuple[Condition, ...] = ()
    render_status: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def annotation_true(self, key: str) -> bool:
        """An annotation read as kpt does: case-insensitive ``true``."""
        return str(self.annotations.get(key, "")).strip().lower() == "true"


# Strict decoding: the fields of each kpt struct, named as kpt's errors name the types.
_FIELDS: dict[str, frozenset[str]] = {
    "v1.KptFile": frozenset(
        {"apiVersion", "kind", "metadata", "upstream", "upstreamLock", "info", "pipeline", "inventory", "status"}
    ),
    "v1.Upstream": frozenset({"type", "git", "updateStrategy", "generic"}),
    "v1.Git": frozenset({"repo", "directory", "ref"}),
    "v1.UpstreamLock": frozenset({"type", "git", "generic"}),
    "v1.GitLock": frozenset({"repo", "directory", "ref", "commit"}),
    "v1.PackageInfo": frozenset(
        {"site", "emails", "license", "licenseFile", "description", "keywords", "man", "readinessGates"}
    ),
    "v1.ReadinessGate": frozenset({"conditionType"}),
    "v1.Pipeline": frozenset({"mutators", "validators"}),
    "v1.Function": frozenset(
        {"image", "exec", "configPath", "configMap", "name", "tag", "selectors", "exclude"}
    ),
    "v1.Selector": frozenset({"apiVersion", "kind", "name", "namespace", "labels", "annotations"}),
    "v1.Inventory": frozenset({"namespace", "name", "inventoryID", "labels", "annotations"}),
    "v1.Status": frozenset({"conditions", "renderStatus"}),
    "v1.Condition": frozenset({"type", "status", "reason", "message"}),
}

_UPDATE_STRATEGIES = frozenset({"resource-merge", "fast-forward", "force-delete-replace", "copy-merge"})

# distribution/reference grammar (domain, path components, tag, digest).
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_IMAGE_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,})?$"
)


def _invalid(field_path: str, reason: str, value: str = "") -> Invalid:
    lines = ["Kptfile is invalid:", f"Field: `{field_path}`"]
    if value:
        lines.append(f'Value: "{value}"')
    lines.append(f"Reason: {reason}")
    return Invalid("\n".join(lines), causes=[Cause(message=reason, field=field_path)])


def _strict(obj: Any, type_name: str, where: str) -> dict[str, Any]:
    """Check ``obj`` is a mapping with only the fields of kpt's ``type_name``."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise _invalid(where, f"cannot unmarshal {yaml_kind(obj)} into {type_name}")
    allowed = _FIELDS[type_name]
    for key in obj:
        if key not in allowed:
            raise Invalid(
                f"Kptfile is invalid: field {key} not found in type {type_name}",
                causes=[Cause(message=f"field {key} not found in type {type_name}", field=f"{where}.{key}".lstrip("."))],
            )
    return obj


def yaml_kind(value: Any) -> str:
    """The YAML tag a parsed value would carry (``!!map``, ``!!str``, ...), as go-yaml names it."""
    if isinstance(value, dict):
        return "!!map"
    if isinstance(value, list):
        return "!!seq"
    if isinstance(value, bool):
        return "!!bool"
    if isinstance(value, int):
        return "!!int"
    if isinstance(value, float):
        return "!!float"
    if value is None:
        return "!!null"
    return "!!str"


def scalar_text(value: Any) -> str:
    """A scalar as the text it was written with (``true`` stays ``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _string(value: Any, where: str) -> str:
    if isinstance(value, (dict, list)):
        raise _invalid(where, f"cannot unmarshal {yaml_kind(value)} into string")
    return scalar_text(value)


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(where, f"cannot unmarshal {yaml_kind(value)} into map[string]string")
    return {str(k): _string(v, f"{where}.{k}") for k, v in value.items()}


def _selector(obj: Any, where: str) -> Selector:
    obj = _strict(obj, "v1.Selector", where)
    return Selector(
        api_version=_string(obj.get("apiVersion"), f"{where}.apiVersion"),
        kind=_string(obj.get("kind"), f"{where}.kind"),
        name=_string(obj.get("name"), f"{where}.name"),
        namespace=_string(obj.get("namespace"), f"{where}.namespace"),
        labels=MappingProxyType(_string_map(obj.get("labels"), f"{where}.labels")),
        annotations=MappingProxyType(_string_map(obj.get("annotations"), f"{where}.annotations")),
    )


def _selectors(value: Any, where: str) -> tuple[Selector, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid(where, f"cannot unmarshal {yaml_kind(value)} into []v1.Selector")
    return tuple(_selector(entry, f"{where}[{i}]") for i, entry in enumerate(value))


def _function(obj: Any, where: str) -> PipelineFunction:
    obj = _strict(obj, "v1.Function", where)
    image = _string(obj.get("image"), f"{where}.image").strip()
    exec_ = _string(obj.get("exec"), f"{where}.exec").strip()
    if not image and not exec_:
        raise _invalid(where, "must specify a functon (`image` or `exec`) to execute")
    if image and exec_:
        raise _invalid(where, "must not specify both `image` and `exec` at the same time")
    if image and not _IMAGE_RE.match(image):
        raise _invalid(f"{where}.image", f'function image reference "{image}" is invalid', image)
    config_map = obj.get("configMap")
    config_path = _string(obj.get("configPath"), f"{where}.configPath")
    if config_map is not None and config_path:
        raise _invalid(where, "functionConfig must not specify both `configMap` and `configPath` at the same time")
    if config_path:
        cleaned = posixpath.normpath(config_path)
        if posixpath.isabs(config_path):
            raise _invalid(f"{where}.configPath", "path must be relative", config_path)
        if cleaned == ".." or cleaned.startswith("../") or ".." in config_path.split("/"):
            raise _invalid(f"{where}.configPath", "path must not be outside the package", config_path)
        config_path = cleaned
    return PipelineFunction(
        image=image,
        exec=exec_,
        name=_string(obj.get("name"), f"{where}.name"),
        tag=_string(obj.get("tag"), f"{where}.tag"),
        config_map=(
            MappingProxyType(_string_map(config_map, f"{where}.configMap")) if config_map is not None else None
        ),
        config_path=config_path,
        selectors=_selectors(obj.get("selectors"), f"{where}.selectors"),
        exclude=_selectors(obj.get("exclude"), f"{where}.exclude"),
    )


def _functions(value: Any, where: str) -> tuple[PipelineFunction, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid(where, f"cannot unmarshal {yaml_kind(value)} into []v1.Function")
    return tuple(_function(entry, f"{where}[{i}]") for i, entry in enumerate(value))


def kptfile_from_object(obj: Any, path: str = KPTFILE) -> Kptfile:
    """Validate an already parsed Kptfile object (plain or round-trip mapping).

    Raises ``Invalid`` naming the field for anything kpt would refuse.
    """
    if not isinstance(obj, dict):
        raise Invalid(f"{path}: Kptfile is invalid: expected a mapping, got {yaml_kind(obj)}")
    api_version = scalar_text(obj.get("apiVersion"))
    kind = scalar_text(obj.get("kind"))
    if kind == "Kptfile" and api_version in ("kpt.dev/v1alpha1", "kpt.dev/v1alpha2"):
        version = api_version.split("/", 1)[1]
        raise Invalid(
            f'{path}: the Kptfile has an old version ("{version}") of the Kptfile schema; '
            "update the package to kpt.dev/v1"
        )
    if api_version != KPTFILE_API_VERSION or kind != "Kptfile":
        raise Invalid(
            f'{path}: unknown resource type "{api_version}, Kind={kind}": a Kptfile must have '
            f"apiVersion {KPTFILE_API_VERSION} and kind Kptfile"
        )
    _strict(obj, "v1.KptFile", "")
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _invalid("metadata", f"cannot unmarshal {yaml_kind(metadata)} into yaml.ObjectMeta")

    upstream = _strict(obj.get("upstream"), "v1.Upstream", "upstream")
    if upstream:
        _strict(upstream.get("git"), "v1.Git", "upstream.git")
        strategy = scalar_text(upstream.get("updateStrategy"))
        if strategy and strategy not in _UPDATE_STRATEGIES:
            raise _invalid("upstream.updateStrategy", f'unknown update strategy "{strategy}"', strategy)
    lock = _strict(obj.get("upstreamLock"), "v1.UpstreamLock", "upstreamLock")
    if lock:
        _strict(lock.get("git"), "v1.GitLock", "upstreamLock.git")

    info = _strict(obj.get("info"), "v1.PackageInfo", "info")
    gates: list[str] = []
    raw_gates = info.get("readinessGates") if info else None
    if raw_gates is not None:
        if not isinstance(raw_gates, list):
            raise _invalid("info.readinessGates", f"cannot unmarshal {yaml_kind(raw_gates)} into []v1.ReadinessGate")
        for i, gate in enumerate(raw_gates):
            gate = _strict(gate, "v1.ReadinessGate", f"info.readinessGates[{i}]")
            gates.append(_string(gate.get("conditionType"), f"info.readinessGates[{i}].conditionType"))

    pipeline = _strict(obj.get("pipeline"), "v1.Pipeline", "pipeline")
    inventory = _strict(obj.get("inventory"), "v1.Inventory", "inventory")
    if inventory and not all(inventory.get(k) for k in ("name", "namespace", "inventoryID")):
        raise _invalid("inventory", "inventory name, namespace and inventoryID are required if any is set")

    status = _strict(obj.get("status"), "v1.Status", "status")
    conditions: list[Condition] = []
    raw_conditions = status.get("conditions") if status else None
    if raw_conditions is not None:
        if not isinstance(raw_conditions, list):
            raise _invalid("status.conditions", f"cannot unmarshal {yaml_kind(raw_conditions)} into []v1.Condition")
        for i, cond in enumerate(raw_conditions):
            cond = _strict(cond, "v1.Condition", f"status.conditions[{i}]")
            conditions.append(
                Condition(
                    type=scalar_text(cond.get("type")),
                    status=scalar_text(cond.get("status")),
                    reason=scalar_text(cond.get("reason")),
                    message=scalar_text(cond.get("message")),
                )
            )

    plain = to_plain(obj)
    return Kptfile(
        name=scalar_text(metadata.get("name")),
        namespace=scalar_text(metadata.get("namespace")),
        labels=MappingProxyType(_string_map(metadata.get("labels"), "metadata.labels")),
        annotations=MappingProxyType(_string_map(metadata.get("annotations"), "metadata.annotations")),
        upstream=plain.get("upstream"),
        upstream_lock=plain.get("upstreamLock"),
        info=plain.get("info"),
        readiness_gates=tuple(gates),
        mutators=_functions(pipeline.get("mutators"), "pipeline.mutators"),
        validators=_functions(pipeline.get("validators"), "pipeline.validators"),
        inventory=plain.get("inventory"),
        conditions=tuple(conditions),
        render_status=(plain.get("status") or {}).get("renderStatus"),
        raw=MappingProxyType(plain),
    )


class _StringsLoader(_CLoader):
    """libyaml's parser building plain dicts, lists and strings, refusing duplicate keys."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        keys = [key.value for key, _value in node.value]
        if len(keys) != len(set(keys)):
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", node.start_mark)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


_NUMBER_IN_YAML_1_2 = re.compile(r"[-+]?(?:0o[0-7]+|[0-9]+[eE][-+]?[0-9]+)")
"""Plain scalars that YAML 1.1 (libyaml's resolver) reads as text but YAML 1.2 (ruamel) as numbers."""


def _only_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_only_strings(k) and _only_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_only_strings(item) for item in value)
    return isinstance(value, str) and not _NUMBER_IN_YAML_1_2.fullmatch(value)


def read_kptfile(text: str, path: str = KPTFILE) -> Kptfile:
    """``parse_kptfile`` for reading only: the same result, ~20 times faster for a usual Kptfile.

    A repository's first sync reads one Kptfile per revision, and ruamel's round-trip
    parser (which keeps comments and layout for writing back) costs milliseconds each.
    A Kptfile whose every key and value is text in both YAML 1.1 and 1.2 reads the same
    with libyaml's C parser; any other (numbers, booleans, nulls, dates, anchors that do
    not resolve to text, more than one document, a parse error) goes through
    ``parse_kptfile``, so errors and edge cases are exactly its own.
    """
    if _HAS_LIBYAML:
        try:
            obj = yaml.load(text, Loader=_StringsLoader)  # noqa: S506 - a safe loader (SafeConstructor)
        except yaml.YAMLError:
            obj = None
        if isinstance(obj, dict) and _only_strings(obj):
            return kptfile_from_object(obj, path)
    return parse_kptfile(text, path)


def parse_kptfile(text: str, path: str = KPTFILE) -> Kptfile:
    """Parse and validate a Kptfile's text.

    Raises ``BadRequest`` when the text is not YAML (``<path> can't be read``) and
    ``Invalid`` when it breaks the schema or a pipeline rule.
    """
    try:
        obj = load_document(text)
    except YamlError as exc:
        raise BadRequest(f"{path} can't be read: {exc}") from exc
    if obj is None:
        raise Invalid(f"{path}: Kptfile is empty")
    return kptfile_from_object(obj, path)
