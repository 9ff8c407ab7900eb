"""The composition root: picks the store, builds the engine and the API, runs one nursery tree.

Only this module chooses concrete implementations. ``run`` owns every long-lived task
(the HTTPS server, and later repository sync and the controllers) under one nursery,
and binds the server's metrics registry for all of them. SIGTERM or SIGINT drains it:
no new connections, /readyz fails, watches end cleanly, in-flight requests finish
within the grace period; then the nursery is cancelled. Store writes run in worker
threads that finish their transaction even when cancelled, so stopping never leaves a
half-written object.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import secrets
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import trio
import yaml
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from porch_embedded import dashboard as ui
from porch_embedded import metrics
from porch_embedded.api import (
    ApiApp,
    ApiSettings,
    Authenticator,
    Authorizer,
    ClientCertificateAuthorities,
    DelegatingAuthenticator,
    ExplicitTrust,
    HandlerSettings,
    Pki,
    RbacAuthorizer,
    ServingSettings,
    StandaloneAuthenticator,
    SubjectAccessReviewAuthorizer,
    delegated_authentication,
    ensure_pki,
    issue_client_certificate,
    load_token_file,
    run_https,
    run_trust_updates,
)
from porch_embedded.controllers import (
    ClusterLeases,
    InjectionSource,
    Leases,
    StoreInjectionSource,
    SyncSettings,
    run_package_variant_sets,
    run_package_variants,
    run_repository_sync,
    run_while_leader,
)
from porch_embedded.dashboard import LazyDashboard, mount
from porch_embedded.engine import (
    AdapterFactory,
    ClusterClient,
    ClusterInjectionSource,
    ClusterMirror,
    ClusterRepositorySource,
    ClusterWrites,
    Engine,
    run_cluster_mirror,
    run_status_writeback,
)
from porch_embedded.kinds import (
    ALL_KINDS,
    CLUSTER_KINDS,
    PACKAGE,
    PACKAGE_VARIANT,
    PACKAGE_VARIANT_SET,
    REPOSITORY,
    SECRET,
    SERVED_KINDS,
)
from porch_embedded.meta import UserInfo
from porch_embedded.runners import JobSettings, PodmanSettings, RunnerSettings, build_function_runner
from porch_embedded.store import open_store
from porch_embedded.vcs import GitCache, GitStorage, OciStorage

__all__ = ["AggregatedSettings", "Settings", "issue_client_certificate_files", "run", "serve_forever"]

log = logging.getLogger("porch_embedded.server")

ADMIN_USER = UserInfo("admin", uid="admin", groups=("system:masters", "system:authenticated"))


@dataclass(frozen=True)
class AggregatedSettings:
    """`serve --aggregated`: delegated authentication and authorization, objects in the cluster.

    Flag names follow kube-apiserver's delegated authentication options. The kubeconfigs
    default to ``kubeconfig``, which defaults to the in-cluster service account.
    """

    kubeconfig: Path | None = None
    authentication_kubeconfig: Path | None = None
    authorization_kubeconfig: Path | None = None
    requestheader_client_ca_file: Path | None = None
    """Empty: read from ConfigMap kube-system/extension-apiserver-authentication at start."""
    requestheader_allowed_names: tuple[str, ...] | None = None
    requestheader_username_headers: tuple[str, ...] | None = None
    requestheader_group_headers: tuple[str, ...] | None = None
    requestheader_extra_headers_prefix: tuple[str, ...] | None = None
    requestheader_uid_headers: tuple[str, ...] | None = None
    token_cache_ttl_s: float = 10.0
    authorized_cache_ttl_s: float = 10.0
    unauthorized_cache_ttl_s: float = 10.0
    leader_elect_namespace: str = "porch-system"
    leader_elect_name: str = "porch-embedded-controllers"
    watch_timeout_s: float = 300.0
    """How long each watch of the cluster's objects runs before it is made again."""


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
    function_runner: str = ""
    """Where images that are not builtin run: podman, kubernetes, or none (refused). Empty:
    Kubernetes Jobs when aggregated (in the cluster it serves), podman otherwise."""
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
    aggregated: AggregatedSettings | None = None
    """Serve behind a kube-apiserver (an APIService) instead of standalone."""
    shutdown_grace_period_s: float = 25.0
    """On SIGTERM, how long in-flight requests may take to finish (Kubernetes kills at 30 s)."""

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


