"""The informer: list, watch, list again when the watch fell behind, wait out outages, per-key work.

Every test runs on a real store. The ones about falling behind and outages run on
PostgreSQL reached through a TCP proxy the test controls (tests/parts/tcp_proxy.py): while
the proxy is cut, a second store on the same database (another replica) writes and
compacts the event log, so the informer's store comes back to a history that no longer
holds what it missed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

from porch_embedded.errors import StoreUnavailable
from porch_embedded.store import Backoff, Informer, Store, WatchEvent, open_store
from tests.parts.tcp_proxy import TcpProxy, tcp_proxy
from tests.store.conftest import KEY, SEALED

WIDGETS = "widgets.example.com"
HANG_GUARD_S = 60  # a deadline against hangs, not a timing assertion
QUICK = Backoff(first_s=0.01, max_s=0.1)


def widget(name: str, colour: str = "red", namespace: str = "default", uid: str = "") -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}"},
            "spec": {"colour": colour}}


@dataclass
class Seen:
    """What a handler was given, and the state it keeps from it (as a cache or an index would)."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, name, colour) in handling order."""
    state: dict[str, str] = field(default_factory=dict)
    changed: trio.Event = field(default_factory=trio.Event)

    async def handle(self, event: WatchEvent) -> None:
        name = event.object["metadata"]["name"]
        self.events.append((event.type, name, event.object["spec"]["colour"]))
        if event.type == "DELETED":
            self.state.pop(name, None)
        else:
            self.state[name] = event.object["spec"]["colour"]
        self.changed.set()
        self.changed = trio.Event()

    async def until(self, state: dict[str, str]) -> None:
        with trio.fail_after(HANG_GUARD_S):
            while self.state != state:
                await self.changed.wait()


@asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        with trio.fail_after(HANG_GUARD_S):
            await nursery.start(informer.run)
        yield nursery
        nursery.cancel_scope.cancel()


# -- on every store -----------------------------------------------------------------------


async def test_the_first_list_is_handled_before_started_and_the_watch_follows(store: Store) -> None:
    await store.create(WIDGETS, widget("a"))
    await store.create(WIDGETS, widget("b"))
    seen = Seen()
    async with running(Informer(store, WIDGETS, seen.handle, retry=QUICK)):
        assert seen.state == {"a": "red", "b": "red"}
        current = await store.get(WIDGETS, "default", "a")
        await store.update(WIDGETS, {**current, "spec": {"colour": "blue"}}, expect_rv=current["metadata"]["resourceVersion"])
        await store.delete(WIDGETS, "default", "b")
        await store.create(WIDGETS, widget("c", "green"))
        await seen.until({"a": "blue", "c": "green"})
    assert ("DELETED", "b", "red") in seen.events


async def test_one_key_is_handled_one_event_at_a_time_coalesced_while_other_keys_go_on(store: Store) -> None:
    entered, release = trio.Event(), trio.Event()
    seen = Seen()
    running_now: dict[str, int] = {}
    most_at_once: dict[str, int] = {}

    async def handle(event: WatchEvent) -> None:
        name = event.object["metadata"]["name"]
        running_now[name] = running_now.get(name, 0) + 1
        most_at_once[name] = max(most_at_once.get(name, 0), running_now[name])
        try:
            if name == "slow" and event.object["spec"]["colour"] == "red":
                entered.set()
                await release.wait()
            await seen.handle(event)
        finally:
            running_now[name] -= 1

    informer = Informer(store, WIDGETS, handle, retry=QUICK)
    async with running(informer):
        slow = await store.create(WIDGETS, widget("slow"))
        # The handler holds the first event; the updates must come while it does (a store that
        # delivers several events at once would otherwise coalesce them before any handler ran).
        with trio.fail_after(HANG_GUARD_S):
            await entered.wait()
        for colour in ("orange", "yellow", "green", "blue"):
            slow = await store.update(WIDGETS, {**slow, "spec": {"colour": colour}},
                                      expect_rv=slow["metadata"]["resourceVersion"])
        other = await store.create(WIDGETS, widget("other", "white"))
        with trio.fail_after(HANG_GUARD_S):
            await informer.wait_handled("default", "other", int(other["metadata"]["resourceVersion"]))
        assert seen.state == {"other": "white"}  # while the slow key's handler is still busy
        release.set()
        with trio.fail_after(HANG_GUARD_S):
            await informer.wait_handled("default", "slow", int(slow["metadata"]["resourceVersion"]))
        assert seen.state == {"other": "white", "slow": "blue"}
    assert [event for event in seen.events if event[1] == "slow"] == [("ADDED", "slow", "red"),
                                                                      ("MODIFIED", "slow", "blue")]
    assert most_at_once == {"slow": 1, "other": 1}


