"""A real OCI registry (CNCF distribution, ``docker-registry``) on 127.0.0.1 with htpasswd auth.

The Debian package's own config listens on every interface, so the registry is
started from a config written here: loopback only, filesystem storage in a temp
dir, basic auth from an ``htpasswd -Bbn`` file. Started once per session and
always stopped (terminate, then kill) by the fixture.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Registry", "oci_registry", "start_registry"]


@dataclass(frozen=True)
class Registry:
    """A running registry: where it listens and how to log in to it."""

    host: str  # "127.0.0.1:PORT"
    username: str
    password: str
    auth_file: Path  # podman --authfile: {"auths": {host: {"auth": base64(user:pass)}}}

    def image(self, repository: str, tag: str = "v1") -> str:
        return f"{self.host}/{repository}:{tag}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout_s: float = 10.0, *, tls: bool = False) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode} before serving")
        try:
            connection = (http.client.HTTPSConnection("127.0.0.1", port, timeout=1,
                                                      context=ssl._create_unverified_context())
                          if tls else http.client.HTTPConnection("127.0.0.1", port, timeout=1))
            connection.request("GET", "/v2/")
            status = connection.getresponse().status
            connection.close()
            if status in (200, 401):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer on 127.0.0.1:{port} within {timeout_s} s")


def start_registry(directory: Path, *, tls: tuple[Path, Path] | None = None,
                   auth: str = "") -> tuple[Registry, subprocess.Popen[bytes]]:
    """Start a registry storing under ``directory``; the caller stops the process.

    With ``tls`` (certificate and key files) it serves HTTPS only; ``auth`` replaces the
    htpasswd section (a YAML flow mapping, e.g. ``{token: {...}}``).
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    username, password = "porch", secrets.token_urlsafe(12)
    htpasswd = subprocess.run(
        ["htpasswd", "-Bbn", username, password], check=True, capture_output=True,
    ).stdout
    (directory / "htpasswd").write_bytes(htpasswd)
    (directory / "storage").mkdir()
    port = _free_port()
    htpasswd_auth = f"{{htpasswd: {{realm: test, path: {directory / 'htpasswd'}}}}}"
    (directory / "config.yml").write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {directory / 'storage'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}"
        + (f", tls: {{certificate: {tls[0]}, key: {tls[1]}}}" if tls else "") + "}\n"
        f"auth: {auth or htpasswd_auth}\n"
    )
    host = f"127.0.0.1:{port}"
    auth_file = directory / "auth.json"
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    auth_file.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    process = subprocess.Popen(
        [binary, "serve", str(directory / "config.yml")],
        stdout=subprocess.DEVNULL, stderr=(directory / "registry.log").open("wb"),
    )
    try:
        _wait_ready(port, process, tls=tls is not None)
    except BaseException:
        stop_process(process)
        raise
    return Registry(host, username, password, auth_file), process


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, killing it if it does not exit within 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry with basic auth on 127.0.0.1 for the whole session, always stopped."""
    registry, process = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield registry
    finally:
        stop_process(process)
