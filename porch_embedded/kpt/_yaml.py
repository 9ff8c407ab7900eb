"""YAML round trips that keep what kpt keeps.

Package files must survive a render byte for byte wherever a function did not change
them, so everything goes through ruamel.yaml's round-trip mode with kpt's (kyaml /
go-yaml v3) conventions imposed (reference kpt.md §2.3, §2.5, §7.3):

- comments, key order, quoting, flow/block style and block scalars are kept;
- long lines are never wrapped; mappings are indented by 2;
- sequence indentation is detected per document (``compact``: dash at the parent
  key's column, ``wide``: two columns in) and re-imposed when dumping;
- the spelling of nulls (``null``, ``~``, empty) is kept per mapping key;
- new strings that would read back as another type (``"true"``, ``"123"``,
  ``""``) are double-quoted, strings that need quoting for syntax only are
  single-quoted, multi-line strings become literal blocks.

Documents are split on ``---`` lines ourselves (not by the parser) so that each
document keeps its own head comment and its own sequence style.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.nodes import MappingNode, ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter

__all__ = [
    "COMPACT",
    "WIDE",
    "YamlError",
    "detect_seqindent",
    "dump_document",
    "dump_json",
    "load_document",
    "parse_yaml",
    "split_documents",
    "to_plain",
]

COMPACT = "compact"
WIDE = "wide"

_NULL_TAG = "tag:yaml.org,2002:null"


class YamlError(ValueError):
    """Text that is not valid YAML; the message names the line, as go-yaml's does."""


class KrmMap(CommentedMap):
    """A round-trip mapping that also remembers how each null value was spelled."""

    __slots__ = ("_nulls",)

    def __deepcopy__(self, memo: Any) -> KrmMap:
        import copy

        res = self.__class__()
        memo[id(self)] = res
        for key in self:
            res[key] = copy.deepcopy(self[key], memo)
        self.copy_attributes(res, memo=memo)
        nulls = getattr(self, "_nulls", None)
        if nulls:
            res._nulls = dict(nulls)
        return res


class _Constructor(RoundTripConstructor):
    """Builds ``KrmMap`` mappings and records null spellings."""

    def construct_yaml_map(self, node: Any) -> Iterator[CommentedMap]:
        data = KrmMap()
        data._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
        yield data
        self.construct_mapping(node, data, deep=True)
        self.set_collection_style(data, node)

    def construct_mapping(self, node: Any, maptyp: Any, deep: bool = False) -> Any:
        result = super().construct_mapping(node, maptyp, deep=deep)
        if isinstance(maptyp, KrmMap):
            nulls: dict[Any, str] = {}
            for key_node, value_node in node.value:
                if isinstance(value_node, ScalarNode) and value_node.tag == _NULL_TAG:
                    key = self.constructed_objects.get(key_node, key_node.value)
                    try:
                        nulls[key] = value_node.value
                    except TypeError:
                        continue
            if nulls:
                maptyp._nulls = nulls
        return result


_Constructor.add_constructor("tag:yaml.org,2002:map", _Constructor.construct_yaml_map)

# go-yaml v3's implicit resolution of plain scalars (what would not read back as a string).
_RESOLVES_NON_STRING = re.compile(
    r"""^(?:
        ~|null|Null|NULL
      | true|True|TRUE|false|False|FALSE
      | [-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)
      | [-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
      | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
      | \d{4}-\d\d?-\d\d?(?:(?:[Tt]|[ \t]+)\d\d?:\d\d:\d\d(?:\.\d*)?(?:[ \t]*(?:Z|[-+]\d\d?(?::\d\d)?))?)?
    )$""",
    re.VERBOSE,
)


def needs_double_quotes(value: str) -> bool:
    """True if go-yaml would double-quote this new string (it would resolve to another type)."""
    return value == "" or bool(_RESOLVES_NON_STRING.match(value))


class _Representer(RoundTripRepresenter):
    """Emits new strings and nulls the way go-yaml v3 does."""

    def represent_str(self, data: Any) -> Any:
        if "\n" in data:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        if needs_double_quotes(data):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return self.represent_scalar("tag:yaml.org,2002:str", data)

    def represent_none(self, data: Any) -> Any:
        return self.represent_scalar(_NULL_TAG, "null")

    def represent_mapping(self, tag: Any, mapping: Any, flow_style: Any = None) -> MappingNode:
        node = super().represent_mapping(tag, mapping, flow_style=flow_style)
        nulls = getattr(mapping, "_nulls", None)
        if nulls:
            keys = list(mapping.non_merged_items() if getattr(mapping, "merge", None) else mapping.keys())
            keys = [k[0] if isinstance(k, tuple) else k for k in keys]
            for key, (_key_node, value_node) in zip(keys, node.value, strict=False):
                if (
                    isinstance(value_node, ScalarNode)
                    and value_node.tag == _NULL_TAG
                    and key in nulls
                    and mapping.get(key, 0) is None
                ):
                    value_node.value = nulls[key]
        return node


