"""The ``RepositoryAdapter`` and ``Storage`` contract: what every storage type does, seen through
the protocol alone (no server-side look at refs, tags or manifests: those are each adapter's
own layout tests). Every test runs on each ``backend`` parameter."""

from __future__ import annotations

import inspect
import json

import pytest

from porch_embedded.errors import BadRequest, RefConflict, RepositoryNotFound
from porch_embedded.vcs import Author, DraftWrite, RepositoryAdapter, Revision, Storage
from tests.parts.git_server import kptfile
from tests.vcs.conftest import Backend

INIT = {"type": "init", "init": {"description": "sample description"}}


def files_of(name: str, note: str = "v") -> dict[str, str]:
    return {"Kptfile": kptfile(name), "cm.yaml": f"note: {note}\n", "sub/dir/a.yaml": "a: 1\n"}


def identity(revision: Revision) -> tuple[object, ...]:
    """What a revision is, independent of the handle that read it."""
    return (revision.package, revision.workspace, revision.revision, revision.lifecycle, revision.locator,
            revision.commit, revision.placeholder, revision.tasks)


def by_key(revisions: tuple[Revision, ...]) -> dict[tuple[str, str], Revision]:
    return {(r.package, r.workspace): r for r in revisions}


async def test_a_draft_moves_through_its_lifecycle_and_a_new_registration_sees_it(backend: Backend) -> None:
    backend.create("life")
    async with backend.open("life") as repo:
        draft = await repo.save_draft(DraftWrite("team/app", "ws1", files_of("app"), task=INIT,
                                                 author=Author.from_user("alice")))
        assert (draft.package, draft.workspace, draft.revision, draft.lifecycle) == ("team/app", "ws1", 0, "Draft")
        assert draft.tasks == (INIT,) and not draft.placeholder
        assert await repo.read_package(draft) == dict(sorted(files_of("app").items()))

        edited = await repo.save_draft(DraftWrite("team/app", "ws1", {"Kptfile": kptfile("app"), "n.yaml": "n: 2\n"},
                                                  task={"type": "render"}, parent=draft))
        assert edited.commit != draft.commit and edited.tasks == (INIT,)  # the first task is kept
        assert await repo.read_package(edited) == {"Kptfile": kptfile("app"), "n.yaml": "n: 2\n"}

        proposed = await repo.propose(edited)
        assert (proposed.lifecycle, proposed.commit) == ("Proposed", edited.commit)
        rejected = await repo.reject(proposed)
        assert rejected.lifecycle == "Draft"
        proposed = await repo.propose(rejected)
        listed = by_key((await repo.snapshot()).revisions)["team/app", "ws1"]
        assert identity(listed) == identity(proposed)

        assert await repo.highest_revision("team/app") == 0
        published = await repo.approve(proposed, 1, author=Author.from_user("bob"))
        assert (published.revision, published.lifecycle, published.published_by) == (1, "Published", "bob")
        assert published.published_at is not None and not published.placeholder
        assert await repo.highest_revision("team/app") == 1
        placeholder = repo.placeholder_after(published)
        snap = await repo.snapshot()

    found = by_key(snap.revisions)
    assert identity(found["team/app", "ws1"])[:6] == identity(published)[:6]
    assert ("team/app", "ws1") in {(r.package, r.workspace) for r in snap.revisions if not r.placeholder}
    if placeholder is not None:  # what the engine records after an approval is what a sync then lists
        listed_placeholder = found[placeholder.package, placeholder.workspace]
        assert listed_placeholder.placeholder and placeholder.placeholder
        assert identity(listed_placeholder)[:7] == identity(placeholder)[:7]
        assert snap.packages == ("team/app",)

    async with backend.open("life") as fresh:  # a new registration recovers everything from storage alone
        again = await fresh.snapshot()
        assert sorted(map(repr, map(identity, again.revisions))) == sorted(map(repr, map(identity, snap.revisions)))
        assert await fresh.highest_revision("team/app") == 1
        assert await fresh.read_package(by_key(again.revisions)["team/app", "ws1"]) == {
            "Kptfile": kptfile("app"), "n.yaml": "n: 2\n"}


async def test_stale_writes_are_conflicts(backend: Backend) -> None:
    backend.create("stale")
    async with backend.open("stale") as repo:
        draft = await repo.save_draft(DraftWrite("p", "w", files_of("p"), task=INIT))
        with pytest.raises(RefConflict):
            await repo.save_draft(DraftWrite("p", "w", files_of("p"), task=INIT))  # it already exists
        newer = await repo.save_draft(DraftWrite("p", "w", files_of("p", "2"), parent=draft))
        with pytest.raises(RefConflict):
            await repo.save_draft(DraftWrite("p", "w", files_of("p", "3"), parent=draft))  # a stale parent
        with pytest.raises(RefConflict):
            await repo.approve(draft, 1)  # approving what the draft no longer is
        assert await repo.highest_revision("p") == 0
        assert await repo.read_package(newer) == dict(sorted(files_of("p", "2").items()))


