"""The database goes away and comes back: 503s and readyz false meanwhile, full service after.

One real server process reaches PostgreSQL through a TCP proxy the test controls
(tests/parts/tcp_proxy.py). Cutting the proxy closes every database connection and
refuses new ones. While cut, every request must end within a bounded time with a 503
Status that carries Retry-After (never a 500, never a hang) and /readyz must say 503;
after the proxy is restored the same process serves everything again, without a restart,
with every write it acknowledged before or during the cut, and a watch opened before the
cut goes on delivering.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.parts.tcp_proxy import tcp_proxy
from tests.replicas.conftest import REPOSITORIES, SharedStore, start_replica, status_of

pytestmark = pytest.mark.slow

SECRETS = "/api/v1/namespaces/default/secrets"
DB_PASSWORD = "pg-outage-Pa55-never-shown-41d7"
"""In the store URL the replica is given (trust auth ignores it); no answer or log line may show it."""
REQUEST_BOUND_S = 20.0
"""The longest a request may take while the database is gone (the store's pool waits 10 s)."""


def repository_body(name: str) -> dict[str, Any]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
            "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/{name}.git", "branch": "main"}}}


def assert_unavailable(response: httpx.Response, what: str) -> None:
    """A 503 metav1.Status with a Retry-After header."""
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("retry-after", "").isdigit(), f"{what}: no Retry-After: {response.headers}"
    body = status_of(response)
    assert body["kind"] == "Status" and body["reason"] == "ServiceUnavailable", (what, body)
    assert "store" in body["message"] and DB_PASSWORD not in response.text, (what, body)


