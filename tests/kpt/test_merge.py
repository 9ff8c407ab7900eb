"""kpt's three-way package merge (kpt.md §5), driven by the fixtures in tests/kpt/merge/.

Each fixture names its ``source`` (the kpt test or test data it reproduces, or "ours"),
a ``strategy``, the ``original`` (old upstream), ``updated`` (new upstream) and ``local``
package trees as ``{path: text}``, and either the exact ``expected`` tree (a golden: it
matches byte for byte or fails) or the ``error`` message kpt gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from porch_embedded.errors import Invalid, MergeConflict
from porch_embedded.kpt import STRATEGIES, merge_package
from porch_embedded.kpt._resource_merge import diff3

CASES = Path(__file__).parent / "merge"


def _fixtures() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        case = yaml.safe_load(path.read_text())
        params.append(pytest.param(case, id=path.stem))
    return params


@pytest.mark.parametrize("case", _fixtures())
def test_fixture(case: dict[str, Any]) -> None:
    assert case["source"], "every case names the kpt test or data it reproduces, or says ours"
    inputs = (case["original"], case["updated"], case["local"], case["strategy"])
    if "error" in case:
        with pytest.raises(MergeConflict) as caught:
            merge_package(*inputs)
        assert case["error"] in caught.value.message
        assert caught.value.code == 422
        return
    assert merge_package(*inputs) == case["expected"]


def test_every_strategy_has_a_fixture() -> None:
    used = {yaml.safe_load(p.read_text())["strategy"] for p in CASES.glob("*.yaml")}
    assert used == set(STRATEGIES)


def test_strategies_are_spelled_as_porch_spells_them() -> None:
    assert STRATEGIES == ("resource-merge", "fast-forward", "force-delete-replace", "copy-merge")


def _cm(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {value}\n"


KPTFILE = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n"


def _merge_one(original: str, updated: str, local: str) -> str:
    """The merged text of one resource file ``a.yaml`` of a package."""
    trees = ({"Kptfile": KPTFILE, "a.yaml": text} for text in (original, updated, local))
    return merge_package(*trees)["a.yaml"]


def test_unknown_strategy_is_invalid_and_names_the_valid_ones() -> None:
    tree = {"Kptfile": KPTFILE}
    with pytest.raises(Invalid) as caught:
        merge_package(tree, tree, tree, "rebase")
    assert not isinstance(caught.value, MergeConflict)
    assert "'rebase'" in caught.value.message and "resource-merge, fast-forward" in caught.value.message


def test_empty_strategy_means_resource_merge() -> None:
    original = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1")}
    updated = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v2")}
    local = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1"), "mine.yaml": _cm("b", "x")}
    assert merge_package(original, updated, local, "") == merge_package(original, updated, local)
    assert merge_package(original, updated, local, "")["cm.yaml"] == _cm("a", "v2")


def test_a_file_no_side_changed_is_kept_byte_for_byte() -> None:
    """ours: kpt would re-serialise it; we keep the author's formatting."""
    odd = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: odd   # four-space indent\ndata: {k: v}\n"
    tree = {"Kptfile": KPTFILE, "odd.yaml": odd}
    updated = {**tree, "cm.yaml": _cm("new", "v")}
    merged = merge_package(tree, updated, tree)
    assert merged["odd.yaml"] == odd
    assert merged["cm.yaml"] == _cm("new", "v")


def test_a_resource_only_local_changed_keeps_its_text() -> None:
    """ours: the fast path proves the merge changes nothing and keeps local's text as written."""
    original = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1") + "---\n" + _cm("b", "v1")}
    updated = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1") + "---\n" + _cm("b", "v2")}
    local_a = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k:   'local'   # spaced\n"
    local = {"Kptfile": KPTFILE, "cm.yaml": local_a + "---\n" + _cm("b", "v1")}
    assert merge_package(original, updated, local)["cm.yaml"] == local_a + "---\n" + _cm("b", "v2")


def test_inputs_are_not_changed() -> None:
    original = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1")}
    updated = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v2")}
    local = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1")}
    copies = [dict(t) for t in (original, updated, local)]
    for strategy in STRATEGIES:
        merge_package(original, updated, local, strategy)
    assert [original, updated, local] == copies


def test_a_bad_kptfile_is_refused_with_kpts_message() -> None:
    bad = {"Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\nbogus: 1\n"}
    with pytest.raises(Invalid) as caught:
        merge_package({"Kptfile": KPTFILE}, {"Kptfile": KPTFILE}, bad)
    assert "bogus" in caught.value.message


