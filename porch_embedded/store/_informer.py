"""The informer: follow one resource of the store and hand each object's changes to a handler.

Everything that reacts to stored objects (the engine's repository index and Repository
clean-up, the repository sync controller, the variant controllers) needs the same loop,
and each hand-written copy of it had the same holes. One informer does it once:

- list, then watch from the list's resourceVersion;
- on Expired (the watch fell behind the retained history) list again and deliver what
  changed in between, deletions included, by comparing the list with what it last saw;
- on StoreUnavailable wait (with backoff) and resume the watch where it stopped;
- per object key (namespace, name) one handler call at a time: events for a key that
  arrive while its handler runs are coalesced to the newest (a deletion followed by a
  new object of the same name stays two events), different keys run concurrently, and a
  handler that raises is retried with backoff without holding up other keys.

The informer reads the store only; it lives in this layer because it needs nothing but
the ``Store`` protocol, so that every layer above (engine, controllers, api) can use it.
"""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import trio

from porch_embedded.errors import Expired, StoreUnavailable
from porch_embedded.store._protocol import Body, ListQuery, Store, WatchEvent, WatchQuery

__all__ = ["Backoff", "Handler", "Informer"]

log = logging.getLogger("porch_embedded.store.informer")

Key = tuple[str, str]
LIST_BATCH = 64
"""Keys of the first list handled by one task, one after another (see ``Informer._work``)."""
Handler = Callable[[WatchEvent], Awaitable[None]]
"""Called with the newest event of one object; raising means "try again later"."""


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: ``first_s``, doubling up to ``max_s``."""

    first_s: float = 0.2
    max_s: float = 30.0

    def delays(self) -> Iterator[float]:
        delay = self.first_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_s)


def _key(body: Body) -> Key:
    metadata = body["metadata"]
    return metadata.get("namespace", ""), metadata["name"]


def _uid(body: Body) -> str:
    return str(body["metadata"].get("uid", ""))


def _rv(body: Body) -> int:
    return int(body["metadata"].get("resourceVersion") or 0)


class Informer:
    """Follows ``resource`` (in ``namespace``, or all) and calls ``handler`` per object key.

    ``run`` does the work until cancelled; ``wait_handled`` lets a writer wait until its
    own write went through the handler (read-your-writes for what the handler maintains).
    """

    def __init__(self, store: Store, resource: str, handler: Handler, *, namespace: str = "",
                 retry: Backoff = Backoff(), name: str = "") -> None:
        self._store, self._resource, self._namespace = store, resource, namespace
        self._handler, self._retry = handler, retry
        self._name = name or resource
        self._known: dict[Key, tuple[str, int, str]] = {}
        """The newest object handed to the dispatcher per key, as (uid, resourceVersion, JSON):
        what a relist compares against, and the body of a deletion it finds. JSON text is a
        sixth of the parsed dict's memory (10,000 PackageRevisions: ~10 MB instead of ~60 MB
        per informer)."""
        self._queues: dict[Key, collections.deque[WatchEvent]] = {}
        """Events not yet handled, per key; a key is here exactly while its worker runs."""
        self._dispatched = -1
        """Every event up to this resourceVersion is queued or handled."""
        self._first_attempts = 0
        """Keys of the first list whose handler has not been tried yet."""
        self._started = False
        self._progress = trio.Event()
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the resource until cancelled.

        Reports started once every object of the first list went through the handler once
        (successfully or not), so that what the handler maintains is complete by then.
        Never ends on Expired or StoreUnavailable; a handler's errors are logged and retried.
        """
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                since = await self._list()
                while self._first_attempts:
                    await self._changed()
                self._started = True
                task_status.started()
                await self._follow(since)
            finally:
                self._nursery = None

    async def wait_handled(self, namespace: str, name: str, resource_version: int) -> None:
        """Return once the object's events up to ``resource_version`` went through the handler.

        Waits while the handler keeps failing on them (it is being retried): bound the wait
        with a cancel scope.
        """
        key = (namespace, name)
        while self._dispatched < resource_version or key in self._queues:
            await self._changed()

    # -- following the store -----------------------------------------------------------

    async def _follow(self, since: int) -> None:
        delays = self._retry.delays()
        while True:
            listed_at = since
            try:
                async with self._store.watch(WatchQuery(self._resource, self._namespace, since)) as events:
                    async for event in events:
                        self._dispatch(event)
                        since = event.resource_version
                        delays = self._retry.delays()
            except Expired as error:
                if since == listed_at:  # expired again before a single event: do not spin
                    await trio.sleep(next(delays))
                log.info("%s: watch fell behind (%s); listing again", self._name, error.message)
                since = await self._list()
            except StoreUnavailable as error:
                delay = next(delays)
                log.warning("%s: store unavailable (%s); resuming in %.1f s", self._name, error.message, delay)
                await trio.sleep(delay)

    async def _list(self) -> int:
        """List everything, queue what differs from what was last seen; return the list's rv."""
        delays = self._retry.delays()
        while True:
            try:
                items, resource_version = await self._list_all()
                break
            except StoreUnavailable as error:
                delay = next(delays)
                log.warning("%s: store unavailable (%s); listing again in %.1f s", self._name, error.message, delay)
                await trio.sleep(delay)
        listed = {_key(body): body for body in items}
        fresh: list[Key] = []
        for key, body in listed.items():
            known = self._known.get(key)
            if known is not None and known[0] != _uid(body):
                self._dispatch(WatchEvent("DELETED", json.loads(known[2]), resource_version), fresh)
                known = None
            if known is None:
                self._dispatch(WatchEvent("ADDED", body, _rv(body)), fresh)
            elif known[1] != _rv(body):
                self._dispatch(WatchEvent("MODIFIED", body, _rv(body)), fresh)
        for key in [key for key in self._known if key not in listed]:
            self._dispatch(WatchEvent("DELETED", json.loads(self._known[key][2]), resource_version), fresh)
        self._dispatched = max(self._dispatched, resource_version)
        assert self._nursery is not None
        batch = 1 if self._started else LIST_BATCH
        for start in range(0, len(fresh), batch):
            self._nursery.start_soon(self._work, fresh[start:start + batch], not self._started)
        self._wake()
        return resource_version

    async def _list_all(self) -> tuple[list[Body], int]:
        page = await self._store.list(ListQuery(self._resource, self._namespace, limit=500))
        items, resource_version = list(page.items), page.resource_version
        while page.continue_token:
            page = await self._store.list(ListQuery(self._resource, self._namespace, limit=500,
                                                    continue_token=page.continue_token))
            items += page.items
        return items, resource_version

    # -- per-key work ------------------------------------------------------------------

    def _dispatch(self, event: WatchEvent, fresh: list[Key] | None = None) -> None:
        """Queue ``event`` for its key, coalescing with a queued event of the same object.

        A key with nothing queued gets a task to handle it; with ``fresh`` (a list being
        dispatched) the key is added there instead, for the caller to start tasks for the
        whole list at once and wake waiters once.
        """
        key = _key(event.object)
        if event.type == "DELETED":
            self._known.pop(key, None)
        else:
            # The store's own JSON when the event has it: every informer of the resource then
            # shares one string (three of PackageRevisions: ~17 MB less at 10,000) and encodes nothing.
            text = event.object_json if event.object_json is not None else json.dumps(event.object)
            self._known[key] = (_uid(event.object), _rv(event.object), text)
        self._dispatched = max(self._dispatched, event.resource_version)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = collections.deque([event])
            self._first_attempts += not self._started
            if fresh is not None:
                fresh.append(key)
                return
            assert self._nursery is not None
            self._nursery.start_soon(self._work, [key], not self._started)
        elif queue and _uid(queue[-1].object) == _uid(event.object):
            queue[-1] = _coalesced(queue[-1], event)
        else:
            queue.append(event)
        if fresh is None:
            self._wake()

    async def _work(self, keys: list[Key], first: bool) -> None:
        """Handle ``keys`` one after another, each until its queue is empty.

        A watch event, and a list made again after falling behind, start one task per key,
        so that a slow handler of one key holds up no other. The first list hands over
        thousands of keys at once, at start, when a task each cost more than quick handlers
        do (a third of a second of CPU per 12,500 objects), and ``run`` waits for all of them
        anyway: its keys share tasks of ``LIST_BATCH``. A key whose handler fails hands the
        keys waiting behind it to a new task before it backs off, so that its retries hold up
        no other key.
        """
        waiting = collections.deque(keys)
        try:
            while waiting:
                await self._work_key(waiting.popleft(), first, waiting)
        finally:
            for key in waiting:  # cancelled before their turn came
                self._first_attempts -= first
                del self._queues[key]
            if waiting:
                self._wake()

    async def _work_key(self, key: Key, first: bool, waiting: collections.deque[Key]) -> None:
        """Handle the key's events one at a time until its queue is empty."""
        queue = self._queues[key]
        delays = self._retry.delays()
        batch_first = first
        try:
            while queue:
                event = queue.popleft()
                try:
                    await self._handler(event)
                    delays = self._retry.delays()
                except Exception as error:  # noqa: BLE001 - any handler failure is retried, never fatal
                    if queue and _uid(queue[0].object) == _uid(event.object):
                        queue[0] = _coalesced(event, queue[0])  # retry with the newer state
                    else:
                        queue.appendleft(event)
                    delay = next(delays)
                    log.warning("%s: handling %s %s/%s failed (%s: %s); retrying in %.1f s", self._name,
                                event.type, key[0], key[1], type(error).__name__, error, delay)
                    self._first_attempt_done(first)
                    first = False
                    if waiting:
                        assert self._nursery is not None
                        self._nursery.start_soon(self._work, list(waiting), batch_first)
                        waiting.clear()
                    await trio.sleep(delay)
                    continue
                self._first_attempt_done(first)
                first = False
        finally:
            if first:
                self._first_attempts -= 1
            del self._queues[key]
            self._wake()

    def _first_attempt_done(self, first: bool) -> None:
        """Count a key of the first list as tried (``run`` reports started when all are)."""
        if first:
            self._first_attempts -= 1
            if not self._first_attempts:
                self._wake()

    # -- waking waiters ----------------------------------------------------------------

    def _wake(self) -> None:
        progress, self._progress = self._progress, trio.Event()
        progress.set()

    async def _changed(self) -> None:
        await self._progress.wait()


def _coalesced(older: WatchEvent, newer: WatchEvent) -> WatchEvent:
    """One event standing for two of the same object: the newer state, ADDED if it was new."""
    if older.type == "ADDED" and newer.type == "MODIFIED":
        return WatchEvent("ADDED", newer.object, newer.resource_version)
    return newer
