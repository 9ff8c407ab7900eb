"""run_while_leader: singleton work under a lease, and what a store failure does to it."""

from __future__ import annotations

from pathlib import Path

import trio
from cryptography.fernet import Fernet

from porch_embedded.controllers import run_while_leader
from porch_embedded.errors import StoreUnavailable
from porch_embedded.store import open_store


async def test_a_store_failure_under_the_work_restarts_it_instead_of_ending_the_server(tmp_path: Path) -> None:
    starts = 0
    second_start = trio.Event()

    async def work() -> None:
        nonlocal starts
        starts += 1
        if starts == 1:
            async with trio.open_nursery() as nursery:  # nested, as the sync controller's tasks are
                nursery.start_soon(trio.sleep_forever)
                raise StoreUnavailable("the database went away")
        second_start.set()
        await trio.sleep_forever()

    async with open_store(f"sqlite:///{tmp_path / 'store.db'}", encryption_key=Fernet.generate_key()) as store:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_while_leader, store, "controllers", "me", 0.3, work)
            with trio.fail_after(10):
                await second_start.wait()
            assert await store.acquire_lease("controllers", "someone-else", 0.3) is False
            nursery.cancel_scope.cancel()
        assert await store.acquire_lease("controllers", "someone-else", 0.3) is True, "released on exit"
