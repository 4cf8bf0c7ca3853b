"""networking.k8s.io: Ingress and IngressClass.

Port of `pkg/apis/networking/validation/validation.go` (Kubernetes 1.33/1.34) as the ingress and
ingressclass registry strategies call it: ValidateIngressCreate, ValidateIngressUpdate,
ValidateIngressStatusUpdate, ValidateIngressClass, ValidateIngressClassUpdate.

Feature gates at their 1.34 defaults: RelaxedServiceNameValidation off (backend service names
are DNS-1035 labels unless the stored object already had a DNS-1123-only name),
StrictIPCIDRValidation off (status IPs are parsed sloppily).
"""

from __future__ import annotations

from typing import Any

from . import names
from .field import ErrorList, GoJSON, Path, forbidden, invalid, not_supported, required, too_long
from .meta import (
    as_dict,
    as_int,
    as_list,
    as_str,
    validate_immutable,
    validate_object_meta,
    validate_object_meta_update,
)

ANNOTATION_INGRESS_CLASS = "kubernetes.io/ingress.class"
MAX_LEN_INGRESS_CLASS_CONTROLLER = 250

SUPPORTED_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")  # sets.List() order
INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")
SUPPORTED_PARAMETER_SCOPES = ("Cluster", "Namespace")


class _Opts:
    """IngressValidationOptions: the ratchets that keep old stored objects updatable."""

    def __init__(self, old: dict | None = None) -> None:
        self.allow_invalid_secret_name = _allow_invalid_secret_name(old)
        self.allow_invalid_wildcard_host_rule = _allow_invalid_wildcard_host_rule(old)
        self.allow_relaxed_service_name = _allow_relaxed_service_name(old)


# --------------------------------------------------------------------------- Ingress


def validate_ingress_create(obj: dict) -> ErrorList:
    """ValidateIngressCreate, including the ingress.class annotation / ingressClassName check."""
    errs = _validate_ingress(obj, _Opts())
    annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
    class_name = as_dict(obj.get("spec")).get("ingressClassName")
    if (ANNOTATION_INGRESS_CLASS in annotations and isinstance(class_name, str)
            and as_str(annotations[ANNOTATION_INGRESS_CLASS]) != class_name):
        # Upstream builds this path from "annotations", not "metadata.annotations".
        errs.append(invalid(Path("annotations").child(ANNOTATION_INGRESS_CLASS),
                            as_str(annotations[ANNOTATION_INGRESS_CLASS]),
                            "must match `ingressClassName` when both are specified"))
    return errs


def validate_ingress_update(obj: dict, old: dict) -> ErrorList:
    """ValidateIngressUpdate (the annotation check is create-only upstream)."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    errs.extend(_validate_ingress(obj, _Opts(old)))
    return errs


def validate_ingress_status_update(obj: dict, old: dict) -> ErrorList:
    """ValidateIngressStatusUpdate."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    lb = as_dict(as_dict(obj.get("status")).get("loadBalancer"))
    errs.extend(validate_ingress_load_balancer_status(lb, Path("status", "loadBalancer")))
    return errs


def _validate_ingress(obj: dict, opts: _Opts) -> ErrorList:
    # validateIngress: metadata (ValidateIngressName is NameIsDNSSubdomain) and spec.
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)
    errs.extend(validate_ingress_spec(as_dict(obj.get("spec")), Path("spec"), opts))
    return errs