def test_yaml_that_does_not_parse_names_the_file() -> None:
    original = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1")}
    updated = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v2")}
    local = {"Kptfile": KPTFILE, "cm.yaml": "apiVersion: v1\nkind: [unclosed\n"}
    with pytest.raises(MergeConflict) as caught:
        merge_package(original, updated, local)
    assert caught.value.message.startswith("cm.yaml: ")


def test_diff3_merges_changes_to_different_lines() -> None:
    original = "a: 1\nb: 2\nc: 3\n"
    local = "a: 1 # mine\nb: 2\nc: 3\n"
    updated = "a: 1\nb: 2\nc: 4 # theirs\nd: 5\n"
    assert diff3(original, local, updated) == "a: 1 # mine\nb: 2\nc: 4 # theirs\nd: 5\n"


def test_diff3_takes_upstreams_lines_where_both_sides_changed_them() -> None:
    assert diff3("a: 1\nb: 2\n", "a: 1\nb: 5 # mine\n", "a: 1\nb: 6\n") == "a: 1\nb: 6\n"
    assert diff3("a: 1\nb: 2\n", "a: 1\nb: 6\n", "a: 1\nb: 6\n") == "a: 1\nb: 6\n"


def test_a_line_wise_result_that_reads_differently_is_not_used() -> None:
    """Upstream's chunk would drop local's adjacent change; the field-level merge keeps it."""
    base = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  image: app:1\n  level: info\n"
    updated = base.replace("image: app:1", "image: app:2")
    local = base.replace("image: app:1\n  level: info", "image: app:1.1\n  level: debug")
    assert _merge_one(base, updated, local) == base.replace("image: app:1", "image: app:2").replace(
        "level: info", "level: debug")


def test_both_sides_changing_one_resource_keep_both_comments() -> None:
    """ours: the line-wise merge is used when it reads exactly as kpt's merged resource."""
    base = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  image: app:1 # kpt-set: ${image}\n  level: info\n"
    updated = base.replace("app:1 # kpt-set: ${image}", "app:2 # kpt-set: ${image-2}")
    local = base.replace("level: info", "level: debug # raised locally")
    assert _merge_one(base, updated, local) == base.replace(
        "app:1 # kpt-set: ${image}", "app:2 # kpt-set: ${image-2}").replace("level: info", "level: debug # raised locally")


def test_fast_forward_sees_a_changed_readme() -> None:
    original = {"Kptfile": KPTFILE, "README.md": "# Title\n\nText.\n"}
    local = {"Kptfile": KPTFILE, "README.md": "# Another title\n\nText.\n"}
    with pytest.raises(MergeConflict) as caught:
        merge_package(original, original, local, "fast-forward")
    assert "[README.md]" in caught.value.message


def test_fast_forward_ignores_yaml_reformatting() -> None:
    """kpt compares YAML files after a round trip: a re-indented file is not a local change."""
    original = {"Kptfile": KPTFILE, "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: a\n"}
    local = {"Kptfile": KPTFILE, "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"}
    updated = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v2")}
    assert merge_package(original, updated, local, "fast-forward")["cm.yaml"] == _cm("a", "v2")


def test_fast_forward_ignores_what_a_clone_adds() -> None:
    """kpt adds merge comments to every version it compares; our clone adds the upstream-identifier."""
    original = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1")}
    cloned = ("apiVersion: v1\nkind: ConfigMap\nmetadata: # kpt-merge: /a\n  name: a\n  annotations:\n"
              "    internal.kpt.dev/upstream-identifier: '|ConfigMap|default|a'\ndata:\n  k: v1\n")
    updated = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v2")}
    assert merge_package(original, updated, {"Kptfile": KPTFILE, "cm.yaml": cloned}, "fast-forward") == updated


def test_fast_forward_ignores_the_upstream_identifier_a_clone_writes_on_the_kptfile() -> None:
    """ours: the clone task annotates every object with a name, the Kptfile included."""
    original = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v1")}
    cloned_kptfile = KPTFILE.replace("metadata:\n", "metadata:\n  annotations:\n"
                                     "    internal.kpt.dev/upstream-identifier: kpt.dev|Kptfile|default|pkg\n", 1)
    assert cloned_kptfile != KPTFILE
    updated = {"Kptfile": KPTFILE, "cm.yaml": _cm("a", "v2")}
    merged = merge_package(original, updated, {"Kptfile": cloned_kptfile, "cm.yaml": _cm("a", "v1")}, "fast-forward")
    assert merged["cm.yaml"] == _cm("a", "v2")
    edited = cloned_kptfile.replace("metadata:\n", "metadata:\n  labels:\n    mine: local\n", 1)
    with pytest.raises(MergeConflict, match=r"\[Kptfile\]"):
        merge_package(original, updated, {"Kptfile": edited, "cm.yaml": _cm("a", "v1")}, "fast-forward")


