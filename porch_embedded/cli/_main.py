"""`porch-embedded serve` and friends: flags to Settings, then the server's nursery."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from typing import TYPE_CHECKING

from porch_embedded import __version__
from porch_embedded.cli._logging import LOG_FORMATS, configure_logging
from porch_embedded.cli._porchctl import add_porchctl_commands, is_porchctl_command, porchctl_main
from porch_embedded.errors import StatusError

if TYPE_CHECKING:
    from porch_embedded.server import AggregatedSettings

# The server stack (server, store, kinds' CRDs, trio, cryptography) is imported by the
# commands that use it, not here: a porchctl verb only talks HTTP, and every one of them
# is a process start (of the one-file binary too), which should not pay for a server.

__all__ = ["main"]

DEFAULT_DATA_DIR = Path("porch-embedded-data")
DEFAULT_LISTEN = "127.0.0.1:9443"


class _Parser(argparse.ArgumentParser):
    """argparse, except that a parser marked ``one_line_errors`` reports a bad flag in one line.

    ``serve`` is started by scripts and service managers, whose logs should show what to
    fix, not a usage block; the porchctl verbs keep argparse's usual report.
    """

    one_line_errors = False

    def error(self, message: str) -> NoReturn:
        if not self.one_line_errors:
            super().error(message)
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port up to 65535 (e.g. {DEFAULT_LISTEN}), "
                                         f"got {value!r}")
    return host.strip("[]"), int(port)


def _positive(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number above zero, refused in argparse's words otherwise."""

    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {value!r}") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be above zero, got {value!r}")
        return number

    return parse


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated list flag, as kube-apiserver's string slices."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _add_aggregated_flags(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group(
        "aggregated mode", "Serve porch.kpt.dev behind a kube-apiserver (APIService). Flag names and defaults are "
        "kube-apiserver's delegated authentication and authorization options.")
    group.add_argument("--aggregated", action="store_true",
                       help="authenticate by front-proxy headers and TokenReview, authorize by "
                            "SubjectAccessReview, read Repository/PackageVariant/PackageVariantSet custom resources "
                            "and Secrets from the cluster, elect the controller leader with a Lease")
    group.add_argument("--kubeconfig", type=Path,
                       help="the cluster (default: the in-cluster service account)")
    group.add_argument("--authentication-kubeconfig", type=Path,
                       help="cluster for TokenReview and the authentication ConfigMap (default: --kubeconfig)")
    group.add_argument("--authorization-kubeconfig", type=Path,
                       help="cluster for SubjectAccessReview (default: --kubeconfig)")
    group.add_argument("--requestheader-client-ca-file", type=Path, metavar="FILE",
                       help="CAs that sign the front-proxy client certificate; default: read with the rest of the "
                            "requestheader settings from ConfigMap kube-system/extension-apiserver-authentication")
    group.add_argument("--requestheader-allowed-names", type=_names, metavar="NAMES",
                       help="comma-separated CNs allowed for the front-proxy certificate; empty allows any")
    group.add_argument("--requestheader-username-headers", type=_names, metavar="HEADERS",
                       help="default: X-Remote-User")
    group.add_argument("--requestheader-uid-headers", type=_names, metavar="HEADERS", help="default: X-Remote-Uid")
    group.add_argument("--requestheader-group-headers", type=_names, metavar="HEADERS",
                       help="default: X-Remote-Group")
    group.add_argument("--requestheader-extra-headers-prefix", type=_names, metavar="PREFIXES",
                       help="default: X-Remote-Extra-")
    group.add_argument("--authentication-token-webhook-cache-ttl", type=float, default=10.0, metavar="SECONDS",
                       help="how long TokenReview answers are cached (default: 10)")
    group.add_argument("--authorization-webhook-cache-authorized-ttl", type=float, default=10.0,
                       metavar="SECONDS", help="how long allowed SubjectAccessReview answers are cached (default: 10)")
    group.add_argument("--authorization-webhook-cache-unauthorized-ttl", type=float, default=10.0,
                       metavar="SECONDS", help="how long denied SubjectAccessReview answers are cached (default: 10)")
    group.add_argument("--leader-elect-resource-namespace", default="porch-system",
                       help="namespace of the controllers' Lease (default: porch-system)")
    group.add_argument("--leader-elect-resource-name", default="porch-embedded-controllers",
                       help="name of the controllers' Lease (default: porch-embedded-controllers)")


