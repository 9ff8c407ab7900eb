"""Lifecycle benchmark: create, propose, approve, list and sync against the same work done with git.

For each size N (default 10, 1,000 and 10,000 published revisions already in the
repository) this:

1. seeds a bare repository on a real git smart-HTTP server with basic auth (loopback)
   with N published revisions in Porch's own layout, written with ``git fast-import``:
   ceil(N/4) packages ``catalog/gNN/pNNNNN`` with up to four revisions each (v1..v4);
   every revision is a draft commit (``kpt:`` trailer with its init or edit task) plus
   a merge approval commit on main and a tag ``<path>/v<r>``, exactly what Porch
   leaves behind, so that discovery reads real trailers and task history;
2. starts ``porch-embedded serve`` as a child process (fresh data directory, SQLite
   store), registers the repository with a basic-auth Secret, and times the first
   sync (Ready with a lastFullSyncTime), next to ``git fetch`` of everything into an
   empty repository (the equivalent for a git user);
3. times, for ``--reps`` repetitions each (median and p90):
   - create: POST a PackageRevision (init task) | git: commit the package on a new
     ``drafts/<path>/<ws>`` branch and push it (plumbing, no checkout);
   - propose: PUT with spec.lifecycle Proposed | git: one atomic push that creates
     ``proposed/<path>/<ws>`` and deletes the draft branch;
   - approve: PUT .../approval with Published | git: fetch main, merge commit
     (parents main and the proposal), one atomic push of main + tag + branch deletion;
   - list: GET every PackageRevision | git: ``for-each-ref`` on a local clone and
     reading every revision's Kptfile with one ``cat-file --batch`` (``git ls-remote``
     is printed too);
   - sync: after an external push of one new tag, patch spec.sync.runOnceAt and wait
     for a new status.lastFullSyncTime | git: ``git fetch --prune`` of all branches
     and tags into the local clone;
4. prints the table with ratios ours/git, and the server's peak RSS (VmHWM).

Nothing is asserted; these are figures to read. Everything started (git server
thread, server process, temporary directories) is stopped on the way out, also on
error or Ctrl-C.

    .venv/bin/python bench/lifecycle_bench.py [--sizes 10,1000,10000] [--reps 10] [--sync-reps 5] [--large-reps 4]

At N >= 10,000 the per-operation repetitions are capped by --large-reps (each
operation takes seconds there); the whole run takes about 12 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import math
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.parts.git_server import (  # noqa: E402
    _GIT_ENV,
    PASSWORD,
    USERNAME,
    GitServer,
    kptfile,
    serve_git,
)
from bench._stats import tail  # noqa: E402
from tests.parts.server import ServerProcess, free_port  # noqa: E402

NAMESPACE = "default"
PORCH = f"/apis/porch.kpt.dev/v1alpha1/namespaces/{NAMESPACE}"
CONFIG = f"/apis/config.porch.kpt.dev/v1alpha1/namespaces/{NAMESPACE}"
REVISIONS_PER_PACKAGE = 4
GROUP_SIZE = 50
PORCH_EMAIL = "porch@kpt.dev"


# -- small helpers -------------------------------------------------------------------------


def kpt_trailer(body: dict[str, Any]) -> str:
    return "kpt:" + json.dumps(body, separators=(",", ":"))


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **_GIT_ENV, **(extra or {})}


def run_git(*args: str, cwd: Path, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, env=env or git_env(),
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:4])} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return done.stdout.decode()


AUTH = ["-c", "http.extraHeader=Authorization: Basic "
        + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()]


@dataclass
class Timings:
    samples: dict[str, list[float]] = field(default_factory=dict)

    @contextmanager
    def time(self, key: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.samples.setdefault(key, []).append(time.perf_counter() - started)

    def add(self, key: str, seconds: float) -> None:
        self.samples.setdefault(key, []).append(seconds)


# -- the git server ------------------------------------------------------------------------


def package_path(index: int) -> str:
    return f"catalog/g{index // GROUP_SIZE:02d}/p{index:05d}"


def seed(bare: Path, count: int, repo_name: str) -> tuple[int, int]:
    """Write ``count`` published revisions in Porch's layout with git fast-import; (packages, commits)."""
    packages = math.ceil(count / REVISIONS_PER_PACKAGE)
    lines: list[bytes] = []
    when = 1_700_000_000
    mark = 0

    def data(text: str) -> None:
        raw = text.encode()
        lines.append(b"data %d\n" % len(raw))
        lines.append(raw + b"\n")

    def commit_header(ref: str, who: str, message: str) -> int:
        nonlocal when, mark
        when += 1
        mark += 1
        lines.append(f"commit {ref}\nmark :{mark}\n".encode())
        lines.append(f"author {who} {when} +0000\ncommitter Package Orchestration Service <{PORCH_EMAIL}> "
                     f"{when} +0000\n".encode())
        data(message)
        return mark

    # The initial commit on main.
    main_mark = commit_header("refs/heads/main", f"porch <{PORCH_EMAIL}>", "Initial commit: Creating main branch")
    lines.append(b"M 100644 inline README.md\n")
    data("Created by porch")
    written = 0
    for revision in range(1, REVISIONS_PER_PACKAGE + 1):
        for index in range(packages):
            if written == count:
                break
            written += 1
            path = package_path(index)
            name = path.rsplit("/", 1)[-1]
            workspace = f"ws{revision}"
            if revision == 1:
                task = {"type": "init", "init": {"description": f"{name} description"}}
                summary = "Creating new empty revision"
            else:
                source = f"{repo_name}.{path.replace('/', '.')}.ws{revision - 1}"
                task = {"type": "edit", "edit": {"sourceRef": {"name": source}}}
                summary = "Creating new revision by copying previous revision"
            files = {
                f"{path}/Kptfile": kptfile(name),
                f"{path}/cm.yaml": (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
                                    f"data:\n  revision: \"{revision}\"\n"),
            }
            draft_message = f"{summary}\n\n" + kpt_trailer(
                {"package": path, "workspaceName": workspace, "revision": "0", "task": task}) + "\n"
            previous_main = main_mark
            draft_mark = commit_header("refs/heads/seed-draft", "admin <admin>", draft_message)
            lines.append(f"from :{previous_main}\n".encode())
            for file_path, text in files.items():
                lines.append(f"M 100644 inline {file_path}\n".encode())
                data(text)
            approval = f"Approving package revision {path}/{revision}\n\n" + kpt_trailer(
                {"package": path, "workspaceName": workspace, "revision": str(revision)}) + "\n"
            main_mark = commit_header("refs/heads/main", "admin <admin>", approval)
            lines.append(f"from :{previous_main}\nmerge :{draft_mark}\n".encode())
            for file_path, text in files.items():
                lines.append(f"M 100644 inline {file_path}\n".encode())
                data(text)
            lines.append(f"reset refs/tags/{path}/v{revision}\nfrom :{main_mark}\n\n".encode())
    lines.append(b"done\n")
    run_git("fast-import", "--quiet", "--done", cwd=bare, stdin=b"".join(lines))
    run_git("update-ref", "-d", "refs/heads/seed-draft", cwd=bare)
    run_git("pack-refs", "--all", cwd=bare)
    return packages, mark


