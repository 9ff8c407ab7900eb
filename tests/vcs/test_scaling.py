"""What a write or a read costs does not grow with the repository's history or refs.

A push must carry exactly the objects the write made, found without walking history;
checked by recording the pack the adapter hands to dulwich, and against what the git
CLI on the server says is new in the pushed commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dulwich.objects import ShaFile
from dulwich.repo import Repo

from porch_embedded.vcs import DraftWrite, GitCache, GitSpec, open_git_adapter
from porch_embedded.vcs._git import GitAdapter
from porch_embedded.vcs import _batch, _cache, _discovery, _remote
from porch_embedded.vcs._cache import remote_view
from tests.parts.git_server import GitServer, Seeder, kptfile, package_files, run_git
from tests.vcs.conftest import GOOD, Opener

INIT = {"type": "init", "init": {"description": "d"}}


def seed_history(seed: Seeder, packages: int, revisions: int) -> None:
    """``packages`` packages under catalog/ with ``revisions`` tagged commits each."""
    for number in range(1, revisions + 1):
        files: dict[str, str | None] = {}
        for index in range(packages):
            files.update(package_files(f"catalog/p{index}", extra={"rev.yaml": f"rev: {number}\n"}))
        seed.commit(files, message=f"revision {number}",
                    tags=[f"catalog/p{index}/v{number}" for index in range(packages)])


@pytest.fixture
def packs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[bytes]]]:
    """Every pack the adapter pushes, as object ids; and any history walk fails the test."""
    sent: list[list[bytes]] = []
    real = _remote.pack_objects_to_data

    def recording(objects: list[ShaFile], **kwargs: Any) -> Any:
        sent.append([obj.id for obj in objects])
        return real(objects, **kwargs)

    def no_walk(self: Repo, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the push walked the repository's history to find missing objects")

    monkeypatch.setattr(_remote, "pack_objects_to_data", recording)
    monkeypatch.setattr(Repo, "generate_pack_data", no_walk)
    yield sent


def new_objects(server: GitServer, repo: str, commit: str) -> set[bytes]:
    """What the server holds in ``commit`` that none of its parents reach: what a push had to send."""
    out = server.git(repo, "rev-list", "--objects", commit, "--not", f"{commit}^@")
    return {line.split(" ", 1)[0].encode() for line in out.splitlines() if line}


async def test_pushes_send_only_what_the_write_created(
    git_server: GitServer, open_repo: Opener, packs: list[list[bytes]]
) -> None:
    seed = git_server.create_repo("big")
    seed_history(seed, packages=5, revisions=8)  # 40 tags, 8 commits of 5 packages each
    async with open_repo("big") as repo:
        files = {"Kptfile": kptfile("app"), "cm.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n"}
        draft = await repo.save_draft(DraftWrite("team/app", "ws", files, task=INIT))
        # blobs 3, package trees 2, team/ and the root, the commit: nothing of the 40 tags' history
        assert sorted(packs[-1]) == sorted(new_objects(git_server, "big", draft.commit))
        assert len(packs[-1]) == 8

        proposed = await repo.propose(draft)
        assert packs[-1] == []  # a ref move sends an empty pack

        published = await repo.approve(proposed, 1)
        # the merge commit and the root and team/ trees it rebuilt (the package's tree is the
        # draft's); the trees equal the draft's here, as main did not move, so only the
        # commit is new to the server, and sending the two trees again is harmless
        assert set(packs[-1]) >= new_objects(git_server, "big", published.commit)
        assert len(packs[-1]) == 3

        await repo.propose_deletion(published)
        assert packs[-1] == []
    refs = git_server.refs("big")
    assert refs["refs/tags/team/app/v1"] == refs["refs/heads/main"] == published.commit
    git_server.git("big", "fsck", "--connectivity-only")  # nothing the refs reach is missing


async def test_a_draft_on_a_stale_head_that_leads_back_to_a_tag_is_pushed_without_a_fetch_or_a_walk(
    git_server: GitServer, open_repo: Opener, packs: list[list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``git push`` would: the stale head is one untagged commit past a tag the server
    advertises, so the pack is what the write created plus that commit and what it changed."""
    seed = git_server.create_repo("behind")
    seed_history(seed, packages=3, revisions=2)
    stale = seed.commit({"catalog/p0/note.yaml": "n: 1\n"})  # untagged: only main points at it
    fetches: list[object] = []
    real_fetch = GitAdapter._fetch_blocking

    def counting(self: GitAdapter, *args: Any, **kwargs: Any) -> Any:
        fetches.append(args)
        return real_fetch(self, *args, **kwargs)

    async with open_repo("behind") as repo:
        seed.commit({"elsewhere.txt": "x\n"})  # main moves on; the cache still has ``stale``
        monkeypatch.setattr(GitAdapter, "_fetch_blocking", counting)
        draft = await repo.save_draft(DraftWrite("q", "ws", {"Kptfile": kptfile("q")}, task=INIT))
    assert fetches == []
    assert show_parents(git_server, "behind", draft.commit) == [stale]
    assert sorted(packs[-1]) == sorted(new_objects(git_server, "behind", draft.commit)
                                       | new_objects(git_server, "behind", stale))
    git_server.git("behind", "fsck", "--connectivity-only")


