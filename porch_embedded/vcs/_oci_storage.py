"""``OciStorage``: Repositories of ``spec.type: oci``, and OCI upstreams of clone tasks.

Porch's ``spec.oci`` holds ``registry`` (``HOST[:PORT]/PATH``) and ``secretRef`` only, and
so does this one: TLS follows the registry's address as Porch's client does (plain HTTP
to loopback and private addresses, HTTPS elsewhere), verified with the ``ca.crt`` of the
Repository's Secret when it holds one, else the system's trust store. All registrations
share one limiter on worker threads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from porch_embedded.errors import BadRequest, NotFound, RepositoryNotFound
from porch_embedded.vcs._oci import Image, OciAdapter, OciSpec, open_oci_adapter, split_image
from porch_embedded.vcs._protocol import Credentials, StorageLocation, Upstream

__all__ = ["OciStorage", "OciUpstream"]

THREADS = 8
"""Registry calls in flight at once across every OCI repository (oras-py is synchronous)."""


@dataclass(frozen=True)
class OciUpstream:
    """A clone task's ``upstreamRef.oci``: the package image ``HOST/PATH/<package>:<tag>`` (or ``@digest``)."""

    image: str
    secret_name: str = ""
    secret_field: str = "spec.tasks[0].clone.upstreamRef.oci"


def _registry(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"repository {name!r}: spec.oci.registry must be the registry and path of the "
                         "packages, e.g. registry.example.com/packages")
    registry = value.strip().removeprefix("oci://").strip("/")
    if "://" in registry or " " in registry:
        raise BadRequest(f"repository {name!r}: spec.oci.registry {value!r} must be HOST[:PORT]/PATH, "
                         "without a scheme")
    return registry


@asynccontextmanager
async def _ca_file(credentials: Credentials) -> AsyncIterator[str]:
    """The Secret's ``ca.crt`` as a file for the TLS client (removed on exit), or ``""``."""
    if not credentials.ca_bundle:
        yield ""
        return
    handle, path = tempfile.mkstemp(prefix="porch-ca-", suffix=".pem")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(credentials.ca_bundle)
        yield path
    finally:
        os.unlink(path)


class OciStorage:
    """The ``Storage`` of OCI repositories, in Porch's layout."""

    type = "oci"

    def __init__(self, threads: int = THREADS) -> None:
        self.limiter = trio.CapacityLimiter(threads)

    def parse(self, repository: Mapping[str, Any]) -> OciSpec:
        name = (repository.get("metadata") or {}).get("name", "")
        oci = (repository.get("spec") or {}).get("oci")
        if not isinstance(oci, Mapping):
            raise BadRequest(f"repository {name!r} has type 'oci' but no spec.oci: set spec.oci.registry "
                             "(and optionally secretRef)")
        ref = oci.get("secretRef") or {}
        if not isinstance(ref, Mapping) or not isinstance(ref.get("name", ""), str):
            raise BadRequest(f"repository {name!r}: spec.oci.secretRef must be an object with the Secret's name")
        return OciSpec(registry=_registry(oci.get("registry"), name), secret_name=ref.get("name", ""))

    def location(self, spec: OciSpec) -> StorageLocation:
        """The registry host (case-insensitive) and the path under it: every image below the path is a package."""
        return StorageLocation(f"oci:{spec.host.lower()}", spec.prefix,
                               overlap="same OCI registry, and its path overlaps this one's",
                               advice="register a different spec.oci.registry path")

    @asynccontextmanager
    async def open(self, spec: OciSpec, credentials: Credentials) -> AsyncIterator[OciAdapter]:
        async with _ca_file(credentials) as ca_file, open_oci_adapter(spec, credentials, self.limiter,
                                                                     ca_file=ca_file) as adapter:
            yield adapter

    def parse_upstream(self, upstream: Mapping[str, Any]) -> OciUpstream:
        oci = upstream.get("oci")
        image = oci.get("image") if isinstance(oci, Mapping) else None
        if not isinstance(image, str) or "/" not in image.removeprefix("oci://"):
            raise BadRequest("a clone from OCI needs spec.tasks[0].clone.upstreamRef.oci.image "
                             "(HOST/PATH/PACKAGE:TAG)")
        image = image.removeprefix("oci://")
        _, _, tag, digest = split_image(image)
        if not tag and not digest:
            raise BadRequest(f"spec.tasks[0].clone.upstreamRef.oci.image {image!r} must name a tag or a digest "
                             "(HOST/PATH/PACKAGE:TAG)")
        return OciUpstream(image)

    async def read_upstream(self, upstream: OciUpstream, credentials: Credentials) -> Upstream:
        """The package image's files; its lock names the manifest digest read.

        Porch's ``upstreamRef.oci`` names no Secret: the registry is read anonymously, unless
        credentials are handed in.
        """
        host, repository, tag, digest = split_image(upstream.image)
        package = repository.rsplit("/", 1)[-1]
        prefix = repository[: -len(package) - 1] if "/" in repository else ""
        spec = OciSpec(f"{host}/{prefix}" if prefix else host)
        async with _ca_file(credentials) as ca_file:
            adapter = OciAdapter(spec, credentials, self.limiter, ca_file=ca_file, without_secret=(
                "upstreamRef.oci names no Secret (as in Porch): register the registry as a Repository and clone "
                "its package revision through upstreamRef.upstreamRef"))
            try:
                def read() -> tuple[Image, dict[str, str]]:
                    adapter.registry.ping_blocking()
                    manifest_digest = digest or adapter.registry.head_blocking(repository, tag)
                    if not manifest_digest:
                        raise NotFound(f"no package image {upstream.image} (the registry has no tag {tag!r} "
                                       f"in {repository})")
                    try:
                        image = adapter._image_blocking(package, manifest_digest)
                    except RepositoryNotFound:
                        raise NotFound(f"no package image {upstream.image}") from None
                    return image, adapter._image_files_blocking(package, image, upstream.image)

                image, files = await trio.to_thread.run_sync(read, limiter=self.limiter)
            finally:
                await adapter.aclose()
        reference = f"{host}/{repository}" + (f":{tag}" if tag else "")
        return Upstream(files, {"type": "oci", "oci": {"image": f"{reference}@{image.digest}"}})
