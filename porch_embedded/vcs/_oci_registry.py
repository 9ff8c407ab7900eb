"""``Registry``: the blocking OCI distribution calls the OCI adapter makes, over oras-py.

oras-py brings the session and the registry auth handshakes (basic, and bearer tokens);
this module adds what a server needs on top of it: one attempt per call with a time
budget (oras's own ``do_request`` retries any failure five times with sleeps of up to 83
seconds, so its undecorated body is called), the catalog and tag listings with
pagination, blob and manifest uploads of bytes held in memory, and every failure
translated once into the error tree, naming the registry and never a credential.

Every method ends in ``_blocking``: it runs in a worker thread (the adapter calls it
through ``trio.to_thread.run_sync`` behind its limiter) and never touches trio.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from porch_embedded.errors import (
    BadRequest,
    RepositoryAuthFailed,
    RepositoryNotFound,
    RepositoryUnavailable,
)
from porch_embedded.vcs._protocol import Credentials

if TYPE_CHECKING:
    import requests
    import requests.adapters

__all__ = ["MANIFEST_MEDIA_TYPE", "Registry", "digest_of", "load_json", "plain_http"]

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
_ACCEPT = ", ".join((MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json"))
TIMEOUT_S = (5.0, 60.0)
"""Connect and read budgets of one HTTP call: a registry that hangs fails the call, not the server."""
PAGE = 1000


@cache
def _oras() -> Any:
    """oras (and requests under it), imported when a registry is first spoken to: a third of a second
    that a server without OCI repositories should not spend at every start."""
    import oras.provider

    return oras.provider


def digest_of(data: bytes) -> str:
    """The OCI content digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def plain_http(host: str) -> bool:
    """Whether ``host`` may be spoken to over plain HTTP: loopback and private addresses, as in Porch.

    go-containerregistry (Porch's registry client) lets ``localhost``, loopback and RFC 1918
    addresses fall back to http when https fails, and speaks only https to every other
    registry; the same ``spec.oci.registry`` therefore reaches the same endpoint from Porch
    and from this server.
    """
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


