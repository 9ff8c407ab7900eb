"""The composition root: picks the store, builds the engine and the API, runs one nursery tree.

Only this module chooses concrete implementations. ``run`` owns every long-lived task
(the HTTPS server, and later repository sync and the controllers) under one nursery;
SIGTERM or SIGINT cancels that nursery. Store writes run in worker threads that finish
their transaction even when cancelled, so stopping never leaves a half-written object.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import secrets
import signal
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import trio
import yaml
from cryptography import x509
from cryptography.fernet import Fernet

from porch_embedded.api import (
    ApiApp,
    ApiSettings,
    HandlerSettings,
    Pki,
    RbacAuthorizer,
    ServingSettings,
    StandaloneAuthenticator,
    ensure_pki,
    issue_client_certificate,
    load_token_file,
    run_https,
)
from porch_embedded.controllers import SyncSettings, run_repository_sync, run_while_leader
from porch_embedded.engine import AdapterFactory, Engine
from porch_embedded.kinds import ALL_KINDS
from porch_embedded.meta import UserInfo
from porch_embedded.runners import JobSettings, PodmanSettings, RunnerSettings, build_function_runner
from porch_embedded.store import open_store
from porch_embedded.vcs import GitCache, GitStorage

__all__ = ["Settings", "issue_client_certificate_files", "run", "serve_forever"]

log = logging.getLogger("porch_embedded.server")

ADMIN_USER = UserInfo("admin", uid="admin", groups=("system:masters", "system:authenticated"))


@dataclass(frozen=True)
class Settings:
    """Everything `porch-embedded serve` can be told; defaults are the embedded setup."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9443
    store_url: str = ""
    """Empty: ``sqlite:///<data_dir>/store.db``."""
    store_password: str | None = field(default=None, repr=False)
    """The PostgreSQL password (from --store-password-file or PGPASSWORD); handed to libpq
    apart from the URL, kept out of repr so that no log of the settings shows it."""
    store_key_file: Path | None = None
    """The Fernet key that encrypts sealed fields (Secret data) at rest. Empty:
    ``<data_dir>/store.key``, made on first start. Replicas sharing one PostgreSQL store
    must point at one shared key file."""
    token_auth_file: Path | None = None
    client_ca_file: Path | None = None
    """Empty: the CA generated in the data directory."""
    authorization_policy_file: Path | None = None
    anonymous_auth: bool = False
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_extra_names: tuple[str, ...] = ()
    max_request_body_bytes: int = 6 * 1024 * 1024
    bookmark_interval_s: float = 60.0
    event_retention: int = 100_000
    kubeconfig_server: str = ""
    """The server URL written into the kubeconfig; empty means the bound address."""
    function_runner: str = "podman"
    """Where images that are not builtin run: podman, kubernetes, or none (refused)."""
    containers_conf: Path | None = None
    exec_functions: tuple[tuple[str, str], ...] = ()
    """(image, local binary) pairs run directly instead of in a container."""
    function_timeout_s: float = 300.0
    podman_pull_policy: str = "if-not-present"
    registry_auth_file: Path | None = None
    function_namespace: str = "porch-fn-system"
    function_service_account: str | None = None
    function_kubeconfig: Path | None = None
    sync_interval_s: float = 600.0
    """Full sync of each repository without spec.sync.schedule (Porch v1.5: 10 minutes)."""
    health_interval_s: float = 120.0
    """A cheap reachability check of each repository between full syncs."""
    controllers: bool = True
    """Run repository sync (and later the variant controllers); off only for API-machinery tests."""
    leader_lease_s: float = 10.0
    """Replicas on one PostgreSQL store elect one controller leader; it holds a lease this long."""

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{(self.data_dir / 'store.db').resolve()}"

    @property
    def resolved_store_key_file(self) -> Path:
        return self.store_key_file or self.data_dir / "store.key"


def _secret_file(path: Path, make: bytes) -> bytes:
    """Read a secret file, creating it (mode 0600) with ``make`` on first start.

    The file appears whole or not at all (written aside, then hard-linked into place), so
    replicas that start together on one shared key file all read the one key that won.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(make)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(aside, path)
            except FileExistsError:
                pass  # another replica made it first: use theirs
        finally:
            aside.unlink(missing_ok=True)
    return path.read_bytes().strip()


def _admin_token(data_dir: Path) -> str:
    return _secret_file(data_dir / "admin-token", secrets.token_urlsafe(32).encode()).decode()


def write_kubeconfig(path: Path, server: str, ca_file: Path, token: str) -> None:
    """An admin kubeconfig: the server, our CA inline, the admin bearer token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "porch-embedded", "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_file.read_bytes()).decode(),
        }}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "porch-embedded", "context": {
            "cluster": "porch-embedded", "user": "admin", "namespace": "default"}}],
        "current-context": "porch-embedded",
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(yaml.safe_dump(config, sort_keys=False))
    temporary.chmod(0o600)
    temporary.replace(path)