# -- the git command line side ----------------------------------------------------------------


class GitUser:
    """A local clone driven with the git command line, as a user without Porch would work."""

    def __init__(self, work: Path, url: str) -> None:
        self.work = work
        self.url = url
        self.index = work / ".git" / "bench-index"

    def git(self, *args: str, stdin: bytes | None = None, index: bool = False) -> str:
        env = git_env({"GIT_INDEX_FILE": str(self.index)}) if index else None
        return run_git(*args, cwd=self.work, stdin=stdin, env=env)

    def remote(self, *args: str) -> str:
        return self.git(*AUTH, *args)

    def clone(self) -> None:
        """Everything Porch fetches, into an empty repository (the initial sync of a git user)."""
        self.work.mkdir(parents=True)
        self.git("init", "-q")
        self.git("remote", "add", "origin", self.url)
        self.fetch()

    def fetch(self) -> None:
        self.remote("fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*")

    def create(self, path: str, workspace: str) -> str:
        """Commit a new package on a drafts/ branch off main and push the branch; the commit id."""
        name = path.rsplit("/", 1)[-1]
        files = {
            "Kptfile": kptfile(name),
            "README.md": f"# {name}\n",
            "package-context.yaml": (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\n"
                                     f"  annotations:\n    config.kubernetes.io/local-config: \"true\"\n"
                                     f"data:\n  name: {name}\n"),
        }
        blobs = {}
        for file_name, text in files.items():
            blobs[file_name] = self.git("hash-object", "-w", "--stdin", stdin=text.encode()).strip()
        self.git("read-tree", "refs/remotes/origin/main", index=True)
        cacheinfo: list[str] = []
        for file_name, blob in blobs.items():
            cacheinfo += ["--cacheinfo", f"100644,{blob},{path}/{file_name}"]
        self.git("update-index", "--add", *cacheinfo, index=True)
        tree = self.git("write-tree", index=True).strip()
        message = "Creating new empty revision\n\n" + kpt_trailer(
            {"package": path, "workspaceName": workspace, "revision": "0",
             "task": {"type": "init", "init": {"description": f"{name} description"}}})
        commit = self.git("commit-tree", tree, "-p", "refs/remotes/origin/main", "-m", message).strip()
        self.remote("push", "-q", "origin", f"{commit}:refs/heads/drafts/{path}/{workspace}")
        return commit

    def propose(self, path: str, workspace: str, commit: str) -> None:
        self.remote("push", "-q", "--atomic", "origin", f"{commit}:refs/heads/proposed/{path}/{workspace}",
                    f":refs/heads/drafts/{path}/{workspace}")

    def approve(self, path: str, workspace: str, commit: str, number: int) -> None:
        self.remote("fetch", "-q", "origin", "+refs/heads/main:refs/remotes/origin/main")
        tree = self.git("merge-tree", "--write-tree", "refs/remotes/origin/main", commit).split()[0]
        message = f"Approving package revision {path}/{number}\n\n" + kpt_trailer(
            {"package": path, "workspaceName": workspace, "revision": str(number)})
        merge = self.git("commit-tree", tree, "-p", "refs/remotes/origin/main", "-p", commit, "-m", message).strip()
        self.remote("push", "-q", "--atomic", "origin", f"{merge}:refs/heads/main",
                    f"{merge}:refs/tags/{path}/v{number}", f":refs/heads/proposed/{path}/{workspace}")

    def list_local(self) -> int:
        """Every revision ref and its Kptfile, read from the local clone; how many revisions."""
        refs = self.git("for-each-ref", "--format=%(objectname) %(refname)", "refs/tags", "refs/remotes/origin")
        wanted = []
        for line in refs.splitlines():
            sha, ref = line.split(" ", 1)
            if ref.startswith("refs/tags/"):
                path = ref.removeprefix("refs/tags/").rsplit("/", 1)[0]
            elif ref.startswith(("refs/remotes/origin/drafts/", "refs/remotes/origin/proposed/")):
                path = ref.split("/", 4)[4].rsplit("/", 1)[0]
            else:
                continue
            wanted.append(f"{sha}:{path}/Kptfile")
        self.git("cat-file", "--batch", stdin=("\n".join(wanted) + "\n").encode())
        return len(wanted)

    def ls_remote(self) -> int:
        return len(self.remote("ls-remote", "origin").splitlines())


