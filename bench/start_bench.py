"""Start and list benchmark: restart to ready, a full list against the store-rows floor, paged lists.

For each size N (default 100, 1,000 and 10,000 published revisions) and store (SQLite, and
PostgreSQL with ``--stores sqlite,postgres``) this:

1. seeds a bare repository in Porch's layout with ``git fast-import`` (the same seeding
   as lifecycle_bench.py), serves it over smart HTTP with basic auth, starts
   ``porch-embedded serve`` as a child process, registers the repository and waits for
   its first sync;
2. stops the server and, ``--restarts`` times, starts it again and times process start
   to the first full list answered (every revision in it): the "restart to ready" a
   client sees, with the CPU seconds the server used until then (steadier than wall
   time on a shared machine); then full lists on that server, each followed by its floor
   (reading the same rows straight from the store and serialising them: lifecycle_bench's
   ``rows_as_list``, so that both see the same load), and paged lists. With
   ``--baseline TREE`` each round also starts the server from another source tree (a
   checkout of an older commit) on the same data, right after, so before and after are
   measured side by side under the same load. Each tree's bytecode is written first
   (``compileall``), as an installed package or the binary has it; ``--cold-bytecode`` skips that.

Nothing is asserted; the figures are printed. Everything started is stopped on the way out.

    .venv/bin/python bench/start_bench.py [--sizes 100,1000,10000] [--stores sqlite,postgres] [--restarts 5]
        [--baseline /path/to/older/checkout] [--cold-bytecode]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lifecycle_bench import PORCH, Porch, rows_as_list, run_git, seed  # noqa: E402
from tests.parts.git_server import GitServer, serve_git  # noqa: E402
from tests.parts.server import ServerProcess, free_port, server_command  # noqa: E402

PAGE = 500
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def list_floor_s(store_url: str, reps: int) -> float:
    """Median seconds of lifecycle_bench.rows_as_list: reading every PackageRevision row of the
    namespace straight from the store and serialising them as a list (the floor a list is held to)."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        rows_as_list(store_url)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _client(data_dir: Path, url: str) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
    token = (data_dir / "admin-token").read_text().strip()
    return httpx.Client(base_url=url, verify=context, timeout=120, headers={"Authorization": f"Bearer {token}"})


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (a steadier figure than wall time on a busy machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def paged(http: httpx.Client, pages: int) -> tuple[float, float, int]:
    """(first page s, median of later pages s, items seen) walking ``pages`` pages of ``limit=500``."""
    times: list[float] = []
    token, seen = "", 0
    for _ in range(pages):
        started = time.perf_counter()
        params: dict[str, Any] = {"limit": PAGE}
        if token:
            params["continue"] = token
        body = http.get(f"{PORCH}/packagerevisions", params=params).json()
        times.append(time.perf_counter() - started)
        seen += len(body["items"])
        token = body["metadata"].get("continue", "")
        if not token:
            break
    return times[0], statistics.median(times[1:] or times), seen


@dataclass
class Round:
    """One start of the server from one source tree: what it took to serve, then its lists."""

    first_list_s: float
    first_list_cpu_s: float
    list_s: float
    floor_s: float
    """The store-rows floor, timed right after each list (the same load as the list)."""
    page_first_s: float
    page_later_s: float


def compile_tree(tree: Path) -> None:
    """Write the bytecode of ``tree``'s modules before restarts are timed.

    An installed package and the binary start from bytecode; a checkout run with
    PYTHONDONTWRITEBYTECODE set, or a fresh ``git archive``, compiles every module it imports
    on every start (about 0.25 s of CPU on this machine), which is not what a restart costs.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "porch_embedded")], check=True,
                   stdout=subprocess.DEVNULL)


def run_round(data: Path, port: int, flags: list[str], tree: Path | None, expect: int,
              list_reps: int, store_url: str) -> Round:
    """Start the server (from ``tree``, else this checkout), time process start to the first full list,
    then full and paged lists on it; stop it with SIGTERM."""
    log = (data / "server.log").open("ab")
    tree = tree or Path(__file__).resolve().parents[1]  # this checkout, whatever the current directory
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    process = subprocess.Popen([*server_command(), "serve", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
                                *flags], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env=env, cwd=tree)
    try:
        first_s = first_cpu = 0.0
        while time.perf_counter() - started < 300:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {(data / 'server.log').read_text()[-2000:]}")
            try:
                with _client(data, f"https://127.0.0.1:{port}") as http:
                    response = http.get(f"{PORCH}/packagerevisions")
            except (httpx.TransportError, FileNotFoundError):
                time.sleep(0.005)
                continue
            if response.status_code == 200 and len(response.json()["items"]) >= expect:
                first_s, first_cpu = time.perf_counter() - started, _cpu_s(process.pid)
                break
            time.sleep(0.005)
        with _client(data, f"https://127.0.0.1:{port}") as http:
            lists, floors = [], []
            for _ in range(list_reps):
                begun = time.perf_counter()
                http.get(f"{PORCH}/packagerevisions").raise_for_status()
                lists.append(time.perf_counter() - begun)
                floors.append(list_floor_s(store_url, 1))
            pages = [paged(http, 4) for _ in range(list_reps)]
        return Round(first_s, first_cpu, statistics.median(lists), statistics.median(floors),
                     statistics.median(p[0] for p in pages), statistics.median(p[1] for p in pages))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_one(size: int, store: str, args: argparse.Namespace, git: GitServer, scratch: Path) -> dict[str, Any]:
    name = f"start{size}"
    bare = git.bare(name)
    if not bare.exists():
        run_git("init", "--bare", "-q", "-b", "main", str(bare), cwd=scratch)
        run_git("config", "http.receivepack", "true", cwd=bare)
        seed(bare, size, name)
    data = scratch / f"data-{store}-{size}"
    flags = ["--log-level", "WARNING", "--function-runner", "none", "--sync-interval", "86400"]
    database = ""
    store_url = f"sqlite:///{data / 'store.db'}"
    if store == "postgres":
        import psycopg

        database = f"start_bench_{size}_{int(time.time())}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        store_url = f"postgresql://postgres@127.0.0.1:5432/{database}"
        flags += ["--store", store_url]
    server = ServerProcess(data, free_port())
    result: dict[str, Any] = {"size": size, "store": store}
    try:
        server.start(flags)
        porch = Porch(server)
        try:
            started = time.perf_counter()
            porch.register(name, git.url(name))
            porch.wait_synced(name, args.sync_timeout)
            result["first_sync_s"] = time.perf_counter() - started
            result["revisions"] = porch.list_revisions()
        finally:
            porch.close()
        server.stop()
        trees: list[tuple[str, Path | None]] = [("this", None)]
        if args.baseline:
            trees.append(("baseline", Path(args.baseline).resolve()))
        rounds: dict[str, list[Round]] = {label: [] for label, _ in trees}
        if not args.cold_bytecode:
            for _, tree in trees:
                compile_tree(tree or Path(__file__).resolve().parents[1])
        for _ in range(args.restarts):
            for label, tree in trees:  # alternating, so that both see the same load
                rounds[label].append(run_round(data, server.port, flags, tree, result["revisions"], args.list_reps,
                                               store_url))
        for label, done in rounds.items():
            result[label] = {field: statistics.median(getattr(r, field) for r in done)
                             for field in Round.__dataclass_fields__}
        print(json.dumps(result), flush=True)
        return result
    finally:
        server.stop()
        if database:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--stores", default="sqlite")
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--list-reps", type=int, default=5)
    parser.add_argument("--baseline", metavar="TREE",
                        help="another source tree (a checkout of an older commit): each restart round runs it "
                             "right after this one on the same data, and both are printed")
    parser.add_argument("--sync-timeout", type=float, default=900.0)
    parser.add_argument("--cold-bytecode", action="store_true",
                        help="do not compile the trees first: with PYTHONDONTWRITEBYTECODE set, every restart "
                             "then compiles the modules it imports")
    parser.add_argument("--hold", action="store_true",
                        help="after the figures, keep the git server and the last server's data directory "
                             "(stopped) until SIGTERM, to profile a restart by hand")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    results = []
    with tempfile.TemporaryDirectory(prefix="start-bench-") as temporary:
        scratch = Path(temporary)
        with serve_git(scratch / "srv") as git:
            for store in args.stores.split(","):
                for size in (int(s) for s in args.sizes.split(",")):
                    results.append(run_one(size, store, args, git, scratch))
            if args.hold:
                print(f"holding {scratch} (git server {git.url('')}); SIGTERM ends", flush=True)
                while True:
                    time.sleep(3600)
    print("\n| store | N revisions | listed | tree | first sync s | restart to first full list s (CPU s) | "
          "full list ms | store rows floor ms | list / floor | page 1 (limit=500) ms | later page ms |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for label in ("this", "baseline"):
            if label not in r:
                continue
            t, floor = r[label], r[label]["floor_s"]
            print(f"| {r['store']} | {r['size']:,} | {r['revisions']:,} | {label} | {r['first_sync_s']:.1f} | "
                  f"{t['first_list_s']:.2f} ({t['first_list_cpu_s']:.2f}) | {t['list_s'] * 1000:.0f} | "
                  f"{floor * 1000:.0f} | {t['list_s'] / floor:.2f} | {t['page_first_s'] * 1000:.1f} | "
                  f"{t['page_later_s'] * 1000:.1f} |")

if __name__ == "__main__":
    main()
