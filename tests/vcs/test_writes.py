"""Writes: every lifecycle move is one push, and leaves exactly Porch's git layout.

Each step is checked on the server's bare repository with the git CLI.
"""

from __future__ import annotations

import json

import pytest

from porch_embedded.errors import RefConflict, RepositoryNotFound
from porch_embedded.vcs import Author, DraftWrite
from tests.parts.git_server import GitServer, Seeder, kptfile, package_files
from tests.vcs.conftest import Opener

INIT = {"type": "init", "init": {"description": "sample description"}}
PORCH = "Package Orchestration Service <porch@kpt.dev>"


def files_of(name: str, note: str = "v") -> dict[str, str]:
    return {"Kptfile": kptfile(name), "cm.yaml": f"note: {note}\n", "sub/dir/a.yaml": "a: 1\n"}


def show(server: GitServer, repo: str, rev: str, fmt: str) -> str:
    return server.git(repo, "show", "-s", f"--format={fmt}", rev).rstrip("\n")


def heads_and_tags(server: GitServer, repo: str) -> set[str]:
    return set(server.refs(repo))


def trailer(message: str) -> dict[str, object]:
    lines = [line for line in message.splitlines() if line.startswith("kpt:")]
    assert len(lines) == 1, message
    return json.loads(lines[0][4:])


async def test_draft_propose_approve_layout(git_server: GitServer, open_repo: Opener) -> None:
    seed = git_server.create_repo("life")
    seed.commit(package_files("other"), message="unrelated package")
    main_before = git_server.git("life", "rev-parse", "main").strip()
    async with open_repo("life", directory="") as repo:
        draft = await repo.save_draft(
            DraftWrite("team/app", "ws1", files_of("app"), task=INIT, author=Author.from_user("alice"))
        )
        assert repo.self_lock(draft)["git"]["ref"] == "drafts/team/app/ws1"
        assert repo.self_lock(draft) == {"type": "git", "git": {  # Porch's selfLock: the short ref
            "repo": git_server.url("life"), "directory": "team/app", "ref": "drafts/team/app/ws1",
            "commit": draft.commit}}
        assert git_server.refs("life")["refs/heads/drafts/team/app/ws1"] == draft.commit
        assert show(git_server, "life", draft.commit, "%P") == main_before  # based on the branch HEAD
        assert show(git_server, "life", draft.commit, "%an <%ae>|%cn <%ce>") == f"alice <alice>|{PORCH}"
        message = show(git_server, "life", draft.commit, "%B")
        assert message.startswith("Creating new empty revision\n\nkpt:")
        assert trailer(message) == {"package": "team/app", "workspaceName": "ws1", "revision": "0", "task": INIT}
        assert git_server.git("life", "show", f"{draft.commit}:team/app/cm.yaml") == "note: v\n"
        assert git_server.git("life", "show", f"{draft.commit}:other/Kptfile")  # rest of the tree kept

        edited = await repo.save_draft(
            DraftWrite("team/app", "ws1", {"Kptfile": kptfile("app"), "new.yaml": "n: 2\n"},
                       task={"type": "render"}, parent=draft)
        )
        assert show(git_server, "life", edited.commit, "%P") == draft.commit  # commits chain on the draft
        assert show(git_server, "life", edited.commit, "%s") == "Rendering package"
        listed = git_server.git("life", "ls-tree", "-r", "--name-only", edited.commit, "team/app").split()
        assert listed == ["team/app/Kptfile", "team/app/new.yaml"]  # the package directory is replaced whole
        assert edited.tasks == (INIT,)

        proposed = await repo.propose(edited)
        refs = git_server.refs("life")
        assert "refs/heads/drafts/team/app/ws1" not in refs
        assert refs["refs/heads/proposed/team/app/ws1"] == edited.commit

        rejected = await repo.reject(proposed)
        refs = git_server.refs("life")
        assert rejected.lifecycle == "Draft" and "refs/heads/proposed/team/app/ws1" not in refs
        proposed = await repo.propose(rejected)

        snap = await repo.snapshot()
        listed_rev = next(r for r in snap.revisions if r.workspace == "ws1")
        assert (listed_rev.lifecycle, listed_rev.tasks) == ("Proposed", (INIT,))

        assert await repo.highest_revision("team/app") == 0
        published = await repo.approve(proposed, 1, author=Author.from_user("bob"))

    refs = git_server.refs("life")
    merge = refs["refs/heads/main"]
    assert published.commit == merge and refs["refs/tags/team/app/v1"] == merge
    assert not any(r.startswith(("refs/heads/drafts/", "refs/heads/proposed/")) for r in refs)
    assert show(git_server, "life", merge, "%P") == f"{main_before} {edited.commit}"  # merge [HEAD, draft]
    assert show(git_server, "life", merge, "%an <%ae>|%cn <%ce>") == f"bob <bob>|{PORCH}"
    message = show(git_server, "life", merge, "%B")
    assert message.startswith("Approving package revision team/app/1\n\nkpt:")
    assert trailer(message) == {"package": "team/app", "workspaceName": "ws1", "revision": "1"}
    assert git_server.git("life", "show", f"{merge}:team/app/new.yaml") == "n: 2\n"
    assert git_server.git("life", "show", f"{merge}:other/cm.yaml")  # other packages untouched
    published_ref = repo.self_lock(published)["git"]["ref"]
    assert (published.revision, published.lifecycle, published_ref) == (1, "Published", "team/app/v1")
    assert published.published_by == "bob"

    async with open_repo("life") as fresh:  # a new registration recovers everything from git alone
        snap = await fresh.snapshot()
        assert await fresh.highest_revision("team/app") == 1
    v1 = next(r for r in snap.revisions if r.locator == "refs/tags/team/app/v1")
    assert (v1.workspace, v1.revision, v1.tasks, v1.published_by) == ("ws1", 1, (INIT,), "bob")
    placeholder = next(r for r in snap.revisions if r.package == "team/app" and r.revision == -1)
    assert placeholder.workspace == "main"


