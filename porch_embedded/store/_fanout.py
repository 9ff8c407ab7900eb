"""Watch fan-out inside one process: a ring of recent events and one broadcast.

Every commit publishes its events to the ring and swaps a ``trio.Event``, waking all
watchers at once; each watcher then reads the ring from where it left off, so a write
costs the database nothing per watcher. A watcher that fell behind the ring (or starts
from an older resourceVersion) reads the gap from the events table in batches, through
the store's ``EventSource``, and rejoins the ring. Because the ring holds every event
above its ``floor`` in resourceVersion order, a watcher sees each event exactly once.
"""

from __future__ import annotations

import bisect
import collections
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import trio

from porch_embedded.store._messages import expired
from porch_embedded.store._protocol import WatchEvent, WatchQuery

__all__ = ["EventFanout", "EventSource", "LoggedEvent", "WatchStream"]

CATCH_UP_BATCH = 500


@dataclass(frozen=True)
class LoggedEvent:
    """One committed event: where it belongs and the object's JSON (unsealed, stamped)."""

    resource_version: int
    resource: str
    namespace: str
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    object_json: str

    def to_watch_event(self) -> WatchEvent:
        # Parsed per delivery: each watcher gets its own dict to do with as it likes.
        return WatchEvent(self.type, json.loads(self.object_json), self.resource_version, self.object_json)


class EventSource(Protocol):
    """The database side of a watch: the events a watcher missed from the ring."""

    async def read_events(
        self, query: WatchQuery, after: int, upto: int, limit: int
    ) -> tuple[list[LoggedEvent], int]:
        """Events of ``query`` with after < rv <= upto, oldest first, at most ``limit``,
        and the compaction floor (no event at or below it is kept) of the same read."""
        ...


class EventFanout:
    """The ring of recent events plus the broadcast that announces new ones.

    Invariant: every committed event with resourceVersion above ``floor`` and at most
    ``newest`` is in the ring, in order. Only one task publishes at a time.
    """

    def __init__(self, floor: int, capacity: int = 4096) -> None:
        self._events: list[LoggedEvent] = []
        self._floor = floor
        self._capacity = max(1, capacity)
        self.changed = trio.Event()

    @property
    def floor(self) -> int:
        return self._floor

    @property
    def newest(self) -> int:
        return self._events[-1].resource_version if self._events else self._floor

    def publish(self, events: Sequence[LoggedEvent]) -> None:
        """Append committed events (newer than ``newest``, in order) and wake all watchers."""
        if not events:
            return
        self._events.extend(events)
        if len(self._events) > 2 * self._capacity:  # trim in bulk: amortised O(1) per event
            cut = len(self._events) - self._capacity
            self._floor = self._events[cut - 1].resource_version
            del self._events[:cut]
        changed, self.changed = self.changed, trio.Event()
        changed.set()

    def reset(self, floor: int) -> None:
        """Empty the ring and restart it above ``floor`` (history below it is gone).

        For a publisher that learns it missed compacted events: watchers that still need
        them read the table, find them compacted and get Expired.
        """
        self._events.clear()
        self._floor = floor
        changed, self.changed = self.changed, trio.Event()
        changed.set()

    def after(self, resource_version: int) -> list[LoggedEvent]:
        """Ring events newer than ``resource_version`` (which must be >= ``floor``)."""
        start = bisect.bisect_right(
            self._events, resource_version, key=lambda event: event.resource_version
        )
        return self._events[start:]


class WatchStream:
    """The iterator a ``Store.watch`` hands out: events after ``since`` matching ``query``.

    It never ends by itself. It raises Expired if it falls so far behind that the events
    it still needs were compacted away (Kubernetes ends such a watch with 410 too).
    """

    def __init__(
        self, fanout: EventFanout, source: EventSource, query: WatchQuery, since: int
    ) -> None:
        self._fanout, self._source, self._query = fanout, source, query
        self._last = since
        self._pending: collections.deque[LoggedEvent] = collections.deque()

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        await trio.lowlevel.checkpoint()
        while not self._pending:
            await self._refill()
        return self._pending.popleft().to_watch_event()

    def _wants(self, event: LoggedEvent) -> bool:
        return event.resource == self._query.resource and (
            not self._query.namespace or event.namespace == self._query.namespace
        )

    async def _refill(self) -> None:
        changed = self._fanout.changed  # taken before looking, so no publish is missed
        if self._last < self._fanout.floor:
            upto = self._fanout.floor
            events, floor = await self._source.read_events(
                self._query, self._last, upto, CATCH_UP_BATCH
            )
            if self._last < floor:
                raise expired(self._last, floor)
            self._pending.extend(events)
            full = len(events) == CATCH_UP_BATCH
            self._last = events[-1].resource_version if full else upto
            return
        fresh = self._fanout.after(self._last)
        if fresh:
            self._pending.extend(event for event in fresh if self._wants(event))
            self._last = fresh[-1].resource_version
            return
        await changed.wait()