@cache
def _budgeted() -> type[requests.adapters.HTTPAdapter]:
    """An HTTP adapter class that puts a time budget on every request that names none."""
    import requests.adapters

    class Budgeted(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = TIMEOUT_S
            return super().send(request, **kwargs)

    return Budgeted


class Registry:
    """One registry host, with the credentials of one Repository's Secret.

    ``ca_file`` is a PEM bundle to verify the registry's certificate with (the Secret's
    ``ca.crt``, written to a file by the caller); without it the system's trust store is used.
    """

    def __init__(self, host: str, credentials: Credentials, *, secret_name: str = "",
                 secret_field: str = "spec.oci.secretRef", ca_file: str = "", without_secret: str = "") -> None:
        self.host = host
        self.credentials = credentials
        self.secret_name = secret_name
        self.secret_field = secret_field
        self.without_secret = without_secret or f"set {secret_field} to a Secret that holds them"
        backend = "token" if credentials.bearer_token else "basic"
        self.client = _oras().Registry(hostname=host, insecure=plain_http(host), tls_verify=ca_file or True,
                                             auth_backend=backend)
        for scheme in ("http://", "https://"):
            self.client.session.mount(scheme, _budgeted()(pool_maxsize=16))
        if credentials.bearer_token:
            self.client.auth.set_token_auth(credentials.bearer_token)
        else:
            # With no Secret the basic backend still needs a value: an empty one, which a
            # registry that wants credentials refuses with 401 (reported below).
            self.client.auth.set_basic_auth(credentials.username, credentials.password)
        self.base = f"{self.client.prefix}://{host}"

    # -- errors ------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        for secret in self.credentials.secrets():
            text = text.replace(secret, "***")
        return text

    def _refused(self, action: str) -> RepositoryAuthFailed:
        if self.credentials:
            secret = f"Secret {self.secret_name!r}" if self.secret_name else "the repository's Secret"
            return RepositoryAuthFailed(
                f"{self.host}: the OCI registry refused the credentials of {secret} while {action}; check the "
                "username and password (or bearerToken) it holds")
        return RepositoryAuthFailed(
            f"{self.host}: the OCI registry requires credentials while {action}, and none were given; "
            f"{self.without_secret}")

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Translate network and oras failures while ``action`` runs into the error tree."""
        import requests

        try:
            yield
        except requests.exceptions.SSLError as exc:
            raise RepositoryUnavailable(
                f"{self.host}: TLS to the OCI registry failed while {action} "
                f"({self.redact(str(exc))[:200]}); give the registry's CA bundle as ca.crt in the "
                "repository's Secret") from exc
        except requests.exceptions.RequestException as exc:
            raise RepositoryUnavailable(
                f"{self.host}: the OCI registry did not answer while {action} ({type(exc).__name__}: "
                f"{self.redact(str(exc))[:200]})") from exc
        except ValueError as exc:  # oras: "Cannot respond to request for authentication."
            raise self._refused(action) from exc

    def request_blocking(self, method: str, path: str, action: str, *, data: bytes | None = None,
                         headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (200,)) -> requests.Response:
        """One HTTP call to ``path`` (from ``/v2/``, or a full URL the registry gave); raises on
        any status outside ``ok`` (404 comes back when it is in ``ok``)."""
        url = path if path.startswith("http") else self.base + path
        sent = dict(headers or {})
        if self.credentials.username or self.credentials.password:
            sent.update(self.client.auth.get_auth_header())  # up front: no 401 round trip per call
        with self.errors(action):
            do_request = _oras().Registry.do_request.__wrapped__  # without oras's own retries (see above)
            response: requests.Response = do_request(self.client, url, method, data=data, headers=sent)
        if response.status_code in ok:
            return response
        if response.status_code in (401, 403):
            raise self._refused(action)
        detail = self._error_detail(response)
        if response.status_code == 404:
            raise RepositoryNotFound(f"{self.host}: not found while {action}: {detail}")
        if response.status_code == 400 and ("NAME_INVALID" in detail or "TAG_INVALID" in detail):
            raise BadRequest(f"{self.host}: the OCI registry refused a name while {action}: {detail}")
        raise RepositoryUnavailable(f"{self.host}: the OCI registry answered {response.status_code} while "
                                    f"{action}: {detail}")

    @staticmethod
    def _error_detail(response: requests.Response) -> str:
        try:
            errors = response.json().get("errors") or []
            return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errors) or response.reason
        except (ValueError, AttributeError):
            return str(response.reason)

    # -- reads -------------------------------------------------------------------------

    def _scheme_blocking(self) -> None:
        """Pick https, or http for a loopback or private registry that does not speak TLS.

        A certificate that fails verification keeps https, so that the check reports it
        rather than talking plain HTTP to a TLS server.
        """
        import requests

        if not plain_http(self.host):
            return
        scheme = "http"
        try:
            self.client.session.get(f"https://{self.host}/v2/", verify=self.client._tls_verify, timeout=(2.0, 10.0))
            scheme = "https"
        except requests.exceptions.SSLError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                scheme = "https"
        except requests.exceptions.RequestException:
            pass
        self.client.prefix = scheme
        self.base = f"{scheme}://{self.host}"

    def ping_blocking(self) -> None:
        """Check that ``host`` is an OCI registry that takes our credentials (and pick its scheme)."""
        self._scheme_blocking()
        response = self.request_blocking("GET", "/v2/", "checking the registry", ok=(200, 404))
        if response.status_code == 404:
            raise RepositoryNotFound(f"{self.host}: no OCI registry at this address (GET /v2/ answered 404)")

    def _pages(self, path: str, key: str, action: str) -> list[str]:
        found: list[str] = []
        url: str | None = f"{path}?n={PAGE}"
        while url:
            response = self.request_blocking("GET", url, action, ok=(200, 404))
            if response.status_code == 404:
                return found
            try:
                found += response.json().get(key) or []
            except (ValueError, AttributeError) as exc:
                raise RepositoryUnavailable(f"{self.host}: the OCI registry answered {action} with something "
                                            "other than its JSON listing") from exc
            link = response.links.get("next", {}).get("url")
            url = urllib.parse.urljoin(self.base + "/", link) if link else None
        return found

    def repositories_blocking(self, prefix: str) -> list[str]:
        """The registry's repositories under ``prefix`` (``""``: all), from the catalog."""
        names = self._pages("/v2/_catalog", "repositories", "listing repositories")
        return sorted(n for n in names if not prefix or n.startswith(prefix + "/"))

    def tags_blocking(self, repository: str) -> list[str]:
        """The tags of ``repository``; none when it does not exist (any more)."""
        return sorted(self._pages(f"/v2/{repository}/tags/list", "tags", f"listing the tags of {repository}"))

    def head_blocking(self, repository: str, reference: str) -> str:
        """The manifest digest ``reference`` (a tag) points at, ``""`` when it does not exist."""
        response = self.request_blocking("HEAD", f"/v2/{repository}/manifests/{reference}",
                                         f"reading {repository}:{reference}", headers={"Accept": _ACCEPT},
                                         ok=(200, 404))
        return response.headers.get("Docker-Content-Digest", "") if response.status_code == 200 else ""

    def manifest_blocking(self, repository: str, reference: str) -> tuple[str, bytes]:
        """The digest and exact bytes of a manifest."""
        response = self.request_blocking("GET", f"/v2/{repository}/manifests/{reference}",
                                         f"reading the manifest {repository}@{reference}",
                                         headers={"Accept": _ACCEPT})
        return response.headers.get("Docker-Content-Digest") or digest_of(response.content), response.content

    def blob_blocking(self, repository: str, digest: str) -> bytes:
        response = self.request_blocking("GET", f"/v2/{repository}/blobs/{digest}",
                                         f"reading the blob {repository}@{digest}")
        if digest_of(response.content) != digest:
            raise RepositoryUnavailable(f"{self.host}: the blob {repository}@{digest} came back with other content")
        return response.content

    # -- writes ------------------------------------------------------------------------

    def put_blob_blocking(self, repository: str, data: bytes) -> str:
        """Upload a blob (nothing when the repository has it already); return its digest.

        A blob is invisible until a manifest names it: an upload the process dies after
        leaves the repository as it was.
        """
        digest = digest_of(data)
        action = f"uploading a blob to {repository}"
        exists = self.request_blocking("HEAD", f"/v2/{repository}/blobs/{digest}", action, ok=(200, 404))
        if exists.status_code == 200:
            return digest
        started = self.request_blocking("POST", f"/v2/{repository}/blobs/uploads/", action, ok=(202,))
        location = started.headers.get("Location", "")
        if not location:
            raise RepositoryUnavailable(f"{self.host}: the registry gave no upload location while {action}")
        location = urllib.parse.urljoin(self.base + "/", location)
        separator = "&" if "?" in location else "?"
        self.request_blocking("PUT", f"{location}{separator}digest={urllib.parse.quote(digest)}", action,
                              data=data, headers={"Content-Type": "application/octet-stream"}, ok=(201, 204))
        return digest

    def put_manifest_blocking(self, repository: str, tag: str, manifest: bytes) -> str:
        """Point ``tag`` at ``manifest`` (one PUT: the write that makes a change visible)."""
        self.request_blocking("PUT", f"/v2/{repository}/manifests/{tag}", f"writing {repository}:{tag}",
                              data=manifest, headers={"Content-Type": MANIFEST_MEDIA_TYPE}, ok=(201, 200))
        return digest_of(manifest)

    def delete_manifest_blocking(self, repository: str, digest: str) -> None:
        """Delete a manifest (and so the tag that points at it); already gone is fine."""
        response = self.request_blocking("DELETE", f"/v2/{repository}/manifests/{digest}",
                                         f"deleting {repository}@{digest}", ok=(202, 200, 404, 405))
        if response.status_code == 405:
            raise RepositoryUnavailable(f"{self.host}: the OCI registry does not allow deletes (its config "
                                        f"needs storage.delete.enabled), so {repository}@{digest} stays")


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a JSON object, or RepositoryUnavailable naming ``what`` held something else."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise RepositoryUnavailable(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise RepositoryUnavailable(f"{what} is not a JSON object")
    return value
