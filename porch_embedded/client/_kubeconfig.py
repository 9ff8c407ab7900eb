"""Kubeconfig files to connection settings, as kubectl and porchctl read them.

Only what a client of this server needs: the cluster's server URL and CA, the
user's bearer token or client certificate, the context's namespace. Inline
``*-data`` fields are written to private temporary files because ``ssl`` loads
certificates from paths.
"""

from __future__ import annotations

import atexit
import base64
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from porch_embedded.errors import BadRequest

__all__ = ["ClientConfig", "KubeconfigError", "default_kubeconfig_path", "load_kubeconfig"]


class KubeconfigError(BadRequest):
    """The kubeconfig is missing, unreadable, or does not name what was asked for."""


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is and who we are to it."""

    server: str
    namespace: str = "default"
    token: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False
    tls_server_name: str | None = None


def default_kubeconfig_path() -> Path:
    """``$KUBECONFIG`` (its first existing entry) or ``~/.kube/config``, as kubectl picks it."""
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    for candidate in listed:
        if Path(candidate).exists():
            return Path(candidate)
    if listed:
        return Path(listed[0])
    return Path.home() / ".kube" / "config"


def _named(entries: Any, name: str, what: str, path: Path) -> Mapping[str, Any]:
    for entry in entries or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return entry.get(what) or {}
    raise KubeconfigError(f"{path}: no {what} named {name!r}")


def _data_file(data: str, suffix: str) -> Path:
    """Write base64 ``data`` to a 0600 temporary file removed at exit."""
    handle, name = tempfile.mkstemp(prefix="porchctl-", suffix=suffix)
    with os.fdopen(handle, "wb") as out:
        out.write(base64.b64decode(data))
    atexit.register(lambda: Path(name).unlink(missing_ok=True))
    return Path(name)


def _file(base: Path, entry: Mapping[str, Any], key: str, suffix: str) -> Path | None:
    if entry.get(f"{key}-data"):
        return _data_file(str(entry[f"{key}-data"]), suffix)
    if entry.get(key):
        path = Path(str(entry[key]))
        return path if path.is_absolute() else base.parent / path
    return None


def load_kubeconfig(path: Path | None = None, *, context: str | None = None, namespace: str | None = None,
                    server: str | None = None) -> ClientConfig:
    """Read a kubeconfig; ``context`` overrides current-context, ``namespace`` and ``server`` its values.

    Raises KubeconfigError when the file is missing or does not define the context,
    its cluster or its user.
    """
    path = path or default_kubeconfig_path()
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise KubeconfigError(f"kubeconfig {path} is not YAML: {error}") from error
    if not isinstance(document, Mapping):
        raise KubeconfigError(f"kubeconfig {path} is not a mapping")
    context_name = context or document.get("current-context") or ""
    if not context_name:
        raise KubeconfigError(f"{path}: no current-context; pass --context")
    chosen = _named(document.get("contexts"), context_name, "context", path)
    cluster = _named(document.get("clusters"), str(chosen.get("cluster", "")), "cluster", path)
    user = _named(document.get("users"), str(chosen.get("user", "")), "user", path) if chosen.get("user") else {}
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(str(user["tokenFile"])).read_text().strip()
    url = server or str(cluster.get("server", ""))
    if not url:
        raise KubeconfigError(f"{path}: cluster {chosen.get('cluster')!r} has no server")
    return ClientConfig(
        server=url.rstrip("/"),
        namespace=namespace or str(chosen.get("namespace") or "default"),
        token=str(token) if token else None,
        ca_file=_file(path, cluster, "certificate-authority", ".crt"),
        cert_file=_file(path, user, "client-certificate", ".crt"),
        key_file=_file(path, user, "client-key", ".key"),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
    )