def _pki(settings: Settings) -> Pki:
    return ensure_pki(settings.data_dir / "pki", settings.tls_extra_names)


def issue_client_certificate_files(data_dir: Path, user: str, groups: tuple[str, ...], out: Path) -> tuple[Path, Path]:
    """Write ``out.crt`` and ``out.key`` for a client certificate signed by the server's CA.

    ``out`` is a prefix: ``certs/alice.dev`` gives ``certs/alice.dev.crt``. The key is made
    anew with mode 0600, so a key file left readable by an earlier hand is not reused.
    """
    pki = ensure_pki(data_dir / "pki")
    cert, key = issue_client_certificate(pki, user, groups)
    cert_path, key_path = out.with_name(f"{out.name}.crt"), out.with_name(f"{out.name}.key")
    cert_path.write_bytes(cert)
    key_path.unlink(missing_ok=True)
    key_path.touch(mode=0o600)
    key_path.write_bytes(key)
    return cert_path, key_path


def _replica_id() -> str:
    """Who this process is in leader election: host, process id, and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _adapter_factory(cache: GitCache) -> AdapterFactory:
    """The storage of each Repository ``spec.type`` served: git repositories, in the layout Porch writes."""
    git = GitStorage(cache)
    return {git.type: git}


def _runner_settings(settings: Settings) -> RunnerSettings:
    kind = settings.function_runner if settings.function_runner in ("podman", "kubernetes", "none") else "none"
    return RunnerSettings(
        kind=kind,  # type: ignore[arg-type]
        exec_allow_list=dict(settings.exec_functions),
        timeout_s=settings.function_timeout_s,
        podman=PodmanSettings(containers_conf=settings.containers_conf, auth_file=settings.registry_auth_file,
                              pull_policy=settings.podman_pull_policy),  # type: ignore[arg-type]
        kubernetes=JobSettings(kubeconfig=settings.function_kubeconfig, namespace=settings.function_namespace,
                               service_account=settings.function_service_account),
    )


async def run(settings: Settings, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the server until cancelled; report the bound URL once the kubeconfig is written."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = _pki(settings)
    admin_token = _admin_token(data_dir)
    tokens = {admin_token: ADMIN_USER}
    if settings.token_auth_file is not None:
        tokens.update(load_token_file(settings.token_auth_file))
    client_ca_file = settings.client_ca_file or pki.ca_cert
    authenticator = StandaloneAuthenticator(
        tokens=tokens,
        client_ca=x509.load_pem_x509_certificate(client_ca_file.read_bytes()),
        allow_anonymous=settings.anonymous_auth,
    )
    authorizer = RbacAuthorizer.from_file(settings.authorization_policy_file)
    encryption_key = _secret_file(settings.resolved_store_key_file, Fernet.generate_key())
    sealed = {kind.resource: kind.sealed_fields for kind in ALL_KINDS if kind.sealed_fields}
    async with open_store(settings.resolved_store_url, encryption_key=encryption_key, sealed_fields=sealed,
                          event_retention=settings.event_retention, password=settings.store_password) as store:
        engine = Engine(store, _adapter_factory(GitCache(data_dir / "cache")),
                        build_function_runner(_runner_settings(settings)))
        await engine.ensure_default_namespaces()
        app = ApiApp(engine, store, ALL_KINDS, authenticator, authorizer, ApiSettings(
            handlers=HandlerSettings(max_body_bytes=settings.max_request_body_bytes,
                                     bookmark_interval_s=settings.bookmark_interval_s)))
        serving = ServingSettings(
            host=settings.host, port=settings.port,
            cert_file=settings.tls_cert_file or pki.serving_cert,
            key_file=settings.tls_key_file or pki.serving_key,
            client_ca_file=client_ca_file,
        )
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                if settings.controllers:
                    sync_settings = SyncSettings(default_interval_s=settings.sync_interval_s,
                                                 health_interval_s=settings.health_interval_s)
                    await nursery.start(run_while_leader, store, "porch-embedded-controllers", _replica_id(),
                                        settings.leader_lease_s, partial(run_repository_sync, engine, sync_settings))
                url = await nursery.start(run_https, app, serving)
                server_url = settings.kubeconfig_server or url.replace("https://0.0.0.0:", "https://127.0.0.1:")
                write_kubeconfig(data_dir / "kubeconfig", server_url, pki.ca_cert, admin_token)
                app.ready.set()
                log.info("serving on %s; kubeconfig: %s", url, data_dir / "kubeconfig")
                task_status.started(url)
        finally:
            with trio.CancelScope(shield=True):
                await engine.aclose()


async def serve_forever(settings: Settings) -> None:
    """`porch-embedded serve`: run until SIGTERM or SIGINT."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(run, settings)
            async for signum in signals:
                log.info("received %s; stopping", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break

