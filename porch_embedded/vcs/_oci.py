"""``OciAdapter``: a Repository's OCI registry storage, in Porch's layout, over oras-py.

Porch's layout, which this adapter reads and writes so that Porch and this server share
registries: ``spec.oci.registry`` (``HOST[:PORT]/PATH``) is a prefix, and each repository
under it is one package (``PATH/<package>``); each tag is one package revision, named
by its workspace; the manifest's annotations hold the lifecycle (``kpt.dev/lifecycle``)
and, once published, the revision (``kpt.dev/revision: v<N>``); the image config's
history holds one entry per update whose ``created_by`` is ``kpt:<task JSON>``; and each
update appends one gzip tar layer holding the package's complete file set (with
whiteout entries for the files it removed, so a flattening reader sees them gone).

Porch writes the lifecycle on the last layer's descriptor while it reads the manifest's
annotations; both places are read here (the manifest's first), and the manifest's are
written. What Porch records nowhere is kept in manifest annotations of our own:
who published a revision and when (``porch.kpt.dev/published-by``, ``-at``).

A content change is one manifest write: the new layer and config blobs go up first and
are invisible until the manifest PUT names them, so a process killed in between leaves
the repository as it was (orphaned blobs are harmless). A lifecycle move re-tags the
same layers and config with new annotations. A revision's ``commit`` is its config
digest (content and history; a lifecycle move keeps it) and its ``locator`` the image
reference with its manifest digest, ``HOST/PATH/<package>:<workspace>@sha256:...``.
Registries have no conditional manifest PUT, so the stale-write check (the tag still
at the revision's config) and the PUT are two calls: the engine's per-repository write
lock orders this server's writers, and another client's write in between wins.

OCI has no placeholder revision and no branch. Every registry call runs in a worker
thread behind the adapter's limiter.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import logging
import posixpath
import tarfile
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import trio

from porch_embedded.errors import (
    PackageContentInvalid,
    RefConflict,
    RepositoryNotFound,
    RepositoryUnavailable,
    StatusError,
)
from porch_embedded.vcs._layout import PORCH_NAME
from porch_embedded.vcs._oci_registry import MANIFEST_MEDIA_TYPE, Registry, digest_of, load_json
from porch_embedded.vcs._protocol import Author, Credentials, DraftWrite, Lifecycle, Revision, Snapshot

__all__ = ["OciAdapter", "OciSpec", "open_oci_adapter", "split_image"]

log = logging.getLogger("porch_embedded.vcs")

T = TypeVar("T")

LIFECYCLE = "kpt.dev/lifecycle"
REVISION = "kpt.dev/revision"
PUBLISHED_BY = "porch.kpt.dev/published-by"
PUBLISHED_AT = "porch.kpt.dev/published-at"
REF_NAME = "org.opencontainers.image.ref.name"
"""The workspace, also in the manifest: two tags never share a manifest, so deleting one
revision's manifest (registries delete tags by digest) never takes another tag along."""
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_MEDIA_TYPES = (LAYER_MEDIA_TYPE, "application/vnd.docker.image.rootfs.diff.tar.gzip")
TASK_PREFIX = "kpt:"
WHITEOUT = ".wh."
LIFECYCLES: tuple[Lifecycle, ...] = ("Draft", "Proposed", "Published", "DeletionProposed")
PUBLISHED = ("Published", "DeletionProposed")
LAYER_CACHE = 4096
"""Parsed layers kept in memory (packages are small; a sync of a large registry reads each once)."""
LISTING_THREADS = 8
"""Registry calls of one listing made side by side (one HEAD per tag: distribution lists
tag names only)."""


@dataclass(frozen=True)
class OciSpec:
    """A Repository's ``spec.oci``: the registry host and the repository prefix under it."""

    registry: str
    secret_name: str = ""
    secret_field: ClassVar[str] = "spec.oci.secretRef"

    @property
    def host(self) -> str:
        return self.registry.split("/", 1)[0]

    @property
    def prefix(self) -> str:
        return self.registry.split("/", 1)[1].strip("/") if "/" in self.registry else ""

    def repository(self, package: str) -> str:
        """The registry repository that holds ``package``."""
        return f"{self.prefix}/{package}" if self.prefix else package


