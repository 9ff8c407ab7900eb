"""Label and field selectors: Kubernetes' grammar, matching rules and error messages."""

from __future__ import annotations

import pytest

from porch_embedded.errors import BadRequest
from porch_embedded.meta import FieldRequirement, FieldSelector, LabelRequirement, LabelSelector


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", [LabelRequirement("a", "=", ("b",))]),
        ("a==b", [LabelRequirement("a", "=", ("b",))]),
        ("a!=b", [LabelRequirement("a", "!=", ("b",))]),
        ("a=", [LabelRequirement("a", "=", ("",))]),
        ("a", [LabelRequirement("a", "exists")]),
        ("!a", [LabelRequirement("a", "!")]),
        ("a in (x, y)", [LabelRequirement("a", "in", ("x", "y"))]),
        ("a notin (x)", [LabelRequirement("a", "notin", ("x",))]),
        ("a in (x,)", [LabelRequirement("a", "in", ("x", ""))]),
        ("a>5", [LabelRequirement("a", "gt", ("5",))]),
        ("a<-2", [LabelRequirement("a", "lt", ("-2",))]),
        (" env = prod , tier ", [LabelRequirement("env", "=", ("prod",)),
                                  LabelRequirement("tier", "exists")]),
        ("app.kubernetes.io/name=porch", [LabelRequirement("app.kubernetes.io/name", "=", ("porch",))]),
    ],
)
def test_label_selector_parses(text: str, expected: list[LabelRequirement]) -> None:
    assert list(LabelSelector.parse(text).requirements) == expected


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_label_selector_matches_everything(text: str | None) -> None:
    selector = LabelSelector.parse(text)
    assert not selector
    assert selector.matches({}) and selector.matches(None) and selector.matches({"a": "b"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a in ()", "at least one value"),
        ("a notin ()", "at least one value"),
        ("a in (x y)", "expected ',' or ')'"),
        ("a in x", "expected '('"),
        ("a>x", "must be an integer"),
        ("a>1_0", "must be an integer"),
        ("a=b=c", "expected ','"),
        ("a,", "unexpected end"),
        (",a", "expected a label key"),
        ("a foo b", "unknown operator"),
        ("-bad=x", "invalid label key"),
        ("a=-bad", "invalid label value"),
        ("a=" + "x" * 64, "invalid label value"),
        ("x" * 64, "invalid label key"),
        ("!", "unexpected end"),
    ],
)
def test_bad_label_selector_is_bad_request_saying_what(text: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        LabelSelector.parse(text)
    assert fragment in caught.value.message
    assert text in caught.value.message or repr(text) in caught.value.message


LABELS = {"env": "prod", "tier": "web", "replicas": "3", "odd": "1_0"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("env=prod", True),
        ("env=dev", False),
        ("env!=dev", True),
        ("missing!=x", True),
        ("missing=x", False),
        ("env in (dev,prod)", True),
        ("missing in (x)", False),
        ("env notin (dev)", True),
        ("missing notin (x)", True),
        ("env notin (prod)", False),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("replicas>2", True),
        ("replicas>3", False),
        ("replicas<4", True),
        ("missing>0", False),
        ("env>0", False),
        ("odd>1", False),
        ("env=prod,tier=web", True),
        ("env=prod,tier=db", False),
    ],
)
def test_label_selector_matching_follows_kubernetes(text: str, matches: bool) -> None:
    assert LabelSelector.parse(text).matches(LABELS) is matches


def test_label_selector_renders_back_to_its_syntax() -> None:
    text = "a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1,m<2"
    assert str(LabelSelector.parse(text)) == text
    assert LabelSelector.parse(str(LabelSelector.parse(text))) == LabelSelector.parse(text)


def test_label_selector_from_json() -> None:
    selector = LabelSelector.from_json({
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "c", "operator": "In", "values": ["x", "y"]},
            {"key": "d", "operator": "DoesNotExist"},
        ],
    })
    assert str(selector) == "a=1,b=2,c in (x,y),!d"
    assert selector.matches({"a": "1", "b": "2", "c": "y"})
    assert not selector.matches({"a": "1", "b": "2", "c": "y", "d": ""})
    assert not LabelSelector.from_json(None)
    assert not LabelSelector.from_json({})


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, "not one of"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "non-empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "empty"),
        ({"matchLabels": {"a": "not valid!"}}, "invalid label value"),
        ({"matchLabels": {"-a": "x"}}, "invalid label key"),
    ],
)
def test_bad_label_selector_json_is_bad_request(selector: dict[str, object], fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        LabelSelector.from_json(selector)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metadata.name=x", [FieldRequirement("metadata.name", "=", "x")]),
        ("metadata.name==x", [FieldRequirement("metadata.name", "=", "x")]),
        ("spec.a!=1,spec.b=", [FieldRequirement("spec.a", "!=", "1"), FieldRequirement("spec.b", "=", "")]),
        ("a=x\\,y", [FieldRequirement("a", "=", "x,y")]),
        ("a=x\\=y", [FieldRequirement("a", "=", "x=y")]),
        ("a=x\\\\y", [FieldRequirement("a", "=", "x\\y")]),
        ("a=b,,c=d", [FieldRequirement("a", "=", "b"), FieldRequirement("c", "=", "d")]),
    ],
)
def test_field_selector_parses_with_escapes(text: str, expected: list[FieldRequirement]) -> None:
    assert list(FieldSelector.parse(text).requirements) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a", "is not of the form"),
        ("a<b", "is not of the form"),
        ("a=b=c", "unescaped '='"),
        ("a=b\\x", "invalid escape sequence"),
        ("a=b\\", "lone"),
    ],
)
def test_bad_field_selector_is_bad_request(text: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        FieldSelector.parse(text)
    assert fragment in caught.value.message


def test_field_selector_matching_and_value_of() -> None:
    selector = FieldSelector.parse("spec.repository=blueprints,metadata.name!=x")
    assert selector.value_of("spec.repository") == "blueprints"
    assert selector.value_of("metadata.name") is None, "only equality pins a value"
    equal, not_equal = selector.requirements
    assert equal.matches("blueprints") and not equal.matches("other")
    assert not_equal.matches(None) and not not_equal.matches("x")
    assert FieldRequirement("a", "=", "").matches(None), "missing compares as ''"
    assert not FieldSelector.parse("") and not FieldSelector.parse(None)