_AGGREGATED_ONLY = {
    "--kubeconfig": "kubeconfig", "--authentication-kubeconfig": "authentication_kubeconfig",
    "--authorization-kubeconfig": "authorization_kubeconfig",
    "--requestheader-client-ca-file": "requestheader_client_ca_file",
    "--requestheader-allowed-names": "requestheader_allowed_names",
    "--requestheader-username-headers": "requestheader_username_headers",
    "--requestheader-uid-headers": "requestheader_uid_headers",
    "--requestheader-group-headers": "requestheader_group_headers",
    "--requestheader-extra-headers-prefix": "requestheader_extra_headers_prefix",
}
"""Flags that mean nothing standalone: given without --aggregated they are a mistake to report."""


def _aggregated_settings(args: argparse.Namespace) -> AggregatedSettings | None:
    if not args.aggregated:
        return None
    from porch_embedded.server import AggregatedSettings

    return AggregatedSettings(
        kubeconfig=args.kubeconfig, authentication_kubeconfig=args.authentication_kubeconfig,
        authorization_kubeconfig=args.authorization_kubeconfig,
        requestheader_client_ca_file=args.requestheader_client_ca_file,
        requestheader_allowed_names=args.requestheader_allowed_names,
        requestheader_username_headers=args.requestheader_username_headers,
        requestheader_uid_headers=args.requestheader_uid_headers,
        requestheader_group_headers=args.requestheader_group_headers,
        requestheader_extra_headers_prefix=args.requestheader_extra_headers_prefix,
        token_cache_ttl_s=args.authentication_token_webhook_cache_ttl,
        authorized_cache_ttl_s=args.authorization_webhook_cache_authorized_ttl,
        unauthorized_cache_ttl_s=args.authorization_webhook_cache_unauthorized_ttl,
        leader_elect_namespace=args.leader_elect_resource_namespace,
        leader_elect_name=args.leader_elect_resource_name,
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="porch-embedded",
                     description="A Porch-compatible package orchestration server in one process.")
    parser.add_argument("--version", action="version", version=f"porch-embedded {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API server",
                                description="Run the Porch API server. On first start it creates, in the data "
                                            "directory, a CA and serving certificate (pki/), an admin token "
                                            "(admin-token), the store encryption key (store.key), the SQLite "
                                            "store (store.db), and writes an admin kubeconfig (kubeconfig).")
    serve.one_line_errors = True
    serve.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                       help=f"where state lives (default: ./{DEFAULT_DATA_DIR})")
    serve.add_argument("--listen", type=_listen, default=_listen(DEFAULT_LISTEN),
                       help=f"HOST:PORT to serve HTTPS on; port 0 picks a free one (default: {DEFAULT_LISTEN})")
    serve.add_argument("--store", default="",
                       help="store URL: sqlite:///PATH or postgresql://USER@HOST:PORT/DB; "
                            "default sqlite:///DATA_DIR/store.db")
    serve.add_argument("--store-password-file", type=Path, metavar="FILE",
                       help="file holding the PostgreSQL password (default: $PGPASSWORD); "
                            "never put it in the URL, where ps would show it")
    serve.add_argument("--store-key-file", type=Path, metavar="FILE",
                       help="Fernet key encrypting Secret data at rest, made if missing "
                            "(default: DATA_DIR/store.key); replicas on one database share one")
    serve.add_argument("--token-auth-file", type=Path,
                       help='bearer tokens, one "token,user,uid,\\"group1,group2\\"" line each')
    serve.add_argument("--client-ca-file", type=Path,
                       help="CA whose client certificates authenticate users (CN=user, O=groups); "
                            "default: the generated CA")
    serve.add_argument("--authorization-policy-file", type=Path,
                       help="Kubernetes RBAC objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding) "
                            "granting access; members of system:masters may do everything")
    serve.add_argument("--anonymous-auth", action="store_true",
                       help="let requests without credentials in as system:anonymous (authorization still applies)")
    serve.add_argument("--tls-cert-file", type=Path, help="serving certificate (default: generated)")
    serve.add_argument("--tls-private-key-file", type=Path, help="key of --tls-cert-file")
    serve.add_argument("--tls-san", action="append", default=[], metavar="NAME",
                       help="extra DNS name or IP for the generated serving certificate (repeatable)")
    serve.add_argument("--max-request-body-bytes", type=_positive(int), default=6 * 1024 * 1024,
                       help="largest request body accepted (default: 6 MiB, as Porch)")
    serve.add_argument("--watch-bookmark-interval", type=_positive(float), default=60.0, metavar="SECONDS",
                       help="how often watches that allow bookmarks get one (default: 60)")
    serve.add_argument("--event-retention", type=_positive(int), default=100_000,
                       help="watch events kept for resuming watches (default: 100000)")
    serve.add_argument("--sync-interval", type=_positive(float), default=600.0, metavar="SECONDS",
                       help="full sync of repositories without spec.sync.schedule (default: 600)")
    functions = serve.add_argument_group("KRM functions", "Catalog functions named by image run in-process; "
                                         "other images run where --function-runner says.")
    functions.add_argument("--function-runner", choices=["podman", "kubernetes", "none"], default="",
                           help="runtime for non-builtin images: podman containers, Kubernetes Jobs, or none "
                                "(refused) (default: kubernetes with --aggregated, else podman)")
    functions.add_argument("--exec-function", action="append", default=[], metavar="IMAGE=PATH",
                           help="run IMAGE as the local binary PATH instead of a container (repeatable allow-list)")
    functions.add_argument("--function-timeout", type=_positive(float), default=300.0, metavar="SECONDS",
                           help="longest a function may run (default: 300, as kpt)")
    functions.add_argument("--containers-conf", type=Path,
                           help="containers.conf for podman (exported as CONTAINERS_CONF)")
    functions.add_argument("--podman-pull-policy", choices=["always", "if-not-present", "never"],
                           default="if-not-present")
    functions.add_argument("--registry-auth-file", type=Path,
                           help='podman --authfile: {"auths": {"host:port": {"auth": base64(user:pass)}}}')
    functions.add_argument("--function-namespace", default="porch-fn-system",
                           help="namespace of function Jobs (--function-runner kubernetes)")
    functions.add_argument("--function-service-account", help="service account of function Jobs")
    functions.add_argument("--function-kubeconfig", type=Path,
                           help="cluster for function Jobs; default --kubeconfig, else the in-cluster configuration")
    serve.add_argument("--repository-health-interval", type=_positive(float), default=120.0, metavar="SECONDS",
                       help="check each repository is reachable this often between full syncs (default: 120)")
    serve.add_argument("--disable-controllers", action="store_true",
                       help="serve the API only: no repository sync (for benchmarks of the API machinery)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.add_argument("--log-format", default="text", choices=LOG_FORMATS,
                       help="text lines, or one JSON object per record for log collectors (default: text)")
    serve.add_argument("--shutdown-grace-period", type=float, default=25.0, metavar="SECONDS",
                       help="on SIGTERM, how long in-flight requests may take to finish before the server "
                            "stops them; watches end at once, cleanly (default: 25)")
    _add_aggregated_flags(serve)

    certs = commands.add_parser("issue-client-cert", help="write a client certificate signed by the server's CA")
    certs.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    certs.add_argument("--user", required=True, help="the user name (certificate CN)")
    certs.add_argument("--group", action="append", default=[], help="a group (certificate O); repeatable")
    certs.add_argument("--out", type=Path, required=True, help="path prefix: writes PREFIX.crt and PREFIX.key")
    commands.add_parser("crds", help="print the CustomResourceDefinitions a cluster needs for --aggregated",
                        description="Print, as YAML, the CRDs of Repository, PackageVariant and "
                                    "PackageVariantSet (config.porch.kpt.dev) made from the schemas the "
                                    "standalone server serves; apply them before serving --aggregated.")
    from porch_embedded.cli._store import add_store_commands

    add_store_commands(commands)
    add_porchctl_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if is_porchctl_command("porch-embedded", arguments):
        return porchctl_main(arguments, program="porch-embedded")
    args = _parser().parse_args(arguments)
    if args.command == "store":
        from porch_embedded.cli._store import run_store_command

        return run_store_command(args)
    if args.command == "crds":
        import yaml

        from porch_embedded.kinds import CLUSTER_KINDS, custom_resource_definition

        print(yaml.safe_dump_all([custom_resource_definition(kind) for kind in CLUSTER_KINDS], sort_keys=False),
              end="")
        return 0
    from porch_embedded.server import Settings, issue_client_certificate_files, serve_forever

    if args.command == "issue-client-cert":
        cert, key = issue_client_certificate_files(args.data_dir, args.user, tuple(args.group), args.out)
        print(f"wrote {cert} and {key}")
        return 0
    configure_logging(args.log_level, args.log_format)
    if not args.aggregated:
        given = [flag for flag, value in _AGGREGATED_ONLY.items() if getattr(args, value) is not None]
        if given:
            print(f"porch-embedded: {', '.join(given)} only apply with --aggregated", file=sys.stderr)
            return 2
    if (args.tls_cert_file is None) != (args.tls_private_key_file is None):
        print("porch-embedded: --tls-cert-file and --tls-private-key-file go together", file=sys.stderr)
        return 2
    host, port = args.listen
    password = os.environ.get("PGPASSWORD") or None
    if args.store_password_file is not None:
        try:
            password = args.store_password_file.read_text().rstrip("\r\n")
        except OSError as error:
            print(f"porch-embedded: cannot read --store-password-file {args.store_password_file}: "
                  f"{error.strerror or type(error).__name__}", file=sys.stderr)
            return 2
    exec_functions = []
    for entry in args.exec_function:
        image, sep, path = entry.partition("=")
        if not sep or not image or not path:
            print(f"porch-embedded: --exec-function takes IMAGE=PATH, got {entry!r}", file=sys.stderr)
            return 2
        exec_functions.append((image, path))
    settings = Settings(
        data_dir=args.data_dir, host=host, port=port, store_url=args.store,
        store_password=password, store_key_file=args.store_key_file,
        token_auth_file=args.token_auth_file, client_ca_file=args.client_ca_file,
        authorization_policy_file=args.authorization_policy_file, anonymous_auth=args.anonymous_auth,
        tls_cert_file=args.tls_cert_file, tls_key_file=args.tls_private_key_file,
        tls_extra_names=tuple(args.tls_san), max_request_body_bytes=args.max_request_body_bytes,
        bookmark_interval_s=args.watch_bookmark_interval, event_retention=args.event_retention,
        sync_interval_s=args.sync_interval, function_runner=args.function_runner,
        exec_functions=tuple(exec_functions), function_timeout_s=args.function_timeout,
        containers_conf=args.containers_conf, podman_pull_policy=args.podman_pull_policy,
        registry_auth_file=args.registry_auth_file, function_namespace=args.function_namespace,
        function_service_account=args.function_service_account, function_kubeconfig=args.function_kubeconfig,
        controllers=not args.disable_controllers, health_interval_s=args.repository_health_interval,
        shutdown_grace_period_s=args.shutdown_grace_period,
        aggregated=_aggregated_settings(args),
    )
    unreadable = _unreadable_files(args)
    if unreadable:
        print(f"porch-embedded: {unreadable}", file=sys.stderr)
        return 2
    import trio

    try:
        trio.run(serve_forever, settings)
    except Exception as error:  # an exception group from the nursery, or a single error
        line = _failure_line(error, host, port)
        if line is None:
            raise  # not a failure we can explain: a bug, shown with its traceback
        if args.log_level == "DEBUG":
            logging.getLogger("porch_embedded").error("failed to run", exc_info=error)
        print(f"porch-embedded: {line}", file=sys.stderr)
        return 1
    return 0


