"""Sync benchmark: first sync, later syncs and the server's memory, next to ``git clone --bare``.

For each size N (default 1,000 and 10,000 published revisions) this seeds a bare
repository on the test smart-HTTP git server (basic auth, loopback) in Porch's layout
with the same ``git fast-import`` seeder as ``lifecycle_bench.py``, starts
``porch-embedded serve`` as a child process (fresh data directory, SQLite store unless
``--store`` names another), registers the repository, and prints:

- first sync: register -> Ready, next to ``git clone --bare`` of the same repository
  through the same server (the floor), and their ratio; also in CPU seconds (the server
  process with its git children plus the git server's, against git's on both sides),
  which a shared, loaded machine distorts far less than wall time;
- the server's peak RSS (VmHWM) after the first sync, and its RSS once it settled;
- ``--repeat`` later syncs (default 50), each after an external push of one new tag,
  with the time of each and the RSS every tenth; the last lines show whether memory
  grows with repeated syncs;
- with ``--profile DIR``, py-spy's collapsed stacks (``DIR/first-sync-<N>.txt``, for
  flamegraph.pl or speedscope) of the server during its first sync.

Nothing is asserted; these are figures to read. Everything started is stopped on the
way out, also on error or Ctrl-C.

    .venv/bin/python bench/sync_bench.py [--sizes 1000,10000] [--repeat 50] [--profile DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lifecycle_bench import AUTH, PORCH, Porch, package_path, run_git, seed  # noqa: E402
from tests.parts.git_server import GitServer, serve_git  # noqa: E402
from tests.parts.server import ServerProcess, free_port  # noqa: E402


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """CPU seconds of a process and its waited-for children (utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children: git on both sides of the test server."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def mib(pid: int, field: str) -> float:
    return status_kib(pid, field) / 1024


def count_revisions(porch: Porch) -> int:
    """PackageRevisions served, counted through pages of 500 (a list of everything would cost more
    memory in this client than the server's sync did)."""
    count, token = 0, ""
    while True:
        params = {"limit": "500", **({"continue": token} if token else {})}
        body = porch.ok(porch.http.get(f"{PORCH}/packagerevisions", params=params))
        count += len(body["items"])
        token = body["metadata"].get("continue", "")
        if not token:
            return count


def git_clone(git: GitServer, name: str, size: int, scratch: Path) -> tuple[float, float]:
    """``git clone --bare`` of the repository through the same server: (wall s, CPU s of both sides)."""
    started, cpu = time.perf_counter(), children_cpu_s()
    # a large postBuffer: the test server (wsgiref) cannot read the chunked request git sends past 1 MiB
    run_git(*AUTH, "-c", "http.postBuffer=1073741824", "clone", "-q", "--bare", git.url(name),
            str(scratch / f"clone-{size}.git"), cwd=scratch)
    clone_s = time.perf_counter() - started
    clone_cpu = children_cpu_s() - cpu
    print(f"   git clone --bare {clone_s:.2f} s ({clone_cpu:.2f} CPU s, client and server)", flush=True)
    return clone_s, clone_cpu


def run_size(size: int, args: argparse.Namespace, git: GitServer, scratch: Path) -> dict[str, float]:
    name = f"sync{size}"
    bare = git.bare(name)
    run_git("init", "--bare", "-q", "-b", "main", str(bare), cwd=scratch)
    run_git("config", "http.receivepack", "true", cwd=bare)
    started = time.perf_counter()
    packages, commits = seed(bare, size, name)
    print(f"\n== N = {size:,}: {packages:,} packages, {commits:,} commits, seeded in "
          f"{time.perf_counter() - started:.1f} s", flush=True)

    if args.skip_clone:
        clone_s = clone_cpu = float("nan")
    else:
        clone_s, clone_cpu = git_clone(git, name, size, scratch)

    server = ServerProcess(scratch / f"data-{size}", free_port())
    flags = ["--log-level", "WARNING", "--function-runner", "none", "--sync-interval", "86400"]
    if args.store:
        flags += ["--store", args.store.replace("{N}", str(size))]
    server.start(flags)
    assert server.process is not None
    pid = server.process.pid
    porch = Porch(server)
    spy: subprocess.Popen[bytes] | None = None
    try:
        idle_rss = mib(pid, "VmRSS")
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            out = Path(args.profile) / f"first-sync-{size}.txt"
            py_spy = Path(sys.executable).parent / "py-spy"
            spy = subprocess.Popen([str(py_spy), "record", "--pid", str(pid), "--rate", "50", "--nonblocking",
                                    "--format", "raw", "--output", str(out)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        started, cpu, server_cpu = time.perf_counter(), children_cpu_s(), cpu_s(pid)
        porch.register(name, git.url(name))
        porch.wait_synced(name, args.sync_timeout)
        first_s = time.perf_counter() - started
        first_cpu = cpu_s(pid) - server_cpu + children_cpu_s() - cpu
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=120)
            spy = None
        peak = mib(pid, "VmHWM")
        listed = count_revisions(porch)
        time.sleep(1.0)
        settled = mib(pid, "VmRSS")
        print(f"   first sync {first_s:.2f} s ({first_s / clone_s:.1f}x git clone --bare), {first_cpu:.2f} CPU s "
              f"({first_cpu / clone_cpu:.1f}x git's; server and git server); {listed:,} "
              f"PackageRevisions; RSS idle before {idle_rss:.0f} MiB, peak {peak:.0f} MiB, after {settled:.0f} MiB",
              flush=True)

        head = run_git("rev-parse", "main", cwd=bare).strip()
        times: list[float] = []
        rss: list[float] = []
        for rep in range(args.repeat):
            tag = f"refs/tags/{package_path(rep % packages)}/v{1000 + rep}"
            run_git(*AUTH, "push", "-q", git.url(name), f"{head}:{tag}", cwd=bare)
            time.sleep(1.05)  # runOnceAt and lastFullSyncTime have second precision
            started = time.perf_counter()
            porch.sync(name, args.sync_timeout)
            times.append(time.perf_counter() - started)
            rss.append(mib(pid, "VmRSS"))
            if (rep + 1) % 10 == 0 or rep == 0:
                print(f"   sync {rep + 1:>3}/{args.repeat}: {times[-1] * 1000:.0f} ms, RSS {rss[-1]:.0f} MiB "
                      f"(peak {mib(pid, 'VmHWM'):.0f})", flush=True)
        result = {"size": size, "first_s": first_s, "clone_s": clone_s, "peak": peak, "settled": settled,
                  "first_cpu": first_cpu, "clone_cpu": clone_cpu,
                  "final_peak": mib(pid, "VmHWM")}
        if times:
            result |= {"sync_p50_ms": statistics.median(times) * 1000, "rss_first": rss[0], "rss_last": rss[-1]}
        return result
    finally:
        if spy is not None:
            spy.kill()
            spy.wait()
        porch.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated numbers of published revisions")
    parser.add_argument("--repeat", type=int, default=50, help="later syncs, each after one new tag (default 50)")
    parser.add_argument("--profile", metavar="DIR", help="record the first sync with py-spy into DIR")
    parser.add_argument("--store", metavar="URL", help="the server's --store ({N} is replaced by the size)")
    parser.add_argument("--skip-clone", action="store_true", help="no git clone --bare for comparison")
    parser.add_argument("--sync-timeout", type=float, default=3600.0, metavar="SECONDS")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"porch-embedded sync benchmark: sizes {sizes}, {args.repeat} later syncs, {os.cpu_count()} cores, "
          f"store {args.store or 'SQLite'}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as temporary:
        scratch = Path(temporary)
        with serve_git(scratch / "srv") as git:
            for size in sizes:
                results.append(run_size(size, args, git, scratch))
    print("\n| N revisions | first sync s | git clone --bare s | ratio | first sync CPU s | clone CPU s | CPU ratio | "
          "peak RSS during first sync MiB | "
          "RSS after MiB | later sync p50 ms | RSS after 1st / last later sync MiB | peak RSS at the end MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        later = (f"{r['sync_p50_ms']:.0f} | {r['rss_first']:.0f} / {r['rss_last']:.0f}"
                 if "sync_p50_ms" in r else " | ")
        print(f"| {int(r['size']):,} | {r['first_s']:.2f} | {r['clone_s']:.2f} | {r['first_s'] / r['clone_s']:.1f} | "
              f"{r['first_cpu']:.2f} | {r['clone_cpu']:.2f} | {r['first_cpu'] / r['clone_cpu']:.1f} | "
              f"{r['peak']:.0f} | {r['settled']:.0f} | {later} | {r['final_peak']:.0f} |")


if __name__ == "__main__":
    main()
