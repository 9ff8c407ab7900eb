"""Run the KRM functions catalog's example cases against our renderer and builtins.

Every directory under ``cases/`` that holds ``.expected/`` is one case (layout in
README.md). The package is read into a path -> text mapping, rendered (or evaluated)
with the in-process builtins, and compared file by file, byte for byte, with the
package after applying ``.expected/diff.patch``; ``results.yaml`` and the exit code are
compared too.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from porch_embedded.kpt import (
    FunctionOutput,
    InProcessOutput,
    PipelineFunction,
    RenderResult,
    eval_function,
    render,
)
from porch_embedded.kpt.functions import builtin_for, run_builtin, run_builtin_object

CASES = Path(__file__).parent / "cases"
EXPECTED = ".expected"
PKG_INIT_CONTEXT = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\n  annotations:\n"
    '    config.kubernetes.io/local-config: "true"\ndata:\n  name: example\n'
)


def _case_dirs() -> list[Path]:
    return sorted(p.parent for p in CASES.rglob(EXPECTED) if p.is_dir())


def _read_tree(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not (rel == EXPECTED or rel.startswith(EXPECTED + "/")):
            files[rel] = path.read_text(encoding="utf-8")
    return files


def _builtin(function: PipelineFunction) -> Any:
    implementation = builtin_for(function.image)
    if implementation is None:
        raise LookupError(f"no in-process builtin for image {function.image!r}")
    return implementation


async def builtin_evaluator(function: PipelineFunction, resource_list: bytes) -> FunctionOutput:
    """Evaluate a step with the in-process catalog builtin its image names, over YAML bytes."""
    return run_builtin(_builtin(function), resource_list)


class ObjectEvaluator:
    """The same builtins through the renderer's in-process path: ResourceList objects, no YAML.

    The server's runner chain takes this path for builtins, so every case runs both ways
    and must give the same bytes.
    """

    async def __call__(self, function: PipelineFunction, resource_list: bytes) -> FunctionOutput:
        return await builtin_evaluator(function, resource_list)

    async def evaluate_in_process(self, function: PipelineFunction, resource_list: Any) -> InProcessOutput:
        return run_builtin_object(_builtin(function), resource_list)


EVALUATORS = {"bytes": builtin_evaluator, "objects": ObjectEvaluator()}


def _config(case: Path) -> dict[str, Any]:
    path = case / EXPECTED / "config.yaml"
    loaded = yaml.safe_load(path.read_text()) if path.exists() else None
    return loaded if isinstance(loaded, dict) else {}


def _eval_step(config: dict[str, Any], case: Path) -> tuple[PipelineFunction, Any]:
    args = {str(k): str(v) for k, v in (config.get("args") or {}).items()}
    return PipelineFunction(image=str(config["image"]), config_map=args), None


def _script(case: Path) -> list[list[str]] | None:
    """The kpt commands of .expected/exec.sh, or None when there is none."""
    path = case / EXPECTED / "exec.sh"
    if not path.exists():
        return None
    commands = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("set "):
            continue
        commands.append(shlex.split(line))
    return commands


async def _run(case: Path, files: dict[str, str], config: dict[str, Any], evaluator: Any) -> RenderResult:
    script = _script(case)
    if script is not None:
        result = RenderResult(files)
        for command in script:
            if command == ["kpt", "pkg", "init"]:
                files = dict(result.files)
                files.setdefault("package-context.yaml", PKG_INIT_CONTEXT)
                result = RenderResult(files, result.results, result.error)
            elif command == ["kpt", "fn", "render"]:
                result = await render(result.files, evaluator)
            else:
                pytest.skip(f"exec.sh command not supported by the harness: {shlex.join(command)}")
        return result
    if config.get("testType") == "eval":
        function, _ = _eval_step(config, case)
        if config.get("fnConfig"):
            fn_config = (case / EXPECTED / str(config["fnConfig"])).resolve().relative_to(case.resolve())
            function = PipelineFunction(image=function.image, config_path=fn_config.as_posix())
        return await eval_function(files, function, evaluator)
    return await render(files, evaluator)


def _expected_tree(case: Path, tmp_path: Path) -> dict[str, str]:
    work = tmp_path / "expected"
    shutil.copytree(case, work, ignore=shutil.ignore_patterns(EXPECTED))
    patch = case / EXPECTED / "diff.patch"
    if patch.exists() and patch.read_text().strip():
        subprocess.run(
            ["git", "apply", "--whitespace=nowarn", str(patch)], cwd=work, check=True, capture_output=True
        )
    return _read_tree(work)


@pytest.mark.parametrize("evaluator", list(EVALUATORS))
@pytest.mark.parametrize("case", _case_dirs(), ids=lambda p: p.relative_to(CASES).as_posix())
async def test_catalog_case(case: Path, evaluator: str, tmp_path: Path) -> None:
    config = _config(case)
    if config.get("skip"):
        pytest.skip("case is marked skip in its config.yaml")
    files = _read_tree(case)
    result = await _run(case, files, config, EVALUATORS[evaluator])

    expected_exit = int(config.get("exitCode") or 0)
    assert (0 if result.ok else 1) == expected_exit, result.error
    expected_files = _expected_tree(case, tmp_path)
    assert sorted(result.files) == sorted(expected_files)
    for path, text in expected_files.items():
        assert result.files[path] == text, f"{path} differs"
    results = case / EXPECTED / "results.yaml"
    if results.exists():
        assert result.results.to_yaml().strip() == results.read_text().strip()
