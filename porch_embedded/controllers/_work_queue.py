"""A work queue keyed by object: what a controller runs when events of other objects point at one of its own.

The store's informer hands a handler the events of the object it follows; a controller
whose work is keyed by a PackageVariant but triggered by PackageRevisions, Repositories
and ConfigMaps as well needs one more step: map each event to the keys it concerns and
run the reconciler per key. This queue does that step:

- one reconcile of a key at a time; keys added while it runs make one more run after it
  (any number of additions coalesce), different keys run concurrently (bounded);
- a reconcile that raises is run again after a backoff (doubling, capped) unless the key
  is added again meanwhile, which runs it as soon as the running one ends;
- nothing runs when nothing was added: no polling.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from porch_embedded.store import Backoff

__all__ = ["WorkQueue"]

log = logging.getLogger("porch_embedded.controllers.queue")

Key = tuple[str, str]


@dataclass
class _Slot:
    """A key's state: running, and whether it was added again since its run began."""

    again: bool = False
    wake: trio.Event = field(default_factory=trio.Event)


class WorkQueue:
    """Runs ``reconcile(key)`` for every key added, one run per key at a time."""

    def __init__(self, reconcile: Callable[[Key], Awaitable[None]], *, name: str, retry: Backoff = Backoff(),
                 concurrency: int = 8) -> None:
        self._reconcile, self._name, self._retry = reconcile, name, retry
        self._slots: dict[Key, _Slot] = {}
        self._limit = trio.CapacityLimiter(concurrency)
        self._nursery: trio.Nursery | None = None
        self._pending: list[Key] = []

    def add(self, key: Key) -> None:
        """Ask for one more reconcile of ``key`` (after the one running, if any)."""
        slot = self._slots.get(key)
        if slot is not None:
            slot.again = True
            slot.wake.set()
            return
        if self._nursery is None:
            self._pending.append(key)
            return
        self._slots[key] = _Slot()
        self._nursery.start_soon(self._run, key)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Work off added keys until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            pending, self._pending = self._pending, []
            for key in pending:
                self.add(key)
            task_status.started()
            await trio.sleep_forever()

    async def _run(self, key: Key) -> None:
        slot = self._slots[key]
        delays = self._retry.delays()
        try:
            while True:
                slot.again, slot.wake = False, trio.Event()
                try:
                    async with self._limit:
                        await self._reconcile(key)
                    delays = self._retry.delays()
                except Exception as error:  # noqa: BLE001 - one object's failure must not stop the others
                    delay = next(delays)
                    log.warning("%s: reconciling %s/%s failed (%s: %s); retrying in %.1f s", self._name, key[0],
                                key[1], type(error).__name__, error, delay)
                    with trio.move_on_after(delay):
                        await slot.wake.wait()
                    continue
                if not slot.again:
                    return
        finally:
            del self._slots[key]