_Representer.add_representer(str, _Representer.represent_str)
_Representer.add_representer(type(None), _Representer.represent_none)
_Representer.add_representer(KrmMap, _Representer.represent_dict)

_local = threading.local()


def _yaml(seqindent: str) -> YAML:
    """A configured round-trip YAML instance, one per thread and sequence style."""
    cache: dict[str, YAML] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    yaml = cache.get(seqindent)
    if yaml is None:
        yaml = YAML(typ="rt")
        yaml.Constructor = _Constructor
        yaml.Representer = _Representer
        yaml.preserve_quotes = True
        yaml.width = 1 << 30
        yaml.allow_duplicate_keys = True
        if seqindent == WIDE:
            yaml.indent(mapping=2, sequence=4, offset=2)
        else:
            yaml.indent(mapping=2, sequence=2, offset=0)
        cache[seqindent] = yaml
    return yaml


_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$")


def split_documents(text: str) -> list[str]:
    """Split a multi-document YAML text on ``---`` lines, as kyaml does.

    CRLF becomes LF first. Text after ``---`` on the separator line must be empty or a
    comment, else ``YamlError("invalid document separator")``. Documents are returned
    as written (possibly empty); callers skip the empty ones.
    """
    text = text.replace("\r\n", "\n")
    docs: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        if line.startswith("---"):
            rest = line[3:].strip()
            if _SEPARATOR.match(line) and (not rest or rest.startswith("#")):
                docs.append("\n".join(current))
                current = []
                continue
            if not line[3:4].strip():
                raise YamlError(f"invalid document separator: {line.strip()}")
        current.append(line)
    docs.append("\n".join(current))
    return docs


def detect_seqindent(text: str) -> str:
    """``wide`` if the document's first block sequence is indented under its key, else ``compact``."""
    previous: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if (stripped == "-" or stripped.startswith("- ")) and previous is not None:
            key_line = previous.split(" #", 1)[0].rstrip()
            if key_line.endswith(":") and not key_line.lstrip().startswith("- "):
                key_indent = len(previous) - len(previous.lstrip())
                dash_indent = len(line) - len(line.lstrip())
                return WIDE if dash_indent > key_indent else COMPACT
        previous = line
    return COMPACT


def _normalize_comments(data: Any) -> None:
    """Make end-of-line comments follow their value after one space, as go-yaml writes them.

    ruamel remembers each comment's original column; after a trip through a
    ResourceList (where items sit deeper) that column is wrong, and kpt does not keep
    comment alignment anyway.
    """
    stack = [data]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, (CommentedMap, CommentedSeq)):
            ca = getattr(node, "ca", None)
            if ca is not None:
                tokens: list[Any] = [ca.comment, ca.end, *ca.items.values()]
                while tokens:
                    token = tokens.pop()
                    if token is None:
                        continue
                    if isinstance(token, list):
                        tokens.extend(token)
                    elif isinstance(token, CommentToken) and token.value.startswith("#"):
                        token.start_mark = CommentMark(0)
            stack.extend(node.values() if isinstance(node, dict) else node)


def load_document(text: str) -> Any:
    """Parse one YAML (or JSON) document in round-trip mode; None if it holds no data."""
    try:
        data = _yaml(COMPACT).load(text)
        _normalize_comments(data)
        return data
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(f"yaml: {where}{problem}") from exc


def parse_yaml(text: str | bytes) -> Any:
    """Parse one document (a ResourceList, a function config); bytes are read as UTF-8."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlError(f"not UTF-8 text: {exc}") from exc
    return load_document(text)


def dump_document(data: Any, seqindent: str = COMPACT) -> str:
    """Emit one document (no ``---``) with kpt's conventions; ends with a newline."""
    stream = io.StringIO()
    _yaml(WIDE if seqindent == WIDE else COMPACT).dump(data, stream)
    out = stream.getvalue()
    if out.endswith("\n...\n"):
        out = out[: -len("...\n")]
    return out


def to_plain(data: Any) -> Any:
    """Convert round-trip nodes to plain dict/list/str/int/float/bool/None (for JSON, structs)."""
    if isinstance(data, dict):
        return {str(k) if not isinstance(k, (int, float, bool)) else k: to_plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [to_plain(v) for v in data]
    if isinstance(data, bool) or data is None:
        return data
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    if isinstance(data, str):
        return str(data)
    return data


def dump_json(data: Any) -> str:
    """Emit a resource as 2-space-indented JSON (how kpt writes a ``.json`` resource file)."""
    return json.dumps(to_plain(data), indent=2, ensure_ascii=False) + "\n"


def new_map(pairs: Any = ()) -> KrmMap:
    """A fresh round-trip mapping (for builders that emit new objects)."""
    out = KrmMap()
    for key, value in dict(pairs).items():
        out[key] = value
    return out


def is_map(value: Any) -> bool:
    return isinstance(value, dict)


def is_seq(value: Any) -> bool:
    return isinstance(value, (list, CommentedSeq))



