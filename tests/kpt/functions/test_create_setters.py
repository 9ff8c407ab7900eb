"""create-setters against the catalog's case and the edge cases its unit tests pin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def test_catalog_simple(catalog_case: Callable[..., Any]) -> None:
    catalog_case("create-setters", "simple").check()


@pytest.mark.parametrize(
    ("data", "source", "expected"),
    [
        (
            {"env": "[foo, bar]", "name": "nginx"},
            "kind: D\nmetadata:\n  name: nginx-deployment\n  env: [foo, bar]\n",
            "kind: D\nmetadata:\n  name: nginx-deployment # kpt-set: ${name}-deployment\n"
            "  env: # kpt-set: ${env}\n    - foo\n    - bar\n",
        ),
        (
            {"name": "nginx"},
            "kind: D\nmetadata:\n  name: nginx-deployment\n  env: [foo, bar]\n",
            "kind: D\nmetadata:\n  name: nginx-deployment # kpt-set: ${name}-deployment\n  env: [foo, bar]\n",
        ),
        (
            {"deploy": "ubuntu-deployment", "env": "ubuntu", "image": "ngnix", "tag": "1.1.2"},
            'kind: D\nmetadata:\n  name: ubuntu-deployment-1\nspec:\n  image: ubuntu\n  app: "nginx:1.1.2"\n'
            "  os:\n    - ubuntu\n    - mac\n",
            "kind: D\nmetadata:\n  name: ubuntu-deployment-1 # kpt-set: ${deploy}-1\nspec:\n"
            '  image: ubuntu # kpt-set: ${env}\n  app: "nginx:1.1.2" # kpt-set: nginx:${tag}\n'
            "  os:\n    - ubuntu # kpt-set: ${env}\n    - mac\n",
        ),
        (
            {"image": "nginx", "name": "image"},
            "kind: D\nmetadata:\n  name: nginx-deployment\n",
            "kind: D\nmetadata:\n  name: nginx-deployment # kpt-set: ${image}-deployment\n",
        ),
        (
            {"image": "[]"},
            "kind: D\nmetadata:\n  name: []\n",
            "kind: D\nmetadata:\n  name: [] # kpt-set: ${image}\n",
        ),
        (
            {"app": "myService", "image": "nginx"},
            "kind: D\nmetadata:\n  name: nginx-deployment\nspec:\n  images: [nginx, ubuntu]\n",
            "kind: D\nmetadata:\n  name: nginx-deployment # kpt-set: ${image}-deployment\nspec:\n"
            "  images:\n    - nginx # kpt-set: ${image}\n    - ubuntu\n",
        ),
        (
            {"images": "- nginx\n- ubuntu\n"},
            "kind: D\nspec:\n  images: |\n    - nginx\n    - ubuntu\n  list:\n    - ubuntu\n    - nginx\n",
            "kind: D\nspec:\n  images: |\n    - nginx\n    - ubuntu\n  list: # kpt-set: ${images}\n    - ubuntu\n    - nginx\n",
        ),
    ],
)
def test_comments_added(builtin_call: Any, same_yaml: Any, data: dict[str, str], source: str, expected: str) -> None:
    run = builtin_call("create-setters", source, {"data": data})
    assert run.text == same_yaml(expected)


def test_messages_and_errors(builtin_call: Any) -> None:
    run = builtin_call("create-setters", "kind: D\nimage: nginx:1.7.1\n", {"data": {"image": "nginx", "tag": "1.7.1"}})
    assert run.results == [
        {
            "message": 'Added line comment "kpt-set: ${image}:${tag}" for field with value "nginx:1.7.1"',
            "field": {"path": "image"},
        }
    ]
    empty = builtin_call("create-setters", "kind: D\n", {"data": {}})
    assert empty.messages == ["failed to create setters: config map cannot be empty"]
    none = builtin_call("create-setters", "kind: D\n", {"data": {"x": "nothing"}})
    assert none.messages == ["failed to create setters: no matches for the input list of setters"]
