"""The field-level rules of kpt's merge3 visitor, one case per rule (kpt.md §5.3-5.5).

Each case is (origin, updated, local) of one resource's fields and the merged result,
read and written with the package model's round-trip YAML. Sources: kpt's
pkg/lib/update/merge3/visitor.go (the visitor), kyaml's walk package (maps, lists,
FieldSetter) and its merge3 map cases; "ours" where the case only pins a detail.
"""

from __future__ import annotations

import pytest

from porch_embedded.kpt import dump_yaml, load_yaml
from porch_embedded.kpt._merge3 import MISSING, KindMismatch, ListRule, crd_schemas, merge_resource, resource_schema

CASES = [
    # (id, source, origin, updated, local, expected)
    ("scalar-changed-upstream", "visitor.go VisitScalar", "a: 1\n", "a: 2\n", "a: 1\n", "a: 2\n"),
    ("scalar-changed-locally", "visitor.go VisitScalar", "a: 1\n", "a: 1\n", "a: 3\n", "a: 3\n"),
    ("scalar-changed-on-both-sides-upstream-wins", "visitor.go VisitScalar (no conflict reported)",
     "a: 1\n", "a: 2\n", "a: 3\n", "a: 2\n"),
    ("scalar-added-upstream", "visitor.go VisitScalar", "a: 1\n", "a: 1\nb: 2\n", "a: 1\n", "a: 1\nb: 2\n"),
    ("scalar-removed-upstream", "visitor.go VisitScalar", "a: 1\nb: 2\n", "a: 1\n", "a: 1\nb: 2\n", "a: 1\n"),
    ("scalar-removed-upstream-changed-locally", "visitor.go VisitScalar (presence changed upstream wins)",
     "a: 1\nb: 2\n", "a: 1\n", "a: 1\nb: 9\n", "a: 1\n"),
    ("scalar-added-locally", "visitor.go VisitScalar (absent upstream keeps local)",
     "a: 1\n", "a: 1\n", "a: 1\nmine: x\n", "a: 1\nmine: x\n"),
    ("scalar-removed-locally", "visitor.go VisitScalar (unchanged upstream keeps local)",
     "a: 1\nb: 2\n", "a: 1\nb: 2\n", "a: 1\n", "a: 1\n"),
    ("scalar-removed-locally-changed-upstream", "visitor.go VisitScalar", "a: 1\nb: 2\n", "a: 1\nb: 3\n",
     "a: 1\n", "a: 1\nb: 3\n"),
    ("scalar-value-compared-not-tag", "visitor.go VisitScalar compares Node.Value only",
     "a: 1\n", "a: '1'\n", "a: 7\n", "a: 7\n"),
    ("explicit-null-upstream-clears", "visitor.go isCleared", "a: 1\nb: 2\n", "a: 1\nb: null\n",
     "a: 1\nb: 5\n", "a: 1\n"),
    ("explicit-null-locally-clears", "visitor.go isCleared", "a: 1\nb: 2\n", "a: 1\nb: 3\n", "a: 1\nb: ~\n",
     "a: 1\n"),
    ("null-in-origin-does-not-clear", "visitor.go isCleared (kpt's change to kyaml's visitor)",
     "a: 1\nb:\n", "a: 1\nb: set\n", "a: 1\nb:\n", "a: 1\nb: set\n"),
    ("list-changed-upstream-replaces-local", "visitor.go visitNAList", "l:\n- a\n- b\n", "l:\n- a\n- c\n",
     "l:\n- a\n- b\n- mine\n", "l:\n- a\n- c\n"),
    ("list-unchanged-upstream-keeps-local", "visitor.go visitNAList (structural comparison)",
     "l: [a, b]\n", "l:\n- a\n- b # style and comments do not count\n", "l:\n- mine\n", "l:\n- mine\n"),
    ("map-key-added-upstream-appended", "kyaml walk/map.go (sorted keys, new keys appended)",
     "m:\n  b: 1\n", "m:\n  a: 0\n  b: 1\n", "m:\n  b: 1\n  z: 9\n", "m:\n  b: 1\n  z: 9\n  a: 0\n"),
    ("map-created-with-sorted-keys", "kyaml walk/map.go VisitMap (new empty map, fields in sorted order)",
     "a: 1\n", "a: 1\nm:\n  z: 1\n  b: 2\n", "a: 1\n", "a: 1\nm:\n  b: 2\n  z: 1\n"),
    ("map-removed-upstream-keeps-local-keys", "kyaml merge3 map_test 'Remove annotations field, but keep in dest'",
     "m:\n  a: b\n", "x: 1\n", "x: 1\nm:\n  foo: bar # kept\n", "x: 1\nm:\n  foo: bar # kept\n"),
    ("map-emptied-upstream", "kyaml merge3 map_test 'Remove an annotation'", "m:\n  a: b\n", "m: {}\n",
     "m:\n  c: d\n  a: b\n", "m:\n  c: d\n"),
    ("map-deleted-locally-comes-back-empty", "kyaml walk/map.go + FieldSetter (an empty map is set, not cleared)",
     "x: 1\nm:\n  a: b\n", "x: 2\nm:\n  a: b\n", "x: 1\n", "x: 2\nm: {}\n"),
    ("quoting-of-local-kept", "testdata/keep-tagged-null (FieldSetter keeps the replaced node's style)",
     "a: x\n", "a: y\n", "a: 'x'\n", "a: 'y'\n"),
    ("line-comment-of-upstream-value", "kpt.md 5.5 (a value taken from updated brings its comment)",
     "image: a:1 # kpt-set: ${a}\n", "image: a:2 # kpt-set: ${b}\n", "image: a:1 # kpt-set: ${a}\n",
     "image: a:2 # kpt-set: ${b}\n"),
    ("line-comment-of-local-value", "kpt.md 5.5 (otherwise local comments stay)",
     "a: 1\n", "a: 1\n", "a: 1 # mine\n", "a: 1 # mine\n"),
]