async def test_a_draft_on_a_branch_that_moved_is_built_on_its_new_head_without_a_walk(
    git_server: GitServer, open_repo: Opener, packs: list[list[bytes]]
) -> None:
    """The cache's branch head is no ref value on the server any more: the write fetches
    that one ref and builds on the new head, so the pack is still just what it created."""
    seed = git_server.create_repo("stale")
    seed.commit(package_files("p"))  # no tag: only main points at this commit
    async with open_repo("stale") as repo:
        moved = seed.commit({"elsewhere.txt": "x\n"}, tags=[f"other/t{n}" for n in range(20)])
        draft = await repo.save_draft(DraftWrite("q", "ws", {"Kptfile": kptfile("q")}, task=INIT))
    assert show_parents(git_server, "stale", draft.commit) == [moved]
    assert sorted(packs[-1]) == sorted(new_objects(git_server, "stale", draft.commit))
    assert git_server.refs("stale")["refs/heads/drafts/q/ws"] == draft.commit
    git_server.git("stale", "fsck", "--connectivity-only")


async def test_a_commit_on_a_base_the_server_may_lack_falls_back_to_a_complete_pack(
    git_server: GitServer, open_repo: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a parent is not an advertised ref value, the history walk decides the pack.

    Here main moves again right after the write refreshed it, so the rebuilt commit's
    parent is once more no ref value on the server when it pushes.
    """
    seed = git_server.create_repo("moved")
    seed.commit(package_files("p"))  # no tag: only main points at this commit
    walked: list[int] = []
    real = Repo.generate_pack_data

    def counting(self: Repo, *args: Any, **kwargs: Any) -> Any:
        walked.append(1)
        return real(self, *args, **kwargs)

    real_fetch = GitAdapter._fetch_blocking

    def fetch_then_move(self: GitAdapter, *args: Any, **kwargs: Any) -> Any:
        refs = real_fetch(self, *args, **kwargs)
        seed.commit({"again.txt": "y\n"})
        return refs

    monkeypatch.setattr(Repo, "generate_pack_data", counting)
    async with open_repo("moved") as repo:
        seed.commit({"elsewhere.txt": "x\n"})  # main moves on; the cache still has the old head
        monkeypatch.setattr(GitAdapter, "_fetch_blocking", fetch_then_move)
        draft = await repo.save_draft(DraftWrite("q", "ws", {"Kptfile": kptfile("q")}, task=INIT))
    assert walked == [1]
    assert git_server.refs("moved")["refs/heads/drafts/q/ws"] == draft.commit
    git_server.git("moved", "fsck", "--connectivity-only")


def objects_in_packs(path: Path) -> int:
    """How many objects the packs of a (cache) repository hold, duplicates included."""
    out = run_git("count-objects", "-v", cwd=path)
    return int(next(line.split()[1] for line in out.splitlines() if line.startswith("in-pack:")))


async def test_a_fetch_downloads_only_what_changed_and_mirrors_refs_in_one_batch(
    git_server: GitServer, cache: GitCache, open_repo: Opener, tmp_path: Path
) -> None:
    seed = git_server.create_repo("grow")
    seed_history(seed, packages=5, revisions=6)
    async with open_repo("grow") as repo:
        cached = cache.shared(git_server.url("grow")).path
        before = objects_in_packs(cached)
        seed.commit({"catalog/p0/rev.yaml": "rev: 7\n"}, message="one more", tags=["catalog/p0/v7"])
        git_server.git("grow", "tag", "-d", "catalog/p1/v1")
        for index in range(30):
            git_server.git("grow", "tag", f"extra/t{index}", "main")
        await repo.fetch()
        # one commit, its root tree, catalog/, catalog/p0/ and the new rev.yaml (plus the
        # bases a thin pack's deltas need, appended locally): not the whole history again
        assert 5 <= objects_in_packs(cached) - before <= 10 < before
        expected = git_server.refs("grow")
        assert {r.locator for r in (await repo.snapshot()).revisions if r.locator.startswith("refs/tags/catalog/p0/")} == {
            f"refs/tags/catalog/p0/v{n}" for n in range(1, 8)
        }
    # what is on disk is what the server has: a new process (a new GitCache on the same
    # directory) reads exactly the server's refs back
    reopened = GitCache(cache.root.parent)
    with Repo(str(reopened.shared(git_server.url("grow")).path)) as raw:
        assert dict(remote_view(raw)) == expected
    assert "refs/tags/catalog/p1/v1" not in expected and "refs/tags/extra/t29" in expected


async def test_a_snapshot_reads_only_changed_refs_and_equals_a_full_discovery(
    git_server: GitServer, open_repo: Opener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = git_server.create_repo("inc")
    seed_history(seed, packages=4, revisions=3)
    async with open_repo("inc", directory="catalog") as repo:
        draft = await repo.save_draft(DraftWrite("p0", "ws", {"Kptfile": kptfile("p0")}, task=INIT))
        first = await repo.snapshot()
        reads: list[str] = []
        real = _discovery._read_ref

        def counting(store: Any, history: Any, ref: str, sha: str, directory: str) -> Any:
            reads.append(ref)
            return real(store, history, ref, sha, directory)

        monkeypatch.setattr(_discovery, "_read_ref", counting)
        assert await repo.snapshot() == first and reads == []  # nothing changed: nothing read

        seed.commit({"catalog/p1/rev.yaml": "rev: 4\n"}, tags=["catalog/p1/v4"])
        git_server.git("inc", "tag", "-d", "catalog/p2/v1")
        git_server.git("inc", "update-ref", "refs/heads/deletionProposed/catalog/p3/v2", "main")
        await repo.propose(draft)
        await repo.fetch()
        second = await repo.snapshot()
        assert sorted(reads) == [  # the new and moved refs, none of the other tags
            "refs/heads/deletionProposed/catalog/p3/v2",
            "refs/heads/main",
            "refs/heads/proposed/catalog/p0/ws",
            "refs/tags/catalog/p1/v4",
        ]
        lifecycles = {r.locator: r.lifecycle for r in second.revisions}
        assert lifecycles["refs/tags/catalog/p3/v2"] == "DeletionProposed"
        assert "refs/tags/catalog/p2/v1" not in lifecycles

    fresh = GitCache(tmp_path / "another-cache")
    async with open_git_adapter(fresh, GitSpec(git_server.url("inc"), directory="catalog"), GOOD) as other:
        full = await other.snapshot()
    assert second == full


async def test_approve_builds_on_the_fresh_branch_head_fetching_only_the_refs_it_moves(
    git_server: GitServer, open_repo: Opener
) -> None:
    seed = git_server.create_repo("fresh")
    seed_history(seed, packages=3, revisions=2)
    async with open_repo("fresh") as repo:
        proposed = await repo.propose(await repo.save_draft(DraftWrite("app", "ws", {"Kptfile": kptfile("app")})))
        moved = seed.commit({"elsewhere.txt": "x\n"}, tags=[f"other/t{n}" for n in range(20)])
        published = await repo.approve(proposed, 1)
        assert show_parents(git_server, "fresh", published.commit) == [moved, proposed.commit]
        assert git_server.git("fresh", "show", f"{published.commit}:elsewhere.txt") == "x\n"
        listed = {r.locator for r in (await repo.snapshot()).revisions}
        assert "refs/tags/app/v1" in listed
        await repo.fetch()  # the unrelated tags arrive with the next sync's fetch, as before
        snap = await repo.snapshot()
    refs = git_server.refs("fresh")
    assert snap.version == _remote.refs_version(refs)
    assert refs["refs/tags/app/v1"] == refs["refs/heads/main"] == published.commit


def show_parents(server: GitServer, repo: str, commit: str) -> list[str]:
    return server.git(repo, "show", "-s", "--format=%P", commit).split()


async def test_without_the_git_command_line_fetch_snapshot_and_reads_are_the_same(
    git_server: GitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git on PATH indexes fetched packs and reads objects in bulk; dulwich alone must give the same.
    seed = git_server.create_repo("both")
    seed_history(seed, packages=3, revisions=2)
    seed.commit({"catalog/p1/rev.yaml": "rev: 9\n"}, tags=["catalog/p1/v9"])
    results = []
    for git in (_cache.GIT, None):
        monkeypatch.setattr(_cache, "GIT", git)
        monkeypatch.setattr(_batch, "GIT", git)
        indexed: list[int] = []
        real = _cache.index_pack_with_git

        def counting(store: Any, read: Any) -> Any:
            indexed.append(1)
            return real(store, read)

        monkeypatch.setattr(_cache, "index_pack_with_git", counting)
        cache = GitCache(tmp_path / f"cache-{git is not None}")
        async with open_git_adapter(cache, GitSpec(git_server.url("both"), directory="catalog"), GOOD) as repo:
            snapshot = await repo.snapshot()
            files = await repo.read_packages(list(snapshot.revisions))
        assert bool(indexed) == (git is not None)
        results.append((snapshot, files))
    assert results[0] == results[1]
    snapshot, files = results[0]
    assert len(snapshot.revisions) == 3 + 3 * 2 + 1
    assert {f["rev.yaml"] for r, f in zip(snapshot.revisions, files, strict=True) if r.package == "p1"} == {
        "rev: 1\n", "rev: 2\n", "rev: 9\n"}
