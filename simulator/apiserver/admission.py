"""Mutating admission plugins kube-apiserver enables by default, run on the write path.

Only DefaultIngressClass is implemented, as
`plugin/pkg/admission/network/defaultingressclass/admission.go`: on CREATE of an Ingress
(not a subresource) with neither `spec.ingressClassName` nor the
`kubernetes.io/ingress.class` annotation, `spec.ingressClassName` is set to the IngressClass
annotated `ingressclass.kubernetes.io/is-default-class: "true"`.  When several are, the
newest by creationTimestamp wins, ties going to the smallest name.  Updates are left alone.

Admission runs wherever the generic handlers run it with `admission.Create`: POST, a PUT that
creates (AllowCreateOnUpdate kinds only, which Ingress is not), and a server-side apply that
creates; dry-run requests included.  As upstream, the managed fields of the request are
computed before admission, so fields set here belong to no manager.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..jsonobj import clone
from .meta import parse_rfc3339
from .resources import ResourceType

Obj = dict[str, Any]

INGRESS_KEY = "networking.k8s.io/Ingress"
INGRESS_CLASSES = "networking.k8s.io/ingressclasses"
# networkingv1beta1.AnnotationIngressClass
ANNOTATION_INGRESS_CLASS = "kubernetes.io/ingress.class"
# networkingv1.AnnotationIsDefaultIngressClass
ANNOTATION_IS_DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"


def admit_create(rt: ResourceType, obj: Obj, ingress_classes: Iterable[Obj],
                 subresource: str = "") -> Obj | None:
    """Run the mutating admission plugins for a CREATE of `obj`.

    `ingress_classes` are the stored IngressClasses (iterated only when needed).  Returns
    the admitted object, a copy, when a plugin changed it; None when nothing changed.
    """
    if rt.key != INGRESS_KEY or subresource:
        return None
    admitted = clone(obj)
    return admitted if default_ingress_class(rt, admitted, ingress_classes) else None


def default_ingress_class(rt: ResourceType, obj: Obj, ingress_classes: Iterable[Obj],
                          subresource: str = "") -> bool:
    """classDefaulterPlugin.Admit."""
    if rt.key != INGRESS_KEY or subresource:
        return False
    spec = obj.get("spec")
    if spec is not None and not isinstance(spec, dict):
        return False  # malformed: validation rejects it
    if spec and spec.get("ingressClassName") is not None:
        return False  # IngressClassName has been set
    annotations = (obj.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict) and ANNOTATION_INGRESS_CLASS in annotations:
        return False  # the class annotation has been set
    default = get_default_class(ingress_classes)
    if default is None:
        return False
    if spec is None:
        spec = obj["spec"] = {}
    spec["ingressClassName"] = default["metadata"]["name"]
    return True


def get_default_class(ingress_classes: Iterable[Obj]) -> Obj | None:
    """getDefaultClass: the newest default IngressClass (ties: the smallest name), or None."""
    defaults = [c for c in ingress_classes
                if ((c.get("metadata") or {}).get("annotations") or {})
                .get(ANNOTATION_IS_DEFAULT_CLASS) == "true"]
    if not defaults:
        return None
    defaults.sort(key=lambda c: (-_created(c), c["metadata"].get("name", "")))
    return defaults[0]


def _created(obj: Obj) -> float:
    """creationTimestamp in seconds; an unset or unreadable one is Go's zero time."""
    text = (obj.get("metadata") or {}).get("creationTimestamp")
    try:
        return parse_rfc3339(text).timestamp()
    except (TypeError, ValueError):
        return float("-inf")
