"""How functions are run: one settings record the composition root fills from flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["JobSettings", "PodmanSettings", "PullPolicy", "RunnerKind", "RunnerSettings"]

RunnerKind = Literal["podman", "kubernetes", "none"]
PullPolicy = Literal["always", "if-not-present", "never"]


@dataclass(frozen=True)
class PodmanSettings:
    """The podman CLI, its confinement of each function, and where images come from.

    Every container runs with ``--network=none --read-only --user 65534`` and these
    limits. ``containers_conf`` is exported as CONTAINERS_CONF to every podman call
    (on hosts where the defaults fail, e.g. ``default_ulimits = []`` and
    ``runtime = "runc"``). Registries on loopback addresses and those listed in
    ``insecure_registries`` are contacted without TLS verification; ``auth_file``
    is podman's ``--authfile`` (``{"auths": {"host:port": {"auth": base64}}}``).
    """

    path: str = "podman"
    containers_conf: Path | None = None
    memory: str = "512m"
    cpus: float = 1.0
    pids_limit: int = 256
    pull_policy: PullPolicy = "if-not-present"
    auth_file: Path | None = None
    insecure_registries: tuple[str, ...] = ()
    max_parallel: int = 4
    name_prefix: str = "porch-fn"


@dataclass(frozen=True)
class JobSettings:
    """Where and how a function runs as a Kubernetes Job.

    ``kubeconfig`` None means in-cluster configuration (the pod's service account).
    Function images are run with their entrypoint taken from ``entrypoints``
    (image, or image without tag, to argv) or else ``default_entrypoint``, because
    the pod's command must be wrapped to feed stdin from the mounted ResourceList;
    ``wrapper_image`` must hold a static ``/bin/busybox`` that the wrapper borrows.
    """

    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str = "porch-fn-system"
    service_account: str | None = None
    wrapper_image: str = "docker.io/library/busybox:1.36-musl"
    entrypoints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_entrypoint: tuple[str, ...] = ("/usr/local/bin/function",)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    memory: str = "512Mi"
    cpu: str = "1"
    poll_interval_s: float = 0.5
    request_timeout_s: float = 10.0
    ttl_after_finished_s: int = 600
    max_parallel: int = 8


@dataclass(frozen=True)
class RunnerSettings:
    """Everything ``build_function_runner`` needs, with safe defaults.

    ``kind`` picks the runtime for images that are neither builtin nor on the exec
    allow-list (``none`` refuses them). ``exec_allow_list`` maps an image reference
    or exec string to a local binary run with the ResourceList on stdin.
    ``timeout_s`` bounds one call (kpt's own default is 5 minutes); a caller's
    tighter deadline wins, less ``deadline_reserve_s`` kept to kill and report.
    Output beyond ``max_output_bytes`` kills the function; stderr beyond
    ``max_stderr_bytes`` is truncated.
    """

    kind: RunnerKind = "podman"
    builtins: bool = True
    exec_allow_list: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 300.0
    deadline_reserve_s: float = 2.0
    max_output_bytes: int = 32 * 1024 * 1024
    max_stderr_bytes: int = 1024 * 1024
    builtin_threads: int = 2
    podman: PodmanSettings = field(default_factory=PodmanSettings)
    kubernetes: JobSettings = field(default_factory=JobSettings)
