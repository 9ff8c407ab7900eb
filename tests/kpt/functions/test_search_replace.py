"""search-replace against the catalog's cases and the edge cases its unit tests pin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from porch_embedded.kpt.functions._search_replace import file_glob_regex, path_matches


@pytest.mark.parametrize("case", ["simple", "no-results"])
def test_catalog_case(catalog_case: Callable[..., Any], case: str) -> None:
    catalog_case("search-replace", case).check()


def test_catalog_create_setters_by_comment(catalog_case: Callable[..., Any]) -> None:
    # exec.sh: kpt fn eval -- by-path='data.**' by-value-regex='(.*)nginx.com(.*)' put-comment=...
    args = {"by-path": "data.**", "by-value-regex": "(.*)nginx.com(.*)", "put-comment": "kpt-set: ${1}${host}${2}"}
    catalog_case("search-replace", "create-setters", args=args).check()


def test_catalog_file_path_match(catalog_case: Callable[..., Any]) -> None:
    # exec.sh: kpt fn eval -- by-value=project-id by-file-path='**/setters.yaml' put-value=new-project
    args = {"by-value": "project-id", "by-file-path": "**/setters.yaml", "put-value": "new-project"}
    run = catalog_case("search-replace", "file-path-match", args=args)
    run.check()
    assert [r["file"]["path"] for r in run.results] == ["setters.yaml", "subpkg/setters.yaml"]


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.b.c", "a.c.b", False),
        ("a.*.c.*", "a.b.c.d", True),
        ("a.**.c.*.d", "a.b.c.c.d", True),
        ("a.*.c.*", "a.b.c", False),
        ("a.c[0]", "a.c[0]", True),
        ("a.c[*].d.*[*].f", "a.c[0].d.e[1].f", True),
        ("**.c[*].d.*[*].**.f", "a.b.c[0].d.e[1].f", True),
        ("**.c[*].d.d.*[*].**.f", "a.c[2].c[0].d.e[1].f", False),
    ],
)
def test_path_patterns(pattern: str, path: str, matches: bool) -> None:
    assert path_matches(pattern, path) is matches


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/baz.yaml", "foo/bar/baz.yaml", True),
        ("**/baz.yaml", "baz.yaml", True),
        ("foo/**/baz.yaml", "bar/baz.yaml", False),
        ("foo/**/baz.yaml", "foo/bar/bor/baz.yaml", True),
        ("foo/*/baz.yaml", "foo/bar/bor/baz.yaml", False),
        ("foo/bar/*.yaml", "foo/bar/bat.yaml", True),
        ("{a,b}/[!x]?.yaml", "b/yz.yaml", True),
    ],
)
def test_file_globs(pattern: str, path: str, matches: bool) -> None:
    assert bool(file_glob_regex(pattern).fullmatch(path)) is matches


@pytest.mark.parametrize(
    ("data", "source", "expected", "messages"),
    [
        (
            {"by-value": "3", "put-value": "four"},
            "kind: D\nspec:\n  replicas: 3\nfoo:\n  bar: 3\n",
            "kind: D\nspec:\n  replicas: four\nfoo:\n  bar: four\n",
            ['Mutated field value to "four"', 'Mutated field value to "four"'],
        ),
        (
            {"by-path": "spec.foo[1].c", "put-value": "thing-new"},
            "kind: D\nspec:\n  foo:\n  - c: thing0\n  - c: thing1\n",
            "kind: D\nspec:\n  foo:\n  - c: thing0\n  - c: thing-new\n",
            ['Mutated field value to "thing-new"'],
        ),
        (
            {"by-path": "metadata.namespace", "put-value": "myspace"},
            "kind: D\nmetadata:\n  name: n\n",
            "kind: D\nmetadata:\n  name: n\n  namespace: myspace\n",
            ['Mutated field value to "myspace"'],
        ),
        (
            {"by-value-regex": r"(\w+)-dev-(\w+)-us-east-1-(\w+)", "put-value": "${1}-prod-${2}-us-central-1-${3}"},
            "kind: D\nmetadata:\n  name: foo1-dev-bar1-us-east-1-baz1\n",
            "kind: D\nmetadata:\n  name: foo1-prod-bar1-us-central-1-baz1\n",
            ['Mutated field value to "foo1-prod-bar1-us-central-1-baz1"'],
        ),
        (
            {"by-path": "spec.images", "put-comment": "kpt-set: ${image}"},
            "kind: D\nspec:\n  images: [nginx, ubuntu]\n  other: [foo, bar]\n",
            "kind: D\nspec:\n  images: # kpt-set: ${image}\n  - nginx\n  - ubuntu\n  other: [foo, bar]\n",
            ['Mutated field value to "[nginx, ubuntu]"'],
        ),
        (
            {"by-value-regex": "nginx-(.*)"},
            "kind: D\nmetadata:\n  name: nginx-deployment\n",
            "kind: D\nmetadata:\n  name: nginx-deployment\n",
            ['Matched field value "nginx-deployment"'],
        ),
    ],
)
def test_search_and_replace(
    builtin_call: Any, same_yaml: Any, data: dict[str, str], source: str, expected: str, messages: list[str]
) -> None:
    run = builtin_call("search-replace", source, {"data": data})
    assert run.text == same_yaml(expected)
    assert run.messages == messages


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"by-value": "a", "by-value-regex": "a"}, 'only one of [\\"by-value\\", \\"by-value-regex\\"] can be provided'),
        ({"by-value-regex": "(a)-(.*)", "put-value": "${3}"}, "unable to resolve capture groups"),
    ],
)
def test_errors(builtin_call: Any, data: dict[str, str], error: str) -> None:
    run = builtin_call("search-replace", "kind: D\nname: a-b\n", {"data": data})
    assert run.results == [{"message": f'failed to perform search-replace operation: "{error}"', "severity": "error"}]