# -- the porch-embedded side -------------------------------------------------------------------


class Porch:
    """The server's API over HTTPS as the admin (synchronous httpx)."""

    def __init__(self, server: ServerProcess) -> None:
        data = server.data_dir
        context = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))
        token = (data / "admin-token").read_text().strip()
        self.http = httpx.Client(base_url=server.url, verify=context, timeout=600,
                                 headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def ok(self, response: httpx.Response, *codes: int) -> dict[str, Any]:
        if response.status_code not in (codes or (200,)):
            raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                               f"{response.status_code} {response.text[:1000]}")
        return dict(response.json())

    def register(self, name: str, url: str) -> None:
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-auth"},
                  "type": "kubernetes.io/basic-auth", "stringData": {"username": USERNAME, "password": PASSWORD}}
        self.ok(self.http.post(f"/api/v1/namespaces/{NAMESPACE}/secrets", json=secret), 201)
        body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
                "spec": {"type": "git", "git": {"repo": url, "branch": "main", "directory": "",
                                                "secretRef": {"name": f"{name}-auth"}}}}
        self.ok(self.http.post(f"{CONFIG}/repositories", json=body), 201)

    def repository(self, name: str) -> dict[str, Any]:
        return self.ok(self.http.get(f"{CONFIG}/repositories/{name}"))

    def wait_synced(self, name: str, after: str, timeout: float) -> dict[str, Any]:
        """Poll until the Repository is Ready with a lastFullSyncTime later than ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.repository(name).get("status") or {}
            ready = next((c for c in status.get("conditions") or () if c["type"] == "Ready"), None)
            if ready and ready["status"] == "False":
                raise RuntimeError(f"repository {name} failed to sync: {ready.get('message')}")
            if ready and ready["status"] == "True" and status.get("lastFullSyncTime", "") > after:
                return status
            time.sleep(0.02)
        raise RuntimeError(f"repository {name} did not sync within {timeout:.0f} s")

    def sync(self, name: str, timeout: float) -> dict[str, Any]:
        """Ask for a sync as ``porchctl repo sync`` does and wait for it; the time it took is the caller's."""
        stamp = (self.repository(name).get("status") or {}).get("lastFullSyncTime", "")
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.ok(self.http.patch(f"{CONFIG}/repositories/{name}", json={"spec": {"sync": {"runOnceAt": now}}},
                                headers={"content-type": "application/merge-patch+json"}))
        return self.wait_synced(name, stamp, timeout)

    def create(self, repository: str, package: str, workspace: str) -> dict[str, Any]:
        body = {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                "metadata": {"namespace": NAMESPACE},
                "spec": {"repository": repository, "packageName": package, "workspaceName": workspace,
                         "tasks": [{"type": "init", "init": {"description": "benchmark package"}}]}}
        return self.ok(self.http.post(f"{PORCH}/packagerevisions", json=body), 201)

    def set_lifecycle(self, revision: dict[str, Any], lifecycle: str, via: str = "") -> dict[str, Any]:
        revision = {**revision, "spec": {**revision["spec"], "lifecycle": lifecycle}}
        url = f"{PORCH}/packagerevisions/{revision['metadata']['name']}" + (f"/{via}" if via else "")
        return self.ok(self.http.put(url, json=revision))

    def list_revisions(self) -> int:
        response = self.http.get(f"{PORCH}/packagerevisions")
        return len(self.ok(response)["items"])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- one size ----------------------------------------------------------------------------------


