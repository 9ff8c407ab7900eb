"""Porch's render_test.go cases: a template and a target become a PackageVariant spec.

Rendering is pure (the controller reads, then renders), so these run without a server;
the same behaviour through the API is in test_package_variant_sets.
"""

from __future__ import annotations

from typing import Any

import pytest

from porch_embedded.controllers import RenderError, VariantTarget, render_variant_spec, variant_name
from porch_embedded.kinds import CelError, evaluate_string

REPOSITORIES = {
    "my-repo-1": {"metadata": {"name": "my-repo-1", "labels": {"foo": "bar", "abc": "def"}}},
    "my-repo-2": {"metadata": {"name": "my-repo-2", "labels": {"foo": "bar", "abc": "def", "efg": "hij"}}},
}
UPSTREAM = {"repo": "up-repo", "package": "up-pkg", "revision": 2}
SET = {"metadata": {"name": "my-pvs", "namespace": "default"}, "spec": {"upstream": UPSTREAM}}
UPSTREAM_REVISION = {"metadata": {"name": "p", "namespace": "default",
                                  "labels": {"vendor": "bigco.com", "product": "snazzy", "version": "1.6.8"},
                                  "annotations": {"bigco.com/team": "us-platform"}}}


def _spec(downstream: tuple[str, str] = ("my-repo-1", "p"), **rest: Any) -> dict[str, Any]:
    return {"upstream": UPSTREAM, "downstream": {"repo": downstream[0], "package": downstream[1]}, **rest}


CASES: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "no template": (None, _spec()),
    "template downstream.repo": ({"downstream": {"repo": "my-repo-2"}}, _spec(("my-repo-2", "p"))),
    "template downstream.package": ({"downstream": {"package": "new-p"}}, _spec(("my-repo-1", "new-p"))),
    "template adoption and deletion": ({"adoptionPolicy": "adoptExisting", "deletionPolicy": "delete"},
                                       _spec(adoptionPolicy="adoptExisting", deletionPolicy="delete")),
    "template static labels and annotations": (
        {"labels": {"foo": "bar", "hello": "there"}, "annotations": {"foobar": "barfoo"}},
        _spec(labels={"foo": "bar", "hello": "there"}, annotations={"foobar": "barfoo"})),
    "template static packageContext": (
        {"packageContext": {"data": {"foo": "bar", "hello": "there"}, "removeKeys": ["foobar", "barfoo"]}},
        _spec(packageContext={"data": {"foo": "bar", "hello": "there"}, "removeKeys": ["barfoo", "foobar"]})),
    "template downstream with expressions": (
        {"downstream": {"repoExpr": "'my-repo-2'", "packageExpr": "repoDefault + '-' + packageDefault"}},
        _spec(("my-repo-2", "my-repo-1-p"))),
    "template labels and annotations with expressions": (
        {"downstream": {"repoExpr": "'my-repo-2'", "packageExpr": "repoDefault + '-' + packageDefault"},
         "labels": {"foo": "bar", "hello": "there"},
         "labelExprs": [{"key": "foo", "valueExpr": "repoDefault"},
                        {"keyExpr": "repository.labels['efg']", "valueExpr": "packageDefault + '-' + repository.name"},
                        {"key": "hello", "value": "goodbye"}],
         "annotations": {"bigco.com/sample-annotation": "some-annotation", "foo.org/id": "123456"},
         "annotationExprs": [{"key": "foo.org/id", "value": "54321"},
                             {"key": "bigco.com/team", "valueExpr": "upstream.annotations['bigco.com/team']"}]},
        _spec(("my-repo-2", "my-repo-1-p"), labels={"foo": "my-repo-1", "hello": "goodbye", "hij": "p-my-repo-2"},
              annotations={"bigco.com/sample-annotation": "some-annotation", "foo.org/id": "54321",
                           "bigco.com/team": "us-platform"})),
    "template with packageContext with expressions": (
        {"packageContext": {"data": {"foo": "bar", "hello": "there"},
                            "dataExprs": [{"key": "foo", "valueExpr": "upstream.name"},
                                          {"keyExpr": "upstream.namespace", "valueExpr": "upstream.name"},
                                          {"keyExpr": "upstream.name", "value": "foo"}],
                            "removeKeys": ["foobar", "barfoo"], "removeKeyExprs": ["repository.labels['abc']"]}},
        _spec(packageContext={"data": {"foo": "p", "hello": "there", "default": "p", "p": "foo"},
                              "removeKeys": ["barfoo", "def", "foobar"]})),
    "template injectors": (
        {"injectors": [{"group": "kpt.dev", "version": "v1alpha1", "kind": "Foo", "name": "bar"},
                       {"group": "kpt.dev", "version": "v1alpha1", "kind": "Foo",
                        "nameExpr": "repository.labels['abc']"},
                       {"nameExpr": "repository.name + '-test'"}]},
        _spec(injectors=[{"group": "kpt.dev", "version": "v1alpha1", "kind": "Foo", "name": "bar"},
                         {"group": "kpt.dev", "version": "v1alpha1", "kind": "Foo", "name": "def"},
                         {"name": "my-repo-1-test"}])),
    "pipeline": (
        {"pipeline": {
            "validators": [{"image": "foo:bar", "name": "hey"},
                           {"image": "foo:bar", "configMap": {"k1": "v1", "k2": "v2"},
                            "configMapExprs": [{"key": "k1", "valueExpr": "repository.name"},
                                               {"keyExpr": "'k3'", "value": "bar"}]}],
            "mutators": [{"image": "mutates", "configMapExprs": [{"key": "k1", "value": "yo"}]}]}},
        _spec(pipeline={"validators": [{"image": "foo:bar", "name": "hey"},
                                       {"image": "foo:bar", "configMap": {"k1": "my-repo-1", "k2": "v2", "k3": "bar"}}],
                        "mutators": [{"image": "mutates", "configMap": {"k1": "yo"}}]})),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_package_variant_spec(case: str) -> None:
    template, expected = CASES[case]
    target = VariantTarget("my-repo-1", "p", template)
    assert render_variant_spec(SET, REPOSITORIES, UPSTREAM_REVISION, target) == expected


