"""The package diff: file level, resource level (a moved resource is one change), unified and split views."""

from __future__ import annotations

import difflib

from porch_embedded.kpt import MAX_DIFF_LINES, ResourceKey, check_package, diff_packages, diff_text

KPTFILE = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n"
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: prod\ndata:\n  color: blue\n"
DEPLOY = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n")


def test_unified_view_matches_difflib_hunks_and_counts() -> None:
    old = "".join(f"line {i}\n" for i in range(1, 21))
    new = old.replace("line 3\n", "line three\n").replace("line 15\n", "") + "line 21\n"
    diff = diff_text(old, new)
    expected = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "a", "b"))
    assert diff.unified() == expected
    assert (diff.added, diff.removed) == (2, 2)
    assert [h.header for h in diff.hunks] == ["@@ -1,6 +1,6 @@", "@@ -12,9 +12,9 @@"]


def test_split_view_pairs_each_removed_line_with_its_replacement() -> None:
    diff = diff_text("a\nb\nc\nd\n", "a\nB\nC\nX\nd\n")
    (hunk,) = diff.hunks
    rows = [(r.left.text if r.left else None, r.right.text if r.right else None) for r in hunk.split_rows()]
    assert rows == [("a", "a"), ("b", "B"), ("c", "C"), (None, "X"), ("d", "d")]
    numbers = [(r.left.old if r.left else None, r.right.new if r.right else None) for r in hunk.split_rows()]
    assert numbers == [(1, 1), (2, 2), (3, 3), (None, 4), (4, 5)]


def test_added_and_removed_files_diff_against_nothing() -> None:
    diff = diff_text("", "x\ny\n")
    assert diff.unified() == "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n"
    assert diff_text("x\n", "").unified() == "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n"


def test_a_lost_final_newline_is_a_change() -> None:
    diff = diff_text("a\nb\n", "a\nb")
    assert diff.changed and diff.removed == 1 and diff.added == 1
    assert "(no newline at end of file)" in diff.unified()


def test_crlf_line_ends_are_a_change_not_an_empty_diff() -> None:
    diff = diff_text("a\nb\n", "a\r\nb\r\n")
    assert diff.changed and (diff.added, diff.removed) == (2, 2)


def test_a_huge_file_is_reported_without_a_line_diff() -> None:
    big = "x\n" * MAX_DIFF_LINES
    diff = diff_text(big, big + "y\n")
    assert diff.too_large and not diff.hunks and diff.changed and diff.added == MAX_DIFF_LINES + 1


def test_package_diff_by_file() -> None:
    old = {"Kptfile": KPTFILE, "config.yaml": CONFIG, "README.md": "hello\n"}
    new = {"Kptfile": KPTFILE, "config.yaml": CONFIG.replace("blue", "green"), "deploy.yaml": DEPLOY}
    diff = diff_packages(old, new)
    assert [(f.path, f.status) for f in diff.files] == [
        ("README.md", "removed"), ("config.yaml", "modified"), ("deploy.yaml", "added")]
    assert diff.unchanged_files == 1
    assert (diff.added, diff.removed, diff.size) == (1 + 6, 1 + 1, 9)


def test_a_moved_resource_is_one_change_not_a_delete_and_an_add() -> None:
    old = {"Kptfile": KPTFILE, "config.yaml": CONFIG, "deploy.yaml": DEPLOY}
    new = {"Kptfile": KPTFILE, "prod/settings.yaml": CONFIG.replace("blue", "red"), "deploy.yaml": DEPLOY,
           "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"}
    diff = diff_packages(old, new)
    by_key = {str(r.key): r for r in diff.resources}
    moved = by_key["v1 ConfigMap prod/settings"]
    assert (moved.status, moved.old_path, moved.new_path) == ("moved", "config.yaml", "prod/settings.yaml")
    assert [(line.kind, line.text) for h in moved.diff.hunks for line in h.lines if line.kind != "context"] == [
        ("removed", "  color: blue"), ("added", "  color: red")]
    assert by_key["v1 Service web"].status == "added"
    assert dict(diff.counts) == {"added": 1, "removed": 0, "modified": 0, "moved": 1}
    assert diff.unchanged_resources == 2  # the Kptfile and the Deployment
    # by file the same change is a removal and an addition
    assert {(f.path, f.status) for f in diff.files} >= {("config.yaml", "removed"), ("prod/settings.yaml", "added")}


def test_resources_are_keyed_by_api_version_kind_namespace_and_name() -> None:
    other_ns = CONFIG.replace("namespace: prod", "namespace: dev")
    diff = diff_packages({"c.yaml": CONFIG}, {"c.yaml": other_ns})
    assert [(r.key, r.status) for r in diff.resources] == [
        (ResourceKey("v1", "ConfigMap", "dev", "settings"), "added"),
        (ResourceKey("v1", "ConfigMap", "prod", "settings"), "removed")]


def test_resource_diff_ignores_a_reordering_of_documents_within_a_file() -> None:
    old = {"all.yaml": CONFIG + "---\n" + DEPLOY}
    new = {"all.yaml": DEPLOY + "---\n" + CONFIG}
    diff = diff_packages(old, new)
    assert diff.files and not diff.resources and diff.unchanged_resources == 2


def test_an_unreadable_side_still_gets_a_file_diff() -> None:
    diff = diff_packages({"c.yaml": CONFIG}, {"c.yaml": "a: [\n"})
    assert diff.files[0].status == "modified"
    assert diff.resource_error and "new side" in diff.resource_error and "c.yaml" in diff.resource_error


def test_check_package_lists_every_problem_with_kpts_messages() -> None:
    files = {
        "Kptfile": KPTFILE + "pipeline:\n  mutator: []\n",
        "bad.yaml": "a: [\n",
        "notkrm.yaml": "apiVersion: v1\nkind: ConfigMap\n---\nfoo: bar\n",
        "good.yaml": CONFIG,
        "README.md": "a: [\n",
    }
    problems = check_package(files)
    assert [(p.path, p.field) for p in problems] == [
        ("Kptfile", "pipeline.mutator"), ("bad.yaml", ""), ("notkrm.yaml", ""), ("notkrm.yaml", "")]
    assert problems[0].message == "Kptfile is invalid: field mutator not found in type v1.Pipeline"
    assert problems[1].message.startswith("yaml: line 2:")
    assert problems[2].message == "document 1: not a KRM resource: resource must have `metadata.name`"
    assert problems[3].message == "document 2: not a KRM resource: resource must have `apiVersion`"
    assert check_package({"Kptfile": KPTFILE, "good.yaml": CONFIG}) == []
