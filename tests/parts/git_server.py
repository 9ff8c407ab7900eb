"""A real git smart-HTTP server with authentication, for tests.

``git http-backend`` runs as CGI behind a small threaded WSGI app on 127.0.0.1 that
checks HTTP basic auth (one user and password) or a bearer token, and serves the bare
repositories under a temporary directory. The ``git_server`` fixture starts it and
always stops it. ``GitServer.create_repo`` makes a bare repository, and ``Seeder``
pushes packages, tags and branches into it with the git command line, as an external
user (or another Porch) would. ``GitServer.git`` runs git directly on a bare repository
so that tests check the exact layout a write left behind.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

__all__ = ["GitServer", "Seeder", "git_server", "serve_git"]

USERNAME = "porch-tester"
PASSWORD = "s3cret-Pa55word-xyzzy"
TOKEN = "tok-7f3a9c1e5b-bearer-secret"

_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "GIT_AUTHOR_NAME": "External User",
    "GIT_AUTHOR_EMAIL": "external@example.com",
    "GIT_COMMITTER_NAME": "External User",
    "GIT_COMMITTER_EMAIL": "external@example.com",
}


def run_git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    """Run the git CLI without prompts or user config; return stdout."""
    env = {**os.environ, **_GIT_ENV}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Keep test output clean; the request log is not interesting."""