def _dashboard_key(store_key: bytes) -> bytes:
    """The key that signs the dashboard's session cookies, derived from the store's key.

    Replicas that share a PostgreSQL store already share that key (--store-key-file), so a
    browser's session is good on whichever replica the load balancer picks; a distinct
    HKDF label keeps the two uses apart (the signing key reveals nothing of the store key).
    """
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"porch-embedded dashboard session cookies").derive(store_key)


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
    """The storage of each Repository ``spec.type`` served: git repositories and OCI registries, each in
    the layout Porch writes."""
    git, oci = GitStorage(cache), OciStorage()
    return {git.type: git, oci.type: oci}


def _runner_settings(settings: Settings) -> RunnerSettings:
    chosen = settings.function_runner or ("kubernetes" if settings.aggregated is not None else "podman")
    kind = chosen if chosen in ("podman", "kubernetes", "none") else "none"
    kubeconfig = settings.function_kubeconfig
    if kubeconfig is None and settings.aggregated is not None:
        kubeconfig = settings.aggregated.kubeconfig
    return RunnerSettings(
        kind=kind,  # type: ignore[arg-type]
        exec_allow_list=dict(settings.exec_functions),
        timeout_s=settings.function_timeout_s,
        podman=PodmanSettings(containers_conf=settings.containers_conf, auth_file=settings.registry_auth_file,
                              pull_policy=settings.podman_pull_policy),  # type: ignore[arg-type]
        kubernetes=JobSettings(kubeconfig=kubeconfig, namespace=settings.function_namespace,
                               service_account=settings.function_service_account),
    )


async def _standalone_auth(settings: Settings, pki: Pki) -> tuple[Authenticator, Authorizer, Path, str]:
    """Tokens and client certificates checked here, RBAC from the policy file; the admin token."""
    admin_token = _admin_token(settings.data_dir)
    tokens = {admin_token: ADMIN_USER}
    if settings.token_auth_file is not None:
        tokens.update(load_token_file(settings.token_auth_file))
    client_ca_file = settings.client_ca_file or pki.ca_cert
    authenticator = StandaloneAuthenticator(
        tokens=tokens,
        client_ca=x509.load_pem_x509_certificate(client_ca_file.read_bytes()),
        allow_anonymous=settings.anonymous_auth,
    )
    return authenticator, RbacAuthorizer.from_file(settings.authorization_policy_file), client_ca_file, admin_token


async def _delegated_auth(settings: Settings, aggregated: AggregatedSettings, pki: Pki) -> tuple[
        Authenticator, Authorizer, Path | None, Callable[..., Awaitable[None]] | None, ClientCertificateAuthorities]:
    """Front-proxy headers, TokenReview and SubjectAccessReview against the cluster.

    Also the task that follows the authentication ConfigMap when it is the source of the
    front-proxy CA (None when the flags give it), and the listener's CAs it adds to.
    """
    authentication = ClusterClient(aggregated.authentication_kubeconfig or aggregated.kubeconfig)
    authorization = ClusterClient(aggregated.authorization_kubeconfig or aggregated.kubeconfig)
    explicit = ExplicitTrust(
        requestheader_ca_pem=(aggregated.requestheader_client_ca_file.read_bytes()
                              if aggregated.requestheader_client_ca_file else None),
        client_ca_pem=settings.client_ca_file.read_bytes() if settings.client_ca_file else None,
        allowed_names=aggregated.requestheader_allowed_names,
        username_headers=aggregated.requestheader_username_headers,
        uid_headers=aggregated.requestheader_uid_headers,
        group_headers=aggregated.requestheader_group_headers,
        extra_headers_prefixes=aggregated.requestheader_extra_headers_prefix,
    )
    trust = await delegated_authentication(authentication, explicit)
    bundle: Path | None = None
    if trust.client_ca_bundle:
        bundle = pki.ca_cert.with_name("delegated-client-cas.pem")
        bundle.write_bytes(trust.client_ca_bundle)
    authenticator = DelegatingAuthenticator(authentication, requestheader=trust.requestheader,
                                            client_ca=trust.client_ca,
                                            token_cache_ttl_s=aggregated.token_cache_ttl_s)
    authorizer = SubjectAccessReviewAuthorizer(authorization, allowed_ttl_s=aggregated.authorized_cache_ttl_s,
                                               denied_ttl_s=aggregated.unauthorized_cache_ttl_s)
    listener = ClientCertificateAuthorities()
    updates = (partial(run_trust_updates, authentication, explicit, authenticator, listener,
                       watch_timeout_s=aggregated.watch_timeout_s) if explicit.reads_configmap else None)
    return authenticator, authorizer, bundle, updates, listener


