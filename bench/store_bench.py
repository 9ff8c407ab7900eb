"""Store benchmark: the API benchmark's phases on SQLite and PostgreSQL, on one and three replicas.

Runs bench/api_bench.py's phases (create, get, list of N objects, list by label, first
page, watch fan-out) against three setups, each a fresh store and fresh server processes
(``porch-embedded serve --disable-controllers``, as api_bench does):

- ``sqlite x1``: one server, SQLite file in its data directory (the default);
- ``postgres x1``: one server on a database with a random name on 127.0.0.1:5432;
- ``postgres x3``: three replicas on such a database, sharing one store key file; requests
  rotate over the replicas, watchers are spread over them, and the fan-out's writes go
  through the first replica (so two thirds of the deliveries cross replicas).

It prints the figures side by side: requests/s, p50 and p99 per phase and setup. Client
and servers share this machine's CPU, so the three-replica figures measure the cost of
coordination, not added capacity. Nothing is asserted: these are figures to read.

    python bench/store_bench.py [--objects 10000] [--concurrency 16] [--watchers 100] [--events 100]
"""

from __future__ import annotations

import argparse
import os
import secrets
import ssl
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_bench import PhaseResult, measure_api  # noqa: E402
from tests.parts.postgres import ADMIN_URL  # noqa: E402
from tests.parts.server import ServerProcess, free_port  # noqa: E402

SETUPS = ("sqlite x1", "postgres x1", "postgres x3")


def client_factory(server: ServerProcess, connections: int) -> Callable[[], httpx.AsyncClient]:
    """httpx clients of one server, as its admin (each server has its own CA and token)."""
    token = (server.data_dir / "admin-token").read_text().strip()
    context = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))

    def make() -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=server.url, verify=context, timeout=300,
                                 headers={"Authorization": f"Bearer {token}"},
                                 limits=httpx.Limits(max_connections=connections))

    return make


async def run_setup(setup: str, root: Path, args: argparse.Namespace) -> list[PhaseResult]:
    """Start the setup's servers on a fresh store, measure every phase, stop everything."""
    database = ""
    extra: list[str] = ["--log-level", "WARNING", "--disable-controllers"]
    replicas = 3 if setup.endswith("x3") else 1
    if setup.startswith("postgres"):
        database = f"porch_bench_{secrets.token_hex(6)}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        extra += ["--store", f"postgresql://postgres@127.0.0.1:5432/{database}",
                  "--store-key-file", str(root / "store.key")]
    servers = [ServerProcess(root / f"replica-{index}", free_port()) for index in range(replicas)]
    try:
        for server in servers:
            await trio.to_thread.run_sync(server.start, extra)
        per_server = max(4, (args.concurrency + 4) // replicas + 1)
        factories = [client_factory(server, per_server) for server in servers]
        clients = [factory() for factory in factories]
        try:
            return await measure_api(clients, factories, objects=args.objects, concurrency=args.concurrency,
                                     watchers=args.watchers, events=args.events)
        finally:
            for client in clients:
                await client.aclose()
    finally:
        for server in servers:
            server.stop()
        if database:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def print_side_by_side(results: dict[str, list[PhaseResult]]) -> None:
    """One row per phase; per setup its rate and p50/p99 latency (max where there are too few samples)."""
    setups = list(results)
    header = f"{'phase':<26}" + "".join(f" | {setup:^33}" for setup in setups)
    print(header)
    print("-" * len(header))
    for index, phase in enumerate(results[setups[0]]):
        name = phase.name if phase.name != "watch fan-out" else f"watch fan-out ({phase.note})"
        cells = []
        for setup in setups:
            result = results[setup][index]
            unit = "/s" if result.name == "watch fan-out" else " r/s"
            cells.append(f" | {result.rate:>7.0f}{unit:<4} p50 {result.p(0.5) * 1000:>6.1f} {result.p99()}")
        print(f"{name[:26]:<26}" + "".join(cells))
    list_phase = next(i for i, r in enumerate(results[setups[0]]) if r.name.startswith("list all"))
    if "sqlite x1" in results and "postgres x1" in results:
        ratio = results["postgres x1"][list_phase].p(0.5) / results["sqlite x1"][list_phase].p(0.5)
        print(f"\n{results['sqlite x1'][list_phase].name}: PostgreSQL p50 is {ratio:.2f}x SQLite's")
    print("(latencies in ms; watch fan-out rate is deliveries/s and its latency is create-to-delivery)")


async def main(args: argparse.Namespace) -> None:
    print(f"porch-embedded store benchmark: {args.objects} objects, concurrency {args.concurrency}, "
          f"{args.watchers} watchers x {args.events} events, {os.cpu_count()} cores\n")
    results: dict[str, list[PhaseResult]] = {}
    for setup in args.setups:
        with tempfile.TemporaryDirectory() as temporary:
            print(f"running {setup} ...", flush=True)
            results[setup] = await run_setup(setup, Path(temporary), args)
    print()
    print_side_by_side(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--setups", nargs="+", choices=SETUPS, default=list(SETUPS))
    trio.run(main, parser.parse_args())
