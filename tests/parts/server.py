"""A real porch-embedded server for tests: in this trio loop, or as a separate process.

``RunningServer`` carries what a client needs: the URL, the admin kubeconfig, the
admin token and the CA. ``kubectl`` runs the real binary through trio.run_process;
the synchronous Kubernetes Python client runs in a worker thread (``in_thread``) so
the in-process server keeps serving while it waits.

With ``PORCH_EMBEDDED_BINARY`` naming a built binary (``make binary``), both ways start
that binary as a child process instead: ``start_server`` turns its Settings overrides
into ``serve`` flags (an override without a flag is a TypeError, never silently
dropped), so tests written against the in-process server run unchanged against the
binary, as long as they reach it only through its URL and data directory.
With ``PORCH_EMBEDDED_BINARY_TESTS`` also set (space-separated test paths, as given to
pytest), only the tests under those paths take the binary and the rest run this
checkout, so one parallel run of the whole suite tests both (``make test``). And with
``PORCH_EMBEDDED_PORCHCTL`` naming the build's porchctl (``dist/porchctl/porchctl``, the
same program unpacked once), porchctl commands run it instead of the binary's verbs.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import trio

from porch_embedded.server import Settings, run

__all__ = ["BINARY_ENV", "BINARY_TESTS_ENV", "PORCHCTL_ENV", "porchctl_command", "RunningServer", "ServerProcess", "in_thread", "kubectl", "serve_flags", "server_binary",
           "server_command", "start_server", "start_server_process"]

BINARY_ENV = "PORCH_EMBEDDED_BINARY"
BINARY_TESTS_ENV = "PORCH_EMBEDDED_BINARY_TESTS"
PORCHCTL_ENV = "PORCH_EMBEDDED_PORCHCTL"

T = TypeVar("T")


@dataclass(frozen=True)
class RunningServer:
    url: str
    data_dir: Path
    store_url: str = ""
    """The store it runs on (``sqlite:///...`` or ``postgresql://...``)."""

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "pki" / "ca.crt"

    def client(self, *, token: str | None = "admin", cert: tuple[Path, Path] | None = None) -> httpx.AsyncClient:
        """An httpx client trusting our CA, as the admin unless told otherwise (None: no token)."""
        headers = {}
        if token == "admin":
            headers["Authorization"] = f"Bearer {self.token}"
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if cert is not None:
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        return httpx.AsyncClient(base_url=self.url, headers=headers, verify=context, timeout=30)


def server_binary() -> Path | None:
    """The built binary that tests start instead of this checkout's code, if $PORCH_EMBEDDED_BINARY names one.

    When $PORCH_EMBEDDED_BINARY_TESTS limits it to some test paths, a test elsewhere gets
    None. The test is the one pytest runs now ($PYTEST_CURRENT_TEST, set through setup,
    call and teardown, so a fixture of the test sees it too).
    """
    value = os.environ.get(BINARY_ENV, "")
    if not value or not _binary_applies(os.environ.get(BINARY_TESTS_ENV, ""),
                                        os.environ.get("PYTEST_CURRENT_TEST", "")):
        return None
    path = Path(value).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise RuntimeError(f"{BINARY_ENV}={value} is not an executable file; build it with `make binary`")
    return path


def porchctl_command() -> list[str] | None:
    """How a test that runs the build runs ``porchctl ARGS``: the command before ARGS, or None
    when this test runs this checkout (no binary named, or the test is out of its scope).

    The build's porchctl when $PORCH_EMBEDDED_PORCHCTL names one, else the binary's verbs
    (``porch-embedded rpkg ...``, the same parser under the binary's name).
    """
    binary = server_binary()
    if binary is None:
        return None
    porchctl = os.environ.get(PORCHCTL_ENV, "")
    if not porchctl:
        return [str(binary)]
    path = Path(porchctl).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise RuntimeError(f"{PORCHCTL_ENV}={porchctl} is not an executable file; build it with `make binary`")
    return [str(path)]


def _binary_applies(scope: str, current_test: str) -> bool:
    """Whether the test ``current_test`` (a node id, maybe followed by its stage) is under a path of ``scope``.

    An empty scope is every test. A path names a directory (``tests/cli``) or a file
    (``tests/engine/test_lifecycle.py``), relative to the repository as pytest's node ids are.
    """
    if not scope:
        return True
    test_file = current_test.split("::", 1)[0]
    return any(test_file == path or test_file.startswith(path.rstrip("/") + "/") for path in scope.split())


def server_command() -> list[str]:
    """How to run ``porch-embedded``: the binary when one is named, else this checkout under this Python."""
    binary = server_binary()
    return [str(binary)] if binary is not None else [sys.executable, "-m", "porch_embedded"]


_VALUE_FLAGS = {
    "store_url": "--store", "store_key_file": "--store-key-file", "token_auth_file": "--token-auth-file",
    "client_ca_file": "--client-ca-file", "authorization_policy_file": "--authorization-policy-file",
    "tls_cert_file": "--tls-cert-file", "tls_key_file": "--tls-private-key-file",
    "max_request_body_bytes": "--max-request-body-bytes", "bookmark_interval_s": "--watch-bookmark-interval",
    "event_retention": "--event-retention", "sync_interval_s": "--sync-interval",
    "health_interval_s": "--repository-health-interval", "function_runner": "--function-runner",
    "function_timeout_s": "--function-timeout", "containers_conf": "--containers-conf",
    "podman_pull_policy": "--podman-pull-policy", "registry_auth_file": "--registry-auth-file",
    "function_namespace": "--function-namespace", "function_service_account": "--function-service-account",
    "function_kubeconfig": "--function-kubeconfig",
}


def serve_flags(**overrides: Any) -> list[str]:
    """The ``serve`` flags that give a server process these Settings overrides.

    Raises TypeError for a setting no flag reaches (such a test cannot run against the binary).
    """
    flags: list[str] = []
    for name, value in overrides.items():
        if name in _VALUE_FLAGS:
            flags += [] if value is None else [_VALUE_FLAGS[name], str(value)]
        elif name == "anonymous_auth":
            flags += ["--anonymous-auth"] if value else []
        elif name == "controllers":
            flags += [] if value else ["--disable-controllers"]
        elif name == "tls_extra_names":
            flags += [flag for extra in value for flag in ("--tls-san", extra)]
        elif name == "exec_functions":
            flags += [flag for image, path in value for flag in ("--exec-function", f"{image}={path}")]
        else:
            raise TypeError(f"Settings.{name} has no serve flag: this test cannot start ${BINARY_ENV}")
    return flags


@asynccontextmanager
async def start_server(data_dir: Path, **overrides: Any) -> AsyncIterator[RunningServer]:
    """Run the server in this trio loop on a free loopback port until the block exits.

    With $PORCH_EMBEDDED_BINARY set it is that binary in a child process instead.
    """
    settings = replace(Settings(data_dir=data_dir, port=0), **overrides)
    if server_binary() is not None:
        process = ServerProcess(data_dir, free_port())
        await trio.to_thread.run_sync(process.start, serve_flags(**overrides))
        try:
            yield RunningServer(process.url, data_dir, settings.resolved_store_url)
        finally:
            await trio.to_thread.run_sync(process.stop)
        return
    async with trio.open_nursery() as nursery:
        url = await nursery.start(run, settings)
        try:
            yield RunningServer(url, data_dir, settings.resolved_store_url)
        finally:
            nursery.cancel_scope.cancel()


async def kubectl(server: RunningServer, *args: str, stdin: bytes | None = None, check: bool = True,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the real kubectl against ``server`` with its admin kubeconfig."""
    environment = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir),
                   **(env or {})}
    result = await trio.run_process(["kubectl", *args], stdin=stdin, capture_stdout=True, capture_stderr=True,
                                    check=False, env=environment)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout.decode()}\n{result.stderr.decode()}")
    return result


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Call a blocking client function without stalling the server in this loop."""
    return await trio.to_thread.run_sync(lambda: function(*args))


@dataclass
class ServerProcess:
    """porch-embedded serve as a child process (for kill -9 and restart tests).

    It leads a process group of its own: the one-file binary is a launcher that unpacks
    and runs the server as its child (the static binary adds one more stage), so kill -9
    goes to the whole group, and stopping ends whatever of the group outlives the leader.
    """

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    ca_file: Path | None = None
    """The CA of its serving certificate when given one (--tls-cert-file); default: its own pki/ca.crt."""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, extra_args: Sequence[str] = ()) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [*server_command(), "serve", "--data-dir", str(self.data_dir),
             "--listen", f"127.0.0.1:{self.port}", *extra_args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: "
                                     f"{(self.data_dir / 'server.log').read_text()[-2000:]}")
            if (self.data_dir / "kubeconfig").exists() and self._ready():
                return
            time.sleep(0.1)
        raise AssertionError("server did not become ready within 30 s")

    def _ready(self) -> bool:
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file or self.data_dir / "pki" / "ca.crt"))
            response = httpx.get(f"{self.url}/readyz", verify=context, timeout=1)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def kill9(self) -> None:
        assert self.process is not None
        self._kill_group()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the launcher hands SIGTERM on to the server
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self._kill_group()

    def _kill_group(self) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is gone already


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server_process(data_dir: Path, extra_args: Sequence[str] = ()) -> ServerProcess:
    server = ServerProcess(data_dir, free_port())
    server.start(extra_args)
    return server
