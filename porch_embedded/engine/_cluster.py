"""The cluster's API, for aggregated mode: one client, and the objects read from it.

``ClusterClient`` speaks to the kube-apiserver through the official ``kubernetes``
client (its generic ``call_api``: one path for TokenReview, SubjectAccessReview,
custom resources, Secrets and Leases) in worker threads behind a limiter, each call
bounded by a timeout; a failing cluster becomes ServiceUnavailable, and the
apiserver's own NotFound, Conflict and Expired answers keep their meaning.

``run_cluster_mirror`` follows the cluster's Repository, PackageVariant and
PackageVariantSet custom resources (list, watch from the list's resourceVersion,
list again on 410 Expired or a broken stream) into the store, where repository sync
and the rest of the engine read them as they do in standalone mode. The cluster is
the truth for spec and metadata (uid, generation, labels); status stays the one
this server wrote, since the controllers that write it run here. Secrets are never
copied: ``ClusterRepositorySource`` reads them from the cluster when a repository
opens.

``run_status_writeback`` writes that status back to the custom resources, through
their status subresource as Porch's controllers do (``Status().Update``: PUT
``.../status`` with the object's resourceVersion, read again and retried on 409
Conflict), so ``kubectl get repositories`` shows what this server knows.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import trio

from porch_embedded.engine._engine import Engine
from porch_embedded.errors import AlreadyExists, Conflict, Expired, NotFound, ServiceUnavailable, StatusError
from porch_embedded.kinds import ALL_KINDS, CONFIG_MAP, NAMESPACE, Body, Kind
from porch_embedded.store import Informer, ListQuery, Store, WatchEvent

__all__ = ["ClusterClient", "ClusterInjectionSource", "ClusterMirror", "ClusterRepositorySource", "ClusterWrites",
           "run_cluster_mirror", "run_status_writeback"]

log = logging.getLogger("porch_embedded.engine.cluster")

_RELIST_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class ClusterClient:
    """Requests to the kube-apiserver, blocking client calls run in worker threads.

    ``kubeconfig`` None means the in-cluster configuration (service account token and CA
    mounted in the pod). Loading is lazy, so a server starts even while the cluster is
    not answering, and each request says what failed.
    """

    def __init__(self, kubeconfig: Path | None, *, timeout_s: float = 10.0, max_parallel: int = 16) -> None:
        self._kubeconfig = kubeconfig
        self.timeout_s = timeout_s
        self._limiter = trio.CapacityLimiter(max_parallel)
        self._api: Any = None
        self._loading = trio.Lock()

    async def _client(self) -> Any:
        async with self._loading:
            if self._api is None:
                self._api = await trio.to_thread.run_sync(self._load_blocking)
        return self._api

    def _load_blocking(self) -> Any:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        try:
            if self._kubeconfig is None:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                return client.ApiClient(configuration)
            return config.new_client_from_config(config_file=str(self._kubeconfig), persist_config=False)
        except (ConfigException, OSError) as exc:
            where = self._kubeconfig or "the in-cluster service account"
            raise ServiceUnavailable(f"cannot load the cluster configuration from {where}: {exc}") from exc

    def _call_blocking(self, api: Any, method: str, path: str, body: Body | None,
                       query: Sequence[tuple[str, str]], timeout_s: float, stream: bool) -> Any:
        import urllib3

        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        try:
            method, url, headers, body, post = api.param_serialize(
                method=method, resource_path=path, query_params=list(query), header_params=headers, body=body,
                auth_settings=["BearerToken"])
            response = api.call_api(method, url, header_params=headers, body=body, post_params=post,
                                    _request_timeout=(self.timeout_s, timeout_s))
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailable(f"the cluster's API did not answer {method} {path}: "
                                     f"{type(exc).__name__}") from exc
        raw = response.response
        if response.status >= 400:
            try:
                raise _status_error(method, path, response.status, raw.data or b"")
            finally:
                raw.release_conn()
        if stream:
            return raw
        try:
            return json.loads(raw.data or b"{}")
        finally:
            raw.release_conn()

    async def request(self, method: str, path: str, body: Body | None = None,
                      query: Sequence[tuple[str, str]] = ()) -> Body:
        """One request; the decoded JSON answer. Never abandoned, bounded by the timeout."""
        api = await self._client()
        return await trio.to_thread.run_sync(
            partial(self._call_blocking, api, method, path, body, query, self.timeout_s, False),
            limiter=self._limiter)

    @asynccontextmanager
    async def watch(self, path: str, since: str, timeout_s: float,
                    query: Sequence[tuple[str, str]] = ()) -> AsyncIterator[AsyncIterator[Body]]:
        """A watch from ``since`` (with ``query``'s selectors): the apiserver's events ({type, object}) as they come.

        The stream ends after ``timeout_s`` (the server closes it); leaving the block closes
        the connection, which also ends the worker thread blocked reading it. A 410 at the
        start, or an ERROR event with code 410, raises Expired.
        """
        api = await self._client()
        parameters = [*query, ("watch", "true"), ("resourceVersion", since), ("allowWatchBookmarks", "true"),
                      ("timeoutSeconds", str(int(timeout_s)))]
        response = await trio.to_thread.run_sync(
            partial(self._call_blocking, api, "GET", path, None, parameters, timeout_s + self.timeout_s, True))

        async def events() -> AsyncIterator[Body]:
            buffered = b""
            while True:
                while b"\n" not in buffered:
                    chunk = await trio.to_thread.run_sync(response.read1, 65536, abandon_on_cancel=True)
                    if not chunk:
                        return
                    buffered += chunk
                line, _, buffered = buffered.partition(b"\n")
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    if status.get("code") == 410:
                        raise Expired(status.get("message") or "the watch's resourceVersion is too old")
                    raise ServiceUnavailable(f"the cluster ended the watch of {path}: {status.get('message')}")
                yield event

        try:
            yield events()
        finally:
            # A worker thread may be blocked reading this stream, holding the buffer's lock
            # that close() waits for: end the connection under it first.
            _shut_down(response)
            with trio.CancelScope(shield=True), trio.move_on_after(self.timeout_s):
                await trio.to_thread.run_sync(response.close)


def _shut_down(response: Any) -> None:
    """Shut the socket of a streamed response, so that a thread reading it returns at once."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _status_error(method: str, path: str, code: int, raw: bytes | str) -> StatusError:
    """The apiserver's answer as our error: its meaning kept where the caller acts on it."""
    try:
        status = json.loads(raw)
        message, reason = str(status.get("message") or ""), status.get("reason")
        details = status.get("details") or {}
    except (ValueError, AttributeError):
        message, reason, details = "", None, {}
    message = message or f"{method} {path} answered {code}"
    if code == 404:
        return NotFound(message, details=details)
    if code == 409:
        return (AlreadyExists if reason == "AlreadyExists" else Conflict)(message, details=details)
    if code == 410:
        return Expired(message)
    return ServiceUnavailable(f"the cluster refused {method} {path} ({code}): {message}")


def _path(kind: Kind, namespace: str = "", name: str = "") -> str:
    base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    if namespace:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{kind.plural}"
    return f"{base}/{quote(name, safe='')}" if name else base


class ClusterRepositorySource:
    """Repositories as mirrored into the store; Secrets read from the cluster each time."""

    def __init__(self, store: Store, cluster: ClusterClient, repository_kind: Kind, secret_kind: Kind) -> None:
        self._store = store
        self._cluster = cluster
        self._repository_kind = repository_kind
        self._secret_kind = secret_kind

    async def repository(self, namespace: str, name: str) -> Body:
        return await self._store.get(self._repository_kind.resource, namespace, name)

    async def secret(self, namespace: str, name: str) -> Body:
        return await self._cluster.request("GET", _path(self._secret_kind, namespace, name))


class ClusterInjectionSource:
    """The objects PackageVariant injectors read, listed from the cluster (aggregated mode).

    Standalone, the server serves ConfigMaps itself and injectors read its store;
    aggregated, ConfigMaps are the cluster's, as for Porch's controller (a cached client
    of the cluster). The kinds are ConfigMap and the namespaced kinds this server knows;
    another kind (no discovery here to learn its plural) has no objects, so its points
    say NoResourceSelected. Each call lists afresh: a variant's reconcile reads current
    data, though a change in the cluster alone does not start one.
    """

    _KINDS = {(kind.group, kind.version, kind.kind): kind for kind in (CONFIG_MAP, *ALL_KINDS) if kind.namespaced}

    def __init__(self, cluster: ClusterClient) -> None:
        self._cluster = cluster

    async def objects(self, namespace: str, api_version: str, kind: str) -> list[Body]:
        group, _, version = api_version.rpartition("/")
        known = self._KINDS.get((group, version, kind))
        if known is None:
            return []
        items: list[Body] = []
        token = ""
        while True:
            query = [("limit", "500"), *([("continue", token)] if token else [])]
            try:
                page = await self._cluster.request("GET", _path(known, namespace), query=query)
            except NotFound:
                return []
            for item in page.get("items") or ():
                items.append({"apiVersion": known.api_version, "kind": known.kind, **item})
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items


async def _ensure_namespace(store: Store, namespace: str) -> None:
    """The namespace of a mirrored object exists in the store: the cluster says it exists."""
    try:
        await store.get(NAMESPACE.resource, "", namespace)
    except NotFound:
        try:
            await store.create(NAMESPACE.resource, {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        except (AlreadyExists, Conflict):
            pass


Key = tuple[str, str, str]
"""(resource, namespace, name)."""


class ClusterMirror:
    """What the mirror last applied: per object, the store's resourceVersion and the cluster's.

    Writes that go to the cluster (``ClusterWrites``) read it twice: to turn the store's
    resourceVersion a controller holds into the cluster's (optimistic concurrency against
    the cluster, Conflict when the controller's copy is stale), and to wait until the
    mirror has brought their own write back into the store (read-your-writes).
    """

    def __init__(self, local_status: frozenset[str] = frozenset({"repositories"})) -> None:
        self.local_status = local_status
        """Resources whose status this server keeps (sync writes it to the store, ``run_status_writeback``
        to the cluster); the others' status is the cluster's, written there by ``ClusterWrites``."""
        self.versions: dict[Key, tuple[str, str]] = {}
        self._gone: dict[Key, int] = {}
        """The cluster's resourceVersion of each object's deletion, for a writer waiting on it."""
        self._changed = trio.Event()

    def applied(self, key: Key, store_rv: str | None, cluster_rv: str) -> None:
        """The mirror wrote ``cluster_rv`` of ``key`` as ``store_rv`` (None: removed it from the store)."""
        if store_rv is None:
            self.versions.pop(key, None)
            if cluster_rv:
                self._gone[key] = int(cluster_rv)
        else:
            self.versions[key] = (store_rv, cluster_rv)
            self._gone.pop(key, None)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, key: Key, cluster_rv: int, timeout_s: float) -> str | None:
        """The store's resourceVersion once the mirror applied ``cluster_rv`` (or later) of ``key``;
        None when the object left the store. Raises ServiceUnavailable after ``timeout_s``."""
        with trio.move_on_after(timeout_s):
            while True:
                known = self.versions.get(key)
                if known is not None and int(known[1] or 0) >= cluster_rv:
                    return known[0]
                if known is None and self._gone.get(key, 0) >= cluster_rv:
                    return None
                await self._changed.wait()
        raise ServiceUnavailable(f"{key[0]} {key[1]}/{key[2]}: written to the cluster, but not seen back from its "
                                 f"watch within {timeout_s:.0f} s")


async def _upsert(store: Store, kind: Kind, obj: Body, mirror: ClusterMirror) -> None:
    """Write the cluster's object into the store, keeping the status this server keeps."""
    metadata = obj["metadata"]
    namespace, name = metadata.get("namespace", ""), metadata["name"]
    cluster_rv = str(metadata.get("resourceVersion") or "")
    local_status = kind.resource in mirror.local_status and "status" in kind.subresources
    body = copy.deepcopy(obj)
    body["metadata"].pop("resourceVersion", None)
    body["metadata"].pop("managedFields", None)
    if kind.defaults is not None:
        kind.defaults(body)
    try:
        current = await store.get(kind.resource, namespace, name)
    except NotFound:
        await _ensure_namespace(store, namespace)
        if local_status:
            body.pop("status", None)
        created = await store.create(kind.resource, body)
        mirror.applied((kind.resource, namespace, name), created["metadata"]["resourceVersion"], cluster_rv)
        return
    if current["metadata"].get("uid") != metadata.get("uid"):
        # Deleted and created again in the cluster while we did not watch: a new object.
        await store.delete(kind.resource, namespace, name, expect_rv=current["metadata"]["resourceVersion"])
        await _upsert(store, kind, obj, mirror)
        return
    if local_status:
        if "status" in current:
            body["status"] = current["status"]
        else:
            body.pop("status", None)
    comparable = copy.deepcopy(current)
    comparable["metadata"].pop("resourceVersion", None)
    if comparable == body:
        mirror.applied((kind.resource, namespace, name), current["metadata"]["resourceVersion"], cluster_rv)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    updated = await store.update(kind.resource, body, expect_rv=current["metadata"]["resourceVersion"])
    mirror.applied((kind.resource, namespace, name), updated["metadata"]["resourceVersion"], cluster_rv)


async def _remove(engine: Engine, kind: Kind, namespace: str, name: str, mirror: ClusterMirror,
                  cluster_rv: str = "") -> None:
    """Delete the store's copy; the engine's informer unregisters a deleted Repository (its
    adapter and packages), as for any deletion of one."""
    try:
        current = await engine.store.get(kind.resource, namespace, name)
        await engine.store.delete(kind.resource, namespace, name, expect_rv=current["metadata"]["resourceVersion"])
    except NotFound:
        pass
    mirror.applied((kind.resource, namespace, name), None, cluster_rv)


async def _write(engine: Engine, kind: Kind, change: str, obj: Body, mirror: ClusterMirror) -> None:
    """Apply one cluster change; a concurrent local write (status) is retried on the new copy."""
    for _ in range(5):
        try:
            if change == "DELETED":
                await _remove(engine, kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], mirror,
                              str(obj["metadata"].get("resourceVersion") or ""))
            else:
                await _upsert(engine.store, kind, obj, mirror)
            return
        except Conflict:
            continue
    raise Conflict(f"{kind.resource} {obj['metadata'].get('namespace')}/{obj['metadata']['name']}: kept changing "
                   f"under the cluster mirror")


async def _relist(engine: Engine, cluster: ClusterClient, kind: Kind, mirror: ClusterMirror) -> str:
    """Make the store hold exactly the cluster's objects of ``kind``; the list's resourceVersion."""
    listed = await cluster.request("GET", _path(kind))
    seen: set[tuple[str, str]] = set()
    for item in listed.get("items") or ():
        item.setdefault("apiVersion", kind.api_version)
        item.setdefault("kind", kind.kind)
        await _write(engine, kind, "ADDED", item, mirror)
        seen.add((item["metadata"].get("namespace", ""), item["metadata"]["name"]))
    local = await engine.store.list(ListQuery(kind.resource))
    for item in local.items:
        key = (item["metadata"].get("namespace", ""), item["metadata"]["name"])
        if key not in seen:
            await _remove(engine, kind, *key, mirror)
    return str((listed.get("metadata") or {}).get("resourceVersion") or "")


async def _follow(engine: Engine, cluster: ClusterClient, kind: Kind, watch_timeout_s: float,
                  synced: trio.Event, mirror: ClusterMirror) -> None:
    failures = 0
    while True:
        try:
            since = await _relist(engine, cluster, kind, mirror)
            synced.set()
            while True:
                async with cluster.watch(_path(kind), since, watch_timeout_s) as events:
                    async for event in events:
                        obj = event.get("object") or {}
                        version = (obj.get("metadata") or {}).get("resourceVersion")
                        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            await _write(engine, kind, event["type"], obj, mirror)
                        if version:
                            since = version
                failures = 0
        except Expired:
            log.info("the watch of %s fell behind the cluster; listing again", kind.resource)
        except StatusError as error:
            # The cluster or the store failed us (or an object kept changing under us): the
            # store keeps what it has, and we list again after a while.
            delay = _RELIST_BACKOFF_S[min(failures, len(_RELIST_BACKOFF_S) - 1)]
            failures += 1
            log.warning("cannot follow %s in the cluster (again in %.1fs): %s", kind.resource, delay, error.message)
            await trio.sleep(delay)


async def run_cluster_mirror(engine: Engine, cluster: ClusterClient, kinds: Sequence[Kind], *,
                             watch_timeout_s: float = 300.0, mirror: ClusterMirror | None = None,
                             task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Follow ``kinds`` from the cluster into the engine's store until cancelled.

    Reports started once every kind was listed once, so the API serves what the cluster
    holds from its first answer; a cluster that is down at start delays readiness, and
    later outages only pause the mirror (the store keeps the last known objects).
    ``mirror`` records what was applied, for ``ClusterWrites``.
    """
    mirror = mirror if mirror is not None else ClusterMirror()
    async with trio.open_nursery() as nursery:
        synced = []
        for kind in kinds:
            event = trio.Event()
            synced.append(event)
            nursery.start_soon(_follow, engine, cluster, kind, watch_timeout_s, event, mirror)
        for event in synced:
            await event.wait()
        task_status.started()


class ClusterWrites:
    """Controllers' writes of the cluster's kinds (PackageVariant, PackageVariantSet), made in the cluster.

    Aggregated, those objects are custom resources: a PackageVariant a PackageVariantSet
    makes, a finalizer added or released, a status, a deletion must land in the cluster,
    or the mirror would undo them (and the cluster would delete a finalized object at
    once). Each write goes to the cluster with the cluster's resourceVersion of the copy
    the caller read (Conflict when that copy is stale), then waits until the mirror brought
    it back into the store, and returns the store's copy, so that the caller's next write
    holds a current store object, as in standalone mode.
    """

    def __init__(self, cluster: ClusterClient, store: Store, mirror: ClusterMirror, kinds: Sequence[Kind], *,
                 follow_timeout_s: float = 10.0) -> None:
        self._cluster, self._store, self._mirror = cluster, store, mirror
        self.resources = frozenset(kind.resource for kind in kinds)
        self._follow_timeout_s = follow_timeout_s

    def owns(self, kind: Kind) -> bool:
        return kind.resource in self.resources

    def _cluster_rv(self, kind: Kind, body: Body, current: Body | None) -> str:
        metadata = body["metadata"]
        key = (kind.resource, metadata.get("namespace", ""), metadata["name"])
        held = str(metadata.get("resourceVersion") or (current or {}).get("metadata", {}).get("resourceVersion") or "")
        known = self._mirror.versions.get(key)
        if known is None or known[0] != held:
            raise Conflict(f'Operation cannot be fulfilled on {kind.plural}.{kind.group} "{metadata["name"]}": the '
                           f"object has been modified; please apply your changes to the latest version and try again",
                           details={"name": metadata["name"], "group": kind.group, "kind": kind.plural})
        return known[1]

    async def _stored(self, kind: Kind, answer: Body) -> Body:
        metadata = answer["metadata"]
        key = (kind.resource, metadata.get("namespace", ""), metadata["name"])
        store_rv = await self._mirror.wait_for(key, int(metadata.get("resourceVersion") or 0), self._follow_timeout_s)
        if store_rv is None:
            return answer
        return await self._store.get(kind.resource, key[1], key[2])

    async def create(self, kind: Kind, body: Body) -> Body:
        metadata = body["metadata"]
        sent = {**copy.deepcopy(body), "apiVersion": kind.api_version, "kind": kind.kind}
        sent["metadata"].pop("resourceVersion", None)
        created = await self._cluster.request("POST", _path(kind, metadata.get("namespace", "")), sent)
        return await self._stored(kind, created)

    async def update(self, kind: Kind, body: Body, *, subresource: str = "", current: Body | None = None) -> Body:
        metadata = body["metadata"]
        sent = copy.deepcopy(body)
        sent["metadata"]["resourceVersion"] = self._cluster_rv(kind, body, current)
        path = _path(kind, metadata.get("namespace", ""), metadata["name"]) + (f"/{subresource}" if subresource else "")
        updated = await self._cluster.request("PUT", path, sent)
        return await self._stored(kind, updated)

    async def delete(self, kind: Kind, namespace: str, name: str) -> Body:
        answer = await self._cluster.request("DELETE", _path(kind, namespace, name))
        if answer.get("kind") == kind.kind:  # marked for deletion: finalizers remain
            return await self._stored(kind, answer)
        return answer


_STATUS_ATTEMPTS = 5


async def _put_status(cluster: ClusterClient, kind: Kind, local: Body) -> bool:
    """PUT ``local``'s status onto the cluster's object of the same uid; whether it was written.

    The cluster's copy is read first for its resourceVersion; a 409 (the object changed
    between the read and the write: a spec edit, another writer) reads it again. An
    object that is gone or was made again under the same name (another uid) is not
    written: the mirror is about to follow that change.
    """
    metadata = local["metadata"]
    path = _path(kind, metadata.get("namespace", ""), metadata["name"])
    for _ in range(_STATUS_ATTEMPTS):
        try:
            remote = await cluster.request("GET", path)
        except NotFound:
            return False
        if (remote.get("metadata") or {}).get("uid") != metadata.get("uid"):
            return False
        if remote.get("status") == local["status"]:
            return True
        body = {**remote, "status": local["status"]}
        try:
            await cluster.request("PUT", f"{path}/status", body)
            return True
        except Conflict:
            continue
        except NotFound:
            return False
    raise Conflict(f"{kind.resource} {metadata.get('namespace')}/{metadata['name']}: the cluster's copy kept "
                   f"changing while its status was written")


async def run_status_writeback(store: Store, cluster: ClusterClient, kind: Kind, *,
                               task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Write the status this server keeps for each ``kind`` object to its custom resource, until cancelled.

    An informer on the store hands over each object's newest version; a status already
    written is not written again (a restart writes each once, then only changes). A
    failing cluster raises, and the informer retries that object with backoff while
    the others go on. Run it where the controllers that write the status run (the
    leader), so replicas do not race each other for the same write.
    """
    written: dict[tuple[str, str], Any] = {}

    async def changed(event: WatchEvent) -> None:
        metadata = event.object["metadata"]
        key = (metadata.get("namespace", ""), metadata["name"])
        status = event.object.get("status")
        if event.type == "DELETED":
            written.pop(key, None)
            return
        if not status or written.get(key) == (metadata.get("uid"), status):
            return
        if await _put_status(cluster, kind, event.object):
            written[key] = (metadata.get("uid"), copy.deepcopy(status))
            log.debug("%s %s/%s: status written to the cluster", kind.resource, *key)

    await Informer(store, kind.resource, changed, name=f"{kind.resource} status to the cluster").run(
        task_status=task_status)
