"""Failures at the adapter edge: clear errors from the one tree, and never a credential in them."""

from __future__ import annotations

import logging
import socket
import traceback
from pathlib import Path

import pytest

from porch_embedded.errors import BadRequest, PackageContentInvalid, RepositoryAuthFailed, RepositoryUnavailable
from porch_embedded.vcs import Credentials, DraftWrite, GitCache, GitSpec, GitStorage, open_git_adapter
from tests.parts.git_server import TOKEN, USERNAME, GitServer, package_files
from tests.vcs.conftest import Opener

WRONG_PASSWORD = "wrong-Pa55-do-not-print-9137"
WRONG_TOKEN = "wrong-token-do-not-print-5521"


def full_text(exc: BaseException) -> str:
    """Everything a log line or a client could ever see of an exception: message, repr, chain."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(getattr(exc, "__cause__", None))


async def test_wrong_credentials_name_the_secret_and_never_print_it(
    git_server: GitServer, open_repo: Opener, caplog: pytest.LogCaptureFixture
) -> None:
    git_server.create_repo("locked")
    caplog.set_level(logging.DEBUG)
    for bad in (Credentials(USERNAME, WRONG_PASSWORD), Credentials(bearer_token=WRONG_TOKEN)):
        with pytest.raises(RepositoryAuthFailed) as caught:
            async with open_repo("locked", credentials=bad, secret_name="locked-auth"):
                pass
        message = caught.value.message
        assert "refused the credentials of Secret 'locked-auth'" in message
        assert caught.value.code == 503
        for secret in (WRONG_PASSWORD, WRONG_TOKEN):
            assert secret not in full_text(caught.value)
            assert secret not in caplog.text
        assert WRONG_PASSWORD not in repr(bad) and WRONG_TOKEN not in str(bad)

    with pytest.raises(RepositoryAuthFailed, match="set spec.git.secretRef"):
        async with open_repo("locked", credentials=None):
            pass


async def test_credentials_in_the_url_are_used_and_never_shown(git_server: GitServer, cache: GitCache) -> None:
    git_server.create_repo("inurl")
    url = git_server.url("inurl").replace("http://", f"http://{USERNAME}:{WRONG_PASSWORD}@")
    with pytest.raises(RepositoryAuthFailed) as caught:
        async with open_git_adapter(cache, GitSpec(url)):
            pass
    assert WRONG_PASSWORD not in full_text(caught.value)
    assert USERNAME not in caught.value.message


async def test_bearer_token_is_accepted(git_server: GitServer, open_repo: Opener) -> None:
    git_server.create_repo("tok").commit(package_files("p"), tags=["p/v1"])
    async with open_repo("tok", credentials=Credentials(bearer_token=TOKEN)) as repo:
        assert [r.workspace for r in (await repo.snapshot()).revisions] == ["main", "v1"]


async def test_a_dead_server_is_repository_unavailable(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = GitCache(tmp_path / "cache")
    with pytest.raises(RepositoryUnavailable, match="git server failed while fetching") as caught:
        async with open_git_adapter(cache, GitSpec(f"http://127.0.0.1:{port}/x.git"), Credentials("u", WRONG_PASSWORD)):
            pass
    assert caught.value.code == 503
    assert WRONG_PASSWORD not in full_text(caught.value)


async def test_a_file_that_is_not_utf8_is_a_clear_error(git_server: GitServer, open_repo: Opener) -> None:
    seed = git_server.create_repo("binary")
    seed.commit(package_files("pkg"), tags=["pkg/v1"])
    (seed.work / "pkg" / "logo.bin").write_bytes(b"\x89PNG\xff\x00")
    seed.commit({}, tags=["pkg/v2"])
    async with open_repo("binary") as repo:
        v2 = next(r for r in (await repo.snapshot()).revisions if r.workspace == "v2")
        with pytest.raises(PackageContentInvalid, match=r"'logo.bin' is not UTF-8 text \(byte 0x89 at offset 0\)"):
            await repo.read_package(v2)


async def test_registrations_of_one_url_share_one_cache(git_server: GitServer, cache: GitCache, open_repo: Opener) -> None:
    seed = git_server.create_repo("shared")
    seed.commit({**package_files("a/x"), **package_files("b/y")}, tags=["a/x/v1", "b/y/v1"])
    async with open_repo("shared", directory="a") as one, open_repo("shared", directory="b") as two:
        assert [r.package for r in (await one.snapshot()).revisions] == ["x", "x"]
        assert [r.package for r in (await two.snapshot()).revisions] == ["y", "y"]
        draft = await one.save_draft(DraftWrite("x", "w", {"Kptfile": "k: 1\n"}))
        assert draft.locator in {r.locator for r in (await one.snapshot()).revisions}
    assert len(list((cache.root).iterdir())) == 1


def test_a_git_spec_without_a_url_or_with_a_wrong_type_is_refused_naming_the_field(cache: GitCache) -> None:
    storage = GitStorage(cache)

    def repository(git: dict[str, object]) -> dict[str, object]:
        return {"metadata": {"name": "r"}, "spec": {"type": "git", "git": git}}

    with pytest.raises(BadRequest, match="spec.git.repo must be the git repository's URL"):
        storage.parse(repository({"repo": " "}))
    with pytest.raises(BadRequest, match="spec.git.branch must be a string, not int"):
        storage.parse(repository({"repo": "http://127.0.0.1:1/x.git", "branch": 3}))
    with pytest.raises(BadRequest, match="spec.git.secretRef must be an object"):
        storage.parse(repository({"repo": "http://127.0.0.1:1/x.git", "secretRef": "auth"}))
    parsed = storage.parse(repository({"repo": "http://127.0.0.1:1/x.git", "directory": "/a/b/",
                                       "secretRef": {"name": "auth"}, "createBranch": True}))
    assert (parsed.branch, parsed.directory, parsed.secret_name, parsed.create_branch) == ("main", "a/b", "auth", True)
