"""Dashboard benchmark: the packages page of a repository holding N revisions (default 10,000).

The page filters, sorts and pages on the server, over the dashboard's in-memory revision
index (fed by the store's watch), so its time should not grow with the repository. This:

1. seeds a fresh SQLite store directly with one Repository and N PackageRevisions
   (N/4 packages with four revisions each, lifecycles mixed: Published, Proposed, Draft),
   the bodies the engine writes, in transactions of 500; the Repository's git URL leads
   nowhere and the server runs with its controllers off, so nothing syncs them away;
2. starts ``porch-embedded serve`` on that data directory as a child process and prints
   how long it took to be ready and its resident memory (the dashboard's index is not
   built yet: it starts on the first signed-in page);
3. signs in through the dashboard's login form (the admin token), opens the first page
   and prints how long that took and how much the server's resident memory grew (the
   index: one row per revision, plus the informer's copy of each body it follows);
   prints, for comparison, the size of N index rows alone (tracemalloc, in this process);
4. times, ``--reps`` times each (median and p90, ms, over HTTP/1.1 on loopback):
   - the first page (50 rows) sorted by name;
   - page 40 of the Published ones sorted by creation time, newest first;
   - a name filter matching a few packages;
   - the approval queue (every Proposed revision, with its diff size and render state);
   and, for scale, the API's list of every PackageRevision of the repository (one request).

Nothing is asserted; these are figures to read (the target for the packages page is
under 200 ms). Everything started is stopped on the way out, also on error or Ctrl-C.

    .venv/bin/python bench/dashboard_bench.py [--revisions 10000] [--reps 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import ssl
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import trio
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stats import tail  # noqa: E402
from porch_embedded.dashboard._index import RevisionRow  # noqa: E402
from porch_embedded.store import Create, open_store  # noqa: E402
from tests.parts.server import ServerProcess, free_port  # noqa: E402

NAMESPACE = "default"
REPOSITORY = "bench"
LIFECYCLES = ("Published", "Published", "Proposed", "Draft")
"""Revision 1 and 2 of each package published, 3 proposed, 4 a draft."""


def _revision(package: int, number: int, rv: int) -> dict[str, Any]:
    lifecycle = LIFECYCLES[number - 1]
    name = f"{REPOSITORY}.p{package:05d}.ws{number}"
    created = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rv)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict[str, Any] = {
        "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"00000000-0000-4000-8000-{rv:012d}",
                     "creationTimestamp": created},
        "spec": {"packageName": f"p{package:05d}", "repository": REPOSITORY, "workspaceName": f"ws{number}",
                 "lifecycle": lifecycle, "tasks": [{"type": "init", "init": {"description": "bench"}}]},
        "status": {"selfLock": {"type": "git", "git": {"repo": "http://127.0.0.1:9/bench.git", "directory": "",
                                                       "ref": f"p{package:05d}/v{number}", "commit": "0" * 40}}},
    }
    if lifecycle == "Published":
        body["spec"]["revision"] = number
        if number == 2:
            body["metadata"]["labels"] = {"kpt.dev/latest-revision": "true"}
    return body


async def _seed(data_dir: Path, revisions: int) -> float:
    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    (data_dir / "store.key").touch(mode=0o600)
    (data_dir / "store.key").write_bytes(key)  # the server reads this key, as if it had made it
    async with open_store(f"sqlite:///{data_dir / 'store.db'}", encryption_key=key) as store:
        await store.create("repositories.config.porch.kpt.dev", {
            "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": REPOSITORY, "namespace": NAMESPACE, "uid": "11111111-0000-4000-8000-000000000000",
                         "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1},
            "spec": {"type": "git", "git": {"repo": "http://127.0.0.1:9/bench.git", "branch": "main"}}})
        batch: list[Create] = []
        for index in range(revisions):
            batch.append(Create("packagerevisions.porch.kpt.dev",
                                _revision(index // 4, index % 4 + 1, index + 1)))
            if len(batch) == 500:
                await store.apply(batch)
                batch = []
        if batch:
            await store.apply(batch)
    return time.perf_counter() - started


def _rss_mib(pid: int) -> float:
    """The process's resident set size, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rows_mib(revisions: int) -> float:
    """What ``revisions`` index rows take on their own (tracemalloc), built from bodies as the server's."""
    bodies = [_revision(index // 4, index % 4 + 1, index + 1) for index in range(revisions)]
    for rv, body in enumerate(bodies, 1):
        body["metadata"]["resourceVersion"] = str(rv)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rows = {(row.namespace, row.name): row for row in map(RevisionRow.of, bodies)}
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(rows) == revisions
    return size / 2**20


def _signed_in(server: ServerProcess) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    client = httpx.Client(base_url=server.url, verify=context, timeout=120)
    form = client.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None, form.text[:500]
    token = (server.data_dir / "admin-token").read_text().strip()
    response = client.post("/ui/login", data={"token": token, "csrf_token": csrf.group(1)})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed: {response.status_code} {response.text[:300]}")
    return client


def _time(client: httpx.Client, path: str, reps: int, expect: str) -> tuple[list[float], int]:
    samples: list[float] = []
    size = 0
    for _ in range(reps):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or expect not in response.text:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
        size = len(response.content)
    return samples, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        seed_s = trio.run(_seed, data_dir, args.revisions)
        print(f"seeded {args.revisions:,} PackageRevisions of {REPOSITORY} into a fresh SQLite store in {seed_s:.1f} s")
        server = ServerProcess(data_dir, free_port())
        started = time.perf_counter()
        server.start(["--log-level", "WARNING", "--function-runner", "none", "--disable-controllers"])
        print(f"server ready in {time.perf_counter() - started:.2f} s")
        try:
            pid = server.process.pid
            idle = _rss_mib(pid)
            print(f"server RSS when ready (no index yet): {idle:.1f} MiB")
            client = _signed_in(server)
            try:
                started = time.perf_counter()
                client.get("/ui/").raise_for_status()
                first = time.perf_counter() - started
                print(f"first dashboard page (builds the index): {first:.2f} s; "
                      f"server RSS {_rss_mib(pid):.1f} MiB (+{_rss_mib(pid) - idle:.1f} MiB)")
                print(f"{args.revisions:,} index rows alone (tracemalloc): {_rows_mib(args.revisions):.1f} MiB")
                base = f"/ui/repositories/{NAMESPACE}/{REPOSITORY}/packages"
                late = max(1, args.revisions // 2 // 50 * 4 // 5)  # four fifths into the Published pages
                cases = [
                    ("packages page 1, sort by name", f"{base}?sort=name", f"{args.revisions} revision"),
                    (f"packages, Published, newest first, page {late}",
                     f"{base}?lifecycle=Published&sort=-created&page={late}", f"page {late} of"),
                    ("packages, name contains p0012", f"{base}?q=p0012", "revision"),
                    ("approval queue", "/ui/queue", "waiting"),
                ]
                print(f"\n{'page':<46} {'p50 ms':>8} {'p90 ms':>8} {'tail':>12} {'KiB':>7}  ({args.reps} requests)")
                for label, path, expect in cases:
                    samples, size = _time(client, path, args.reps, expect)
                    name, value = tail(samples, 0.9)
                    print(f"{label:<46} {statistics.median(samples):>8.1f} {value:>8.1f} {name:>12} "
                          f"{size / 1024:>7.1f}")
                verify = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
                admin = {"Authorization": f"Bearer {(data_dir / 'admin-token').read_text().strip()}"}
                api = httpx.Client(base_url=server.url, verify=verify, headers=admin, timeout=120)
                with api:
                    started = time.perf_counter()
                    listed = api.get(f"/apis/porch.kpt.dev/v1alpha1/namespaces/{NAMESPACE}/packagerevisions",
                                     params={"fieldSelector": f"spec.repository={REPOSITORY}"})
                    elapsed = (time.perf_counter() - started) * 1000
                print(f"{'for scale: API list of all ' + str(len(listed.json()['items'])) + ' revisions':<46} "
                      f"{elapsed:>8.1f} {'':>8} {'(one)':>12} {len(listed.content) / 1024:>7.1f}")
            finally:
                client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