def validate_ingress_spec(spec: dict, path: Path, opts: _Opts) -> ErrorList:
    """ValidateIngressSpec."""
    errs: ErrorList = []
    rules = spec.get("rules")
    default_backend = spec.get("defaultBackend")
    if not as_list(rules) and default_backend is None:
        # The bad value is the (empty) rules slice: JSON "null" when absent, "[]" when empty.
        errs.append(invalid(path, GoJSON(rules if isinstance(rules, list) else None),
                            "either `defaultBackend` or `rules` must be specified"))
    if default_backend is not None:
        errs.extend(_validate_backend(as_dict(default_backend), path.child("defaultBackend"),
                                      opts))
    if as_list(rules):
        errs.extend(_validate_rules(as_list(rules), path.child("rules"), opts))
    if as_list(spec.get("tls")):
        errs.extend(_validate_tls(as_list(spec.get("tls")), path.child("tls"), opts))
    class_name = spec.get("ingressClassName")
    if class_name is not None:
        class_name = as_str(class_name)
        errs.extend(invalid(path.child("ingressClassName"), class_name, msg)
                    for msg in names.name_is_dns_subdomain(class_name, False))
    return errs


def _validate_tls(tls_list: list, path: Path, opts: _Opts) -> ErrorList:
    # validateIngressTLS: hosts may be wildcards; no IP check here, unlike rules.
    errs: ErrorList = []
    for tls_index, item in enumerate(tls_list):
        item = as_dict(item)
        for i, host in enumerate(as_list(item.get("hosts"))):
            host = as_str(host)
            host_path = path.index(tls_index).child("hosts").index(i)
            check = (names.is_wildcard_dns1123_subdomain if "*" in host
                     else names.is_dns1123_subdomain)
            errs.extend(invalid(host_path, host, msg) for msg in check(host))
        if not opts.allow_invalid_secret_name:
            secret = as_str(item.get("secretName"))
            errs.extend(invalid(path.index(tls_index).child("secretName"), secret, msg)
                        for msg in _validate_tls_secret_name(secret))
    return errs


def _validate_tls_secret_name(name: str) -> list[str]:
    # validateTLSSecretName: empty is allowed (the controller's default certificate).
    if not name:
        return []
    return names.name_is_dns_subdomain(name, False)


def _validate_rules(rules: list, path: Path, opts: _Opts) -> ErrorList:
    # validateIngressRules
    errs: ErrorList = []
    for i, rule in enumerate(rules):
        rule = as_dict(rule)
        host = as_str(rule.get("host"))
        wildcard = False
        if host:
            host_path = path.index(i).child("host")
            if names.is_ip(host):
                errs.append(invalid(host_path, host, "must be a DNS name, not an IP address"))
            if "*" in host:
                errs.extend(invalid(host_path, host, msg)
                            for msg in names.is_wildcard_dns1123_subdomain(host))
                wildcard = True
            else:
                errs.extend(invalid(host_path, host, msg)
                            for msg in names.is_dns1123_subdomain(host))
        if not wildcard or not opts.allow_invalid_wildcard_host_rule:
            errs.extend(_validate_rule_value(rule, path.index(i), opts))
    return errs


def _validate_rule_value(rule: dict, path: Path, opts: _Opts) -> ErrorList:
    # validateIngressRuleValue + validateHTTPIngressRuleValue
    http = rule.get("http")
    if http is None:
        return []
    http = as_dict(http)
    http_path = path.child("http")
    errs: ErrorList = []
    paths = as_list(http.get("paths"))
    if not paths:
        errs.append(required(http_path.child("paths"), ""))
    for i, p in enumerate(paths):
        errs.extend(_validate_http_path(as_dict(p), http_path.child("paths").index(i), opts))
    return errs


def _validate_http_path(p: dict, path: Path, opts: _Opts) -> ErrorList:
    # validateHTTPIngressPath
    path_type = p.get("pathType")
    if path_type is None:
        # Upstream returns here: the backend of such a path is not validated.
        return [required(path.child("pathType"), "pathType must be specified")]
    path_type = as_str(path_type)
    value = as_str(p.get("path"))
    errs: ErrorList = []
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(invalid(path.child("path"), value, "must be an absolute path"))
        if value:
            for seq in INVALID_PATH_SEQUENCES:
                if seq in value:
                    errs.append(invalid(path.child("path"), value, f"must not contain '{seq}'"))
            for suffix in INVALID_PATH_SUFFIXES:
                if value.endswith(suffix):
                    errs.append(invalid(path.child("path"), value, f"cannot end with '{suffix}'"))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(invalid(path.child("path"), value, "must be an absolute path"))
    else:
        errs.append(not_supported(path.child("pathType"), GoJSON(path_type),
                                  SUPPORTED_PATH_TYPES))
    errs.extend(_validate_backend(as_dict(p.get("backend")), path.child("backend"), opts))
    return errs


