"""Porch's ref names, commit messages and ``kpt:`` trailers, byte for byte (pure functions)."""

from __future__ import annotations

import inspect

from porch_embedded.vcs import GitAdapter, RepositoryAdapter
from porch_embedded.vcs import _layout as layout
from porch_embedded.vcs._layout import Annotation


def test_ref_names_follow_porch() -> None:
    path = layout.full_path("/blueprints/", "team/app")
    assert path == "blueprints/team/app"
    assert layout.draft_ref(path, "ws") == "refs/heads/drafts/blueprints/team/app/ws"
    assert layout.proposed_ref(path, "ws") == "refs/heads/proposed/blueprints/team/app/ws"
    assert layout.tag_ref(path, 3) == "refs/tags/blueprints/team/app/v3"
    assert layout.deletion_proposed_ref(path, "v3") == "refs/heads/deletionProposed/blueprints/team/app/v3"
    assert layout.parse_draft_ref("refs/heads/drafts/a/b/ws") == ("Draft", "a/b", "ws")
    assert layout.parse_draft_ref("refs/heads/proposed/a/ws") == ("Proposed", "a", "ws")
    assert layout.parse_draft_ref("refs/heads/drafts/nows") is None
    assert layout.parse_tag_ref("refs/tags/a/b/v1") == ("a/b", "v1")
    assert layout.parse_tag_ref("refs/tags/v1") is None
    assert [layout.short_ref(r) for r in ("refs/heads/drafts/a/ws", "refs/tags/a/v1", "refs/heads/main")] == [
        "drafts/a/ws", "a/v1", "main"]
    shorts = ("drafts/a/ws", "proposed/a/ws", "deletionProposed/a/v1", "main", "a/v1", "a/feature", "dev")
    assert [layout.ref_of_short(s, "main") for s in shorts] == [
        "refs/heads/drafts/a/ws", "refs/heads/proposed/a/ws", "refs/heads/deletionProposed/a/v1",
        "refs/heads/main", "refs/tags/a/v1", "refs/tags/a/feature", "refs/tags/dev"]
    assert [layout.revision_of_tag(v) for v in ("v1", "v12", "v0", "1", "v1.2", "feature")] == [1, 12, -1, -1, -1, -1]
    assert layout.in_directory("catalog/x", "catalog") and not layout.in_directory("catalogue/x", "catalog")
    assert layout.relative_package("catalog/team/x", "/catalog/") == "team/x"


def test_commit_message_and_trailer_are_porchs() -> None:
    task = {"type": "init", "init": {"description": "a <b> & c"}}
    message = layout.annotate(layout.message_for_task(task), Annotation("up/my-pkg", "ws1", "0", task))
    assert message == (
        "Creating new empty revision\n\n"
        'kpt:{"package":"up/my-pkg","workspaceName":"ws1","revision":"0",'
        '"task":{"type":"init","init":{"description":"a \\u003cb\\u003e \\u0026 c"}}}\n'
    )
    assert layout.annotate(layout.approval_message("up/my-pkg", 1), Annotation("up/my-pkg", "ws1", "1")) == (
        'Approving package revision up/my-pkg/1\n\nkpt:{"package":"up/my-pkg","workspaceName":"ws1","revision":"1"}\n'
    )
    assert layout.parse_annotations(message) == [Annotation("up/my-pkg", "ws1", "0", task)]
    several = 'x\n\nkpt:{"package":"a"}\n  kpt:{"package":"b","task":{"type":"clone"}}\nkpt:not json\nkpt:[1]\n'
    assert [a.package for a in layout.parse_annotations(several)] == ["a", "b"]
    assert [layout.message_for_task(t) for t in (None, {"type": "clone"}, {"type": "edit"}, {"type": "upgrade"})] == [
        "Intermediate commit",
        "Creating new revision by cloning",
        "Creating new revision by copying previous revision",
        "Upgrading revision",
    ]


def test_git_adapter_implements_every_protocol_method() -> None:
    wanted = {n for n, _ in inspect.getmembers(RepositoryAdapter, inspect.isfunction) if not n.startswith("_")}
    for name in wanted:
        ours = getattr(GitAdapter, name)
        # the protocol's I/O is async, and only its pure answers (locks, placeholder) are plain
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(getattr(RepositoryAdapter, name)), name
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(getattr(RepositoryAdapter, name)).parameters
        ), name
