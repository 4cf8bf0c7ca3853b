"""Which Ingresses this controller serves: IngressClass selection.

An Ingress is served when, in this order of precedence:

1. `spec.ingressClassName` is set: it names an IngressClass whose `spec.controller` equals
   the controller's name. ("The ingressClassName field ... should reference an IngressClass
   resource that contains the name of the controller that should implement the class.")
   A name with no such IngressClass is not served. The legacy annotation is then ignored:
   kube-apiserver refuses to create an Ingress whose annotation differs from the field ("must
   match `ingressClassName` when both are specified"), and ingress-nginx also looks at the
   field first.
2. Otherwise the deprecated annotation `kubernetes.io/ingress.class` is present: its value is
   the *name* of one of this controller's IngressClasses. (ingress-nginx compares it with its
   `--ingress-class` flag, which by convention is the IngressClass name; an empty value matches
   nothing.) An Ingress with the annotation never falls back to the default class, exactly as
   the DefaultIngressClass admission plugin skips it ("Ingress class annotation has been set,
   no need to set a default value").
3. Otherwise (no field, no annotation) the cluster's default IngressClass is this
   controller's. The default is the IngressClass annotated
   `ingressclass.kubernetes.io/is-default-class: "true"`; when several are, we take the one
   kube-apiserver's DefaultIngressClass admission plugin picks since Kubernetes 1.28: the
   newest by creationTimestamp, ties broken by the smallest name ("default IngressClasses were
   found, choosing the newest"). All classes compete, so a newer default of another controller
   takes the Ingress away from us. The admission plugin normally writes the default into
   `spec.ingressClassName` on create; this rule covers Ingresses created before any default
   existed or through an API server without the plugin (ingress-nginx needs
   `--watch-ingress-without-class` for them).

Everything else is ignored: not routed, not in `served`, no Events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from simulator.controller.objects import annotations_of, as_dict, as_str, creation_time, name_of

IS_DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def default_class_name(ingress_classes: Iterable[dict]) -> str | None:
    """The name of the IngressClass the DefaultIngressClass admission plugin would assign, or
    None: the newest class annotated as default, ties broken by the smallest name. A class
    without a creationTimestamp counts as the oldest, as Go's zero time does."""
    defaults = [ic for ic in ingress_classes
                if annotations_of(ic).get(IS_DEFAULT_CLASS_ANNOTATION) == "true"]
    if not defaults:
        return None

    def newest_first(ic: dict) -> tuple[float, str]:
        created = creation_time(ic)
        return (-created.timestamp() if created else math.inf, name_of(ic))

    return name_of(min(defaults, key=newest_first))


@dataclass(frozen=True)
class ClassSelector:
    """Decides `serves(ingress)`; build it once per snapshot with `ClassSelector.build`."""

    own_classes: frozenset[str]  # names of the IngressClasses whose controller is ours
    default_class: str | None  # the cluster's default IngressClass name, whoever owns it
    other_classes: frozenset[str] = frozenset()  # existing classes of other controllers

    @classmethod
    def build(cls, ingress_classes: Iterable[dict], controller_name: str) -> ClassSelector:
        classes = list(ingress_classes)
        own = frozenset(name_of(ic) for ic in classes
                        if as_str(as_dict(ic.get("spec")).get("controller")) == controller_name
                        and name_of(ic))
        others = frozenset(name_of(ic) for ic in classes if name_of(ic)) - own
        return cls(own, default_class_name(classes), others)

    def class_of(self, ingress: dict) -> str | None:
        """The IngressClass name `ingress` asks for: the field, else the legacy annotation,
        else the cluster's default class."""
        class_name = as_dict(ingress.get("spec")).get("ingressClassName")
        if isinstance(class_name, str) and class_name:
            return class_name
        annotations = annotations_of(ingress)
        if LEGACY_CLASS_ANNOTATION in annotations:
            return as_str(annotations[LEGACY_CLASS_ANNOTATION])
        return self.default_class

    def serves(self, ingress: dict) -> bool:
        """Whether this controller serves `ingress` (see the module docstring)."""
        return self.class_of(ingress) in self.own_classes

    def claimed_elsewhere(self, ingress: dict) -> bool:
        """Whether `ingress` belongs to an existing IngressClass of another controller, whose
        status is that controller's to write."""
        return self.class_of(ingress) in self.other_classes


def is_served(ingress: dict, ingress_classes: Iterable[dict], controller_name: str) -> bool:
    """Whether the controller named `controller_name` serves `ingress`, given the cluster's
    IngressClasses. For many Ingresses, build one `ClassSelector` instead."""
    return ClassSelector.build(ingress_classes, controller_name).serves(ingress)

