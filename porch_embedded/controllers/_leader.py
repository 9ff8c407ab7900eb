"""Leader election: singleton work runs on one replica at a time.

The lease lives where the replicas meet (``Leases``): the store (replicas sharing a
PostgreSQL store) or, in aggregated mode, a coordination.k8s.io Lease in the cluster
(``ClusterLeases``). Replicas campaign for one lease; the holder runs the
controllers and renews the lease every third of its lifetime. A holder that fails to
renew (lost to another, or the database is gone for longer than the lease) stops its
controllers before the lease can lapse, so two replicas never sync at once. A killed
holder stops renewing and another replica takes over when the lease expires.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from porch_embedded.engine import ClusterClient
from porch_embedded.errors import AlreadyExists, Conflict, NotFound, StatusError, StoreUnavailable
from porch_embedded.kinds import Body

__all__ = ["ClusterLeases", "Leases", "run_while_leader"]

log = logging.getLogger("porch_embedded.controllers.leader")


class Leases(Protocol):
    """Where a lease is held; the Store is one (its lease table), ClusterLeases another."""

    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew ``name`` for ``holder`` for ``ttl_s``; False if another holds it."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give ``name`` up if ``holder`` holds it, so another replica need not wait it out."""
        ...


def _micro_time(moment: _dt.datetime) -> str:
    """metav1.MicroTime: RFC 3339 with six fractional digits."""
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ClusterLeases:
    """Leases as coordination.k8s.io/v1 Lease objects in one namespace, as client-go elects.

    A lease is free when it has no holder, or when its record (holder, renewTime) has not
    changed for leaseDurationSeconds by this replica's own clock since it first saw that
    record: no replica compares its clock with another's. Every write carries the
    resourceVersion read, so of two replicas taking a lease at once one gets 409 and stays
    a follower.
    """

    def __init__(self, cluster: ClusterClient, namespace: str) -> None:
        self._cluster = cluster
        self._namespace = namespace
        self._observed: dict[str, tuple[tuple[str, str], float]] = {}

    def _path(self, name: str = "") -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{self._namespace}/leases"
        return f"{base}/{name}" if name else base

    def _expired(self, name: str, lease: Body) -> bool:
        spec = lease.get("spec") or {}
        record = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""))
        now = trio.current_time()
        seen = self._observed.get(name)
        if seen is None or seen[0] != record:
            self._observed[name] = (record, now)
            seen = self._observed[name]
        if not record[0]:
            return True
        return now >= seen[1] + float(spec.get("leaseDurationSeconds") or 0)

    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        now = _micro_time(_dt.datetime.now(_dt.UTC))
        duration = max(1, math.ceil(ttl_s))
        try:
            lease = await self._cluster.request("GET", self._path(name))
        except NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": self._namespace},
                    "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "acquireTime": now,
                             "renewTime": now, "leaseTransitions": 0}}
            try:
                await self._cluster.request("POST", self._path(), body)
            except (AlreadyExists, Conflict):
                return False
            return True
        spec = dict(lease.get("spec") or {})
        if spec.get("holderIdentity") != holder:
            if not self._expired(name, lease):
                return False
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = now
            spec["holderIdentity"] = holder
        spec["renewTime"] = now
        spec["leaseDurationSeconds"] = duration
        try:
            await self._cluster.request("PUT", self._path(name), {**lease, "spec": spec})
        except Conflict:
            return False
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        try:
            lease = await self._cluster.request("GET", self._path(name))
        except NotFound:
            return
        spec = dict(lease.get("spec") or {})
        if spec.get("holderIdentity") != holder:
            return
        spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=_micro_time(_dt.datetime.now(_dt.UTC)))
        try:
            await self._cluster.request("PUT", self._path(name), {**lease, "spec": spec})
        except Conflict:
            pass


async def run_while_leader(store: Leases, lease: str, holder: str, ttl_s: float,
                           work: Callable[[], Awaitable[None]], *,
                           task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Run ``work`` whenever this replica holds ``lease``; cancel it as soon as it may not.

    If the store fails under ``work`` (StoreUnavailable out of it), the work stops and this
    replica campaigns again: a database outage pauses the controllers, never ends the server.
    """
    task_status.started()
    try:
        while True:
            try:
                held = await store.acquire_lease(lease, holder, ttl_s)
            except StatusError as error:
                log.warning("cannot campaign for the %s lease: %s", lease, error.message)
                held = False
            if not held:
                await trio.sleep(ttl_s / 3)
                continue
            log.info("%s holds the %s lease; starting the controllers", holder, lease)
            try:
                await _lead(store, lease, holder, ttl_s, work)
            except* StoreUnavailable as failed:
                # The lease stays ours while we retry within ttl_s, so no other replica needs to
                # take over when the database comes back quickly; the work restarts from scratch.
                first = failed.exceptions[0]
                log.warning("the store failed under the controllers; stopping them until it answers: %s",
                            getattr(first, "message", first))
                await trio.sleep(ttl_s / 3)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            try:
                await store.release_lease(lease, holder)
            except StatusError:
                pass


async def _lead(store: Leases, lease: str, holder: str, ttl_s: float, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work`` while renewing ``lease`` every ttl/3; cancel it as soon as the lease may be lost."""
    renewed_at = trio.current_time()
    async with trio.open_nursery() as nursery:

        async def keep() -> None:
            nonlocal renewed_at
            while True:
                await trio.sleep(ttl_s / 3)
                attempt = trio.current_time()
                try:
                    still = await store.acquire_lease(lease, holder, ttl_s)
                except StatusError as error:
                    log.warning("cannot renew the %s lease: %s", lease, error.message)
                    still = attempt - renewed_at < ttl_s * 2 / 3
                else:
                    if still:
                        renewed_at = attempt
                if not still:
                    log.warning("%s lost the %s lease; stopping the controllers", holder, lease)
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(keep)
        await work()
        nursery.cancel_scope.cancel()
