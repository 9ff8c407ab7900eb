"""Core v1 kinds served in standalone mode: Namespace, Secret and ConfigMap.

Repository ``secretRef`` names a Secret; without a kube-apiserver we serve Secrets
ourselves (data sealed at rest) and the Namespaces that hold everything. ConfigMaps
are what PackageVariant injectors inject into packages most often (Porch's injection
copies a ConfigMap's ``data``), so users need somewhere to create them.
"""

from __future__ import annotations

import base64
import binascii

from porch_embedded.errors import Cause
from porch_embedded.kinds._common import envelope
from porch_embedded.kinds._kind import Body, Kind, PrinterColumn, SelectableField
from porch_embedded.kinds._schema import array, boolean, obj, string, string_map

__all__ = ["CONFIG_MAP", "NAMESPACE", "SECRET"]


def _namespace_defaults(body: Body) -> None:
    body.setdefault("spec", {})
    status = body.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Active")

NAMESPACE = Kind(
    group="",
    version="v1",
    kind="Namespace",
    plural="namespaces",
    singular="namespace",
    namespaced=False,
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    short_names=("ns",),
    schema=envelope(
        "Namespace", "v1",
        obj({"finalizers": array(string())}),
        obj({"phase": string(enum=["Active", "Terminating"])}),
        "A scope for names; deleting it deletes everything in it.",
    ),
    printer_columns=(
        PrinterColumn("Status", "string", ".status.phase"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    field_selectors={"status.phase": SelectableField(("status", "phase"))},
    subresources=("status",),
    defaults=_namespace_defaults,
)


def _secret_defaults(body: Body) -> None:
    body.setdefault("type", "Opaque")
    string_data = body.pop("stringData", None)
    if isinstance(string_data, dict):
        data = body.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        body["data"] = data


def _base64_causes(values: dict[str, str], field_name: str, hint: str) -> list[Cause]:
    """A cause per value of ``values`` that is not base64; ``hint`` says where plain text goes."""
    causes = []
    for key, value in values.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            causes.append(Cause(f"Invalid value: {key!r}: illegal base64 data{hint}", f"{field_name}[{key}]"))
    return causes


def _immutable_causes(old: Body, new: Body, fields: tuple[str, ...]) -> list[Cause]:
    if old.get("immutable") and any(old.get(f) != new.get(f) for f in fields):
        return [Cause("Forbidden: field is immutable when `immutable` is set", fields[0], "FieldValueForbidden")]
    return []


def _secret_causes(body: Body) -> list[Cause]:
    causes = _base64_causes(body.get("data") or {}, "data", "; use stringData for plain text")
    if body.get("type") == "kubernetes.io/basic-auth":
        data = body.get("data") or {}
        if "username" not in data and "password" not in data:
            causes.append(Cause(
                "Required value: a kubernetes.io/basic-auth Secret needs data.username or data.password",
                "data", "FieldValueRequired",
            ))
    return causes


def _secret_update_causes(old: Body, new: Body) -> list[Cause]:
    if old.get("type") != new.get("type"):
        return [Cause(f"Invalid value: \"{new.get('type')}\": field is immutable", "type")]
    return _immutable_causes(old, new, ("data",))


SECRET = Kind(
    group="",
    version="v1",
    kind="Secret",
    plural="secrets",
    singular="secret",
    namespaced=True,
    schema=envelope(
        "Secret", "v1", None, None,
        "Credentials, e.g. for a Repository's secretRef; data is encrypted at rest.",
        type=string("kubernetes.io/basic-auth (username, password), Opaque (bearerToken), ..."),
        data=string_map("Base64-encoded values."),
        stringData=string_map("Plain values, merged into data on write."),
        immutable=boolean(),
    ),
    printer_columns=(
        PrinterColumn("Type", "string", ".type"),
        PrinterColumn("Data", "integer", ".data.@count"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    field_selectors={"type": SelectableField(("type",))},
    defaults=_secret_defaults,
    validate=_secret_causes,
    validate_update=_secret_update_causes,
    sealed_fields=("data",),
    has_spec_generation=False,
)


def _config_map_causes(body: Body) -> list[Cause]:
    binary = body.get("binaryData") or {}
    causes = [Cause(f"Invalid value: {key!r}: duplicate of key present in binaryData", f"data[{key}]")
              for key in sorted(set(body.get("data") or {}) & set(binary))]
    return causes + _base64_causes(binary, "binaryData", " in binaryData; put text in data")


def _config_map_update_causes(old: Body, new: Body) -> list[Cause]:
    return _immutable_causes(old, new, ("data", "binaryData"))


CONFIG_MAP = Kind(
    group="",
    version="v1",
    kind="ConfigMap",
    plural="configmaps",
    singular="configmap",
    namespaced=True,
    short_names=("cm",),
    schema=envelope(
        "ConfigMap", "v1", None, None,
        "Configuration data, e.g. for a PackageVariant injector to inject into a package.",
        data=string_map("Text values."),
        binaryData=string_map("Base64-encoded values."),
        immutable=boolean(),
    ),
    printer_columns=(
        PrinterColumn("Data", "integer", ".data.@count"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    validate=_config_map_causes,
    validate_update=_config_map_update_causes,
    has_spec_generation=False,
)