@dataclass
class GitServer:
    """A running smart-HTTP git server; ``url(name)`` is a repository's clone URL."""

    root: Path
    port: int = 0
    receive_pack_hooks: list[Callable[[str], None]] = field(default_factory=list)
    """Called once each (then dropped) with the repository name just before a push
    is handed to git: lets a test move a ref under a client in the middle of its push."""

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def bare(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def create_repo(self, name: str, *, branch: str | None = "main") -> Seeder:
        """Make an empty bare repository; with ``branch``, give it a README commit there."""
        bare = self.bare(name)
        run_git("init", "--bare", "-q", "-b", branch or "main", str(bare))
        run_git("config", "http.receivepack", "true", cwd=bare)
        seeder = Seeder(self, name, self.root.parent / "work" / name)
        if branch is not None:
            seeder.commit({"README.md": "Created by the test git server\n"}, branch=branch)
        return seeder

    def git(self, name: str, *args: str) -> str:
        """Run git on the bare repository itself (what the server holds)."""
        return run_git(*args, cwd=self.bare(name))

    def files_at(self, name: str, ref: str, directory: str, into: Path) -> dict[str, str]:
        """The files under ``directory`` at ``ref`` (a branch or tag), cloned over HTTP as a GitOps tool reads them."""
        token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        run_git("-c", f"http.extraHeader=Authorization: Basic {token}", "clone", "-q", "--depth", "1", "--branch",
                ref, self.url(name), str(into))
        root = into / directory
        return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}

    def refs(self, name: str) -> dict[str, str]:
        """Every ref of a repository: full name -> object id."""
        out = self.git(name, "for-each-ref", "--format=%(refname) %(objectname)")
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {ref: sha for ref, sha in pairs}

    # -- WSGI ---------------------------------------------------------------------------

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        user = self._authenticate(environ.get("HTTP_AUTHORIZATION", ""))
        if user is None:
            start_response(
                "401 Unauthorized",
                [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Type", "text/plain")],
            )
            return [b"authentication required\n"]
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if environ["REQUEST_METHOD"] == "POST" and path.endswith("/git-receive-pack"):
            repo = path.strip("/").split("/", 1)[0].removesuffix(".git")
            while self.receive_pack_hooks:
                self.receive_pack_hooks.pop(0)(repo)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": "/nonexistent",
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": path,
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        for key in ("HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL"):
            if key in environ:
                env[key] = environ[key]
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status = "200 OK"
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = value.strip()
            elif key:
                headers.append((key.strip(), value.strip()))
        start_response(status, headers)
        return [payload]

    @staticmethod
    def _authenticate(header: str) -> str | None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip() == TOKEN:
            return "token-user"
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            if user == USERNAME and password == PASSWORD:
                return user
        return None


@dataclass
class Seeder:
    """A working clone used to push into one repository with the git CLI, as an outsider."""

    server: GitServer
    name: str
    work: Path

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    def _auth(self) -> list[str]:
        token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        return ["-c", f"http.extraHeader=Authorization: Basic {token}"]

    def _ensure_clone(self) -> None:
        if not (self.work / ".git").exists():
            self.work.mkdir(parents=True, exist_ok=True)
            run_git("init", "-q", str(self.work))
            run_git("remote", "add", "origin", self.url, cwd=self.work)

    def commit(
        self,
        files: Mapping[str, str | None],
        *,
        branch: str = "main",
        message: str = "external change",
        tags: Iterable[str] = (),
        push: bool = True,
    ) -> str:
        """Commit ``files`` (None deletes) on top of the remote ``branch``; push it and tags.

        Returns the new commit id. The branch is fetched first, so this behaves like an
        external user pushing to a repository others write to.
        """
        self._ensure_clone()
        remote_has = run_git(*self._auth(), "ls-remote", "origin", f"refs/heads/{branch}", cwd=self.work)
        if remote_has.strip():
            run_git(*self._auth(), "fetch", "-q", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}", cwd=self.work)
            run_git("checkout", "-q", "-B", branch, f"origin/{branch}", cwd=self.work)
        else:
            run_git("checkout", "-q", "--orphan", branch, cwd=self.work)
            run_git("rm", "-rfq", "--ignore-unmatch", ".", cwd=self.work)
        for path, text in files.items():
            target = self.work / path
            if text is None:
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        run_git("add", "-A", ".", cwd=self.work)
        run_git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        sha = run_git("rev-parse", "HEAD", cwd=self.work).strip()
        for tag in tags:
            run_git("tag", "-f", tag, sha, cwd=self.work)
        if push:
            specs = [f"HEAD:refs/heads/{branch}", *(f"refs/tags/{t}:refs/tags/{t}" for t in tags)]
            run_git(*self._auth(), "push", "-q", "origin", *specs, cwd=self.work)
        return sha

    def push_ref(self, sha: str, ref: str) -> None:
        """Point ``ref`` (full name) at ``sha`` on the server."""
        self._ensure_clone()
        run_git(*self._auth(), "push", "-q", "-f", "origin", f"{sha}:{ref}", cwd=self.work)

    def annotated_tag(self, tag: str, sha: str, message: str = "annotated") -> None:
        """Push an annotated tag object pointing at ``sha``."""
        self._ensure_clone()
        run_git("tag", "-f", "-a", tag, "-m", message, sha, cwd=self.work)
        run_git(*self._auth(), "push", "-q", "-f", "origin", f"refs/tags/{tag}:refs/tags/{tag}", cwd=self.work)


def kptfile(name: str) -> str:
    """A minimal Kptfile for a package called ``name``."""
    return (
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n"
        f"  name: {name}\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n"
        f"info:\n  description: {name} description\n"
    )


def package_files(path: str, *, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Files of a small package at ``path`` (a Kptfile and a ConfigMap)."""
    name = path.rsplit("/", 1)[-1]
    files = {
        f"{path}/Kptfile": kptfile(name),
        f"{path}/cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n",
    }
    for rel, text in (extra or {}).items():
        files[f"{path}/{rel}"] = text
    return files


@contextmanager
def serve_git(root: Path) -> Iterator[GitServer]:
    """Serve the bare repositories under ``root`` (made if missing) on 127.0.0.1; always stop."""
    root.mkdir(parents=True, exist_ok=True)
    server = GitServer(root)
    httpd = make_server(
        "127.0.0.1", 0, server.app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, name="git-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    """Start a git smart-HTTP server with auth on 127.0.0.1; always stop it."""
    with serve_git(tmp_path / "srv") as server:
        yield server
