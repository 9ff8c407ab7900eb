"""Leader election over the store: singleton work runs on one replica at a time.

Replicas sharing a PostgreSQL store campaign for one lease; the holder runs the
controllers and renews the lease every third of its lifetime. A holder that fails to
renew (lost to another, or the database is gone for longer than the lease) stops its
controllers before the lease can lapse, so two replicas never sync at once. A killed
holder stops renewing and another replica takes over when the lease expires.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from porch_embedded.errors import StatusError, StoreUnavailable
from porch_embedded.store import Store

__all__ = ["run_while_leader"]

log = logging.getLogger("porch_embedded.controllers.leader")


async def run_while_leader(store: Store, lease: str, holder: str, ttl_s: float,
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


async def _lead(store: Store, lease: str, holder: str, ttl_s: float, work: Callable[[], Awaitable[None]]) -> None:
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
