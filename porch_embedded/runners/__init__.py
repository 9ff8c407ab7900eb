"""Function runners behind one ``FunctionRunner`` protocol.

``build_function_runner(settings)`` gives the chain the composition root hands to
the renderer (it is a kpt ``FunctionEvaluator``): builtin catalog functions
in-process first, then allow-listed local binaries, then podman containers or
Kubernetes Jobs for every other image.
"""

from __future__ import annotations

from porch_embedded.runners._builtin import BuiltinRunner
from porch_embedded.runners._exec import ExecRunner
from porch_embedded.runners._kubernetes import KubernetesJobRunner
from porch_embedded.runners._podman import PodmanRunner
from porch_embedded.runners._protocol import FunctionCall, FunctionRunner, FunctionRunnerChain
from porch_embedded.runners._settings import JobSettings, PodmanSettings, RunnerSettings

__all__ = [
    "FunctionCall",
    "FunctionRunner",
    "FunctionRunnerChain",
    "JobSettings",
    "PodmanSettings",
    "RunnerSettings",
    "build_function_runner",
]


def build_function_runner(settings: RunnerSettings) -> FunctionRunnerChain:
    """The runner chain for ``settings``: builtin, exec allow-list, then podman or Jobs.

    Nothing is started here: podman is first invoked, and the Kubernetes client
    first configured, by the first call that needs it.
    """
    limits = {
        "timeout_s": settings.timeout_s,
        "reserve_s": settings.deadline_reserve_s,
    }
    caps = {
        "max_output_bytes": settings.max_output_bytes,
        "max_stderr_bytes": settings.max_stderr_bytes,
    }
    runners: list[FunctionRunner] = []
    if settings.builtins:
        runners.append(BuiltinRunner(threads=settings.builtin_threads, **limits))
    if settings.exec_allow_list:
        runners.append(ExecRunner(settings.exec_allow_list, **limits, **caps))
    if settings.kind == "podman":
        runners.append(PodmanRunner(settings.podman, **limits, **caps))
    elif settings.kind == "kubernetes":
        runners.append(KubernetesJobRunner(settings.kubernetes, **limits, **caps))
    return FunctionRunnerChain(runners)
