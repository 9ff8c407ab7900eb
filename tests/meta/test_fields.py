"""The one field-matching rule: text of the value at a path, a default when absent, = or !=."""

from __future__ import annotations

from typing import Any

import pytest

from porch_embedded.meta import FieldMatch, FieldRequirement, field_text, value_text

BODY: dict[str, Any] = {
    "metadata": {"name": "blueprints.app.v1", "labels": {"kpt.dev/latest-revision": "true"}},
    "spec": {"revision": 1, "deployment": False, "ratio": 1.5, "lifecycle": "Published", "none": None,
             "tasks": [{"type": "init"}], "packageMetadata": {"labels": {"team": "blue"}}},
}


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("metadata", "name"), "blueprints.app.v1"),
        (("spec", "revision"), "1"),
        (("spec", "deployment"), "false"),
        (("spec", "ratio"), "1.5"),
        (("spec", "tasks"), '[{"type":"init"}]'),
        (("spec", "packageMetadata", "labels", "team"), "blue"),
        (("spec", "none"), None),
        (("spec", "absent"), None),
        (("spec", "lifecycle", "deeper"), None),
        (("metadata", "labels", "kpt.dev/latest-revision"), "true"),
    ],
)
def test_field_text_reads_strings_as_themselves_and_other_values_as_json(
    path: tuple[str, ...], text: str | None
) -> None:
    assert field_text(BODY, path) == text


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (FieldMatch(("spec", "lifecycle"), "=", "Published"), True),
        (FieldMatch(("spec", "lifecycle"), "!=", "Published"), False),
        (FieldMatch(("spec", "revision"), "=", "1"), True),
        (FieldMatch(("spec", "deployment"), "=", "false"), True),
        (FieldMatch(("spec", "deployment"), "=", "False"), False),
        (FieldMatch(("spec", "absent"), "=", ""), True),
        (FieldMatch(("spec", "absent"), "!=", ""), False),
        (FieldMatch(("spec", "absent"), "=", "0", missing="0"), True),
        (FieldMatch(("spec", "none"), "=", "0", missing="0"), True),
        (FieldMatch(("spec", "absent"), "=", "", missing="0"), False),
        (FieldMatch(("spec", "revision"), "=", "0", missing="0"), False),
        (FieldMatch(("spec", "packageMetadata", "labels", "team"), "=", "blue"), True),
        (FieldMatch(("spec", "packageMetadata", "labels", "team"), "!=", "red"), True),
    ],
)
def test_field_match_compares_text_with_the_default_for_absent_values(match: FieldMatch, expected: bool) -> None:
    assert match.matches(BODY) is expected


def test_a_parsed_requirement_follows_the_same_rule() -> None:
    assert FieldRequirement("spec.absent", "=", "").matches(field_text(BODY, ("spec", "absent")))
    assert FieldRequirement("spec.revision", "!=", "2").matches(field_text(BODY, ("spec", "revision")))
    assert not FieldRequirement("spec.revision", "=", "2").matches(field_text(BODY, ("spec", "revision")))


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (False, "false"), (0, "0"), (-1, "-1"), ("x", "x"), ({"a": [1, 2]}, '{"a":[1,2]}')],
)
def test_value_text_prints_as_kubectl_does(value: Any, text: str) -> None:
    assert value_text(value) == text