def split_image(image: str) -> tuple[str, str, str, str]:
    """``HOST/REPO[:TAG][@DIGEST]`` -> (host, repo, tag, digest)."""
    rest, _, digest = image.partition("@")
    host, _, path = rest.partition("/")
    tag = ""
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
    return host, path, tag, digest


@dataclass(frozen=True)
class Image:
    """One manifest and its config, as parsed from the registry (immutable: keyed by digest)."""

    digest: str
    manifest: dict[str, Any]
    config_digest: str
    config: dict[str, Any]

    @property
    def layers(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("layers") or [])

    @property
    def annotations(self) -> dict[str, str]:
        """The manifest's annotations, over the last layer's (where Porch writes its own)."""
        layers = self.layers
        below = dict((layers[-1].get("annotations") or {}) if layers else {})
        return {**below, **(self.manifest.get("annotations") or {})}

    @property
    def tree(self) -> str:
        """A content id: equal layer sequences hold equal files."""
        return digest_of(",".join(layer.get("digest", "") for layer in self.layers).encode())

    def tasks(self) -> tuple[dict[str, Any], ...]:
        """The first task recorded in the config history (Porch's ``kpt:<task JSON>``)."""
        for entry in self.config.get("history") or ():
            created_by = str(entry.get("created_by") or "")
            if created_by.startswith(TASK_PREFIX):
                try:
                    task = json.loads(created_by[len(TASK_PREFIX):])
                except ValueError:
                    continue
                if isinstance(task, dict):
                    return (task,)
        return ()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _layer_bytes(files: Mapping[str, str], removed: Sequence[str]) -> tuple[bytes, str]:
    """One gzip tar layer (deterministic: same files, same bytes) and its uncompressed digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = [(path, files[path].encode()) for path in files]
        entries += [(posixpath.join(posixpath.dirname(p), WHITEOUT + posixpath.basename(p)), b"") for p in removed]
        for name, data in sorted(entries):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, compresslevel=9, mtime=0), digest_of(plain)


def _layer_entries(blob: bytes, what: str) -> dict[str, str | None]:
    """A layer's files: path -> text, None for a whiteout of that path."""
    entries: dict[str, str | None] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)), mode="r:") as tar:
            for member in tar:
                name = posixpath.normpath(member.name.lstrip("/")).removeprefix("./")
                if name == ".." or name.startswith("../"):
                    raise PackageContentInvalid(f"{what}: package cannot contain {member.name!r}: it points "
                                                "outside the package")
                base = posixpath.basename(name)
                if base.startswith(WHITEOUT):
                    entries[posixpath.join(posixpath.dirname(name), base[len(WHITEOUT):])] = None
                    continue
                if member.isdir():
                    continue
                if not member.isfile():
                    raise PackageContentInvalid(f"{what}: package cannot contain {name!r}: only regular files")
                data = tar.extractfile(member)
                try:
                    entries[name] = data.read().decode() if data else ""
                except UnicodeDecodeError:
                    raise PackageContentInvalid(f"{what}: file {name!r} is not UTF-8 text") from None
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise RepositoryUnavailable(f"{what}: a layer is not a gzip tar ({exc})") from exc
    return entries


def _flatten(layers: Sequence[Mapping[str, str | None]]) -> dict[str, str]:
    files: dict[str, str] = {}
    for layer in layers:
        for path, text in layer.items():
            if text is None:
                files.pop(path, None)
                for other in [p for p in files if p.startswith(path + "/")]:
                    del files[other]
            else:
                files[path] = text
    return dict(sorted(files.items()))


