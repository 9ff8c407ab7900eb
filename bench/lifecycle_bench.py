"""Lifecycle benchmark: every write, list, sync, restart and memory figure against the same work done with git.

For each size N (default 10, 1,000 and 10,000 published revisions already in the
repository) this:

1. seeds a bare repository on a real git smart-HTTP server with basic auth (loopback)
   with N published revisions in Porch's own layout, written with ``git fast-import``:
   ceil(N/4) packages ``catalog/gNN/pNNNNN`` with up to four revisions each (v1..v4);
   every revision is a draft commit (``kpt:`` trailer with its init or edit task) plus
   a merge approval commit on main and a tag ``<path>/v<r>``, exactly what Porch
   leaves behind, so that discovery reads real trailers and task history;
2. times ``git clone --bare`` of it (the floor for a first sync) and ``git fetch`` of
   everything into an empty repository;
3. starts ``porch-embedded serve`` as a child process (fresh data directory; the SQLite
   store, or with ``--store postgres`` a fresh database on 127.0.0.1:5432, dropped at
   the end), registers the repository with a basic-auth Secret, and times registration
   and the first sync (Ready); the peak RSS (VmHWM) right after it is printed;
4. times, for ``--reps`` repetitions each (median and p90), each write next to the git
   command line doing the same pushes through the same server:
   - create: POST a PackageRevision (init task) | git: commit the package on a new
     ``drafts/<path>/<ws>`` branch and push it (plumbing, no checkout);
   - update: GET and PUT the draft's PackageRevisionResources with one more file |
     git: one commit on the draft branch and a fast-forward push;
   - propose: PUT with spec.lifecycle Proposed | git: one atomic push that creates
     ``proposed/<path>/<ws>`` and deletes the draft branch;
   - approve: PUT .../approval with Published | git: fetch main, merge commit
     (parents main and the proposal), one atomic push of main + tag + branch deletion;
   - propose-delete: PUT with spec.lifecycle DeletionProposed | git: push of a
     ``deletionProposed/<path>/v1`` branch;
   - delete: DELETE the PackageRevision | git: one atomic push deleting the tag and the
     deletion proposal;
5. list: GET every PackageRevision | git: ``for-each-ref`` on a local clone and reading
   every revision's Kptfile with one ``cat-file --batch``; and the floor the issue names:
   reading the same rows straight from the store (SQLite or PostgreSQL), decoding them
   and encoding the list as JSON. Paged list: the first page of ``limit=500`` (the same
   figure at every size is the point) and walking every page;
6. later sync: after an external push of one new tag, patch spec.sync.runOnceAt and wait
   for status.observedRunOnceAt | git: ``git fetch --prune`` into the local clone;
7. RSS: steady (VmRSS after ``--settle`` seconds), then across ``--rss-syncs`` syncs in a
   row (first / last / max), and the peak (VmHWM, the first sync included);
8. restart to ready: stop the server, start it again on the same data directory and
   store, and time until the first full list is answered (and, for reading it, until the
   first HTTP answer of any kind);
9. prints the tables with ratios ours/git.

``--huge`` (or any size of 100,000 and more, see --huge-from) runs registration, the first sync, the
paged list, and create, propose and approve (with their git equivalents) only, and
prints their figures; it works with ``--store postgres`` too.

Nothing is asserted; these are figures to read. Everything started (git server
thread, server process, temporary directories, the PostgreSQL database) is stopped or
dropped on the way out, also on error or Ctrl-C.

    .venv/bin/python bench/lifecycle_bench.py [--sizes 10,1000,10000] [--store sqlite|postgres] [--huge]
        [--reps 10] [--list-reps 5] [--sync-reps 5] [--rss-syncs 50] [--large-reps 4]

At N >= 10,000 the repetitions of writes, lists and syncs are capped by --large-reps.
``--sizes 10 --reps 3`` takes about 20 to 40 seconds on 2 shared cores.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import math
import os
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
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
from tests.parts.server import ServerProcess, free_port, server_command  # noqa: E402

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


LARGE_POST_BUFFER = ("-c", "http.postBuffer=1073741824")
"""The test server (wsgiref) cannot read the chunked request git sends past 1 MiB, which the
wants of a 100,000-revision clone or fetch exceed; a large buffer makes git send one body."""


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
        return self.git(*AUTH, *LARGE_POST_BUFFER, *args)

    def clone(self) -> None:
        """Everything Porch fetches, into an empty repository (the initial sync of a git user)."""
        self.work.mkdir(parents=True)
        self.git("init", "-q")
        self.git("remote", "add", "origin", self.url)
        self.fetch()

    def fetch(self) -> None:
        self.remote("fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*")

    def _commit_files(self, base: str, path: str, files: dict[str, str], message: str) -> str:
        """A commit of ``files`` under ``path`` on top of ``base`` (plumbing, no checkout)."""
        cacheinfo: list[str] = []
        for file_name, text in files.items():
            blob = self.git("hash-object", "-w", "--stdin", stdin=text.encode()).strip()
            cacheinfo += ["--cacheinfo", f"100644,{blob},{path}/{file_name}"]
        self.git("read-tree", base, index=True)
        self.git("update-index", "--add", *cacheinfo, index=True)
        tree = self.git("write-tree", index=True).strip()
        return self.git("commit-tree", tree, "-p", base, "-m", message).strip()

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
        message = "Creating new empty revision\n\n" + kpt_trailer(
            {"package": path, "workspaceName": workspace, "revision": "0",
             "task": {"type": "init", "init": {"description": f"{name} description"}}})
        commit = self._commit_files("refs/remotes/origin/main", path, files, message)
        self.remote("push", "-q", "origin", f"{commit}:refs/heads/drafts/{path}/{workspace}")
        return commit

    def update(self, path: str, workspace: str, commit: str) -> str:
        """Add a file to the draft: one commit on its branch and a fast-forward push; the new commit."""
        message = "Updating package resources\n\n" + kpt_trailer(
            {"package": path, "workspaceName": workspace, "revision": "0"})
        files = {"extra.yaml": BENCH_CONFIGMAP}
        new = self._commit_files(commit, path, files, message)
        self.remote("push", "-q", "origin", f"{new}:refs/heads/drafts/{path}/{workspace}")
        return new

    def propose(self, path: str, workspace: str, commit: str) -> None:
        self.remote("push", "-q", "--atomic", "origin", f"{commit}:refs/heads/proposed/{path}/{workspace}",
                    f":refs/heads/drafts/{path}/{workspace}")

    def approve(self, path: str, workspace: str, commit: str, number: int) -> str:
        """Merge the proposal into main, tag it, drop the proposal branch: one atomic push; the merge."""
        self.remote("fetch", "-q", "origin", "+refs/heads/main:refs/remotes/origin/main")
        tree = self.git("merge-tree", "--write-tree", "refs/remotes/origin/main", commit).split()[0]
        message = f"Approving package revision {path}/{number}\n\n" + kpt_trailer(
            {"package": path, "workspaceName": workspace, "revision": str(number)})
        merge = self.git("commit-tree", tree, "-p", "refs/remotes/origin/main", "-p", commit, "-m", message).strip()
        self.remote("push", "-q", "--atomic", "origin", f"{merge}:refs/heads/main",
                    f"{merge}:refs/tags/{path}/v{number}", f":refs/heads/proposed/{path}/{workspace}")
        return merge

    def propose_delete(self, path: str, number: int, commit: str) -> None:
        self.remote("push", "-q", "origin", f"{commit}:refs/heads/deletionProposed/{path}/v{number}")

    def delete(self, path: str, number: int) -> None:
        self.remote("push", "-q", "--atomic", "origin", f":refs/tags/{path}/v{number}",
                    f":refs/heads/deletionProposed/{path}/v{number}")

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


def clone_bare(url: str, target: Path) -> None:
    """``git clone --bare`` of the repository: the floor for a first sync."""
    run_git(*AUTH, *LARGE_POST_BUFFER, "clone", "-q", "--bare", url, str(target), cwd=target.parent)


# -- the porch-embedded side -------------------------------------------------------------------


class Porch:
    """The server's API over HTTPS as the admin (synchronous httpx)."""

    def __init__(self, server: ServerProcess) -> None:
        data = server.data_dir
        context = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))
        token = (data / "admin-token").read_text().strip()
        self.http = httpx.Client(base_url=server.url, verify=context, timeout=3600,
                                 headers={"Authorization": f"Bearer {token}"})
        self._run_once = 0

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

    def wait_synced(self, name: str, timeout: float, *, after: str = "", run_once_at: str = "") -> dict[str, Any]:
        """Poll until the Repository is Ready, with a lastFullSyncTime later than ``after`` or, given
        ``run_once_at``, once the sync that asked for has been observed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.repository(name).get("status") or {}
            ready = next((c for c in status.get("conditions") or () if c["type"] == "Ready"), None)
            if ready and ready["status"] == "False":
                raise RuntimeError(f"repository {name} failed to sync: {ready.get('message')}")
            done = (status.get("observedRunOnceAt") == run_once_at if run_once_at
                    else status.get("lastFullSyncTime", "") > after)
            if ready and ready["status"] == "True" and done:
                return status
            time.sleep(0.01)
        raise RuntimeError(f"repository {name} did not sync within {timeout:.0f} s")

    def sync(self, name: str, timeout: float) -> dict[str, Any]:
        """Ask for a sync as ``porchctl repo sync`` does and wait for it; the time it took is the caller's.

        Each request names a different moment in the past (due at once), so that requests
        in the same second are told apart by status.observedRunOnceAt without waiting.
        """
        self._run_once += 1
        moment = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=self._run_once))
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.ok(self.http.patch(f"{CONFIG}/repositories/{name}", json={"spec": {"sync": {"runOnceAt": stamp}}},
                                headers={"content-type": "application/merge-patch+json"}))
        return self.wait_synced(name, timeout, run_once_at=stamp)

    def create(self, repository: str, package: str, workspace: str) -> dict[str, Any]:
        body = {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                "metadata": {"namespace": NAMESPACE},
                "spec": {"repository": repository, "packageName": package, "workspaceName": workspace,
                         "tasks": [{"type": "init", "init": {"description": "benchmark package"}}]}}
        return self.ok(self.http.post(f"{PORCH}/packagerevisions", json=body), 201)

    def update_resources(self, revision: dict[str, Any]) -> None:
        """Add one file to a draft through its PackageRevisionResources (GET, then PUT, as porchctl
        rpkg push does)."""
        name = revision["metadata"]["name"]
        resources = self.ok(self.http.get(f"{PORCH}/packagerevisionresources/{name}"))
        resources["spec"]["resources"]["extra.yaml"] = BENCH_CONFIGMAP
        self.ok(self.http.put(f"{PORCH}/packagerevisionresources/{name}", json=resources))

    def get(self, revision: dict[str, Any]) -> dict[str, Any]:
        return self.ok(self.http.get(f"{PORCH}/packagerevisions/{revision['metadata']['name']}"))

    def set_lifecycle(self, revision: dict[str, Any], lifecycle: str, via: str = "") -> dict[str, Any]:
        revision = {**revision, "spec": {**revision["spec"], "lifecycle": lifecycle}}
        url = f"{PORCH}/packagerevisions/{revision['metadata']['name']}" + (f"/{via}" if via else "")
        return self.ok(self.http.put(url, json=revision))

    def delete(self, revision: dict[str, Any]) -> None:
        self.ok(self.http.delete(f"{PORCH}/packagerevisions/{revision['metadata']['name']}"), 200, 202)

    def list_revisions(self) -> int:
        response = self.http.get(f"{PORCH}/packagerevisions")
        return len(self.ok(response)["items"])

    def list_page(self, limit: int) -> int:
        """The first page of ``limit`` PackageRevisions (what a paging client asks first)."""
        return len(self.ok(self.http.get(f"{PORCH}/packagerevisions", params={"limit": limit}))["items"])

    def list_all_pages(self, limit: int) -> int:
        """Every PackageRevision, ``limit`` at a time, following continue tokens; how many."""
        count, token = 0, ""
        while True:
            params: dict[str, Any] = {"limit": limit, **({"continue": token} if token else {})}
            page = self.ok(self.http.get(f"{PORCH}/packagerevisions", params=params))
            count += len(page["items"])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return count


BENCH_CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  key: value\n"


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """A /proc/<pid>/status memory figure in MiB: VmRSS (now) or VmHWM (the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    return rss_mib(pid, "VmHWM")


# -- the store: a fresh PostgreSQL database, and the rows a list reads ------------------------


POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_store(kind: str, data_dir: Path) -> Iterator[str]:
    """The --store URL for one size: SQLite in the data directory, or a new PostgreSQL database
    on 127.0.0.1:5432 that is dropped on the way out."""
    if kind == "sqlite":
        yield f"sqlite:///{(data_dir / 'store.db').resolve()}"
        return
    import psycopg

    name = f"lifecycle_bench_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows_as_list(store_url: str) -> int:
    """Read every PackageRevision row straight from the store, decode it, set its resourceVersion
    and encode the list as JSON: the floor a list of everything is measured against."""
    sql = ("SELECT rv, body FROM {table} WHERE resource = 'packagerevisions.porch.kpt.dev' AND namespace = '" + NAMESPACE
           + "' ORDER BY namespace, name")
    if store_url.startswith("sqlite:///"):
        import sqlite3

        with closing(sqlite3.connect(f"file:{store_url.removeprefix('sqlite:///')}?mode=ro", uri=True)) as conn:
            rows = conn.execute(sql.format(table="objects")).fetchall()
    else:
        import psycopg

        with psycopg.connect(store_url) as conn, conn.cursor() as cursor:
            # Text, not json: decoding is timed below, as it is for SQLite.
            cursor.execute(sql.format(table="porch_objects").replace("body", "body::text"))
            rows = cursor.fetchall()
    items = []
    for rv, body in rows:
        item = json.loads(body)
        item.setdefault("metadata", {})["resourceVersion"] = str(rv)
        items.append(item)
    json.dumps({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevisionList", "metadata": {},
                "items": items}, separators=(",", ":")).encode()
    return len(items)


# -- one size ----------------------------------------------------------------------------------


@dataclass
class SizeResult:
    size: int
    store: str
    packages: int
    commits: int
    seed_s: float
    register_s: float
    initial_sync_s: float
    git_clone_bare_s: float
    git_fetch_all_s: float
    listed: int
    git_listed: int
    first_sync_peak_rss_mib: float
    peak_rss_mib: float
    steady_rss_mib: float
    catch_up_sync_s: float
    restart_s: float
    rss_over_syncs: list[float]
    timings: Timings


WRITES = ("create", "update", "propose", "approve", "propose-delete", "delete")


def start_server(data_dir: Path, store_url: str) -> tuple[ServerProcess, Porch]:
    server = ServerProcess(data_dir, free_port())
    server.start(["--log-level", "WARNING", "--function-runner", "none", "--sync-interval", "86400",
                  "--store", store_url])
    return server, Porch(server)


def restart_to_ready(server: ServerProcess, store_url: str,
                     expected: int) -> tuple[ServerProcess, Porch, float, float]:
    """Stop the server, start it again on the same data directory and store, and time until
    the first full list is answered with every revision; also until the first HTTP answer of
    any kind (the process started and listening: interpreter start-up and imports included)."""
    server.stop()
    restarted = ServerProcess(server.data_dir, free_port())
    started = time.perf_counter()
    restarted.data_dir.mkdir(parents=True, exist_ok=True)
    log = (restarted.data_dir / "server.log").open("ab")
    restarted.process = subprocess.Popen(
        [*server_command(), "serve", "--data-dir", str(restarted.data_dir), "--listen", f"127.0.0.1:{restarted.port}",
         "--log-level", "WARNING", "--function-runner", "none", "--sync-interval", "86400", "--store", store_url],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    porch = Porch(restarted)
    porch.http.timeout = httpx.Timeout(5.0)
    deadline, listening = started + 120, 0.0
    while time.perf_counter() < deadline:
        if restarted.process.poll() is not None:
            raise RuntimeError(f"restarted server exited with {restarted.process.returncode}")
        try:
            response = porch.http.get(f"{PORCH}/packagerevisions")
            listening = listening or time.perf_counter() - started
            if response.status_code == 200 and len(response.json()["items"]) >= expected:
                elapsed = time.perf_counter() - started
                porch.http.timeout = httpx.Timeout(3600.0)
                return restarted, porch, elapsed, listening
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.01)
    raise RuntimeError("the restarted server did not answer a full list within 120 s")


def run_size(size: int, args: argparse.Namespace, git: GitServer, scratch: Path) -> SizeResult:
    huge = size >= args.huge_from
    if size >= 10_000:
        args = argparse.Namespace(**{**vars(args), "reps": min(args.reps, args.large_reps),
                                     "sync_reps": min(args.sync_reps, args.large_reps),
                                     "list_reps": min(args.list_reps, args.large_reps)})
    name = f"bench{size}"
    seeder_bare = git.bare(name)
    run_git("init", "--bare", "-q", "-b", "main", str(seeder_bare), cwd=scratch)
    run_git("config", "http.receivepack", "true", cwd=seeder_bare)
    started = time.perf_counter()
    packages, commits = seed(seeder_bare, size, name)
    seed_s = time.perf_counter() - started
    print(f"\n== N = {size:,} published revisions ({args.store}): {packages:,} packages x up to "
          f"{REVISIONS_PER_PACKAGE} revisions, {commits:,} commits, seeded with git fast-import in {seed_s:.1f} s",
          flush=True)

    started = time.perf_counter()
    clone_bare(git.url(name), scratch / f"bare-clone-{size}.git")
    git_clone_bare_s = time.perf_counter() - started
    user = GitUser(scratch / f"clone-{size}", git.url(name))
    started = time.perf_counter()
    user.clone()
    git_fetch_all_s = time.perf_counter() - started
    print(f"   git clone --bare {git_clone_bare_s:.2f} s; git fetch of everything into an empty repository "
          f"{git_fetch_all_s:.2f} s", flush=True)

    timings = Timings()
    data_dir = scratch / f"data-{size}-{args.store}"
    with fresh_store(args.store, data_dir) as store_url:
        server, porch = start_server(data_dir, store_url)
        try:
            started = time.perf_counter()
            porch.register(name, git.url(name))
            register_s = time.perf_counter() - started
            porch.wait_synced(name, args.sync_timeout)
            initial_sync_s = time.perf_counter() - started
            assert server.process is not None
            first_sync_peak = peak_rss_mib(server.process.pid)
            listed = porch.list_all_pages(PAGE) if huge else porch.list_revisions()
            print(f"   registration {register_s * 1000:.0f} ms; first sync (register -> Ready) {initial_sync_s:.2f} s; "
                  f"{listed:,} PackageRevisions listed (tagged revisions plus one main placeholder per package); "
                  f"peak RSS so far {first_sync_peak:.0f} MiB", flush=True)

            # The writes, ours and git's, alternating so both see the same repository size.
            for rep in range(args.reps):
                path, workspace = f"bench/ours-{rep:03d}", "ws1"
                with timings.time("create"):
                    draft = porch.create(name, path, workspace)
                if not huge:
                    with timings.time("update"):
                        porch.update_resources(draft)
                    draft = porch.get(draft)  # its new resourceVersion, for the next write (not timed)
                with timings.time("propose"):
                    proposed = porch.set_lifecycle(draft, "Proposed")
                with timings.time("approve"):
                    published = porch.set_lifecycle(proposed, "Published", via="approval")
                assert published["spec"]["lifecycle"] == "Published", published["spec"]
                if not huge:
                    with timings.time("propose-delete"):
                        doomed = porch.set_lifecycle(published, "DeletionProposed")
                    with timings.time("delete"):
                        porch.delete(doomed)

                path = f"bench/git-{rep:03d}"
                with timings.time("git create"):
                    commit = user.create(path, workspace)
                if not huge:
                    with timings.time("git update"):
                        commit = user.update(path, workspace, commit)
                with timings.time("git propose"):
                    user.propose(path, workspace, commit)
                with timings.time("git approve"):
                    merge = user.approve(path, workspace, commit, 1)
                if not huge:
                    with timings.time("git propose-delete"):
                        user.propose_delete(path, 1, merge)
                    with timings.time("git delete"):
                        user.delete(path, 1)
                done = [op for op in WRITES if f"git {op}" in timings.samples]
                print(f"   rep {rep + 1}/{args.reps}: " + ", ".join(
                    f"{op} {timings.samples[op][-1] * 1000:.0f} ms (git {timings.samples[f'git {op}'][-1] * 1000:.0f})"
                    for op in done), flush=True)

            # Catch up with what the git user pushed (and main moving), so list and sync start even.
            started = time.perf_counter()
            porch.sync(name, args.sync_timeout)
            catch_up_sync_s = time.perf_counter() - started
            user.fetch()

            git_listed = 0
            if not huge:
                for _ in range(args.list_reps):
                    with timings.time("list"):
                        listed = porch.list_revisions()
                    with timings.time("rows"):
                        rows = rows_as_list(store_url)
                    with timings.time("git list"):
                        git_listed = user.list_local()
                    with timings.time("git ls-remote"):
                        user.ls_remote()
                print(f"   list: {listed:,} PackageRevisions ({rows:,} rows read from the store); git: "
                      f"{git_listed:,} revision refs and Kptfiles", flush=True)
            for _ in range(args.list_reps):
                with timings.time("page"):
                    porch.list_page(PAGE)
            with timings.time("all pages"):
                paged = porch.list_all_pages(PAGE)
            print(f"   paged list: first page of {PAGE} {statistics.median(timings.samples['page']) * 1000:.0f} ms; "
                  f"all {paged:,} in pages of {PAGE} {timings.samples['all pages'][-1]:.2f} s", flush=True)

            # Later syncs: after an external push of one new tag (a new revision of an existing package).
            head = run_git("rev-parse", "main", cwd=seeder_bare).strip()
            for rep in range(args.sync_reps):
                tag = f"refs/tags/{package_path(rep % packages)}/v{REVISIONS_PER_PACKAGE + 1 + rep // packages}"
                run_git(*AUTH, "push", "-q", git.url(name), f"{head}:{tag}", cwd=seeder_bare)
                with timings.time("git sync"):
                    user.fetch()
                started = time.perf_counter()
                porch.sync(name, args.sync_timeout)
                timings.add("sync", time.perf_counter() - started)
            if args.sync_reps:
                print(f"   later sync (one new tag): {statistics.median(timings.samples['sync']) * 1000:.0f} ms p50",
                      flush=True)

            time.sleep(args.settle)
            steady = rss_mib(server.process.pid)
            rss_over_syncs: list[float] = []
            if not huge:
                for _ in range(args.rss_syncs):
                    porch.sync(name, args.sync_timeout)
                    rss_over_syncs.append(rss_mib(server.process.pid))
                if rss_over_syncs:
                    print(f"   RSS over {len(rss_over_syncs)} syncs: first {rss_over_syncs[0]:.0f}, last "
                          f"{rss_over_syncs[-1]:.0f}, max {max(rss_over_syncs):.0f} MiB", flush=True)
            peak = peak_rss_mib(server.process.pid)
            print(f"   RSS steady {steady:.0f} MiB (after {args.settle:.0f} s settling), peak {peak:.0f} MiB", flush=True)

            restart_s = float("nan")
            if not huge:
                porch.close()
                server, porch, restart_s, listening_s = restart_to_ready(server, store_url, listed)
                print(f"   restart to ready (first full list of {listed:,}): {restart_s:.2f} s "
                      f"(first HTTP answer of any kind after {listening_s:.2f} s)", flush=True)
            return SizeResult(size, args.store, packages, commits, seed_s, register_s, initial_sync_s,
                              git_clone_bare_s, git_fetch_all_s, listed, git_listed, first_sync_peak, peak, steady,
                              catch_up_sync_s, restart_s, rss_over_syncs, timings)
        finally:
            porch.close()
            server.stop()


PAGE = 500


# -- the report ----------------------------------------------------------------------------------


def print_table(results: list[SizeResult]) -> None:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f}"

    def p90(samples: list[float]) -> str:
        label, value = tail(samples, 0.9)
        return ms(value) if label == "p90" else f"{ms(value)} (max of {len(samples)})"

    print("\n## porch-embedded vs the git command line (ms; median / p90 of the repetitions, or the maximum where "
          "there are too few for a p90)\n")
    print("| N revisions | store | operation | porch-embedded p50 | p90 | git CLI p50 | p90 | ratio p50 (ours/git) |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for result in results:
        samples = result.timings.samples
        for op in (*WRITES, "list", "sync"):
            if op not in samples:
                continue
            ours, theirs = samples[op], samples[f"git {op}"]
            ours50, theirs50 = statistics.median(ours), statistics.median(theirs)
            label = "later sync (one new tag)" if op == "sync" else op
            print(f"| {result.size:,} | {result.store} | {label} | {ms(ours50)} | {p90(ours)} | {ms(theirs50)} | "
                  f"{p90(theirs)} | {ours50 / theirs50:.2f} |")
        if "rows" in samples:
            ours50, rows50 = statistics.median(samples["list"]), statistics.median(samples["rows"])
            print(f"| {result.size:,} | {result.store} | list vs the store's rows decoded + encoded | {ms(ours50)} | "
                  f"| {ms(rows50)} (rows) | {p90(samples['rows'])} | {ours50 / rows50:.2f} |")
        if "git ls-remote" in samples:
            ls = samples["git ls-remote"]
            print(f"| {result.size:,} | {result.store} | (git ls-remote alone) | | | {ms(statistics.median(ls))} | "
                  f"{p90(ls)} | |")
        print(f"| {result.size:,} | {result.store} | paged list, first page (limit={PAGE}) | "
              f"{ms(statistics.median(samples['page']))} | {p90(samples['page'])} | | | |")
        print(f"| {result.size:,} | {result.store} | paged list, every page (limit={PAGE}) | "
              f"{ms(samples['all pages'][-1])} | | | | |")

    print("\n| N revisions | store | packages | commits | seed s | registration ms | first sync s | git clone --bare s "
          "| ratio | git fetch all s | catch-up sync s | listed | restart to ready s | RSS steady MiB | "
          "peak after first sync MiB | peak MiB | RSS over repeated syncs (first / last / max) MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        over = (f"{len(r.rss_over_syncs)} syncs: {r.rss_over_syncs[0]:.0f} / {r.rss_over_syncs[-1]:.0f} / "
                f"{max(r.rss_over_syncs):.0f}" if r.rss_over_syncs else "")
        print(f"| {r.size:,} | {r.store} | {r.packages:,} | {r.commits:,} | {r.seed_s:.1f} | {r.register_s * 1000:.0f} | "
              f"{r.initial_sync_s:.2f} | {r.git_clone_bare_s:.2f} | {r.initial_sync_s / r.git_clone_bare_s:.1f} | "
              f"{r.git_fetch_all_s:.2f} | {r.catch_up_sync_s:.2f} | {r.listed:,} | {r.restart_s:.2f} | "
              f"{r.steady_rss_mib:.0f} | {r.first_sync_peak_rss_mib:.0f} | {r.peak_rss_mib:.0f} | {over} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,1000,10000",
                        help="comma-separated numbers of published revisions to seed (default 10,1000,10000; "
                             "a size of 100,000 or more runs only registration, first sync, paged list, create, "
                             "propose and approve)")
    parser.add_argument("--huge", action="store_true", help="the same as --sizes 100000")
    parser.add_argument("--huge-from", type=int, default=100_000, metavar="N",
                        help="sizes from N on run only what --huge runs (default 100,000)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                        help="the server's store: SQLite in its data directory (default) or a fresh PostgreSQL "
                             "database on 127.0.0.1:5432 (dropped afterwards)")
    parser.add_argument("--reps", type=int, default=10, help="repetitions of the writes")
    parser.add_argument("--list-reps", type=int, default=5)
    parser.add_argument("--sync-reps", type=int, default=5)
    parser.add_argument("--rss-syncs", type=int, default=50, help="syncs in a row whose RSS is printed (default 50)")
    parser.add_argument("--settle", type=float, default=2.0, metavar="SECONDS",
                        help="wait before reading the steady RSS (default 2)")
    parser.add_argument("--large-reps", type=int, default=4, metavar="REPS",
                        help="at N >= 10,000: repetitions of the writes, lists and syncs (default 4)")
    parser.add_argument("--sync-timeout", type=float, default=3600.0, metavar="SECONDS")
    args = parser.parse_args()
    sizes = [100_000] if args.huge else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    # SIGTERM runs the same clean-up as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"porch-embedded lifecycle benchmark: sizes {sizes}, {args.reps} reps (list {args.list_reps}, "
          f"sync {args.sync_reps}, RSS over {args.rss_syncs} syncs), {os.cpu_count()} cores, {args.store} store, "
          f"git {run_git('version', cwd=Path('.')).split()[-1]}", flush=True)
    results: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as temporary:
        scratch = Path(temporary)
        with serve_git(scratch / "srv") as git:
            for size in sizes:
                results.append(run_size(size, args, git, scratch))
    print_table(results)


if __name__ == "__main__":
    main()
