"""Discovery: packages, tags, branches and drafts mapped to revisions as Porch maps them."""

from __future__ import annotations

from porch_embedded.vcs import Revision
from tests.parts.git_server import GitServer, package_files
from tests.vcs.conftest import Opener


def by_key(revisions: tuple[Revision, ...]) -> dict[tuple[str, str], Revision]:
    return {(r.package, r.workspace): r for r in revisions}


async def test_discovers_packages_tags_branches_and_drafts(git_server: GitServer, open_repo: Opener) -> None:
    seed = git_server.create_repo("blueprints")
    v1 = seed.commit({**package_files("basens"), **package_files("apps/web")}, tags=["basens/v1", "apps/web/v1"])
    seed.commit(package_files("basens", extra={"extra.yaml": "a: 1\n"}), tags=["basens/v2", "basens/feature-x"])
    seed.commit({"basens/sub/Kptfile": package_files("sub")["sub/Kptfile"]}, message="a subpackage")
    seed.commit(package_files("draftpkg"), branch="drafts/draftpkg/ws1")
    seed.commit(package_files("proppkg"), branch="proposed/proppkg/ws2")
    seed.push_ref(v1, "refs/heads/deletionProposed/apps/web/v1")
    seed.push_ref(v1, "refs/tags/v1")  # a tag without a package path is ignored
    seed.push_ref(v1, "refs/tags/nopkg/v1")  # a tag whose path has no Kptfile is skipped with a warning
    head = git_server.git("blueprints", "rev-parse", "refs/heads/main").strip()

    async with open_repo("blueprints") as repo:
        snap = await repo.snapshot()

    assert snap.branch_commit == head
    assert snap.packages == ("apps/web", "basens")
    found = by_key(snap.revisions)
    assert set(found) == {
        ("apps/web", "main"), ("basens", "main"),
        ("apps/web", "v1"), ("basens", "v1"), ("basens", "v2"), ("basens", "feature-x"),
        ("draftpkg", "ws1"), ("proppkg", "ws2"),
    }
    placeholder = found["basens", "main"]
    assert (placeholder.revision, placeholder.lifecycle, placeholder.locator) == (-1, "Published", "refs/heads/main")
    assert placeholder.commit == head and repo.self_lock(placeholder)["git"]["ref"] == "main"
    assert placeholder.placeholder and not any(r.placeholder for r in snap.revisions if r.workspace != "main")
    assert found["basens", "v2"].revision == 2 and found["basens", "v2"].lifecycle == "Published"
    assert found["basens", "feature-x"].revision == -1
    assert found["apps/web", "v1"].lifecycle == "DeletionProposed"
    assert found["apps/web", "v1"].path == "apps/web"
    assert found["basens", "v1"].commit == v1
    assert found["basens", "v1"].published_by == "external@example.com"
    assert found["basens", "v1"].published_at is not None
    draft, proposed = found["draftpkg", "ws1"], found["proppkg", "ws2"]
    draft_ref = repo.self_lock(draft)["git"]["ref"]
    assert (draft.lifecycle, draft.revision, draft_ref) == ("Draft", 0, "drafts/draftpkg/ws1")
    assert (proposed.lifecycle, proposed.revision) == ("Proposed", 0)
    assert not any(r.package.startswith("basens/sub") for r in snap.revisions)  # packages do not nest
    assert any("nopkg/v1" in w for w in snap.warnings)


async def test_packages_are_found_only_under_the_registered_directory(git_server: GitServer, open_repo: Opener) -> None:
    seed = git_server.create_repo("mono")
    seed.commit(
        {**package_files("catalog/team-a/db"), **package_files("catalog/cache"), **package_files("other/pkg")},
        tags=["catalog/team-a/db/v3", "other/pkg/v1"],
    )
    seed.commit(package_files("catalog/new"), branch="drafts/catalog/new/first")
    seed.commit(package_files("other/x"), branch="drafts/other/x/first")

    async with open_repo("mono", directory="/catalog/") as repo:
        snap = await repo.snapshot()
        assert await repo.highest_revision("team-a/db") == 3
        assert await repo.highest_revision("cache") == 0

    found = by_key(snap.revisions)
    assert set(found) == {("team-a/db", "main"), ("cache", "main"), ("team-a/db", "v3"), ("new", "first")}
    assert found["team-a/db", "v3"].path == "catalog/team-a/db"
    assert found["team-a/db", "v3"].revision == 3
    assert snap.packages == ("cache", "team-a/db")


async def test_external_tag_changes_version_and_appears_in_discovery(git_server: GitServer, open_repo: Opener) -> None:
    seed = git_server.create_repo("ext")
    sha = seed.commit(package_files("pkg"), tags=["pkg/v1"])
    async with open_repo("ext") as repo:
        before = await repo.version()
        assert before == await repo.version()  # unchanged repository, same version
        assert (await repo.snapshot()).version == before

        seed.annotated_tag("pkg/v2", sha)

        after = await repo.version()
        assert after != before
        assert await repo.highest_revision("pkg") == 1  # the cache has not seen it yet
        assert await repo.fetch() == after
        snap = await repo.snapshot()
        assert snap.version == after
        v2 = by_key(snap.revisions)["pkg", "v2"]
        assert (v2.revision, v2.commit) == (2, sha)  # the annotated tag is peeled to its commit
        assert await repo.highest_revision("pkg") == 2

        git_server.git("ext", "tag", "-d", "pkg/v1")  # deleted on the server
        await repo.fetch()
        assert ("pkg", "v1") not in by_key((await repo.snapshot()).revisions)  # pruned


async def test_reads_files_of_a_revision(git_server: GitServer, open_repo: Opener) -> None:
    seed = git_server.create_repo("files")
    files = package_files("pkg", extra={"deep/dir/x.yaml": "x: 1\n", "README.md": "héllo ✓\n"})
    seed.commit(files, tags=["pkg/v1"])
    async with open_repo("files") as repo:
        rev = by_key((await repo.snapshot()).revisions)["pkg", "v1"]
        got = await repo.read_package(rev)
    assert got == {name.removeprefix("pkg/"): text for name, text in files.items()}