async def test_a_stored_self_lock_finds_its_revision_again(backend: Backend) -> None:
    """The engine keeps only the selfLock (as JSON) and the API object's facts; that is enough."""
    backend.create("locks")
    async with backend.open("locks") as repo:
        published = await repo.approve(await repo.propose(
            await repo.save_draft(DraftWrite("pub", "ws", files_of("pub"), task=INIT))), 1)
        await repo.propose(await repo.save_draft(DraftWrite("prop", "ws", files_of("prop"), task=INIT)))
        await repo.save_draft(DraftWrite("dr", "ws", files_of("dr"), task=INIT))
        snap = await repo.snapshot()
        assert {r.lifecycle for r in snap.revisions} == {"Draft", "Proposed", "Published"}
        for revision in snap.revisions:
            lock = repo.self_lock(revision)
            assert lock["type"] == backend.type and set(lock) == {"type", backend.type}
            stored = json.loads(json.dumps(lock))
            recalled = repo.revision_at(stored, package=revision.package, workspace=revision.workspace,
                                        revision=revision.revision, lifecycle=revision.lifecycle,
                                        tasks=revision.tasks)
            assert identity(recalled) == identity(revision)
            assert repo.self_lock(recalled) == lock
        recalled = {r.package: repo.revision_at(json.loads(json.dumps(repo.self_lock(r))), package=r.package,
                                                workspace=r.workspace, revision=r.revision, lifecycle=r.lifecycle)
                    for r in snap.revisions if not r.placeholder}
        v1 = await repo.approve(recalled["prop"], 2)  # writes take a recalled revision as they take a listed one
        assert (v1.revision, v1.lifecycle) == (2, "Published")
        assert (await repo.propose(recalled["dr"])).lifecycle == "Proposed"
        assert (await repo.propose_deletion(recalled["pub"])).lifecycle == "DeletionProposed"
        assert published.revision == 1


async def test_deletion_proposal_restore_and_delete(backend: Backend) -> None:
    backend.create("del")
    async with backend.open("del") as repo:
        v1 = await repo.approve(await repo.propose(
            await repo.save_draft(DraftWrite("pkg", "ws", files_of("pkg"), task=INIT))), 1)
        marked = await repo.propose_deletion(v1)
        assert marked.lifecycle == "DeletionProposed"
        assert by_key((await repo.snapshot()).revisions)["pkg", "ws"].lifecycle == "DeletionProposed"
        restored = await repo.restore(marked)
        assert restored.lifecycle == "Published"
        assert by_key((await repo.snapshot()).revisions)["pkg", "ws"].lifecycle == "Published"

        await repo.delete(await repo.propose_deletion(restored), author=Author.from_user("carol"))
        assert ("pkg", "ws") not in by_key((await repo.snapshot()).revisions)

        draft = await repo.save_draft(DraftWrite("gone", "w", files_of("gone"), task=INIT))
        await repo.delete(draft)
        assert ("gone", "w") not in by_key((await repo.snapshot()).revisions)

        placeholders = [r for r in (await repo.snapshot()).revisions if r.placeholder and r.package == "pkg"]
        assert placeholders or repo.placeholder_after(v1) is None
        for placeholder in placeholders:  # a storage with a placeholder deletes the package through it
            await repo.delete(await repo.propose_deletion(placeholder), author=Author.from_user("carol"))
            snap = await repo.snapshot()
            assert "pkg" not in snap.packages and not any(r.package == "pkg" for r in snap.revisions)


async def test_writes_of_another_registration_change_the_version_and_a_fetch_brings_them(backend: Backend) -> None:
    backend.create("two")
    async with backend.open("two") as one, backend.open("two") as other:
        before = await one.version()
        assert before == await one.version() == (await one.snapshot()).version
        draft = await other.save_draft(DraftWrite("p", "w", files_of("p"), task=INIT))
        after = await one.version()
        assert after != before
        assert await one.fetch() == after
        snap = await one.snapshot()
        assert snap.version == after
        assert identity(by_key(snap.revisions)["p", "w"]) == identity(draft)


async def test_a_batch_read_returns_what_single_reads_return(backend: Backend) -> None:
    backend.create("batch")
    async with backend.open("batch") as repo:
        for index in range(3):
            await repo.approve(await repo.propose(await repo.save_draft(
                DraftWrite(f"p{index}", "ws", files_of(f"p{index}", str(index)), task=INIT))), 1)
        await repo.save_draft(DraftWrite("p0", "next", files_of("p0", "0"), task=INIT))
        revisions = list((await repo.snapshot()).revisions)
        assert len({r.tree for r in revisions}) < len(revisions)  # equal content (and placeholders) share a tree
        singles = [await repo.read_package(r) for r in revisions]
        batch = await repo.read_packages(revisions)
        assert batch == singles and [list(f) for f in batch] == [list(f) for f in singles]
        assert await repo.read_packages([]) == []
        batch[0]["Kptfile"] = "changed"  # each result is the caller's own
        assert (await repo.read_packages(revisions[:1]))[0]["Kptfile"] != "changed"
        assert all(batch[i] is not batch[j] for i in range(len(batch)) for j in range(i))


async def test_a_repository_that_does_not_exist_is_not_found(backend: Backend) -> None:
    with pytest.raises(RepositoryNotFound):
        async with backend.open_missing():
            pass


def test_a_spec_without_its_section_is_refused_naming_the_field(backend: Backend) -> None:
    repository = backend.repository("r")
    del repository["spec"][backend.type]
    with pytest.raises(BadRequest, match=f"spec.{backend.type}"):
        backend.storage.parse(repository)


async def test_the_adapter_and_storage_implement_every_protocol_method(backend: Backend) -> None:
    backend.create("shape")
    async with backend.open("shape") as repo:
        for implementation, protocol in ((type(repo), RepositoryAdapter), (type(backend.storage), Storage)):
            wanted = {n for n, _ in inspect.getmembers(protocol, inspect.isfunction) if not n.startswith("_")}
            for name in wanted:
                ours, theirs = getattr(implementation, name), getattr(protocol, name)
                assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs), name
                assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters), name