def test_a_repository_that_is_not_there_cannot_render() -> None:
    target = VariantTarget("my-repo-9", "p", {"labels": {"a": "b"}})
    with pytest.raises(RenderError, match='repository "my-repo-9" could not be loaded'):
        render_variant_spec(SET, REPOSITORIES, UPSTREAM_REVISION, target)


REPO_1 = {"name": "my-repo-1", "namespace": "", "labels": {"foo": "bar", "abc": "def"}, "annotations": {}}

EVAL_CASES: dict[str, tuple[str, Any, str, str]] = {
    "no vars": ("'foo'", None, "foo", ""),
    "repoDefault": ("repoDefault", None, "foo-repo", ""),
    "packageDefault": ("packageDefault", None, "bar-package", ""),
    "concat defaults": ("packageDefault + '-' + repoDefault", None, "bar-package-foo-repo", ""),
    "repositories target": ("target.repo + '/' + target.package", {"repo": "my-repo", "package": "my-package"},
                            "my-repo/my-package", ""),
    "repository target": ("target.name + '/' + target.labels['foo']", REPO_1, "my-repo-1/bar", ""),
    "bad variable": ("badvar", None, "",
                     "ERROR: <input>:1:1: undeclared reference to 'badvar' (in container '')\n | badvar\n | ^"),
    "missing label": ("target.name + '/' + target.labels['no-such-label']", REPO_1, "", "no such key: no-such-label"),
}


@pytest.mark.parametrize("case", sorted(EVAL_CASES))
def test_eval_expr(case: str) -> None:
    expression, target, result, error = EVAL_CASES[case]
    inputs = {"repoDefault": "foo-repo", "packageDefault": "bar-package", "target": target}
    if error:
        with pytest.raises(CelError) as raised:
            evaluate_string(expression, inputs)
        assert str(raised.value) == error
    else:
        assert evaluate_string(expression, inputs) == result


def test_a_bad_expression_is_a_syntax_error() -> None:
    with pytest.raises(CelError, match="Syntax error"):
        evaluate_string("/", {})


def test_overlay_of_map_expressions() -> None:
    target = VariantTarget("foo-repo", "bar-package", {
        "labels": {"foo": "bar", "bar": "foo"},
        "labelExprs": [{"keyExpr": "'foo'", "value": "new-bar"}, {"key": "bar", "valueExpr": "packageDefault"},
                       {"keyExpr": "repoDefault", "value": "barbar"}]})
    repositories = {"foo-repo": {"metadata": {"name": "foo-repo"}}}
    spec = render_variant_spec(SET, repositories, UPSTREAM_REVISION, target)
    assert spec["labels"] == {"foo": "new-bar", "bar": "bar-package", "foo-repo": "barbar"}


def test_variant_names_longer_than_63_are_cut_and_hashed() -> None:
    assert variant_name("my-pvs-dnrepo2-dnpkg2") == "my-pvs-dnrepo2-dnpkg2"
    long_id = "my-pvs-dnrepo4-supersupersuperloooooooooooooooooooooooooooooooooooooooooooooooooongpkgname"
    assert variant_name(long_id) == "my-pvs-dnrepo4-supersupersuperlooooooooooooooooooooooo-bec36506"
