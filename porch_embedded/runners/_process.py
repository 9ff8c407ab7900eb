"""Run one function process with stdin fed, stdout capped, stderr kept, and a time budget.

Shared by the podman and exec runners. ``trio.run_process`` is started in a nursery
so its pipes can be read as they fill: a function that writes forever is stopped as
soon as it passes the cap instead of filling memory, and a deadline (or the
caller's cancellation) goes through the runner's ``deliver_cancel``, which knows how
to really stop what it started (a container is not stopped by killing its client).
"""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import trio

__all__ = ["ProcessOutcome", "run_capped"]

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ProcessOutcome:
    """How a function process ended.

    ``returncode`` is None only when it was stopped by us (``timed_out`` or
    ``stdout_overflow``); ``stderr_truncated`` says stderr passed its cap and the
    rest was dropped. ``pid`` is 0 if the budget ran out before it started.
    """

    pid: int
    stdout: bytes
    stderr: bytes
    returncode: int | None
    timed_out: bool = False
    stdout_overflow: bool = False
    stderr_truncated: bool = False


async def run_capped(
    argv: Sequence[str],
    *,
    stdin: bytes,
    budget_s: float,
    max_stdout: int,
    max_stderr: int,
    deliver_cancel: Callable[[trio.Process], Awaitable[object]],
    env: Mapping[str, str] | None = None,
    start_new_session: bool = False,
) -> ProcessOutcome:
    """Run ``argv`` with ``stdin``; stop it after ``budget_s`` or past ``max_stdout`` bytes.

    Never leaves the process running: on timeout, overflow or the caller's
    cancellation, ``deliver_cancel`` is awaited (shielded, by trio) and the process
    is waited for. The caller's cancellation propagates; our own stops are reported
    in the outcome. Raises OSError when ``argv[0]`` cannot be started.
    """
    stdout = bytearray()
    stderr = bytearray()
    stdout_overflow = False
    stderr_truncated = False
    returncode: int | None = None
    process: trio.Process | None = None

    with trio.move_on_after(budget_s) as scope, _unwrap_start_error():
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                partial(
                    trio.run_process, list(argv),
                    stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                    env=dict(env) if env is not None else None, deliver_cancel=deliver_cancel,
                    start_new_session=start_new_session,
                )
            )
            assert process is not None
            assert process.stdout is not None and process.stderr is not None

            async def read_stdout(stream: trio.abc.ReceiveStream) -> None:
                nonlocal stdout_overflow
                async with stream:
                    while chunk := await stream.receive_some(_CHUNK):
                        if len(stdout) + len(chunk) > max_stdout:
                            stdout_overflow = True
                            scope.cancel()
                            return
                        stdout.extend(chunk)

            async def read_stderr(stream: trio.abc.ReceiveStream) -> None:
                nonlocal stderr_truncated
                async with stream:
                    while chunk := await stream.receive_some(_CHUNK):
                        room = max_stderr - len(stderr)
                        if len(chunk) > room:
                            stderr_truncated = True
                        stderr.extend(chunk[: max(room, 0)])

            nursery.start_soon(read_stdout, process.stdout)
            nursery.start_soon(read_stderr, process.stderr)
        returncode = process.returncode if process is not None else None

    return ProcessOutcome(
        pid=process.pid if process is not None else 0, stdout=bytes(stdout), stderr=bytes(stderr),
        returncode=None if scope.cancelled_caught else returncode,
        timed_out=scope.cancelled_caught and not stdout_overflow,
        stdout_overflow=stdout_overflow, stderr_truncated=stderr_truncated,
    )


@contextmanager
def _unwrap_start_error() -> Iterator[None]:
    """Let an OSError from starting the process out bare, not inside the nursery's group."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves: list[BaseException] = []

        def collect(error: BaseException) -> None:
            if isinstance(error, BaseExceptionGroup):
                for inner in error.exceptions:
                    collect(inner)
            else:
                leaves.append(error)

        collect(group)
        if len(leaves) == 1 and isinstance(leaves[0], OSError):
            raise leaves[0] from None
        raise