def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_a_database_outage_is_503_and_readyz_false_then_full_service_with_nothing_lost(
        tmp_path: Path, shared_store: SharedStore) -> None:
    with tcp_proxy(("127.0.0.1", 5432)) as proxy:
        proxied = shared_store.url.replace("postgres@127.0.0.1:5432", f"postgres:{DB_PASSWORD}@127.0.0.1:{proxy.port}", 1)
        assert DB_PASSWORD in proxied
        replica = start_replica(tmp_path, shared_store, "solo", ["--sync-interval", "3600"], store_url=proxied)
        try:
            with replica.client(timeout=REQUEST_BOUND_S + 10) as http:
                acknowledged: list[str] = []
                for index in range(20):
                    created = http.post(REPOSITORIES, json=repository_body(f"before-{index}"))
                    assert created.status_code == 201, created.text
                    acknowledged.append(f"before-{index}")
                secret = http.post(SECRETS, json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kept"},
                                                  "stringData": {"phase": "before"}})
                assert secret.status_code == 201, secret.text
                start_rv = status_of(http.get(REPOSITORIES))["metadata"]["resourceVersion"]

                # A watch opened before the cut, and a writer that keeps writing through it.
                watched: list[str] = []
                stop = threading.Event()
                writer_codes: list[int] = []

                def watch() -> None:
                    with replica.client(timeout=None) as client:  # type: ignore[arg-type]
                        with client.stream("GET", REPOSITORIES, params={"watch": "1", "resourceVersion": start_rv}) \
                                as stream:
                            for line in stream.iter_lines():
                                if line.strip():
                                    event = json.loads(line)
                                    if event["type"] == "ERROR":
                                        watched.append(f"ERROR {event['object'].get('code')}")
                                        return
                                    watched.append(event["object"]["metadata"]["name"])
                                if "after-restore" in watched:
                                    return  # the last write of the test

                def write() -> None:
                    with replica.client(timeout=REQUEST_BOUND_S + 10) as client:
                        index = 0
                        while not stop.is_set():
                            name = f"flow-{index}"
                            response = client.post(REPOSITORIES, json=repository_body(name))
                            writer_codes.append(response.status_code)
                            if response.status_code == 201:
                                acknowledged.append(name)
                            index += 1
                            time.sleep(0.05)

                watcher = threading.Thread(target=watch, daemon=True)
                writer = threading.Thread(target=write, daemon=True)
                watcher.start()
                writer.start()
                time.sleep(0.5)

                proxy.cut()
                cut_at = time.monotonic()
                # readyz turns false, within a bounded time.
                while True:
                    ready, took = timed(lambda: http.get("/readyz"))
                    print(f"readyz {time.monotonic() - cut_at:.2f} s into the outage: {ready.status_code} in {took:.2f} s")
                    assert took < REQUEST_BOUND_S, f"/readyz took {took:.1f} s during the outage"
                    if ready.status_code == 503:
                        break
                    assert ready.status_code == 200
                    assert time.monotonic() - cut_at < 30, "readyz still says ok 30 s into the outage"
                    time.sleep(0.2)
                # Requests of every kind, at once, get a 503 Status with Retry-After within a bounded time.
                answers: dict[str, tuple[httpx.Response, float]] = {}
                calls = {
                    "get": lambda: http.get(f"{REPOSITORIES}/before-0"),
                    "list": lambda: http.get(REPOSITORIES),
                    "create": lambda: http.post(REPOSITORIES, json=repository_body("during-cut")),
                    "update": lambda: http.put(f"{SECRETS}/kept", json=status_of(secret)),
                    "delete": lambda: http.delete(f"{REPOSITORIES}/before-1"),
                    "watch": lambda: http.get(REPOSITORIES, params={"watch": "1", "resourceVersion": "1"}),
                }
                askers = [threading.Thread(target=lambda w=what, c=call: answers.__setitem__(w, timed(c)))
                          for what, call in calls.items()]
                for asker in askers:
                    asker.start()
                for asker in askers:
                    asker.join(timeout=REQUEST_BOUND_S + 15)
                for what in calls:
                    assert what in answers, f"{what} got no answer during the outage"
                    response, took = answers[what]
                    print(f"{what} during the outage: {response.status_code} in {took:.2f} s")
                    assert took < REQUEST_BOUND_S, f"{what} took {took:.1f} s during the outage"
                    assert_unavailable(response, what)
                still = http.get("/readyz")
                assert still.status_code == 503

                proxy.restore()
                restored_at = time.monotonic()
                while http.get("/readyz").status_code != 200:
                    assert time.monotonic() - restored_at < 60, "readyz did not recover within 60 s"
                    time.sleep(0.2)
                print(f"readyz recovered {time.monotonic() - restored_at:.2f} s after the restore")
                # Full service, in the same process: the writer's writes go through again.
                recovered_at = len(writer_codes)
                while 201 not in writer_codes[recovered_at:]:
                    assert time.monotonic() - restored_at < 60, f"writes still fail: {writer_codes[-5:]}"
                    time.sleep(0.1)
                stop.set()
                writer.join(timeout=60)
                assert not writer.is_alive()
                kept = status_of(http.get(f"{SECRETS}/kept"))
                kept["stringData"] = {"phase": "after"}
                updated = http.put(f"{SECRETS}/kept", json=kept)
                assert updated.status_code == 200, updated.text
                created = http.post(REPOSITORIES, json=repository_body("after-restore"))
                assert created.status_code == 201, created.text
                acknowledged.append("after-restore")
                watcher.join(timeout=30)
                assert not watcher.is_alive(), f"the watch never delivered the last write: {watched[-5:]}"
                assert set(writer_codes) <= {201, 503}, writer_codes
                assert 503 in writer_codes, "the writer never saw the outage"

                listed = {item["metadata"]["name"] for item in status_of(http.get(REPOSITORIES))["items"]}
                lost = [name for name in acknowledged if name not in listed]
                assert not lost, f"acknowledged writes lost: {lost}"
                assert replica.alive()
                # The watch that spanned the outage delivered writes from before and after it.
                assert "after-restore" in watched, watched
                assert all(not entry.startswith("ERROR") for entry in watched), watched
                flow_acked = [name for name in acknowledged if name.startswith("flow-")]
                assert set(flow_acked) <= set(watched), set(flow_acked) - set(watched)
        finally:
            replica.process.stop()
        log = replica.log()
        assert "Traceback" not in log, log[-3000:]
        assert f"127.0.0.1:{proxy.port}" in log and DB_PASSWORD not in log