class OciAdapter:
    """One registered OCI repository (``RepositoryAdapter``): its tags, read and moved one write at a time."""

    def __init__(self, spec: OciSpec, credentials: Credentials | None, limiter: trio.CapacityLimiter,
                 *, ca_file: str = "", without_secret: str = "") -> None:
        self.spec = spec
        self.registry = Registry(spec.host, credentials or Credentials(), secret_name=spec.secret_name,
                                 secret_field=spec.secret_field, ca_file=ca_file, without_secret=without_secret)
        self._limiter = limiter
        self._tags: dict[tuple[str, str], str] = {}
        """(package, workspace) -> manifest digest, as of the last fetch and our own writes."""
        self._images: dict[str, Image] = {}
        self._layers: OrderedDict[str, dict[str, str | None]] = OrderedDict()
        """Parsed layers by digest, the most recently read last (at most LAYER_CACHE)."""
        self._version = ""
        self._lock = threading.Lock()
        self._written: dict[tuple[str, str], str | None] = {}
        """Our writes since the current fetch began listing."""

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(functools.partial(fn, *args), limiter=self._limiter)

    # -- locks ---------------------------------------------------------------------------

    def self_lock(self, revision: Revision) -> dict[str, Any]:
        return {"type": "oci", "oci": {"image": revision.locator, "config": revision.commit}}

    def revision_at(self, lock: Mapping[str, Any], *, package: str, workspace: str, revision: int,
                    lifecycle: Lifecycle, tasks: Sequence[Mapping[str, Any]] = ()) -> Revision:
        oci = lock.get("oci") or {}
        return Revision(package=package, path=self.spec.repository(package), workspace=workspace, revision=revision,
                        lifecycle=lifecycle, locator=str(oci.get("image", "")), commit=str(oci.get("config", "")),
                        tree="", tasks=tuple(dict(t) for t in tasks))

    def placeholder_after(self, published: Revision) -> Revision | None:
        return None

    # -- reads ---------------------------------------------------------------------------

    def _listing_blocking(self, *, manifests: dict[str, bytes] | None = None) -> dict[tuple[str, str], str]:
        """Every (package, tag) under the prefix and the manifest digest it points at.

        A HEAD per tag; or, with ``manifests`` (a first listing, when every manifest will be
        read anyway), a GET per tag whose bodies are kept there by digest.
        """
        prefix = self.spec.prefix
        pairs = [(repo, tag) for repo in self.registry.repositories_blocking(prefix)
                 for tag in self.registry.tags_blocking(repo)]

        def look(pair: tuple[str, str]) -> str:
            if manifests is None:
                return self.registry.head_blocking(*pair)
            try:
                digest, raw = self.registry.manifest_blocking(*pair)
            except RepositoryNotFound:  # the tag went away since the tag list
                return ""
            manifests[digest] = raw
            return digest

        with ThreadPoolExecutor(LISTING_THREADS) as pool:
            digests = list(pool.map(look, pairs))
        return {(repo[len(prefix) + 1:] if prefix else repo, tag): digest
                for (repo, tag), digest in zip(pairs, digests) if digest}

    @staticmethod
    def _version_of(listing: Mapping[tuple[str, str], str]) -> str:
        return hashlib.sha256(json.dumps(sorted(f"{p}:{t}@{d}" for (p, t), d in listing.items())).encode()).hexdigest()

    def _image_blocking(self, package: str, digest: str, raw: bytes | None = None) -> Image:
        """The image of a manifest digest (``raw``: its bytes, when already read)."""
        image = self._images.get(digest)
        if image is not None:
            return image
        repository = self.spec.repository(package)
        if raw is None:
            _, raw = self.registry.manifest_blocking(repository, digest)
        manifest = load_json(raw, f"{self.spec.host}/{repository}@{digest}")
        config_digest = str((manifest.get("config") or {}).get("digest", ""))
        if not config_digest:
            raise RepositoryUnavailable(f"{self.spec.host}/{repository}@{digest} is not an image manifest")
        config = load_json(self.registry.blob_blocking(repository, config_digest),
                           f"the config of {self.spec.host}/{repository}@{digest}")
        image = self._images[digest] = Image(digest, manifest, config_digest, config)
        return image

    def _current_tags(self) -> dict[tuple[str, str], str]:
        with self._lock:  # writes change it from worker threads
            return dict(self._tags)

    def _record(self, key: tuple[str, str], digest: str | None) -> None:
        """Note our own write of a tag (None: deleted), also for a fetch listing at the same moment."""
        with self._lock:
            if digest is None:
                self._tags.pop(key, None)
            else:
                self._tags[key] = digest
            self._written[key] = digest

    def _fetch_blocking(self) -> tuple[str, list[str]]:
        with self._lock:
            self._written = {}
        manifests: dict[str, bytes] | None = {} if not self._tags else None
        listing = self._listing_blocking(manifests=manifests)
        missing = [(p, d) for (p, _), d in listing.items() if d not in self._images]
        warnings: list[str] = []

        def load(item: tuple[str, str]) -> None:
            try:
                self._image_blocking(*item, (manifests or {}).get(item[1]))
            except RepositoryUnavailable as exc:
                warnings.append(exc.message)

        with ThreadPoolExecutor(LISTING_THREADS) as pool:
            list(pool.map(load, missing))
        with self._lock:  # a write that landed while listing is newer than what the listing saw
            for key, digest in self._written.items():
                if digest is None:
                    listing.pop(key, None)
                else:
                    listing[key] = digest
            self._tags, self._version = listing, self._version_of(listing)
        return self._version, warnings

    async def version(self) -> str:
        return self._version_of(await self._run(self._listing_blocking))

    async def fetch(self) -> str:
        version, warnings = await self._run(self._fetch_blocking)
        for warning in warnings:
            log.warning("%s: %s", self.spec.registry, warning)
        return version

    def _revision(self, package: str, workspace: str, image: Image) -> Revision:
        """What the tag says; raises ValueError for a lifecycle Porch would not read either."""
        annotations = image.annotations
        lifecycle = annotations.get(LIFECYCLE) or "Draft"
        if lifecycle not in LIFECYCLES:
            raise ValueError(f"unknown package revision lifecycle {lifecycle!r}")
        number = 0
        if lifecycle in PUBLISHED:
            text = annotations.get(REVISION, "")
            number = int(text[1:]) if text[:1] == "v" and text[1:].isdigit() else -1
        published_at = None
        if lifecycle in PUBLISHED and annotations.get(PUBLISHED_AT):
            try:
                published_at = dt.datetime.fromisoformat(annotations[PUBLISHED_AT].replace("Z", "+00:00"))
            except ValueError:
                published_at = None
        repository = self.spec.repository(package)
        return Revision(
            package=package, path=repository, workspace=workspace, revision=number,
            lifecycle=lifecycle,  # type: ignore[arg-type]
            locator=f"{self.spec.host}/{repository}:{workspace}@{image.digest}", commit=image.config_digest,
            tree=image.tree, tasks=image.tasks(),
            published_by=annotations.get(PUBLISHED_BY, "") if lifecycle in PUBLISHED else "",
            published_at=published_at)

    async def snapshot(self) -> Snapshot:
        revisions: list[Revision] = []
        warnings: list[str] = []
        for (package, workspace), digest in sorted(self._current_tags().items()):
            image = self._images.get(digest)
            if image is None:
                warnings.append(f"{package}:{workspace}: its manifest could not be read")
                continue
            try:
                revisions.append(self._revision(package, workspace, image))
            except ValueError as exc:
                warnings.append(f"{package}:{workspace}: {exc}")
        packages = tuple(sorted({r.package for r in revisions if r.lifecycle in PUBLISHED}))
        return Snapshot(version=self._version, branch_commit="", packages=packages, revisions=tuple(revisions),
                        warnings=tuple(warnings))

    def _files_blocking(self, revision: Revision) -> dict[str, str]:
        return self._image_files_blocking(revision.package, self._image_blocking(
            revision.package, split_image(revision.locator)[3]), revision.locator)

    def _image_files_blocking(self, package: str, image: Image, what: str,
                              fetched: Mapping[str, bytes | None] | None = None) -> dict[str, str]:
        """The image's layers flattened; ``fetched`` holds layer blobs already downloaded."""
        repository = self.spec.repository(package)
        layers = []
        for layer in image.layers:
            layer_digest = str(layer.get("digest", ""))
            if layer.get("mediaType") not in LAYER_MEDIA_TYPES:
                raise PackageContentInvalid(f"{what}: layer {layer_digest} has media type "
                                            f"{layer.get('mediaType')!r}, not a gzip tar")
            with self._lock:
                entries = self._layers.get(layer_digest)
                if entries is not None:
                    self._layers.move_to_end(layer_digest)
            if entries is None:
                blob = (fetched or {}).get(layer_digest) or self.registry.blob_blocking(repository, layer_digest)
                entries = _layer_entries(blob, what)
                with self._lock:
                    self._layers[layer_digest] = entries
                    while len(self._layers) > LAYER_CACHE:
                        self._layers.popitem(last=False)
            layers.append(entries)
        return _flatten(layers)

    def _files_of_many_blocking(self, revisions: Sequence[Revision]) -> list[dict[str, str]]:
        """What ``read_packages`` returns: layers not cached are downloaded side by side first;
        any failure is then met again, in order, by the reads one by one."""
        wanted: dict[str, str] = {}
        for revision in revisions:
            image = self._images.get(split_image(revision.locator)[3])
            for layer in image.layers if image else ():
                digest = str(layer.get("digest", ""))
                if digest not in self._layers:
                    wanted[digest] = self.spec.repository(revision.package)

        def download(item: tuple[str, str]) -> tuple[str, bytes | None]:
            try:
                return item[0], self.registry.blob_blocking(item[1], item[0])
            except StatusError:
                return item[0], None

        with ThreadPoolExecutor(LISTING_THREADS) as pool:
            fetched = dict(pool.map(download, wanted.items()))
        return [self._image_files_blocking(r.package, self._image_blocking(r.package, split_image(r.locator)[3]),
                                           r.locator, fetched) for r in revisions]

    async def read_package(self, revision: Revision) -> dict[str, str]:
        return await self._run(self._files_blocking, revision)

    async def read_packages(self, revisions: Sequence[Revision]) -> list[dict[str, str]]:
        return await self._run(self._files_of_many_blocking, revisions)

    async def highest_revision(self, package: str) -> int:
        best = 0
        for (name, workspace), digest in self._current_tags().items():
            image = self._images.get(digest)
            if name != package or image is None:
                continue
            try:
                revision = self._revision(name, workspace, image)
            except ValueError:
                continue
            if revision.lifecycle in PUBLISHED:
                best = max(best, revision.revision)
        return best

    # -- writes --------------------------------------------------------------------------

    def _current_blocking(self, revision: Revision, what: str) -> Image:
        """The image the revision's tag points at now; RefConflict unless it is still the revision."""
        repository = self.spec.repository(revision.package)
        digest = self.registry.head_blocking(repository, revision.workspace)
        image = self._image_blocking(revision.package, digest) if digest else None
        if image is None or image.config_digest != revision.commit:
            raise RefConflict(f"cannot {what} {repository}:{revision.workspace}: the tag moved since "
                              f"it was read (another writer); re-read the package revision and retry")
        return image

    def _tag_blocking(self, package: str, workspace: str, config_descriptor: Mapping[str, Any],
                      config: dict[str, Any], layers: list[dict[str, Any]], annotations: Mapping[str, str]) -> Image:
        """The one write that makes a change visible: the manifest PUT to the workspace's tag."""
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "config": dict(config_descriptor),
                    "layers": layers, "annotations": {**annotations, REF_NAME: workspace}}
        raw = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        digest = self.registry.put_manifest_blocking(self.spec.repository(package), workspace, raw)
        image = self._images[digest] = Image(digest, manifest, str(config_descriptor["digest"]), config)
        self._record((package, workspace), digest)
        return image

    def _save_blocking(self, write: DraftWrite) -> Revision:
        package = write.package.strip("/")
        repository = self.spec.repository(package)
        base: Image | None = None
        if write.parent is None:
            if self.registry.head_blocking(repository, write.workspace):
                raise RefConflict(f"package revision {package}:{write.workspace} already exists in "
                                  f"{self.spec.registry}; pick another workspace name")
        else:
            base = self._current_blocking(write.parent, "update")
        previous = self._image_files_blocking(package, base, repository) if base is not None else {}
        removed = [path for path in previous if path not in write.files]
        layer, diff_id = _layer_bytes(write.files, removed)
        layer_digest = self.registry.put_blob_blocking(repository, layer)
        now = _now()
        history = list((base.config.get("history") or []) if base else [])
        entry = {"created": now, "author": (write.author.name if write.author else PORCH_NAME),
                 "created_by": TASK_PREFIX + json.dumps(dict(write.task), separators=(",", ":"))
                 if write.task else ""}
        if write.message:
            entry["comment"] = write.message
        history.append(entry)
        diff_ids = list(((base.config.get("rootfs") or {}).get("diff_ids") or []) if base else [])
        config = {"created": now, "architecture": "", "os": "", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids + [diff_id]}, "history": history}
        raw_config = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
        config_digest = self.registry.put_blob_blocking(repository, raw_config)
        layers = (base.layers if base else []) + [
            {"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": len(layer)}]
        annotations = {k: v for k, v in (base.manifest.get("annotations") or {}).items()} if base else {}
        annotations.setdefault(LIFECYCLE, "Draft")
        descriptor = {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(raw_config)}
        image = self._tag_blocking(package, write.workspace, descriptor, config, layers, annotations)
        return self._revision(package, write.workspace, image)

    async def save_draft(self, write: DraftWrite) -> Revision:
        return await self._run(self._save_blocking, write)

    def _move_blocking(self, revision: Revision, lifecycle: Lifecycle, what: str,
                       extra: Mapping[str, str] | None = None) -> Revision:
        image = self._current_blocking(revision, what)
        annotations = {k: v for k, v in (image.manifest.get("annotations") or {}).items()
                       if k not in (REF_NAME,)}
        annotations[LIFECYCLE] = lifecycle
        annotations.update(extra or {})
        moved = self._tag_blocking(revision.package, revision.workspace, image.manifest.get("config") or {},
                                   image.config, image.layers, annotations)
        return self._revision(revision.package, revision.workspace, moved)

    async def propose(self, revision: Revision) -> Revision:
        return await self._run(self._move_blocking, revision, "Proposed", "propose")

    async def reject(self, revision: Revision) -> Revision:
        return await self._run(self._move_blocking, revision, "Draft", "reject")

    async def approve(self, revision: Revision, number: int, *, author: Author | None = None) -> Revision:
        extra = {REVISION: f"v{number}", PUBLISHED_BY: author.name if author else PORCH_NAME,
                 PUBLISHED_AT: dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        return await self._run(self._move_blocking, revision, "Published", "approve", extra)

    async def propose_deletion(self, revision: Revision) -> Revision:
        return await self._run(self._move_blocking, revision, "DeletionProposed", "propose the deletion of")

    async def restore(self, revision: Revision) -> Revision:
        return await self._run(self._move_blocking, revision, "Published", "restore")

    def _delete_blocking(self, revision: Revision) -> None:
        repository = self.spec.repository(revision.package)
        digest = self.registry.head_blocking(repository, revision.workspace)
        if digest:
            image = self._image_blocking(revision.package, digest)
            if image.config_digest != revision.commit:
                raise RefConflict(f"cannot delete {repository}:{revision.workspace}: the tag moved since it was "
                                  "read (another writer); re-read the package revision and retry")
            self.registry.delete_manifest_blocking(repository, digest)
        self._record((revision.package, revision.workspace), None)

    async def delete(self, revision: Revision, *, author: Author | None = None) -> None:
        await self._run(self._delete_blocking, revision)

    async def check(self) -> None:
        await self._run(self.registry.ping_blocking)

    async def aclose(self) -> None:
        await self._run(self.registry.client.session.close)


@asynccontextmanager
async def open_oci_adapter(spec: OciSpec, credentials: Credentials | None, limiter: trio.CapacityLimiter,
                           *, ca_file: str = "") -> AsyncIterator[OciAdapter]:
    """Open a registered OCI repository: check the registry takes the credentials, then list it.

    Raises RepositoryAuthFailed, RepositoryUnavailable, or RepositoryNotFound (no registry
    at the address).
    """
    adapter = OciAdapter(spec, credentials, limiter, ca_file=ca_file)
    try:
        await adapter.check()
        await adapter.fetch()
        yield adapter
    finally:
        await adapter.aclose()
