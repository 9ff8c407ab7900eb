"""Run a catalog conformance case directly against one in-process builtin.

A case is a catalog test package with ``.expected/``, in
``tests/kpt/conformance/cases/<function>/<case>/`` (shared with the renderer-level
harness) or, for the few that harness cannot run, ``data/<function>/<case>/``. The
helper reads its KRM files as kpt would (path and index annotations), builds the
functionConfig the way kpt does for the case (Kptfile ``configPath``/``configMap``, eval
``args``, or an ``fnConfig`` file), calls the builtin, and writes the items back into
files. The expected tree is the input with ``.expected/diff.patch`` applied by
``git apply``. Files are compared as YAML documents including comments, after both sides
pass through the same ruamel emitter (kpt's exact byte layout is the renderer's concern).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from porch_embedded.kpt.functions import BUILTINS, FunctionExit

CASES = Path(__file__).parents[1] / "conformance" / "cases"
"""Catalog cases the renderer-level harness (tests/kpt/conformance) also runs."""
DATA = Path(__file__).parent / "data"
"""Catalog cases that harness cannot run yet (see README.md)."""


def case_dir(function: str, case: str) -> Path:
    """The directory of catalog ``case`` of ``function``, in the shared case tree or ``data/``."""
    for root in (CASES, DATA):
        if (root / function / case / ".expected").is_dir():
            return root / function / case
    raise AssertionError(f"no catalog case {function}/{case} under {CASES} or {DATA}")
_PATH = "internal.config.kubernetes.io/path"
_INDEX = "internal.config.kubernetes.io/index"
_LEGACY_PATH = "config.kubernetes.io/path"
_LEGACY_INDEX = "config.kubernetes.io/index"
_TRANSIENT = (_PATH, _INDEX, _LEGACY_PATH, _LEGACY_INDEX, "internal.config.kubernetes.io/seqindent")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 20
    yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def _is_resource_file(path: Path) -> bool:
    return path.name == "Kptfile" or path.suffix in (".yaml", ".yml")


def read_package(root: Path) -> dict[str, list[Any]]:
    """Every KRM document under ``root`` by slash path (``.expected`` and ``results`` skipped)."""
    files: dict[str, list[Any]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or not _is_resource_file(path) or rel.startswith((".expected/", "results/")):
            continue
        docs = [doc for doc in _yaml().load_all(path.read_text()) if doc is not None]
        files[rel] = docs
    return files


def _annotate(item: Any, path: str, index: int) -> None:
    metadata = item.setdefault("metadata", CommentedMap())
    notes = metadata.setdefault("annotations", CommentedMap())
    for key, value in ((_PATH, path), (_INDEX, str(index)), (_LEGACY_PATH, path), (_LEGACY_INDEX, str(index))):
        notes[key] = value


def _strip(item: Any) -> None:
    metadata = item.get("metadata")
    if not isinstance(metadata, Mapping):
        return
    notes = metadata.get("annotations")
    if isinstance(notes, Mapping):
        for key in _TRANSIENT:
            notes.pop(key, None)
        if not notes:
            del metadata["annotations"]


def _default_path(item: Any) -> str:
    metadata = item.get("metadata") or {}
    name = f"{str(item.get('kind', '')).lower()}_{metadata.get('name', '')}.yaml"
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def write_package(items: list[Any]) -> dict[str, list[Any]]:
    """Group output items into files by their path/index annotations, as kpt writes them."""
    placed: dict[str, list[tuple[int, Any]]] = {}
    for item in items:
        notes = (item.get("metadata") or {}).get("annotations") or {}
        path = notes.get(_PATH) or notes.get(_LEGACY_PATH) or _default_path(item)
        index = int(notes.get(_INDEX) or notes.get(_LEGACY_INDEX) or len(placed.get(path, [])))
        _strip(item)
        placed.setdefault(str(path), []).append((index, item))
    return {path: [item for _, item in sorted(docs, key=lambda pair: pair[0])] for path, docs in placed.items()}


def normalise(doc: Any) -> str:
    """One document as text from a fixed emitter, with line-comment spacing folded."""
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    text = re.sub(r"[ \t]+#", " #", buffer.getvalue())
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip()) + "\n"


def _selected(item: Any, selectors: list[Mapping[str, Any]]) -> bool:
    if not selectors:
        return True
    for selector in selectors:
        if all(
            (key != "kind" or item.get("kind") == value) and (key != "name" or item["metadata"].get("name") == value)
            for key, value in selector.items()
        ):
            return True
    return False


@dataclass
class CaseRun:
    """The outcome of one case: output files, results and the expected side."""

    name: str
    resource_list: Any
    actual: dict[str, list[Any]]
    expected: dict[str, list[Any]] | None
    expected_results: list[Any] | None
    expected_exit: int
    returned: FunctionExit | None = None
    expected_stderr: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def results(self) -> list[Any]:
        return list(self.resource_list.get("results") or [])

    @property
    def failed(self) -> bool:
        return any(result.get("severity") == "error" for result in self.results)

    def assert_files(self, *, ignore: tuple[str, ...] = ()) -> None:
        assert self.expected is not None
        actual = {path: [normalise(doc) for doc in docs] for path, docs in self.actual.items() if path not in ignore}
        expected = {path: [normalise(doc) for doc in docs] for path, docs in self.expected.items() if path not in ignore}
        assert actual == expected

    def assert_results(self) -> None:
        assert self.expected_results is not None
        got = [_plain(result) for result in self.results]
        assert got == [_plain(result) for result in self.expected_results]

    @property
    def stderr(self) -> str:
        """The stderr the builtin handed back (through ``FunctionExit``), '' if none."""
        return self.returned.stderr if self.returned is not None else ""

    def check(self, *, ignore: tuple[str, ...] = ()) -> None:
        """Exit code, results (when pinned) and files (when the run succeeds)."""
        assert int(self.failed) == self.expected_exit, self.results
        if self.expected_results is not None:
            self.assert_results()
        if not self.failed:
            self.assert_files(ignore=ignore)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(val) for key, val in value.items()}
    if isinstance(value, list):
        return [_plain(val) for val in value]
    return value


def _config_map(data: Mapping[str, Any]) -> CommentedMap:
    config = CommentedMap()
    config["apiVersion"] = "v1"
    config["kind"] = "ConfigMap"
    config["metadata"] = CommentedMap(name="function-input")
    config["data"] = CommentedMap((str(key), "" if value is None else str(value)) for key, value in data.items())
    return config


def run_case(
    function: str,
    case: str,
    tmp_path: Path,
    *,
    args: Mapping[str, str] | None = None,
    fn_config: str | None = None,
    fn_config_in_items: bool = False,
) -> CaseRun:
    """Run catalog ``case`` of ``function`` on the builtin and read the expected outcome.

    ``args`` / ``fn_config`` stand in for an ``exec.sh`` eval command line; otherwise the
    case's ``config.yaml`` (eval) or Kptfile pipeline (render) says how kpt calls it.
    """
    source = case_dir(function, case)
    expected_dir = source / ".expected"
    config = _yaml().load((expected_dir / "config.yaml").read_text()) if (expected_dir / "config.yaml").exists() else None
    config = config if isinstance(config, Mapping) else {}
    files = read_package(source)

    selectors: list[Mapping[str, Any]] = []
    function_config: Any = None
    exclude: str | None = None
    if args is None and fn_config is None and config.get("testType") == "eval":
        if config.get("fnConfig"):
            fn_config = (expected_dir / str(config["fnConfig"])).resolve().relative_to(source.resolve()).as_posix()
        else:
            args = dict(config.get("args") or {})
    if fn_config is not None:
        function_config = files[fn_config][0]
        if not fn_config_in_items:
            exclude = fn_config
    elif args is not None:
        function_config = _config_map(args)
    else:
        step = _pipeline_step(files["Kptfile"][0], function)
        selectors = list(step.get("selectors") or [])
        if step.get("configPath"):
            function_config = files[str(step["configPath"])][0]
        elif step.get("configMap") is not None:
            function_config = _config_map(step["configMap"])

    items = CommentedSeq()
    for path, docs in files.items():
        if path == exclude:
            continue
        for index, doc in enumerate(docs):
            _annotate(doc, path, index)
            items.append(doc)
    chosen = CommentedSeq(item for item in items if _selected(item, selectors))
    resource_list = CommentedMap()
    resource_list["apiVersion"] = "config.kubernetes.io/v1"
    resource_list["kind"] = "ResourceList"
    resource_list["items"] = chosen
    if function_config is not None:
        resource_list["functionConfig"] = function_config
    returned = BUILTINS[function](resource_list)
    output = list(resource_list["items"]) + [item for item in items if not _selected(item, selectors)]
    if function_config is not None and exclude is not None:
        _annotate(function_config, exclude, 0)
        output.append(function_config)

    expected_results = None
    expected_stderr = None
    if (expected_dir / "results.yaml").exists():
        listing = _yaml().load((expected_dir / "results.yaml").read_text())
        expected_results = list(listing["items"][0].get("results") or [])
        expected_stderr = str(listing["items"][0].get("stderr") or "")
    return CaseRun(
        name=f"{function}/{case}",
        resource_list=resource_list,
        actual=write_package(output),
        expected=_expected_files(source, tmp_path),
        expected_results=expected_results,
        expected_exit=int(config.get("exitCode") or 0),
        returned=returned if isinstance(returned, FunctionExit) else None,
        expected_stderr=expected_stderr,
    )


def _pipeline_step(kptfile: Mapping[str, Any], function: str) -> Mapping[str, Any]:
    pipeline = kptfile.get("pipeline") or {}
    for step in list(pipeline.get("mutators") or []) + list(pipeline.get("validators") or []):
        if function in str(step.get("image", "")):
            return step
    raise AssertionError(f"no {function} step in the Kptfile pipeline")


def _expected_files(source: Path, tmp_path: Path) -> dict[str, list[Any]]:
    work = tmp_path / "expected"
    shutil.copytree(source, work, ignore=shutil.ignore_patterns(".expected"))
    patch = source / ".expected" / "diff.patch"
    if patch.exists() and patch.read_text().strip():
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        subprocess.run(["git", "apply", "--whitespace=nowarn", str(patch)], cwd=work, check=True)
        shutil.rmtree(work / ".git")
    return read_package(work)


@pytest.fixture
def case_path() -> Callable[[str, str], Path]:
    """``case_path(function, case)``: the directory of a catalog case (see case_dir)."""
    return case_dir


@pytest.fixture
def catalog_case(tmp_path: Path) -> Callable[..., CaseRun]:
    """``catalog_case(function, case, **how)`` runs one ported catalog case."""

    def run(function: str, case: str, **how: Any) -> CaseRun:
        return run_case(function, case, tmp_path / case.replace("/", "_"), **how)

    return run


@dataclass
class BuiltinRun:
    """Items (as normalised text) and results after calling a builtin on inline YAML."""

    text: str
    results: list[Any]

    @property
    def messages(self) -> list[str]:
        return [str(result["message"]) for result in self.results]


def call_builtin(function: str, documents: str, function_config: Any) -> BuiltinRun:
    """Call builtin ``function`` on the documents of ``documents`` with ``function_config``.

    A dict with only ``data`` becomes a ConfigMap; text is parsed as YAML.
    """
    if isinstance(function_config, str):
        function_config = _yaml().load(function_config)
    elif isinstance(function_config, Mapping) and set(function_config) == {"data"}:
        function_config = _config_map(function_config["data"])
    items = CommentedSeq(doc for doc in _yaml().load_all(documents) if doc is not None)
    resource_list = CommentedMap(apiVersion="config.kubernetes.io/v1", kind="ResourceList", items=items)
    if function_config is not None:
        resource_list["functionConfig"] = function_config
    BUILTINS[function](resource_list)
    text = "---\n".join(normalise(item) for item in resource_list["items"])
    return BuiltinRun(text=text, results=[_plain(r) for r in resource_list.get("results") or []])


@pytest.fixture
def builtin_call() -> Callable[[str, str, Any], BuiltinRun]:
    """``builtin_call(function, documents, function_config)``; see call_builtin."""
    return call_builtin


@pytest.fixture
def same_yaml() -> Callable[[str], str]:
    """Normalise expected multi-document text the way BuiltinRun.text is."""

    def norm(text: str) -> str:
        return "---\n".join(normalise(doc) for doc in _yaml().load_all(text) if doc is not None)

    return norm