@dataclass
class SizeResult:
    size: int
    packages: int
    commits: int
    seed_s: float
    initial_sync_s: float
    git_clone_s: float
    listed: int
    git_listed: int
    peak_rss_mib: float
    catch_up_sync_s: float
    timings: Timings


def run_size(size: int, args: argparse.Namespace, git: GitServer, scratch: Path) -> SizeResult:
    if size >= 10_000:
        args = argparse.Namespace(**{**vars(args), "reps": min(args.reps, args.large_reps),
                                     "sync_reps": min(args.sync_reps, args.large_reps)})
    name = f"bench{size}"
    seeder_bare = git.bare(name)
    run_git("init", "--bare", "-q", "-b", "main", str(seeder_bare), cwd=scratch)
    run_git("config", "http.receivepack", "true", cwd=seeder_bare)
    started = time.perf_counter()
    packages, commits = seed(seeder_bare, size, name)
    seed_s = time.perf_counter() - started
    print(f"\n== N = {size:,} published revisions: {packages:,} packages x up to {REVISIONS_PER_PACKAGE} "
          f"revisions, {commits:,} commits, seeded with git fast-import in {seed_s:.1f} s", flush=True)

    timings = Timings()
    server = ServerProcess(scratch / f"data-{size}", free_port())
    server.start(["--log-level", "WARNING", "--function-runner", "none", "--sync-interval", "86400"])
    assert server.process is not None
    porch = Porch(server)
    try:
        started = time.perf_counter()
        porch.register(name, git.url(name))
        porch.wait_synced(name, "", args.sync_timeout)
        initial_sync_s = time.perf_counter() - started
        listed = porch.list_revisions()
        print(f"   first sync (register -> Ready) {initial_sync_s:.2f} s; {listed:,} PackageRevisions listed "
              f"(tagged revisions plus one main placeholder per package)", flush=True)

        user = GitUser(scratch / f"clone-{size}", git.url(name))
        started = time.perf_counter()
        user.clone()
        git_clone_s = time.perf_counter() - started
        print(f"   git fetch of everything into an empty repository {git_clone_s:.2f} s", flush=True)

        # create, propose, approve: ours and git's, alternating so both see the same repository size.
        for rep in range(args.reps):
            path, workspace = f"bench/ours-{rep:03d}", "ws1"
            with timings.time("create"):
                draft = porch.create(name, path, workspace)
            with timings.time("propose"):
                proposed = porch.set_lifecycle(draft, "Proposed")
            with timings.time("approve"):
                published = porch.set_lifecycle(proposed, "Published", via="approval")
            assert published["spec"]["lifecycle"] == "Published", published["spec"]

            path = f"bench/git-{rep:03d}"
            with timings.time("git create"):
                commit = user.create(path, workspace)
            with timings.time("git propose"):
                user.propose(path, workspace, commit)
            with timings.time("git approve"):
                user.approve(path, workspace, commit, 1)
            print(f"   rep {rep + 1}/{args.reps}: create {timings.samples['create'][-1] * 1000:.0f} ms, "
                  f"propose {timings.samples['propose'][-1] * 1000:.0f} ms, "
                  f"approve {timings.samples['approve'][-1] * 1000:.0f} ms "
                  f"(git {timings.samples['git create'][-1] * 1000:.0f} / "
                  f"{timings.samples['git propose'][-1] * 1000:.0f} / "
                  f"{timings.samples['git approve'][-1] * 1000:.0f} ms)", flush=True)

        # Catch up with what the git user pushed (and main moving), so list and sync start even.
        time.sleep(1.05)
        started = time.perf_counter()
        porch.sync(name, args.sync_timeout)
        catch_up_sync_s = time.perf_counter() - started
        user.fetch()

        for _ in range(args.list_reps):
            with timings.time("list"):
                listed = porch.list_revisions()
            with timings.time("git list"):
                git_listed = user.list_local()
            with timings.time("git ls-remote"):
                user.ls_remote()
        print(f"   list: {listed:,} PackageRevisions; git: {git_listed:,} revision refs and Kptfiles", flush=True)

        # sync after an external push of one new tag (a new revision of an existing package).
        head = run_git("rev-parse", "main", cwd=seeder_bare).strip()
        for rep in range(args.sync_reps):
            tag = f"refs/tags/{package_path(rep % packages)}/v{REVISIONS_PER_PACKAGE + 1 + rep // packages}"
            run_git(*AUTH, "push", "-q", git.url(name), f"{head}:{tag}", cwd=seeder_bare)
            with timings.time("git sync"):
                user.fetch()
            time.sleep(1.05)  # runOnceAt and lastFullSyncTime have second precision
            started = time.perf_counter()
            porch.sync(name, args.sync_timeout)
            timings.add("sync", time.perf_counter() - started)
        rss = peak_rss_mib(server.process.pid)
        print(f"   sync: {timings.samples['sync'][-1]:.2f} s last; server peak RSS {rss:.0f} MiB", flush=True)
        return SizeResult(size, packages, commits, seed_s, initial_sync_s, git_clone_s, listed, git_listed, rss,
                          catch_up_sync_s, timings)
    finally:
        porch.close()
        server.stop()