async def test_a_deleted_and_recreated_object_is_not_coalesced_into_one_event(store: Store) -> None:
    entered, release = trio.Event(), trio.Event()
    seen = Seen()

    async def handle(event: WatchEvent) -> None:
        if event.type == "ADDED" and event.object["metadata"]["uid"] == "first":
            entered.set()
            await release.wait()
        await seen.handle(event)

    informer = Informer(store, WIDGETS, handle, retry=QUICK)
    async with running(informer):
        await store.create(WIDGETS, widget("w", "red", uid="first"))
        with trio.fail_after(HANG_GUARD_S):
            await entered.wait()  # the first object's handler is busy while it is replaced
        await store.delete(WIDGETS, "default", "w")
        second = await store.create(WIDGETS, widget("w", "blue", uid="second"))
        marker = await store.create(WIDGETS, widget("marker"))
        with trio.fail_after(HANG_GUARD_S):  # events come in order: w's are queued once this is handled
            await informer.wait_handled("default", "marker", int(marker["metadata"]["resourceVersion"]))
        release.set()
        with trio.fail_after(HANG_GUARD_S):
            await informer.wait_handled("default", "w", int(second["metadata"]["resourceVersion"]))
    assert [event for event in seen.events if event[1] == "w"] == [
        ("ADDED", "w", "red"), ("DELETED", "w", "red"), ("ADDED", "w", "blue")]


async def test_a_failing_handler_is_retried_with_growing_delays_and_blocks_no_other_key(store: Store) -> None:
    seen = Seen()
    attempts: list[float] = []
    backoff = Backoff(first_s=0.05, max_s=0.2)

    async def handle(event: WatchEvent) -> None:
        if event.object["metadata"]["name"] == "flaky" and len(attempts) < 4:
            attempts.append(trio.current_time())
            raise StoreUnavailable("the database went away for a moment")
        await seen.handle(event)

    informer = Informer(store, WIDGETS, handle, retry=backoff)
    async with running(informer):
        await store.create(WIDGETS, widget("flaky"))
        await store.create(WIDGETS, widget("steady"))
        await seen.until({"steady": "red", "flaky": "red"})
    assert seen.events[0] == ("ADDED", "steady", "red")
    assert len(attempts) == 4
    delays = [later - earlier for earlier, later in zip(attempts, attempts[1:], strict=False)]
    planned = [delay for delay, _ in zip(backoff.delays(), delays, strict=False)]
    assert planned == [0.05, 0.1, 0.2]
    assert all(delay >= wanted for delay, wanted in zip(delays, planned, strict=True)), delays


async def test_a_key_of_the_first_list_whose_handler_keeps_failing_holds_up_none_behind_it(store: Store) -> None:
    # The first list's keys share tasks, in key order: "a-flaky" comes before the others.
    for name in ("a-flaky", "b-steady", "c-steady"):
        await store.create(WIDGETS, widget(name))
    seen = Seen()
    failing = True

    async def handle(event: WatchEvent) -> None:
        if event.object["metadata"]["name"] == "a-flaky" and failing:
            raise StoreUnavailable("not yet")
        await seen.handle(event)

    async with running(Informer(store, WIDGETS, handle, retry=QUICK)):
        assert seen.state == {"b-steady": "red", "c-steady": "red"}  # while a-flaky still fails
        failing = False
        await seen.until({"a-flaky": "red", "b-steady": "red", "c-steady": "red"})