async def test_repository_author_overrides_and_porch_is_the_default(git_server: GitServer, open_repo: Opener) -> None:
    git_server.create_repo("auth")
    async with open_repo("auth", author="Repo Bot", email="bot@example.com") as repo:
        d = await repo.save_draft(DraftWrite("p", "w", files_of("p"), task=INIT, author=Author.from_user("alice")))
        assert show(git_server, "auth", d.commit, "%an <%ae>") == "Repo Bot <bot@example.com>"
    async with open_repo("auth") as repo:
        d2 = await repo.save_draft(DraftWrite("q", "w", files_of("q")))
        assert show(git_server, "auth", d2.commit, "%an <%ae>|%s") == f"{PORCH}|Intermediate commit"


async def test_stale_writes_are_conflicts(git_server: GitServer, open_repo: Opener) -> None:
    git_server.create_repo("stale")
    async with open_repo("stale") as repo:
        draft = await repo.save_draft(DraftWrite("p", "w", files_of("p"), task=INIT))
        with pytest.raises(RefConflict, match="already exists"):
            await repo.save_draft(DraftWrite("p", "w", files_of("p"), task=INIT))
        newer = await repo.save_draft(DraftWrite("p", "w", files_of("p", "2"), parent=draft))
        with pytest.raises(RefConflict, match="re-read"):
            await repo.save_draft(DraftWrite("p", "w", files_of("p", "3"), parent=draft))  # stale parent
        git_server.git("stale", "update-ref", "refs/heads/drafts/p/w", draft.commit)  # moved back outside
        with pytest.raises(RefConflict):
            await repo.approve(newer, 1)
        assert "refs/tags/p/v1" not in git_server.refs("stale")