def _validate_backend(backend: dict, path: Path, opts: _Opts) -> ErrorList:
    # validateIngressBackend: exactly one of service/resource; service port name xor number.
    has_resource = backend.get("resource") is not None
    has_service = backend.get("service") is not None
    if has_resource and has_service:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if has_resource:
        return _validate_typed_local_object_reference(as_dict(backend["resource"]),
                                                      path.child("resource"))
    if not has_service:
        return [invalid(path, "", "resource or service backend is required")]

    errs: ErrorList = []
    service = as_dict(backend["service"])
    name = as_str(service.get("name"))
    if not name:
        errs.append(required(path.child("service", "name"), ""))
    else:
        name_fn = (names.name_is_dns_label if opts.allow_relaxed_service_name
                   else names.name_is_dns1035_label)
        errs.extend(invalid(path.child("service", "name"), name, msg)
                    for msg in name_fn(name, False))
    port = as_dict(service.get("port"))
    port_name = as_str(port.get("name"))
    port_number = as_int(port.get("number"))
    if port_name and port_number != 0:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errs.extend(invalid(path.child("service", "port", "name"), port_name, msg)
                    for msg in names.is_valid_port_name(port_name))
    elif port_number != 0:
        errs.extend(invalid(path.child("service", "port", "number"), port_number, msg)
                    for msg in names.is_valid_port_num(port_number))
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _validate_typed_local_object_reference(ref: dict, path: Path) -> ErrorList:
    # validateIngressTypedLocalObjectReference
    errs: ErrorList = []
    api_group = ref.get("apiGroup")
    if api_group is not None:
        api_group = as_str(api_group)
        errs.extend(invalid(path.child("apiGroup"), api_group, msg)
                    for msg in names.is_dns1123_subdomain(api_group))
    errs.extend(_required_path_segment(as_str(ref.get("kind")), path.child("kind")))
    errs.extend(_required_path_segment(as_str(ref.get("name")), path.child("name")))
    return errs


def _required_path_segment(value: str, path: Path) -> ErrorList:
    if not value:
        return [required(path, "")]
    return [invalid(path, value, msg) for msg in names.is_path_segment_name(value)]


def validate_ingress_load_balancer_status(status: dict, path: Path) -> ErrorList:
    """ValidateIngressLoadBalancerStatus: ip must parse, hostname must be a DNS name."""
    errs: ErrorList = []
    for i, ingress in enumerate(as_list(status.get("ingress"))):
        ingress = as_dict(ingress)
        idx_path = path.child("ingress").index(i)
        ip = as_str(ingress.get("ip"))
        if ip:
            errs.extend(names.is_valid_ip_for_legacy_field(idx_path.child("ip"), ip))
        hostname = as_str(ingress.get("hostname"))
        if hostname:
            errs.extend(invalid(idx_path.child("hostname"), hostname, msg)
                        for msg in names.is_dns1123_subdomain(hostname))
            if names.is_ip(hostname):
                errs.append(invalid(idx_path.child("hostname"), hostname,
                                    "must be a DNS name, not an IP address"))
    return errs


# --------------------------------------------------------------------------- ratchets


def _allow_invalid_secret_name(old: dict | None) -> bool:
    if old is None:
        return False
    tls = as_list(as_dict(old.get("spec")).get("tls"))
    return any(_validate_tls_secret_name(as_str(as_dict(t).get("secretName"))) for t in tls)


def _allow_invalid_wildcard_host_rule(old: dict | None) -> bool:
    if old is None:
        return False
    for rule in as_list(as_dict(old.get("spec")).get("rules")):
        rule = as_dict(rule)
        if "*" in as_str(rule.get("host")) and _validate_rule_value(rule, Path(""), _Opts()):
            return True
    return False