def test_a_file_upstream_did_not_change_is_kept_as_local_has_it() -> None:
    """ours: kpt would drop local's explicit null and bring back the mapping local deleted, as {}."""
    original = {"Kptfile": KPTFILE, "a.yaml": _cm("a", "v1") + "  m:\n    x: 1\n", "b.yaml": _cm("b", "v1")}
    updated = {**original, "b.yaml": _cm("b", "v2")}
    local_a = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: null\n"
    merged = merge_package(original, updated, {**original, "a.yaml": local_a})
    assert merged["a.yaml"] == local_a and merged["b.yaml"] == _cm("b", "v2")


def test_identities_read_off_the_lines_match_the_parsed_ones() -> None:
    """The line reader that spares parsing agrees with the parser wherever it answers."""
    from porch_embedded.kpt._resource_merge import _identity, _PlainLoader, _quick_identity, _texts

    texts = [doc for path in CASES.glob("*.yaml") for side in ("original", "updated", "local")
             for name, text in yaml.safe_load(path.read_text())[side].items()
             if name.endswith(".yaml") for doc in _texts(name, text)]
    texts += [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: # kpt-merge: ns/old\n  name: new\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: 'quoted'\n    namespace: \"x\" # c\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    internal.kpt.dev/upstream-identifier: x\n  name: a\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 0755\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flow}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n"
        "    internal.kpt.dev/upstream-identifier: '|ConfigMap|default|b'\n",
    ]
    answered = 0
    for text in texts:
        quick = _quick_identity(text)
        if quick is not None:
            answered += 1
            assert quick == _identity(yaml.load(text, Loader=_PlainLoader), text), text
    assert answered > len(texts) // 2


def test_a_key_upstream_adds_goes_last_as_kpt_appends_it() -> None:
    """kyaml walk/map.go appends new keys; the line-wise candidate moves the added line there."""
    base = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app: a # app label\n    env: dev\ndata:\n  k: v\n"
    updated = base.replace("    app: a # app label\n", "    tier: web # added upstream\n    app: a # app label\n")
    local = base.replace("  k: v\n", "  k: local # mine\n")
    assert _merge_one(base, updated, local) == base.replace("    env: dev\n", "    env: dev\n    tier: web # added upstream\n").replace(
        "  k: v\n", "  k: local # mine\n")


def test_shortcuts_read_as_the_field_level_merge() -> None:
    """ours: on random edits of both sides, every shortcut (unchanged text, line-wise candidates)
    gives a resource that reads exactly as the ruamel field-level merge of the same three texts."""
    import random

    from porch_embedded.kpt import dump_yaml, load_yaml
    from porch_embedded.kpt._merge3 import merge_resource, resource_schema, same_content

    base = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  labels:\n    app: web # app\n"
        "    tier: front\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: web\n"
        "        image: web:1 # kpt-set: ${image}\n        env:\n        - name: A\n          value: a\n"
        "        args: [x, y]\n      - name: side\n        image: side:1\n"
    )
    edits = [
        ("replicas: 1", "replicas: 2"), ("replicas: 1", "replicas: 3"), ("web:1", "web:2"), ("web:1", "web:3"),
        ("    tier: front\n", ""), ("    tier: front\n", "    tier: back\n"),
        ("    app: web # app\n", "    new: label\n    app: web # app\n"), ("value: a", "value: b"),
        ("args: [x, y]", "args: [x, z]"), ("      - name: side\n        image: side:1\n", ""),
        ("          value: a\n", "          value: a\n        - name: B\n          value: b\n"),
        ("  replicas: 1\n", "  replicas: 1\n  paused: true\n"), ("# app", "# the app"),
    ]
    rng = random.Random(7)
    for _ in range(150):
        sides = []
        for _side in range(2):
            text = base
            for old, new in rng.sample(edits, rng.randint(0, 3)):
                text = text.replace(old, new, 1)
            sides.append(text)
        updated, local = sides
        merged = _merge_one(base, updated, local)
        tree = load_yaml(local)
        expected, _ = merge_resource(tree, load_yaml(base), load_yaml(updated), resource_schema(tree, {}))
        assert same_content(yaml.load(merged, Loader=yaml.SafeLoader), yaml.safe_load(dump_yaml(expected))), (
            updated, local, merged)
