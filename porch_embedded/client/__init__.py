"""A small typed HTTP client of the server's API: kubeconfig, auth, verbs, watch.

It imports only the bottom layer (errors, meta, kinds) and talks HTTP; the
``porchctl`` commands in ``cli/`` are built on it.
"""

from porch_embedded.client._client import TABLE_ACCEPT, ConnectionFailed, PorchClient, status_error
from porch_embedded.client._kubeconfig import ClientConfig, KubeconfigError, default_kubeconfig_path, load_kubeconfig

__all__ = [
    "TABLE_ACCEPT",
    "ClientConfig",
    "ConnectionFailed",
    "KubeconfigError",
    "PorchClient",
    "default_kubeconfig_path",
    "load_kubeconfig",
    "status_error",
]
