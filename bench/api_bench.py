"""API benchmark: create, get, list of 10,000 objects, and watch fan-out, against a real server.

Starts ``porch-embedded serve --disable-controllers`` as a child process on a free
loopback port with a fresh data directory (SQLite store), so that the Repository
objects exercise the API machinery rather than thousands of syncs, drives it over HTTPS with httpx from one trio
loop, and prints requests per second and p50/p99 latencies of each phase ("max" where
there are too few samples for a p99), then the
server's peak RSS (VmHWM). Nothing is asserted: these are figures to read.

    python bench/api_bench.py [--objects 10000] [--concurrency 16] [--watchers 100]
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stats import quantile, tail  # noqa: E402
from tests.parts.server import ServerProcess, free_port  # noqa: E402

COLLECTION = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"


def repository(index: int) -> dict[str, object]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": f"repo-{index:05d}", "labels": {"shard": str(index % 10)}},
            "spec": {"type": "git", "description": f"benchmark repository {index}",
                     "git": {"repo": f"http://127.0.0.1:1/org/repo-{index}.git", "directory": "packages"}}}


@dataclass(frozen=True)
class PhaseResult:
    """One measured phase: how many requests (or deliveries), how long, and latencies in seconds."""

    name: str
    count: int
    elapsed: float
    latencies: list[float]
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else float("nan")

    def p(self, fraction: float) -> float:
        return quantile(self.latencies, fraction)

    def p99(self) -> str:
        """The p99 latency in ms, printed as "max" (with the count) when there are too few samples."""
        label, value = tail(self.latencies, 0.99)
        return f"{label} {value * 1000:.1f} ms" + (f" of {len(self.latencies)}" if label == "max" else "")


def report(result: PhaseResult) -> None:
    print(f"{result.name:<34} {result.count:>7} req  {result.rate:>9.0f} req/s  "
          f"p50 {result.p(0.5) * 1000:>8.2f} ms  {result.p99()}")


Requester = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def run_requests(clients: httpx.AsyncClient | Sequence[httpx.AsyncClient], count: int, concurrency: int,
                       make_request: Requester) -> tuple[float, list[float]]:
    """Send ``count`` requests from ``concurrency`` workers; request i goes to client i mod len(clients)."""
    pool = [clients] if isinstance(clients, httpx.AsyncClient) else list(clients)
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            response = await make_request(pool[index % len(pool)], index)
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 300:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    return time.perf_counter() - started, latencies


async def watch_fanout(client_factories: Callable[[], httpx.AsyncClient] | Sequence[Callable[[], httpx.AsyncClient]],
                       watchers: int, events: int, writer: httpx.AsyncClient) -> PhaseResult:
    """``watchers`` watches (spread over the factories' servers) each receive ``events`` creates made
    through ``writer``; the result's latencies are create-to-delivery delays."""
    factories = [client_factories] if callable(client_factories) else list(client_factories)
    start_rv = (await writer.get(COLLECTION, params={"limit": "1"})).json()["metadata"]["resourceVersion"]
    created_at: dict[str, float] = {}
    delays: list[float] = []
    ready = 0
    all_ready = trio.Event()

    async def watcher(index: int) -> None:
        nonlocal ready
        async with factories[index % len(factories)]() as client:
            async with client.stream("GET", COLLECTION, params={"watch": "1", "resourceVersion": start_rv,
                                                                "labelSelector": "fanout=yes"}) as response:
                ready += 1
                if ready == watchers:
                    all_ready.set()
                seen = 0
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    name = json.loads(line)["object"]["metadata"]["name"]
                    delays.append(time.perf_counter() - created_at.get(name, time.perf_counter()))
                    seen += 1
                    if seen == events:
                        return

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for index in range(watchers):
            nursery.start_soon(watcher, index)
        await all_ready.wait()
        await trio.sleep(0.2)
        for index in range(events):
            body = repository(100_000 + index)
            body["metadata"]["labels"]["fanout"] = "yes"
            created_at[body["metadata"]["name"]] = time.perf_counter()
            response = await writer.post(COLLECTION, json=body)
            assert response.status_code == 201, response.text
    elapsed = time.perf_counter() - started
    return PhaseResult("watch fan-out", len(delays), elapsed, delays,
                       note=f"{watchers} watchers x {events} events")


async def measure_api(clients: Sequence[httpx.AsyncClient], client_factories: Sequence[Callable[[], httpx.AsyncClient]],
                      *, objects: int, concurrency: int, watchers: int, events: int) -> list[PhaseResult]:
    """Every phase of the benchmark against one server or several sharing one store.

    Requests rotate over ``clients`` (one per server); watchers spread over the servers
    of ``client_factories`` while one server (the first) takes the writes.
    """
    results: list[PhaseResult] = []
    elapsed, latencies = await run_requests(clients, objects, concurrency,
                                            lambda c, i: c.post(COLLECTION, json=repository(i)))
    results.append(PhaseResult("create", objects, elapsed, latencies))
    elapsed, latencies = await run_requests(
        clients, objects, concurrency, lambda c, i: c.get(f"{COLLECTION}/repo-{(i * 7919) % objects:05d}"))
    results.append(PhaseResult("get", objects, elapsed, latencies))
    lists = 10
    elapsed, latencies = await run_requests(clients, lists, 1, lambda c, i: c.get(COLLECTION))
    results.append(PhaseResult(f"list all {objects}", lists, elapsed, latencies,
                               note=f"{objects * lists / elapsed:.0f} objects/s"))
    elapsed, latencies = await run_requests(
        clients, lists, 1, lambda c, i: c.get(COLLECTION, params={"labelSelector": "shard=3"}))
    results.append(PhaseResult(f"list by label ({objects // 10})", lists, elapsed, latencies))
    elapsed, latencies = await run_requests(
        clients, lists * 10, 1, lambda c, i: c.get(COLLECTION, params={"limit": "500"}))
    results.append(PhaseResult("list first page of 500", lists * 10, elapsed, latencies))
    results.append(await watch_fanout(client_factories, watchers, events, clients[0]))
    return results


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        data = Path(temporary) / "data"
        server = ServerProcess(data, free_port())
        await trio.to_thread.run_sync(lambda: server.start(["--log-level", "WARNING", "--disable-controllers"]))
        assert server.process is not None
        try:
            token = (data / "admin-token").read_text().strip()
            context = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))

            def client() -> httpx.AsyncClient:
                return httpx.AsyncClient(base_url=server.url, verify=context, timeout=120,
                                         headers={"Authorization": f"Bearer {token}"},
                                         limits=httpx.Limits(max_connections=args.concurrency + 4))

            print(f"porch-embedded API benchmark: {args.objects} objects, concurrency {args.concurrency}, "
                  f"SQLite store, {os.cpu_count()} cores")
            async with client() as http:
                for result in await measure_api([http], [client], objects=args.objects,
                                                concurrency=args.concurrency, watchers=args.watchers,
                                                events=args.events):
                    if result.name == "watch fan-out":
                        print(f"{'watch fan-out':<34} {result.note} = {result.count} deliveries in "
                              f"{result.elapsed:.2f} s ({result.rate:.0f}/s); delivery p50 "
                              f"{result.p(0.5) * 1000:.1f} ms, {result.p99()}")
                        continue
                    report(result)
                    if result.note:
                        print(f"{'':<34} {result.note:>23}")
            print(f"{'server peak RSS':<34} {peak_rss_mib(server.process.pid):.0f} MiB")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--events", type=int, default=100)
    trio.run(main, parser.parse_args())
