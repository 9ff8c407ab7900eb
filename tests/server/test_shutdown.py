"""SIGTERM drains a real `porch-embedded serve` process, and its logs are JSON when asked.

On SIGTERM the server stops taking connections, ends every watch with the stream's
final chunk (the client sees the end, not a reset), lets in-flight requests finish
within --shutdown-grace-period, and exits 0; a request still in flight when the grace
period is over is stopped, and the process exits 0 all the same.
"""

from __future__ import annotations

import json
import signal
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.parts.server import ServerProcess, start_server_process

pytestmark = pytest.mark.slow

REPOSITORIES = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"
EXIT_WAIT_S = 60
"""How long to wait for the process to exit before calling it hung (not a timing assertion)."""


def client(server: ServerProcess) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    token = (server.data_dir / "admin-token").read_text().strip()
    return httpx.Client(base_url=server.url, verify=context, headers={"Authorization": f"Bearer {token}"},
                        timeout=60)


def repository_json(name: str) -> bytes:
    return json.dumps({"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                       "metadata": {"name": name},
                       "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/{name}.git"}}}).encode()


class SlowCreate(threading.Thread):
    """A create whose body arrives in two halves, the second when ``release`` is set."""

    def __init__(self, server: ServerProcess, name: str) -> None:
        super().__init__(daemon=True)
        self.server, self.name = server, name
        self.release = threading.Event()
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None

    def body(self) -> Iterator[bytes]:
        payload = repository_json(self.name)
        yield payload[:20]
        self.release.wait(EXIT_WAIT_S)
        yield payload[20:]

    def run(self) -> None:
        try:
            with client(self.server) as http:
                self.response = http.post(REPOSITORIES, content=self.body(),
                                          headers={"content-type": "application/json"})
        except BaseException as error:  # reported by the test
            self.error = error


class Watch(threading.Thread):
    """A watch of Repositories read to its end: the lines, or the error that cut it."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.started = threading.Event()
        self.lines: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with client(self.server) as http, http.stream("GET", REPOSITORIES, params={"watch": "true"}) as stream:
                assert stream.status_code == 200
                self.started.set()
                for line in stream.iter_lines():
                    self.lines.append(line)
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            self.started.set()


def in_flight(server: ServerProcess) -> dict[str, float]:
    with client(server) as http:
        text = http.get("/metrics").text
    return {sample.labels["request_kind"]: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "apiserver_current_inflight_requests"}


def wait_for(condition: Any, what: str) -> None:
    done = threading.Event()
    for _ in range(600):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server_process(tmp_path / "data", ["--disable-controllers", "--log-format", "json",
                                                       "--shutdown-grace-period", "30"])
    try:
        yield running
    finally:
        running.stop()


def test_sigterm_finishes_in_flight_requests_ends_watches_cleanly_and_exits_0(server: ServerProcess) -> None:
    watch = Watch(server)
    watch.start()
    assert watch.started.wait(30) and watch.error is None
    slow = SlowCreate(server, "late")
    slow.start()
    wait_for(lambda: in_flight(server).get("mutating", 0) == 1, "the slow create is in flight")

    kept = client(server)  # a connection opened before the signal stays usable while draining
    assert kept.get("/readyz").status_code == 200

    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)

    watch.join(EXIT_WAIT_S)
    assert not watch.is_alive(), "the watch did not end on SIGTERM"
    assert watch.error is None, f"the watch was cut instead of ended: {watch.error!r}"
    with pytest.raises(httpx.ConnectError), client(server) as http:
        http.get("/readyz")  # the listener is closed: new connections are refused
    assert server.process.poll() is None, "exited with a request still in flight"
    ready = kept.get("/readyz", params={"verbose": ""})
    kept.close()
    assert ready.status_code == 503 and "[-]shutdown failed" in ready.text, ready.text

    slow.release.set()
    slow.join(EXIT_WAIT_S)
    assert slow.error is None, f"the in-flight request failed: {slow.error!r}"
    assert slow.response is not None and slow.response.status_code == 201, slow.response
    assert slow.response.json()["metadata"]["name"] == "late"
    assert server.process.wait(EXIT_WAIT_S) == 0

    records = [json.loads(line) for line in (server.data_dir / "server.log").read_text().splitlines()
               if line.startswith("{")]
    created = [r for r in records if r.get("logger") == "porch_embedded.api.requests" and r.get("verb") == "create"]
    assert created and created[0]["user"] == "admin" and created[0]["resource"] == "repositories"
    assert created[0]["code"] == 201 and created[0]["latency_s"] > 0 and created[0]["level"] == "INFO"
    watched = [r for r in records if r.get("logger") == "porch_embedded.api.requests" and r.get("verb") == "watch"]
    assert watched and watched[0]["code"] == 200
    assert any("draining" in r["msg"] for r in records)


def test_a_request_still_in_flight_after_the_grace_period_is_stopped(tmp_path: Path) -> None:
    server = start_server_process(tmp_path / "data", ["--disable-controllers", "--shutdown-grace-period", "1"])
    slow = SlowCreate(server, "never")
    try:
        slow.start()
        wait_for(lambda: in_flight(server).get("mutating", 0) == 1, "the slow create is in flight")
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(EXIT_WAIT_S) == 0
        slow.release.set()
        slow.join(EXIT_WAIT_S)
        assert slow.response is None and isinstance(slow.error, httpx.TransportError), slow.response
    finally:
        slow.release.set()
        server.stop()