def _unreadable_files(args: argparse.Namespace) -> str | None:
    """Why a file the flags name cannot serve, before anything starts; None if all can."""
    for flag, path in (("--tls-cert-file", args.tls_cert_file), ("--tls-private-key-file", args.tls_private_key_file),
                       ("--client-ca-file", args.client_ca_file), ("--token-auth-file", args.token_auth_file),
                       ("--authorization-policy-file", args.authorization_policy_file),
                       ("--requestheader-client-ca-file", args.requestheader_client_ca_file),
                       ("--kubeconfig", args.kubeconfig),
                       ("--authentication-kubeconfig", args.authentication_kubeconfig),
                       ("--authorization-kubeconfig", args.authorization_kubeconfig)):
        if path is None:
            continue
        try:
            data = path.read_bytes()
        except OSError as error:
            return f"cannot read {flag} {path}: {error.strerror or type(error).__name__}"
        if flag in ("--client-ca-file", "--requestheader-client-ca-file"):
            try:
                from cryptography import x509

                x509.load_pem_x509_certificate(data)
            except ValueError:
                whose = "your clients" if flag == "--client-ca-file" else "the front proxy (the aggregator)"
                return f"{flag} {path} does not hold a PEM certificate: give the CA certificate of {whose}"
    if args.tls_cert_file is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                args.tls_cert_file, args.tls_private_key_file)
        except ssl.SSLError as error:
            return (f"--tls-cert-file {args.tls_cert_file} and --tls-private-key-file {args.tls_private_key_file} "
                    f"are not a PEM certificate and its unencrypted private key"
                    + (f" ({error.reason})" if error.reason else ""))
    return None


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _failure_line(error: BaseException, host: str, port: int) -> str | None:
    """One line saying what failed and what to fix, for the errors a start can meet; None for a bug."""
    for leaf in _leaves(error):
        if isinstance(leaf, StatusError):
            return "cannot start: " + " ".join(leaf.message.split())
        if isinstance(leaf, OSError) and leaf.errno == errno.EADDRINUSE:
            return f"cannot serve on {host}:{port}: the address is in use; stop what listens there or choose " \
                   "another --listen"
        if isinstance(leaf, OSError) and leaf.errno == errno.EADDRNOTAVAIL:
            return f"cannot serve on {host}:{port}: no interface of this machine has that address; choose " \
                   "another --listen"
        if isinstance(leaf, OSError) and leaf.filename is not None:
            return f"cannot use {leaf.filename}: {leaf.strerror or type(leaf).__name__}"
        if isinstance(leaf, OSError):
            return f"cannot serve on {host}:{port}: {leaf.strerror or leaf}"
    return None