@pytest.mark.parametrize(("source", "origin", "updated", "local", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_field_rule(source: str, origin: str, updated: str, local: str, expected: str) -> None:
    assert source
    result, _ = merge_resource(load_yaml(local), load_yaml(origin), load_yaml(updated), None)
    assert dump_yaml(result) == expected


def test_associative_list_by_schema_keys() -> None:
    """visitor.go visitAList: elements pair by key; deleted upstream goes unless local added fields."""
    origin = load_yaml("l:\n- {k: a, v: 1}\n- {k: b, v: 1}\n- {k: c, v: 1}\n")
    updated = load_yaml("l:\n- {k: a, v: 2}\n- {k: c, v: 1}\n- {k: new, v: 1}\n")
    local = load_yaml("l:\n- {k: c, v: 1}\n- {k: b, v: 1, mine: x}\n- {k: a, v: 1}\n- {k: own, v: 1}\n")
    result, took = merge_resource(local, origin, updated, {"l": ListRule(("k",))})
    assert took
    # b keeps only local's field (its key set back last); new is a fresh map, keys sorted, block style
    assert dump_yaml(result) == (
        "l:\n- {k: c, v: 1}\n- {mine: x, k: b}\n- {k: a, v: 2}\n- {k: own, v: 1}\n- k: new\n  v: 1\n"
    )


def test_scalar_set_list() -> None:
    """kyaml walk setPrimitiveSequenceElements (metadata.finalizers): a set merge."""
    result, _ = merge_resource(load_yaml("f: [a, b, mine]\n"), load_yaml("f: [a, b]\n"), load_yaml("f: [a, c]\n"),
                               {"f": ListRule(())})
    assert dump_yaml(result) == "f: [a, mine, c]\n"


def test_lists_without_schema_are_not_inferred_for_resources() -> None:
    """kpt HEAD sets InferAssociativeLists false: a list of named elements is replaced whole."""
    args = [load_yaml(t) for t in ("l:\n- name: b\n", "l:\n- name: a\n", "l:\n- name: a\n- name: c\n")]
    result, _ = merge_resource(*args, None)
    assert dump_yaml(result) == "l:\n- name: a\n- name: c\n"
    args = [load_yaml(t) for t in ("l:\n- name: b\n", "l:\n- name: a\n", "l:\n- name: a\n- name: c\n")]
    inferred, _ = merge_resource(*args, None, infer=True)
    assert dump_yaml(inferred) == "l:\n- name: b\n- name: c\n"


def test_kind_mismatch_names_the_field() -> None:
    with pytest.raises(KindMismatch) as caught:
        merge_resource(load_yaml("a:\n  b: 1\n"), load_yaml("a:\n  b: 1\n"), load_yaml("a:\n  b: [x]\n"), None)
    assert str(caught.value) == "field a.b is a scalar in one version and a list in another"


def test_a_cleared_resource_is_missing() -> None:
    result, _ = merge_resource(load_yaml("a: 1\n"), load_yaml("a: 1\n"), None, None)
    assert result is MISSING


def test_builtin_schema_knows_containers_and_metadata_lists() -> None:
    deployment = load_yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n")
    schema = resource_schema(deployment, {})
    assert isinstance(schema, dict)
    containers = schema["spec"]["template"]["spec"]["containers"]
    assert containers.keys == ("name",) and containers.item["ports"].keys == ("containerPort", "protocol")
    assert schema["metadata"]["finalizers"] == ListRule(())
    assert resource_schema(load_yaml("apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\n"), {}) is None


def test_crd_schema_needs_the_merge_strategy() -> None:
    """kpt.md 5.4: a CRD list merges by key only with x-kubernetes-patch-strategy: merge."""
    crd = load_yaml(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: fs.test.group\n"
        "spec:\n  group: test.group\n  names:\n    kind: FruitStore\n  versions:\n  - name: v1\n    schema:\n"
        "      openAPIV3Schema:\n        properties:\n          spec:\n            properties:\n"
        "              fruits:\n                type: array\n                x-kubernetes-list-map-keys: [name]\n"
        "                x-kubernetes-patch-strategy: merge\n              veggies:\n                type: array\n"
        "                x-kubernetes-list-type: map\n                x-kubernetes-list-map-keys: [name]\n"
    )
    schemas = crd_schemas([crd])
    assert schemas[("test.group", "v1", "FruitStore")] == {"spec": {"fruits": ListRule(("name",))}}