async def _run_controllers(engine: Engine, sync_settings: SyncSettings, injection: InjectionSource, *,
                           cluster: ClusterClient | None = None) -> None:
    """The leader's work, side by side: repository sync, the PackageVariant and PackageVariantSet
    controllers. Aggregated (``cluster``), also the write-back of Repository status to the custom
    resources (the variant controllers write theirs to the cluster through the engine)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(run_repository_sync, engine, sync_settings))
        if cluster is not None:
            await nursery.start(run_status_writeback, engine.store, cluster, REPOSITORY)
        await nursery.start(run_package_variants, engine, injection)
        await nursery.start(run_package_variant_sets, engine)


async def run(settings: Settings, *, shutdown: trio.Event | None = None,
              task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the server until cancelled, or drained once ``shutdown`` is set; report the bound URL.

    Standalone, it also writes an admin kubeconfig. Aggregated (``settings.aggregated``),
    it serves porch.kpt.dev only (the cluster serves config.porch.kpt.dev from CRDs),
    follows those custom resources into the store before it reports ready, reads
    Secrets from the cluster, and elects its controller leader with a Lease.

    Every layer reports its metrics into this server's own registry (several servers in
    one process keep theirs apart), which its /metrics serves.
    """
    meter = metrics.PrometheusMeter()
    with metrics.bound(meter):
        await _serve(settings, meter, shutdown, task_status)


async def _drain(app: ApiApp, dashboard: LazyDashboard, stop_accepting: trio.Event, grace_s: float) -> None:
    """Stop taking connections, then give in-flight requests ``grace_s`` to finish."""
    log.info("draining: no new connections; in-flight requests have %.0f s to finish", grace_s)
    stop_accepting.set()
    with trio.move_on_after(grace_s) as grace:
        async with trio.open_nursery() as both:
            both.start_soon(app.drain)
            both.start_soon(dashboard.drain)
    if grace.cancelled_caught:
        log.warning("grace period of %.0f s over; stopping the requests still in flight", grace_s)