# -- the report ----------------------------------------------------------------------------------


def print_table(results: list[SizeResult]) -> None:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f}"

    def p90(samples: list[float]) -> str:
        label, value = tail(samples, 0.9)
        return ms(value) if label == "p90" else f"{ms(value)} (max of {len(samples)})"

    print("\n## porch-embedded vs the git command line (ms; median / p90 of the repetitions, or the maximum where "
          "there are too few for a p90)\n")
    print("| N revisions | operation | porch-embedded p50 | p90 | git CLI p50 | p90 | ratio p50 (ours/git) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for result in results:
        samples = result.timings.samples
        for op in ("create", "propose", "approve", "list", "sync"):
            ours, theirs = samples[op], samples[f"git {op}"]
            ours50, theirs50 = statistics.median(ours), statistics.median(theirs)
            print(f"| {result.size:,} | {op} | {ms(ours50)} | {p90(ours)} | {ms(theirs50)} | "
                  f"{p90(theirs)} | {ours50 / theirs50:.1f} |")
        ls = samples["git ls-remote"]
        print(f"| {result.size:,} | (git ls-remote alone) | | | {ms(statistics.median(ls))} | {p90(ls)} | |")
    print("\n| N revisions | packages | commits | seed (fast-import) s | first sync s | git fetch all s | "
          "ratio | catch-up sync s | PackageRevisions listed | server peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.size:,} | {r.packages:,} | {r.commits:,} | {r.seed_s:.1f} | {r.initial_sync_s:.2f} | "
              f"{r.git_clone_s:.2f} | {r.initial_sync_s / r.git_clone_s:.1f} | {r.catch_up_sync_s:.2f} | "
              f"{r.listed:,} | {r.peak_rss_mib:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,1000,10000",
                        help="comma-separated numbers of published revisions to seed (default 10,1000,10000)")
    parser.add_argument("--reps", type=int, default=10, help="repetitions of create/propose/approve")
    parser.add_argument("--list-reps", type=int, default=5)
    parser.add_argument("--sync-reps", type=int, default=5)
    parser.add_argument("--large-reps", type=int, default=4, metavar="REPS",
                        help="at N >= 10,000: repetitions of create/propose/approve and sync (default 4, "
                             "so that all three sizes finish in about 12 minutes on 2 cores)")
    parser.add_argument("--sync-timeout", type=float, default=600.0, metavar="SECONDS")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    # SIGTERM runs the same clean-up as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"porch-embedded lifecycle benchmark: sizes {sizes}, {args.reps} reps (list {args.list_reps}, "
          f"sync {args.sync_reps}), {os.cpu_count()} cores, SQLite store, git {run_git('version', cwd=Path('.')).split()[-1]}")
    results: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as temporary:
        scratch = Path(temporary)
        with serve_git(scratch / "srv") as git:
            for size in sizes:
                results.append(run_size(size, args, git, scratch))
    print_table(results)


if __name__ == "__main__":
    main()