# -- falling behind and outages (PostgreSQL through a proxy) ------------------------------


@dataclass
class Proxied:
    proxy: TcpProxy
    url: str
    """The database as the informer's store reaches it: through the proxy."""
    direct: str
    """The same database without the proxy (another replica)."""


@pytest.fixture
def proxied(postgres_database_url: str) -> Iterator[Proxied]:
    with tcp_proxy(("127.0.0.1", 5432)) as proxy:
        url = postgres_database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        yield Proxied(proxy, url, postgres_database_url)


def opener(url: str) -> Callable[[], Any]:
    return lambda: open_store(url, encryption_key=KEY, sealed_fields=SEALED, event_retention=1)


async def test_a_watch_that_fell_behind_lists_again_and_delivers_the_gap_deletions_included(
        proxied: Proxied, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "porch_embedded.store.informer")
    seen = Seen()
    hold = trio.Event()

    async def slow_handler(event: WatchEvent) -> None:
        if event.object["metadata"]["name"] == "slow" and event.type == "MODIFIED":
            await hold.wait()  # a slow consumer of one key holds up nothing else
        await seen.handle(event)

    async with opener(proxied.url)() as store, opener(proxied.direct)() as elsewhere:
        for name in ("kept", "changed", "deleted", "slow"):
            await elsewhere.create(WIDGETS, widget(name))
        async with running(Informer(store, WIDGETS, slow_handler, retry=QUICK)):
            assert seen.state == {"kept": "red", "changed": "red", "deleted": "red", "slow": "red"}
            slow = await elsewhere.get(WIDGETS, "default", "slow")
            await elsewhere.update(WIDGETS, {**slow, "spec": {"colour": "grey"}},
                                   expect_rv=slow["metadata"]["resourceVersion"])
            proxied.proxy.cut()
            changed = await elsewhere.get(WIDGETS, "default", "changed")
            await elsewhere.update(WIDGETS, {**changed, "spec": {"colour": "blue"}},
                                   expect_rv=changed["metadata"]["resourceVersion"])
            await elsewhere.delete(WIDGETS, "default", "deleted")
            await elsewhere.create(WIDGETS, widget("added", "green"))
            await elsewhere.compact(keep=0)
            proxied.proxy.restore()
            await seen.until({"kept": "red", "changed": "blue", "added": "green", "slow": "red"})
            hold.set()
            await seen.until({"kept": "red", "changed": "blue", "added": "green", "slow": "grey"})
    assert ("DELETED", "deleted", "red") in seen.events
    assert "watch fell behind" in caplog.text


async def test_a_store_outage_is_waited_out_and_the_informer_resumes(
        proxied: Proxied, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "porch_embedded.store.informer")
    seen = Seen()
    async with opener(proxied.url)() as store, opener(proxied.direct)() as elsewhere:
        await elsewhere.create(WIDGETS, widget("before"))
        proxied.proxy.cut()
        informer = Informer(store, WIDGETS, seen.handle, retry=QUICK)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(informer.run)
            with trio.fail_after(HANG_GUARD_S):
                while "store unavailable" not in caplog.text:  # its list failed: it waits and tries again
                    await trio.sleep(0.05)
            assert seen.events == []
            await elsewhere.create(WIDGETS, widget("during"))
            proxied.proxy.restore()
            await seen.until({"before": "red", "during": "red"})
            # It goes on after a second outage, delivering what was written during it.
            proxied.proxy.cut()
            await elsewhere.create(WIDGETS, widget("second", "blue"))
            await elsewhere.delete(WIDGETS, "default", "before")
            proxied.proxy.restore()
            await seen.until({"during": "red", "second": "blue"})
            nursery.cancel_scope.cancel()