def _allow_relaxed_service_name(old: dict | None) -> bool:
    # A stored name that is a DNS-1123 label but not a DNS-1035 label (e.g. "1-svc") keeps
    # being accepted on update.
    if old is None:
        return False
    spec = as_dict(old.get("spec"))
    backends = [as_dict(spec.get("defaultBackend"))]
    for rule in as_list(spec.get("rules")):
        for p in as_list(as_dict(as_dict(rule).get("http")).get("paths")):
            backends.append(as_dict(as_dict(p).get("backend")))
    for backend in backends:
        service = backend.get("service")
        if service is None:
            continue
        name = as_str(as_dict(service).get("name"))
        if (not names.name_is_dns_label(name, False)
                and names.name_is_dns1035_label(name, False)):
            return True
    return False


# --------------------------------------------------------------------------- IngressClass


def validate_ingress_class(obj: dict) -> ErrorList:
    """ValidateIngressClass (cluster-scoped; ValidateIngressClassName is NameIsDNSSubdomain)."""
    errs = validate_object_meta(obj.get("metadata"), False, names.name_is_dns_subdomain)
    errs.extend(_validate_ingress_class_spec(as_dict(obj.get("spec")), Path("spec")))
    return errs


def validate_ingress_class_update(obj: dict, old: dict) -> ErrorList:
    """ValidateIngressClassUpdate: spec.controller is immutable."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    errs.extend(validate_immutable(as_str(as_dict(obj.get("spec")).get("controller")),
                                   as_str(as_dict(old.get("spec")).get("controller")),
                                   Path("spec", "controller")))
    errs.extend(validate_ingress_class(obj))
    return errs


def _validate_ingress_class_spec(spec: dict, path: Path) -> ErrorList:
    # validateIngressClassSpec
    errs: ErrorList = []
    controller = as_str(spec.get("controller"))
    if not controller:
        errs.append(required(path.child("controller"), ""))
    else:
        if len(controller.encode()) > MAX_LEN_INGRESS_CLASS_CONTROLLER:
            errs.append(too_long(path.child("controller"), MAX_LEN_INGRESS_CLASS_CONTROLLER))
        errs.extend(names.is_domain_prefixed_path(path.child("controller"), controller))
    params = spec.get("parameters")
    if params is not None:
        errs.extend(_validate_parameters(as_dict(params), path.child("parameters")))
    return errs


def _validate_parameters(params: dict, path: Path) -> ErrorList:
    # validateIngressClassParametersReference
    errs: ErrorList = []
    api_group = params.get("apiGroup")
    if api_group is not None:
        api_group = as_str(api_group)
        errs.extend(invalid(path.child("apiGroup"), api_group, msg)
                    for msg in names.is_dns1123_subdomain(api_group))
    errs.extend(_required_path_segment(as_str(params.get("kind")), path.child("kind")))
    errs.extend(_required_path_segment(as_str(params.get("name")), path.child("name")))
    scope: Any = params.get("scope")
    if scope is None:
        # networking/v1 defaulting sets "Cluster" whenever parameters are given.
        scope = "Cluster"
    scope = as_str(scope)
    if scope not in SUPPORTED_PARAMETER_SCOPES:
        errs.append(not_supported(path.child("scope"), scope, SUPPORTED_PARAMETER_SCOPES))
        return errs
    namespace = params.get("namespace")
    if scope == "Namespace":
        if namespace is None:
            errs.append(required(path.child("namespace"),
                                 "`parameters.scope` is set to 'Namespace'"))
        else:
            namespace = as_str(namespace)
            errs.extend(invalid(path.child("namespace"), namespace, msg)
                        for msg in names.name_is_dns_label(namespace, False))
    if scope == "Cluster" and namespace is not None:
        errs.append(forbidden(path.child("namespace"), "`parameters.scope` is set to 'Cluster'"))
    return errs