async def _serve(settings: Settings, meter: metrics.PrometheusMeter, shutdown: trio.Event | None,
                 task_status: trio.TaskStatus[str]) -> None:
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = _pki(settings)
    aggregated = settings.aggregated
    admin_token = ""
    authenticator: Authenticator
    authorizer: Authorizer
    trust_updates: Callable[..., Awaitable[None]] | None = None
    client_ca_updates: ClientCertificateAuthorities | None = None
    if aggregated is None:
        authenticator, authorizer, client_ca_file, admin_token = await _standalone_auth(settings, pki)
    else:
        authenticator, authorizer, client_ca_file, trust_updates, client_ca_updates = await _delegated_auth(
            settings, aggregated, pki)
    encryption_key = _secret_file(settings.resolved_store_key_file, Fernet.generate_key())
    sealed = {kind.resource: kind.sealed_fields for kind in ALL_KINDS if kind.sealed_fields}
    async with open_store(settings.resolved_store_url, encryption_key=encryption_key, sealed_fields=sealed,
                          event_retention=settings.event_retention, password=settings.store_password) as store:
        cluster = ClusterClient(aggregated.kubeconfig) if aggregated is not None else None
        source = ClusterRepositorySource(store, cluster, REPOSITORY, SECRET) if cluster is not None else None
        engine = Engine(store, _adapter_factory(GitCache(data_dir / "cache")),
                        build_function_runner(_runner_settings(settings)), source)
        mirror = ClusterMirror()
        if cluster is not None:
            # The cluster's kinds that the controllers write: PackageVariants (a set's, finalizers,
            # status) and PackageVariantSets (status). Repository status stays ours (write-back).
            engine.cluster_writes = ClusterWrites(cluster, store, mirror, (PACKAGE_VARIANT, PACKAGE_VARIANT_SET))
        await engine.ensure_default_namespaces()
        served = SERVED_KINDS if aggregated is None else tuple(k for k in ALL_KINDS if k.group == PACKAGE.group)
        app = ApiApp(engine, store, served, authenticator, authorizer, ApiSettings(
            handlers=HandlerSettings(max_body_bytes=settings.max_request_body_bytes,
                                     bookmark_interval_s=settings.bookmark_interval_s)), meter=meter)
        dashboard = LazyDashboard(lambda: ui.Dashboard(
            ui.DashboardServices(engine, store, authenticator, authorizer),
            ui.DashboardSettings(secret_key=_dashboard_key(encryption_key))))
        serving = ServingSettings(
            host=settings.host, port=settings.port,
            cert_file=settings.tls_cert_file or pki.serving_cert,
            key_file=settings.tls_key_file or pki.serving_key,
            client_ca_file=client_ca_file,
            client_ca_updates=client_ca_updates,
        )
        leases: Leases = store
        lease_name = "porch-embedded-controllers"
        if aggregated is not None and cluster is not None:
            leases, lease_name = ClusterLeases(cluster, aggregated.leader_elect_namespace), aggregated.leader_elect_name
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await nursery.start(dashboard.run)
                if trust_updates is not None:
                    await nursery.start(trust_updates)
                if aggregated is not None and cluster is not None:
                    await nursery.start(partial(run_cluster_mirror, engine, cluster, CLUSTER_KINDS,
                                                watch_timeout_s=aggregated.watch_timeout_s, mirror=mirror))
                if settings.controllers:
                    injection: InjectionSource = (StoreInjectionSource(store) if cluster is None
                                                  else ClusterInjectionSource(cluster))
                    sync_settings = SyncSettings(default_interval_s=settings.sync_interval_s,
                                                 health_interval_s=settings.health_interval_s)
                    await nursery.start(run_while_leader, leases, lease_name, _replica_id(),
                                        settings.leader_lease_s,
                                        partial(_run_controllers, engine, sync_settings, injection,
                                                cluster=cluster))
                stop_accepting = trio.Event()
                url = await nursery.start(partial(run_https, mount(app, dashboard), serving,
                                                  stop_accepting=stop_accepting))
                if aggregated is None:
                    server_url = settings.kubeconfig_server or url.replace("https://0.0.0.0:", "https://127.0.0.1:")
                    write_kubeconfig(data_dir / "kubeconfig", server_url, pki.ca_cert, admin_token)
                app.ready.set()
                log.info("serving on %s%s", url, "" if aggregated is not None
                         else f"; kubeconfig: {data_dir / 'kubeconfig'}")
                task_status.started(url)
                if shutdown is not None:
                    await shutdown.wait()
                    await _drain(app, dashboard, stop_accepting, settings.shutdown_grace_period_s)
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await engine.aclose()


async def serve_forever(settings: Settings) -> None:
    """`porch-embedded serve`: run until SIGTERM or SIGINT, then drain; a second signal stops at once."""
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def on_signals() -> None:
                async for signum in signals:
                    if shutdown.is_set():
                        log.info("received %s again; stopping now", signal.Signals(signum).name)
                        nursery.cancel_scope.cancel()
                        return
                    log.info("received %s; shutting down", signal.Signals(signum).name)
                    shutdown.set()

            nursery.start_soon(on_signals)
            await run(settings, shutdown=shutdown)
            nursery.cancel_scope.cancel()