async def test_approve_retries_after_losing_a_race_on_the_branch(git_server: GitServer, open_repo: Opener) -> None:
    seed = git_server.create_repo("race")
    async with open_repo("race") as repo:
        proposed = await repo.propose(await repo.save_draft(DraftWrite("pkg", "ws", files_of("pkg"), task=INIT)))
        raced: list[str] = []

        def external_push(name: str) -> None:
            """Lands a commit on main after the adapter fetched, before its push is applied."""
            raced.append(Seeder(git_server, name, seed.work).commit({"elsewhere/file.txt": "x\n"}, message="racer"))

        git_server.receive_pack_hooks.append(external_push)
        published = await repo.approve(proposed, 1)

    assert raced, "the hook did not run"
    refs = git_server.refs("race")
    assert refs["refs/heads/main"] == published.commit == refs["refs/tags/pkg/v1"]
    assert show(git_server, "race", published.commit, "%P") == f"{raced[0]} {proposed.commit}"
    assert git_server.git("race", "show", f"{published.commit}:elsewhere/file.txt") == "x\n"  # racer kept
    assert "refs/heads/proposed/pkg/ws" not in refs


async def test_deletion_proposal_restore_and_delete(git_server: GitServer, open_repo: Opener) -> None:
    seed = git_server.create_repo("del")
    async with open_repo("del") as repo:
        d = await repo.save_draft(DraftWrite("pkg", "ws", files_of("pkg"), task=INIT))
        v1 = await repo.approve(await repo.propose(d), 1)

        marked = await repo.propose_deletion(v1)
        assert marked.lifecycle == "DeletionProposed"
        assert git_server.refs("del")["refs/heads/deletionProposed/pkg/v1"] == v1.commit
        found = {r.locator: r for r in (await repo.snapshot()).revisions}
        assert found["refs/tags/pkg/v1"].lifecycle == "DeletionProposed"

        restored = await repo.restore(marked)
        assert restored.lifecycle == "Published"
        assert "refs/heads/deletionProposed/pkg/v1" not in git_server.refs("del")

        await repo.delete(await repo.propose_deletion(restored))
        refs = git_server.refs("del")
        assert "refs/tags/pkg/v1" not in refs and "refs/heads/deletionProposed/pkg/v1" not in refs
        assert git_server.git("del", "show", "main:pkg/Kptfile")  # a tagged revision's delete keeps the package

        snap = await repo.snapshot()
        placeholder = next(r for r in snap.revisions if r.revision == -1 and r.package == "pkg")
        marked_main = await repo.propose_deletion(placeholder)
        assert "refs/heads/deletionProposed/pkg/main" in git_server.refs("del")
        seed.commit({"unrelated.txt": "u\n"})  # main moves on after the snapshot: delete still lands
        await repo.delete(marked_main, author=Author.from_user("carol"))
        refs = git_server.refs("del")
        assert "refs/heads/deletionProposed/pkg/main" not in refs
        assert show(git_server, "del", "main", "%s|%an") == "Delete pkg|carol"
        assert "pkg" not in git_server.git("del", "ls-tree", "--name-only", "main").split()

        draft = await repo.save_draft(DraftWrite("gone", "w", files_of("gone"), task=INIT))
        await repo.delete(draft)
        assert "refs/heads/drafts/gone/w" not in git_server.refs("del")


async def test_missing_branch_is_not_found_unless_create_branch(git_server: GitServer, open_repo: Opener) -> None:
    git_server.create_repo("empty", branch=None)
    with pytest.raises(RepositoryNotFound, match="branch 'main' does not exist"):
        async with open_repo("empty"):
            pass
    async with open_repo("empty", create_branch=True) as repo:
        await repo.check()
    assert show(git_server, "empty", "main", "%s|%an <%ae>|%P") == f"Initial commit: Creating main branch|{PORCH}|"
    assert git_server.git("empty", "ls-tree", "--name-only", "main").split() == ["README.md"]
    with pytest.raises(RepositoryNotFound, match="no git repository"):
        async with open_repo("does-not-exist"):
            pass
