"""PodmanRunner: each function call is one confined ``podman run --rm -i``.

The podman CLI is driven through ``trio.run_process`` (the podman REST API cannot
pipe stdin to a container here). Facts this module is built on, measured on the
target hosts: killing the ``podman run`` client does not stop the container (its
PID 1 ignores SIGTERM, and SIGKILL of the client orphans it), so every run has a
unique ``--name`` and cancellation runs ``podman kill --signal KILL <name>``; with
``--read-only`` the image's own /tmp mode applies; ``--log-driver=none`` keeps
a function's output off the disk.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import trio

from porch_embedded.errors import ServiceUnavailable
from porch_embedded.kpt import FunctionOutput
from porch_embedded.runners._process import ProcessOutcome, run_capped
from porch_embedded.runners._protocol import FunctionCall, call_budget_s
from porch_embedded.runners._settings import PodmanSettings

__all__ = ["PodmanRunner", "outcome_to_output", "registry_host"]

# podman run's own failures (no such image, bad flag) exit with 125.
_PODMAN_ERROR = 125
_KILL_ATTEMPTS = 50
_CLEANUP_BUDGET_S = 15.0


class PodmanRunner:
    """Runs any image in a podman container: no network, read-only root, non-root, limited.

    Images are pulled before the run according to the pull policy (``always``,
    ``if-not-present`` — remembered after the first pull or local hit — or
    ``never``), so a pull failure is told apart from the function's own failure and
    raised as ServiceUnavailable (``podman`` missing raises the same). The function's
    own failures (any exit code but podman's own 125, which means the container could
    not be started), its deadline (the shortest of the call's, the runner's and the
    caller's less a reserve) and an output past the cap come back as a non-zero exit
    code with a clear stderr, and no container is left behind in any case, including
    the caller's cancellation.
    """

    def __init__(
        self,
        settings: PodmanSettings = PodmanSettings(),
        *,
        timeout_s: float = 300.0,
        reserve_s: float = 2.0,
        max_output_bytes: int = 32 * 1024 * 1024,
        max_stderr_bytes: int = 1024 * 1024,
    ) -> None:
        self.settings = settings
        self._timeout_s = timeout_s
        self._reserve_s = reserve_s
        self._max_output = max_output_bytes
        self._max_stderr = max_stderr_bytes
        self._slots = trio.CapacityLimiter(settings.max_parallel)
        self._present: set[str] = set()
        self._pull_locks: dict[str, trio.Lock] = {}

    def accepts(self, image: str) -> bool:
        return bool(image.strip()) and not image.startswith(("exec:", "/", "."))

    @property
    def env(self) -> Mapping[str, str]:
        """The environment of every podman call (CONTAINERS_CONF when configured)."""
        env = dict(os.environ)
        if self.settings.containers_conf is not None:
            env["CONTAINERS_CONF"] = str(self.settings.containers_conf)
        return env

    async def run(self, call: FunctionCall, resource_list: bytes) -> FunctionOutput:
        budget = call_budget_s(call, self._timeout_s, self._reserve_s)
        max_output = min(self._max_output, call.max_output_bytes or self._max_output)
        deadline = trio.current_time() + budget
        async with self._slots:
            with trio.move_on_at(deadline) as pull_scope:
                await self.ensure_image(call.image)
            if pull_scope.cancelled_caught:
                raise ServiceUnavailable(
                    f"pulling function image {call.image} did not finish within {budget:.1f} s"
                )
            name = f"{self.settings.name_prefix}-{secrets.token_hex(6)}"
            with _podman_missing(self.settings.path):
                outcome = await run_capped(
                    self.run_argv(call.image, name),
                    stdin=resource_list,
                    budget_s=max(deadline - trio.current_time(), 0.0),
                    max_stdout=max_output, max_stderr=self._max_stderr,
                    deliver_cancel=lambda process: self._kill(name, process),
                    env=self.env,
                )
        if outcome.returncode == _PODMAN_ERROR:
            detail = outcome.stderr.decode("utf-8", "replace").strip()
            raise ServiceUnavailable(f"podman could not start function image {call.image}: {detail}")
        return outcome_to_output(
            outcome, what=f"function {call.image}", budget_s=budget, max_output=max_output,
            memory=self.settings.memory,
        )

    def run_argv(self, image: str, name: str) -> list[str]:
        """The ``podman run`` command line of one call (no network, read-only, limits)."""
        s = self.settings
        return [
            s.path, "run", "--rm", "--interactive", "--name", name,
            "--network=none", "--read-only", "--user", "65534",
            "--security-opt=no-new-privileges", "--log-driver=none", "--pull=never",
            "--memory", s.memory, "--cpus", f"{s.cpus:g}", "--pids-limit", str(s.pids_limit),
            "--label", f"{s.name_prefix}=function",
            image,
        ]

    async def ensure_image(self, image: str) -> None:
        """Make ``image`` present locally as the pull policy says; raise if it cannot be.

        Concurrent calls for one image share one pull. ServiceUnavailable names the
        image and carries podman's own message (which never holds credentials).
        """
        policy = self.settings.pull_policy
        if policy == "never" or (policy == "if-not-present" and image in self._present):
            return
        lock = self._pull_locks.setdefault(image, trio.Lock())
        async with lock:
            if policy == "if-not-present":
                if image in self._present:
                    return
                exists = await self._podman("image", "exists", image)
                if exists.returncode == 0:
                    self._present.add(image)
                    return
            argv = ["pull", "--quiet"]
            if self.settings.auth_file is not None:
                argv += ["--authfile", str(self.settings.auth_file)]
            if self._insecure(image):
                argv.append("--tls-verify=false")
            pulled = await self._podman(*argv, image)
            if pulled.returncode != 0:
                detail = pulled.stderr.decode("utf-8", "replace").strip()
                raise ServiceUnavailable(f"cannot pull function image {image}: {detail}")
            self._present.add(image)

    def _insecure(self, image: str) -> bool:
        host = registry_host(image)
        if host is None:
            return False
        return host in self.settings.insecure_registries or _is_loopback(host)

    async def _podman(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        with _podman_missing(self.settings.path):
            return await trio.run_process(
                [self.settings.path, *argv], check=False,
                capture_stdout=True, capture_stderr=True, env=self.env,
            )

    async def _kill(self, name: str, process: trio.Process) -> None:
        """Stop container ``name`` and its ``podman run`` client; runs shielded (trio).

        The container may not exist yet (the client is still creating it), so the
        kill is retried until the client exits; the client is killed as a last
        resort, and the container is then removed in case its ``--rm`` never ran.
        """
        with trio.move_on_after(_CLEANUP_BUDGET_S):
            for _ in range(_KILL_ATTEMPTS):
                killed = await self._podman("kill", "--signal", "KILL", name)
                if killed.returncode == 0:
                    with trio.move_on_after(10.0):
                        await process.wait()
                if process.poll() is not None:
                    break
                await trio.sleep(0.1)
        if process.poll() is None:
            process.kill()
        with trio.move_on_after(_CLEANUP_BUDGET_S):
            await self._podman("rm", "--force", "--ignore", "--time", "0", name)


def outcome_to_output(
    outcome: ProcessOutcome, *, what: str, budget_s: float, max_output: int, memory: str | None,
) -> FunctionOutput:
    """Turn a process outcome into the output a container runtime would report.

    Our own stops become exit codes with a message that says what happened and
    what limit to raise: 124 after the deadline, 1 past the output cap; a SIGKILL
    we did not send (137) is most likely the memory limit.
    """
    stderr = outcome.stderr.decode("utf-8", "replace")
    if outcome.stderr_truncated:
        stderr += "\n[stderr truncated]\n"
    notes: list[str] = []
    if outcome.timed_out:
        notes.append(f"{what} did not finish within {budget_s:.1f} s and was killed")
        code = 124
    elif outcome.stdout_overflow:
        notes.append(f"{what} wrote more than {max_output} bytes to stdout and was killed")
        code = 1
    else:
        assert outcome.returncode is not None
        code = outcome.returncode
        if code == 137 and memory:
            notes.append(f"{what} was killed (exit code 137), most likely past its memory limit of {memory}")
        elif code < 0:
            notes.append(f"{what} was killed by signal {-code}")
            code = 128 - code
    if notes:
        stderr = (stderr.rstrip("\n") + "\n" if stderr.strip() else "") + "\n".join(notes) + "\n"
    stdout = b"" if (outcome.timed_out or outcome.stdout_overflow) else outcome.stdout
    return FunctionOutput(stdout=stdout, stderr=stderr, exit_code=code)


def registry_host(image: str) -> str | None:
    """The registry host[:port] an image reference names, or None (a Docker Hub short name)."""
    first, sep, _ = image.partition("/")
    if not sep:
        return None
    if "." in first or ":" in first or first == "localhost" or first.startswith("["):
        return first
    return None


def _is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@contextmanager
def _podman_missing(path: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise ServiceUnavailable(
            f"cannot start podman ({path}): {exc.strerror or exc}; install podman or choose "
            "another function runner"
        ) from exc
