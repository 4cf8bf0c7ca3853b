"""Label and field selector parsing, against labels.Parse / fields.ParseSelector behaviour."""

from __future__ import annotations

import pytest

from simulator.apiserver.errors import ApiError
from simulator.apiserver.selectors import (
    format_match_labels,
    parse_field_selector,
    parse_label_selector,
    selector_from_match_labels,
)


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("", {}, True),
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a==b", {"a": "b"}, True),
    ("a!=b", {}, True),  # != matches objects without the label
    ("a!=b", {"a": "b"}, False),
    ("a in (b, c)", {"a": "c"}, True),
    ("a in (b,c)", {}, False),
    ("a notin (b,c)", {}, True),
    ("a notin (b,c)", {"a": "b"}, False),
    ("a", {"a": ""}, True),
    ("!a", {"a": ""}, False),
    ("!a", {"b": "x"}, True),
    ("a=,b", {"a": "", "b": "1"}, True),
    ("example.com/tier=web, env in (prod)", {"example.com/tier": "web", "env": "prod"}, True),
])
def test_label_selector_matching(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["a in (b", "a b", "=b", "a=b=c", "a in b", "bad key!=x",
                                  "a=" + "x" * 64])
def test_malformed_label_selectors_are_400(text):
    with pytest.raises(ApiError) as err:
        parse_label_selector(text)
    assert err.value.code == 400


def test_match_labels_and_expressions():
    sel = {"matchLabels": {"app": "web"},
           "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                {"key": "legacy", "operator": "DoesNotExist"}]}
    parsed = selector_from_match_labels(sel)
    assert parsed.matches({"app": "web", "tier": "a"})
    assert not parsed.matches({"app": "web", "tier": "a", "legacy": "1"})
    assert format_match_labels(sel) == "app=web,tier in (a,b),!legacy"


def test_field_selectors():
    supported = {"metadata.name", "metadata.namespace", "type"}
    sel = parse_field_selector("metadata.name=a,type!=kubernetes.io/tls", supported)
    obj = {"metadata": {"name": "a"}, "type": "Opaque"}
    assert sel.matches(lambda path: {"metadata.name": "a", "type": "Opaque"}[path])
    assert sel.value_of("metadata.name") == "a"
    assert obj  # the getter above stands for field_value(obj, path)
    with pytest.raises(ApiError) as err:
        parse_field_selector("spec.foo=bar", supported)
    assert err.value.message == "field label not supported: spec.foo"
    escaped = parse_field_selector(r"metadata.name=a\,b", supported)
    assert escaped.requirements[0].value == "a,b"
