"""Object metadata helpers: name rules, selectors, field matching, JSONPath, patches, timestamps. Pure, no I/O."""

from porch_embedded.meta._fields import FieldMatch, FieldOperator, field_text, text_matches, value_text
from porch_embedded.meta._jsonpath import JsonPath, jsonpath
from porch_embedded.meta._names import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_key_errors,
    label_value_errors,
)
from porch_embedded.meta._patches import PATCH_TYPES, apply_patch, json_merge_patch
from porch_embedded.meta._objects import ObjectKey, format_time, now_rfc3339, parse_time
from porch_embedded.meta._users import UserInfo
from porch_embedded.meta._selectors import (
    FieldRequirement,
    FieldSelector,
    LabelOperator,
    LabelRequirement,
    LabelSelector,
)

__all__ = [
    "FieldMatch",
    "FieldOperator",
    "FieldRequirement",
    "FieldSelector",
    "JsonPath",
    "LabelOperator",
    "LabelRequirement",
    "LabelSelector",
    "ObjectKey",
    "PATCH_TYPES",
    "UserInfo",
    "apply_patch",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "field_text",
    "format_time",
    "json_merge_patch",
    "jsonpath",
    "label_key_errors",
    "label_value_errors",
    "now_rfc3339",
    "parse_time",
    "text_matches",
    "value_text",
]
