"""ExecRunner: allow-listed local binaries, named like images, fed the ResourceList on stdin.

Porch's function-runner has the same evaluator (a FunctionConfig maps image tags to
binaries baked into its container). Only names on the allow-list run, and they run
the configured path, never a path taken from a Kptfile, so a package cannot make
the server execute a program of its choosing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

import trio

from porch_embedded.errors import ServiceUnavailable
from porch_embedded.kpt import FunctionOutput
from porch_embedded.runners._podman import outcome_to_output
from porch_embedded.runners._process import run_capped
from porch_embedded.runners._protocol import FunctionCall, call_budget_s

__all__ = ["ExecRunner"]


class ExecRunner:
    """Runs ``allow_list[image]`` (a local executable) with the ResourceList on stdin.

    The binary runs in its own session (process group) so that a timeout, an
    output past the cap or the caller's cancellation kills it and every child it
    started. Failures come back as exit code and stderr, as for containers; an
    allow-listed path that cannot be executed raises ServiceUnavailable.
    """

    def __init__(
        self,
        allow_list: Mapping[str, str],
        *,
        timeout_s: float = 300.0,
        reserve_s: float = 2.0,
        max_output_bytes: int = 32 * 1024 * 1024,
        max_stderr_bytes: int = 1024 * 1024,
    ) -> None:
        self.allow_list = dict(allow_list)
        self._timeout_s = timeout_s
        self._reserve_s = reserve_s
        self._max_output = max_output_bytes
        self._max_stderr = max_stderr_bytes

    def accepts(self, image: str) -> bool:
        return image in self.allow_list

    async def run(self, call: FunctionCall, resource_list: bytes) -> FunctionOutput:
        path = self.allow_list.get(call.name)
        if path is None:
            raise ValueError(f"ExecRunner asked to run {call.name!r}, which is not allow-listed")
        budget = call_budget_s(call, self._timeout_s, self._reserve_s)
        max_output = min(self._max_output, call.max_output_bytes or self._max_output)

        async def kill_group(process: trio.Process) -> None:
            _kill_group(process.pid)

        try:
            outcome = await run_capped(
                [path], stdin=resource_list, budget_s=budget,
                max_stdout=max_output, max_stderr=self._max_stderr,
                deliver_cancel=kill_group, start_new_session=True,
            )
        except OSError as exc:
            raise ServiceUnavailable(
                f"cannot execute {path} (allow-listed for {call.name}): {exc.strerror or exc}"
            ) from exc
        # A child left behind by a function that exited (or was timed out after it
        # exited but while a child still held its pipes) dies with its group.
        _kill_group(outcome.pid)
        return outcome_to_output(
            outcome, what=f"function {call.name} ({path})", budget_s=budget,
            max_output=max_output, memory=None,
        )


def _kill_group(pgid: int) -> None:
    if pgid <= 0:
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
