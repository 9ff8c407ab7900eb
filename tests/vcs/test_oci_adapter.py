"""OciAdapter behaviour beyond the contract: a write that lands while a fetch lists the registry."""

from __future__ import annotations

import secrets

import trio

from porch_embedded.vcs import Credentials, DraftWrite, OciAdapter, OciStorage
from tests.parts.registry import Registry, oci_registry

__all__ = ["oci_registry"]


async def test_a_write_that_lands_while_a_fetch_lists_is_not_lost_from_the_snapshot(oci_registry: Registry) -> None:
    storage = OciStorage()
    spec = storage.parse({"metadata": {"name": "race"},
                          "spec": {"oci": {"registry": f"{oci_registry.host}/r{secrets.token_hex(4)}"}}})
    async with storage.open(spec, Credentials(oci_registry.username, oci_registry.password)) as repo:
        assert isinstance(repo, OciAdapter)
        listed = repo._listing_blocking

        def listing_then_a_write() -> dict[tuple[str, str], str]:
            listing = listed()  # what the registry held before the write below
            trio.from_thread.run(repo.save_draft, DraftWrite("late", "ws", {"Kptfile": "a: 1\n"}))
            return listing

        repo._listing_blocking = listing_then_a_write  # type: ignore[method-assign]
        await repo.fetch()
        assert [(r.package, r.workspace) for r in (await repo.snapshot()).revisions] == [("late", "ws")]
        repo._listing_blocking = listed  # type: ignore[method-assign]
        assert (await repo.fetch()) == (await repo.snapshot()).version
        assert [(r.package, r.workspace) for r in (await repo.snapshot()).revisions] == [("late", "ws")]
