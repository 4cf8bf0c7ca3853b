"""Admission plugins of the fake API server: DefaultIngressClass
(kubernetes plugin/pkg/admission/network/defaultingressclass/admission.go).

The apiserver fixture is shared by every test of a worker, so each test removes the
IngressClasses it creates (a leftover default class would change other tests' Ingresses).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import kubernetes
import pytest

from simulator.apiserver.admission import get_default_class
from tests.conftest import ingress_body

DEFAULT = "ingressclass.kubernetes.io/is-default-class"
APPLY = "application/apply-patch+yaml"


@contextmanager
def ingress_classes(networking: kubernetes.client.NetworkingV1Api,
                    *specs: tuple[str, str | None]) -> Iterator[list[str]]:
    """Create IngressClasses `(suffix, is-default-class value or None)` with unique names,
    one after the other, and delete them all afterwards."""
    tag = uuid.uuid4().hex[:8]
    names: list[str] = []
    try:
        for suffix, is_default in specs:
            md: dict = {"name": f"{suffix}-{tag}"}
            if is_default is not None:
                md["annotations"] = {DEFAULT: is_default}
            names.append(networking.create_ingress_class(
                {"metadata": md, "spec": {"controller": "example.com/ingress"}}).metadata.name)
        yield names
    finally:
        for name in names:
            try:
                networking.delete_ingress_class(name)
            except kubernetes.client.ApiException as exc:
                if exc.status != 404:
                    raise


def _managed_paths(obj) -> str:
    return repr([m.fields_v1 for m in obj.metadata.managed_fields or []])


def test_create_without_class_gets_the_default(networking, namespace):
    with ingress_classes(networking, ("plain", None), ("dflt", "true")) as (_, dflt):
        created = networking.create_namespaced_ingress(namespace, ingress_body("web"))
        assert created.spec.ingress_class_name == dflt
        stored = networking.read_namespaced_ingress("web", namespace)
        assert stored.spec.ingress_class_name == dflt
        # The creator's managed fields are recorded before admission: the class is unowned.
        assert "f:rules" in _managed_paths(stored)
        assert "ingressClassName" not in _managed_paths(stored)
        generated = networking.create_namespaced_ingress(
            namespace, ingress_body("", metadata={"generateName": "gen-"}))
        assert generated.metadata.name.startswith("gen-")
        assert generated.spec.ingress_class_name == dflt


def test_class_name_or_annotation_is_kept(networking, namespace):
    with ingress_classes(networking, ("other", None), ("dflt", "true")) as (other, _):
        explicit = ingress_body("explicit")
        explicit["spec"]["ingressClassName"] = other
        assert networking.create_namespaced_ingress(
            namespace, explicit).spec.ingress_class_name == other
        # Any value of the legacy annotation, even an empty one, turns the defaulting off.
        for i, value in enumerate(("nginx", "")):
            body = ingress_body(f"annotated-{i}", metadata={
                "annotations": {"kubernetes.io/ingress.class": value}})
            created = networking.create_namespaced_ingress(namespace, body)
            assert created.spec.ingress_class_name is None
            assert created.metadata.annotations["kubernetes.io/ingress.class"] == value


def test_no_default_class_leaves_the_class_unset(networking, namespace):
    # Only the exact value "true" marks a default class.
    with ingress_classes(networking, ("plain", None), ("no", "false"), ("caps", "True")):
        created = networking.create_namespaced_ingress(namespace, ingress_body("web"))
        assert created.spec.ingress_class_name is None


def test_several_default_classes_the_newest_wins(networking, namespace):
    with ingress_classes(networking, ("a-old", "true")) as (old,):
        # creationTimestamp has second precision: make the second class strictly newer.
        created_at = networking.read_ingress_class(old).metadata.creation_timestamp
        while True:
            time.sleep(0.05)
            with ingress_classes(networking, ("z-new", "true")) as (new,):
                if networking.read_ingress_class(new).metadata.creation_timestamp > created_at:
                    ing = networking.create_namespaced_ingress(namespace, ingress_body("web"))
                    # Newest first even though its name sorts last.
                    assert ing.spec.ingress_class_name == new
                    break


def test_several_default_classes_same_second_smallest_name_wins(networking, namespace):
    for attempt in range(10):
        with ingress_classes(networking, ("zz", "true"), ("aa", "true"), ("mm", "true")) \
                as names:
            stamps = {networking.read_ingress_class(n).metadata.creation_timestamp
                      for n in names}
            if len(stamps) == 1:
                ing = networking.create_namespaced_ingress(namespace,
                                                           ingress_body(f"web-{attempt}"))
                assert ing.spec.ingress_class_name == names[1]
                return
    pytest.fail("could not create three IngressClasses within one second")


def test_get_default_class_ordering():
    def cls(name: str, created: str | None, default: str | None = "true") -> dict:
        md: dict = {"name": name}
        if created:
            md["creationTimestamp"] = created
        if default is not None:
            md["annotations"] = {DEFAULT: default}
        return {"metadata": md}

    assert get_default_class([]) is None
    assert get_default_class([cls("a", "2024-01-01T00:00:00Z", "false"),
                              cls("b", "2024-01-01T00:00:00Z", None)]) is None
    newest = get_default_class([cls("a", "2024-01-01T00:00:00Z"),
                                cls("z", "2024-01-01T00:00:01Z"),
                                cls("m", "2023-12-31T23:59:59Z"),
                                cls("y", "2025-01-01T00:00:00Z", "false")])
    assert newest is not None and newest["metadata"]["name"] == "z"
    tie = get_default_class([cls("c", "2024-01-01T00:00:00Z"), cls("b", "2024-01-01T00:00:00Z"),
                             cls("old", None)])
    assert tie is not None and tie["metadata"]["name"] == "b"


def test_updates_are_left_alone(networking, namespace):
    created = networking.create_namespaced_ingress(namespace, ingress_body("web"))
    assert created.spec.ingress_class_name is None
    with ingress_classes(networking, ("dflt", "true")):
        created.metadata.labels = {"touched": "yes"}
        replaced = networking.replace_namespaced_ingress("web", namespace, created)
        assert replaced.metadata.labels == {"touched": "yes"}
        assert replaced.spec.ingress_class_name is None
        patched = networking.patch_namespaced_ingress("web", namespace,
                                                      {"metadata": {"labels": {"p": "1"}}})
        assert patched.spec.ingress_class_name is None
        applied = networking.patch_namespaced_ingress(
            "web", namespace, ingress_body("web", metadata={"labels": {"a": "1"}}),
            field_manager="applier", _content_type=APPLY)
        assert applied.metadata.labels["a"] == "1"
        assert applied.spec.ingress_class_name is None
        assert networking.read_namespaced_ingress(
            "web", namespace).spec.ingress_class_name is None


def test_dry_run_create_is_defaulted(networking, namespace):
    with ingress_classes(networking, ("dflt", "true")) as (dflt,):
        dry = networking.create_namespaced_ingress(namespace, ingress_body("web"), dry_run="All")
        assert dry.spec.ingress_class_name == dflt
        with pytest.raises(kubernetes.client.ApiException) as exc:
            networking.read_namespaced_ingress("web", namespace)
        assert exc.value.status == 404
        dry_apply = networking.patch_namespaced_ingress(
            "web", namespace, ingress_body("web"), field_manager="applier",
            _content_type=APPLY, dry_run="All")
        assert dry_apply.spec.ingress_class_name == dflt
        assert networking.list_namespaced_ingress(namespace).items == []


def test_server_side_apply_create_is_defaulted(networking, namespace):
    with ingress_classes(networking, ("dflt", "true")) as (dflt,):
        applied = networking.patch_namespaced_ingress(
            "web", namespace, ingress_body("web"), field_manager="applier", _content_type=APPLY)
        assert applied.spec.ingress_class_name == dflt
        assert [m.manager for m in applied.metadata.managed_fields] == ["applier"]
        assert "ingressClassName" not in _managed_paths(applied)
        # A later apply without the field leaves the (unowned) default in place.
        again = networking.patch_namespaced_ingress(
            "web", namespace, ingress_body("web", metadata={"labels": {"x": "y"}}),
            field_manager="applier", _content_type=APPLY)
        assert again.spec.ingress_class_name == dflt


def test_put_cannot_create_an_ingress(networking, namespace):
    # Ingress does not allow create-on-update (ingressStrategy.AllowCreateOnUpdate is false),
    # so a PUT never reaches admission as a CREATE.
    with ingress_classes(networking, ("dflt", "true")):
        with pytest.raises(kubernetes.client.ApiException) as exc:
            networking.replace_namespaced_ingress("web", namespace, ingress_body("web"))
        assert exc.value.status == 404

