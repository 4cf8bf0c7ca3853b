"""Core group (v1): Service, Namespace, Pod, Secret, ConfigMap, Endpoints, ServiceAccount,
Node, Event, plus the pod-template checks apps reuses.

Port of the matching parts of `pkg/apis/core/validation/validation.go` and `events.go`.  Only
the checks a client can trip while driving an Ingress controller are ported; each function
names the upstream function it follows and says what it leaves out.

Fields that v1 defaulting always fills (Service port protocol, sessionAffinity, type; container
terminationMessagePolicy, imagePullPolicy; pod restartPolicy, dnsPolicy, ...) are validated
when present and treated as their default when absent, so an object the server forgot to
default is not rejected with a "Required value" kube-apiserver would never produce.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from . import names
from .field import (
    ErrorList,
    GoJSON,
    GoStruct,
    Path,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)
from .meta import (
    as_dict,
    as_int,
    as_list,
    as_str,
    str_map,
    validate_annotations,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_immutable,
    validate_kube_finalizer_name,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
    validate_qualified_name,
)

SUPPORTED_PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")  # sets.List() order
MAX_SECRET_SIZE = 1 * 1024 * 1024


def _validate_port_num_or_name(port: Any, path: Path) -> ErrorList:
    """ValidatePortNumOrName for an IntOrString."""
    if isinstance(port, str):
        return [invalid(path, port, msg) for msg in names.is_valid_port_name(port)]
    number = as_int(port)
    return [invalid(path, number, msg) for msg in names.is_valid_port_num(number)]


# --------------------------------------------------------------------------- Service

SUPPORTED_SESSION_AFFINITY = ("ClientIP", "None")
SUPPORTED_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
SUPPORTED_TRAFFIC_POLICIES = ("Cluster", "Local")


def _is_headless(spec: dict) -> bool:
    # isHeadlessService: the strategy syncs clusterIP into clusterIPs[0].
    ips = as_list(spec.get("clusterIPs"))
    first = as_str(ips[0]) if ips else as_str(spec.get("clusterIP"))
    return first == "None"


def validate_service(obj: dict) -> ErrorList:
    """ValidateService.

    Left out: ValidateServiceClusterIPsRelatedFields (the server allocates cluster IPs),
    loadBalancerClass and trafficDistribution rules, fields the allocator fills
    (allocateLoadBalancerNodePorts, healthCheckNodePort).
    """
    meta_path = Path("metadata")
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns1035_label, meta_path)
    spec = as_dict(obj.get("spec"))
    spec_path = Path("spec")
    svc_type = as_str(spec.get("type")) or "ClusterIP"
    ports = [as_dict(p) for p in as_list(spec.get("ports"))]
    headless = _is_headless(spec)

    if not ports and not headless and svc_type != "ExternalName":
        errs.append(required(spec_path.child("ports"), ""))
    if svc_type in ("LoadBalancer", "NodePort") and headless:
        errs.append(invalid(spec_path.child("clusterIPs").index(0), "None",
                            f"may not be set to 'None' for {svc_type} services"))
    elif svc_type == "ExternalName":
        if as_list(spec.get("clusterIPs")) or as_str(spec.get("clusterIP")):
            errs.append(forbidden(spec_path.child("clusterIPs"),
                                  "may not be set for ExternalName services"))
        if as_list(spec.get("ipFamilies")):
            errs.append(forbidden(spec_path.child("ipFamilies"),
                                  "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden(spec_path.child("ipFamilyPolicy"),
                                  "may not be set for ExternalName services"))
        cname = as_str(spec.get("externalName"))
        cname = cname[:-1] if cname.endswith(".") else cname
        if cname:
            errs.extend(validate_dns1123_subdomain(cname, spec_path.child("externalName")))
        else:
            errs.append(required(spec_path.child("externalName"), ""))

    ports_path = spec_path.child("ports")
    seen_names: set[str] = set()
    for i, port in enumerate(ports):
        errs.extend(_validate_service_port(port, len(ports) > 1, seen_names, ports_path.index(i)))

    if spec.get("selector") is not None:
        errs.extend(validate_labels(spec.get("selector"), spec_path.child("selector")))

    affinity = as_str(spec.get("sessionAffinity")) or "None"
    if affinity not in SUPPORTED_SESSION_AFFINITY:
        errs.append(not_supported(spec_path.child("sessionAffinity"), GoJSON(affinity),
                                  SUPPORTED_SESSION_AFFINITY))
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errs.append(forbidden(spec_path.child("sessionAffinityConfig"),
                              "must not be set when session affinity is None"))

    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        ip = as_str(ip)
        idx_path = spec_path.child("externalIPs").index(i)
        ip_errs = names.is_valid_ip_for_legacy_field(idx_path, ip)
        errs.extend(ip_errs or names.validate_non_special_ip(ip, idx_path))

    if svc_type not in SUPPORTED_SERVICE_TYPES:
        errs.append(not_supported(spec_path.child("type"), GoJSON(svc_type),
                                  SUPPORTED_SERVICE_TYPES))
    if svc_type == "ClusterIP":
        for i, port in enumerate(ports):
            if as_int(port.get("nodePort")) != 0:
                errs.append(forbidden(ports_path.index(i).child("nodePort"),
                                      "may not be used when `type` is 'ClusterIP'"))

    # Duplicate nodePorts and ports, keyed by (protocol, number) as upstream.
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        node_port = as_int(port.get("nodePort"))
        if node_port == 0:
            continue
        key = (_protocol(port), node_port)
        if key in node_ports:
            errs.append(duplicate(ports_path.index(i).child("nodePort"), node_port))
        node_ports.add(key)
    seen_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (_protocol(port), as_int(port.get("port")))
        if key in seen_ports:
            # The bad value is the internal ServicePort key struct (no json tags).
            errs.append(duplicate(ports_path.index(i), GoStruct(
                Name="", Protocol=key[0], AppProtocol=None, Port=key[1], TargetPort=0,
                NodePort=0)))
        seen_ports.add(key)

    ranges = as_list(spec.get("loadBalancerSourceRanges"))
    if ranges:
        ranges_path = spec_path.child("LoadBalancerSourceRanges")  # sic, upstream casing
        if svc_type != "LoadBalancer":
            errs.append(forbidden(ranges_path, "may only be used when `type` is 'LoadBalancer'"))
        for i, value in enumerate(ranges):
            errs.extend(names.is_valid_cidr_sloppy(ranges_path.index(i), as_str(value).strip()))

    if spec.get("allocateLoadBalancerNodePorts") is not None and svc_type != "LoadBalancer":
        errs.append(forbidden(spec_path.child("allocateLoadBalancerNodePorts"),
                              "may only be used when `type` is 'LoadBalancer'"))

    errs.extend(_validate_traffic_policies(spec, svc_type))
    return errs


def _protocol(port: dict) -> str:
    return as_str(port.get("protocol")) or "TCP"


def _validate_service_port(port: dict, require_name: bool, seen: set[str], path: Path
                           ) -> ErrorList:
    # validateServicePort
    errs: ErrorList = []
    name = as_str(port.get("name"))
    if require_name and not name:
        errs.append(required(path.child("name"), ""))
    elif name:
        errs.extend(validate_dns1123_label(name, path.child("name")))
        if name in seen:
            errs.append(duplicate(path.child("name"), name))
        else:
            seen.add(name)
    number = as_int(port.get("port"))
    errs.extend(invalid(path.child("port"), number, msg) for msg in names.is_valid_port_num(number))
    protocol = _protocol(port)
    if protocol not in SUPPORTED_PORT_PROTOCOLS:
        errs.append(not_supported(path.child("protocol"), GoJSON(protocol),
                                  SUPPORTED_PORT_PROTOCOLS))
    # v1 defaulting sets targetPort to port when it is absent, 0 or "".
    target = port.get("targetPort")
    if target is None or target == "" or (isinstance(target, int) and target == 0):
        target = number
    errs.extend(_validate_port_num_or_name(target, path.child("targetPort")))
    app_protocol = port.get("appProtocol")
    if app_protocol is not None:
        errs.extend(validate_qualified_name(as_str(app_protocol), path.child("appProtocol")))
    return errs


def _validate_traffic_policies(spec: dict, svc_type: str) -> ErrorList:
    # validateServiceExternalTrafficPolicy / validateServiceInternalTrafficFieldsValue
    errs: ErrorList = []
    path = Path("spec")
    has_external_ips = bool(as_list(spec.get("externalIPs")))
    externally_accessible = (svc_type in ("LoadBalancer", "NodePort")
                             or (svc_type == "ClusterIP" and has_external_ips))
    etp = as_str(spec.get("externalTrafficPolicy"))
    if not externally_accessible:
        if etp:
            errs.append(invalid(path.child("externalTrafficPolicy"), GoJSON(etp),
                                "may only be set for externally-accessible services"))
    elif etp and etp not in SUPPORTED_TRAFFIC_POLICIES:
        errs.append(not_supported(path.child("externalTrafficPolicy"), GoJSON(etp),
                                  SUPPORTED_TRAFFIC_POLICIES))
    itp = spec.get("internalTrafficPolicy")
    if itp is not None and as_str(itp) not in SUPPORTED_TRAFFIC_POLICIES:
        errs.append(not_supported(path.child("internalTrafficPolicy"), GoJSON(as_str(itp)),
                                  SUPPORTED_TRAFFIC_POLICIES))
    return errs


def validate_service_update(obj: dict, old: dict) -> ErrorList:
    """ValidateServiceUpdate (cluster IP / IP family transitions are left to the server)."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    errs.extend(validate_service(obj))
    return errs


def validate_service_status_update(obj: dict, old: dict) -> ErrorList:
    """ValidateServiceStatusUpdate / ValidateLoadBalancerStatus."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    path = Path("status", "loadBalancer", "ingress")
    svc_type = as_str(as_dict(obj.get("spec")).get("type")) or "ClusterIP"
    ingresses = as_list(as_dict(as_dict(obj.get("status")).get("loadBalancer")).get("ingress"))
    if svc_type != "LoadBalancer" and ingresses:
        errs.append(forbidden(path, "may only be used when `spec.type` is 'LoadBalancer'"))
        return errs
    for i, ingress in enumerate(ingresses):
        ingress = as_dict(ingress)
        idx_path = path.index(i)
        ip = as_str(ingress.get("ip"))
        if ip:
            errs.extend(names.is_valid_ip_for_legacy_field(idx_path.child("ip"), ip))
        ip_mode = ingress.get("ipMode")
        if ip_mode is not None and not ip:
            errs.append(forbidden(idx_path.child("ipMode"),
                                  "may not be specified when `ip` is not set"))
        elif ip_mode is not None and as_str(ip_mode) not in ("Proxy", "VIP"):
            errs.append(not_supported(idx_path.child("ipMode"), GoJSON(ip_mode), ("Proxy", "VIP")))
        hostname = as_str(ingress.get("hostname"))
        if hostname:
            errs.extend(invalid(idx_path.child("hostname"), hostname, msg)
                        for msg in names.is_dns1123_subdomain(hostname))
            if names.is_ip(hostname):
                errs.append(invalid(idx_path.child("hostname"), hostname,
                                    "must be a DNS name, not an IP address"))
    return errs


# --------------------------------------------------------------------------- Namespace, Node, SA


def validate_namespace(obj: dict) -> ErrorList:
    """ValidateNamespace: the name is a DNS-1123 label; spec.finalizers are checked."""
    errs = validate_object_meta(obj.get("metadata"), False, names.name_is_dns_label)
    path = Path("spec", "finalizers")
    for f in as_list(as_dict(obj.get("spec")).get("finalizers")):
        f = as_str(f)
        errs.extend(invalid(path, f, msg) for msg in names.is_qualified_name(f))
        errs.extend(validate_kube_finalizer_name(f, path))
    return errs


def validate_node(obj: dict) -> ErrorList:
    """ValidateNode: metadata and spec.podCIDRs (taints and resources are left out)."""
    errs = validate_object_meta(obj.get("metadata"), False, names.name_is_dns_subdomain)
    path = Path("spec", "podCIDRs")
    for i, cidr in enumerate(as_list(as_dict(obj.get("spec")).get("podCIDRs"))):
        errs.extend(names.is_valid_cidr_sloppy(path.index(i), as_str(cidr)))
    return errs


def validate_service_account(obj: dict) -> ErrorList:
    """ValidateServiceAccount."""
    return validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)


# --------------------------------------------------------------------------- Secret, ConfigMap


def _secret_data(obj: dict) -> dict[str, int]:
    """Key -> decoded size of Secret data; stringData is merged in as conversion does."""
    out: dict[str, int] = {}
    for key, value in as_dict(obj.get("data")).items():
        try:
            out[str(key)] = len(base64.b64decode(as_str(value), validate=True))
        except (binascii.Error, ValueError):
            out[str(key)] = len(as_str(value))
    for key, value in as_dict(obj.get("stringData")).items():
        out[str(key)] = len(as_str(value).encode())
    return out


def validate_secret(obj: dict) -> ErrorList:
    """ValidateSecret: data keys, total size, and the keys each well-known type requires."""
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)
    data_path = Path("data")
    data = _secret_data(obj)
    for key in data:
        errs.extend(invalid(data_path.key(key), key, msg) for msg in names.is_config_map_key(key))
    if sum(data.values()) > MAX_SECRET_SIZE:
        errs.append(too_long(data_path, MAX_SECRET_SIZE))

    secret_type = as_str(obj.get("type"))
    annotations = str_map(as_dict(obj.get("metadata")).get("annotations"))
    if secret_type == "kubernetes.io/service-account-token":
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required(Path("metadata", "annotations")
                                 .key("kubernetes.io/service-account.name"), ""))
    elif secret_type == "kubernetes.io/dockercfg":
        if ".dockercfg" not in data:
            errs.append(required(data_path.key(".dockercfg"), ""))
    elif secret_type == "kubernetes.io/dockerconfigjson":
        if ".dockerconfigjson" not in data:
            errs.append(required(data_path.key(".dockerconfigjson"), ""))
    elif secret_type == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.append(required(data_path.key("username"), ""))
            errs.append(required(data_path.key("password"), ""))
    elif secret_type == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required(data_path.key("ssh-privatekey"), ""))
    elif secret_type == "kubernetes.io/tls":
        if "tls.crt" not in data:
            errs.append(required(data_path.key("tls.crt"), ""))
        if "tls.key" not in data:
            errs.append(required(data_path.key("tls.key"), ""))
    return errs


def validate_secret_update(obj: dict, old: dict) -> ErrorList:
    """ValidateSecretUpdate: type is immutable, and so is data once `immutable` is set."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    errs.extend(validate_immutable(GoJSON(as_str(obj.get("type")) or "Opaque"),
                                   GoJSON(as_str(old.get("type")) or "Opaque"), Path("type")))
    if old.get("immutable") is True:
        if obj.get("immutable") is not True:
            errs.append(forbidden(Path("immutable"), "field is immutable when `immutable` is set"))
        if as_dict(obj.get("data")) != as_dict(old.get("data")) or obj.get("stringData"):
            errs.append(forbidden(Path("data"), "field is immutable when `immutable` is set"))
    errs.extend(validate_secret(obj))
    return errs


def validate_config_map(obj: dict) -> ErrorList:
    """ValidateConfigMap: data/binaryData keys, no key in both, total size."""
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)
    data = as_dict(obj.get("data"))
    binary = as_dict(obj.get("binaryData"))
    total = 0
    for key, value in data.items():
        key = str(key)
        errs.extend(invalid(Path("data").key(key), key, msg)
                    for msg in names.is_config_map_key(key))
        if key in binary:
            errs.append(invalid(Path("data").key(key), key,
                                "duplicate of key present in binaryData"))
        total += len(as_str(value).encode())
    for key, value in binary.items():
        key = str(key)
        errs.extend(invalid(Path("binaryData").key(key), key, msg)
                    for msg in names.is_config_map_key(key))
        try:
            total += len(base64.b64decode(as_str(value), validate=True))
        except (binascii.Error, ValueError):
            total += len(as_str(value))
    if total > MAX_SECRET_SIZE:
        errs.append(too_long(Path(""), MAX_SECRET_SIZE))
    return errs


def validate_config_map_update(obj: dict, old: dict) -> ErrorList:
    """ValidateConfigMapUpdate."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    if old.get("immutable") is True:
        if obj.get("immutable") is not True:
            errs.append(forbidden(Path("immutable"), "field is immutable when `immutable` is set"))
        if as_dict(obj.get("data")) != as_dict(old.get("data")):
            errs.append(forbidden(Path("data"), "field is immutable when `immutable` is set"))
        if as_dict(obj.get("binaryData")) != as_dict(old.get("binaryData")):
            errs.append(forbidden(Path("binaryData"), "field is immutable when `immutable` is set"))
    errs.extend(validate_config_map(obj))
    return errs


# --------------------------------------------------------------------------- Endpoints


def validate_endpoints(obj: dict) -> ErrorList:
    """ValidateEndpoints: subsets need addresses; IPs, hostnames and ports are checked."""
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)
    path = Path("subsets")
    for i, subset in enumerate(as_list(obj.get("subsets"))):
        subset = as_dict(subset)
        idx_path = path.index(i)
        addresses = as_list(subset.get("addresses"))
        not_ready = as_list(subset.get("notReadyAddresses"))
        if not addresses and not not_ready:
            errs.append(required(idx_path, "must specify `addresses` or `notReadyAddresses`"))
        for j, addr in enumerate(addresses):
            errs.extend(_validate_endpoint_address(as_dict(addr),
                                                   idx_path.child("addresses").index(j)))
        for j, addr in enumerate(not_ready):
            errs.extend(_validate_endpoint_address(as_dict(addr),
                                                   idx_path.child("notReadyAddresses").index(j)))
        ports = as_list(subset.get("ports"))
        for j, port in enumerate(ports):
            errs.extend(_validate_endpoint_port(as_dict(port), len(ports) > 1,
                                                idx_path.child("ports").index(j)))
    return errs


def _validate_endpoint_address(addr: dict, path: Path) -> ErrorList:
    # validateEndpointAddress
    ip = as_str(addr.get("ip"))
    errs = names.is_valid_ip_for_legacy_field(path.child("ip"), ip)
    hostname = as_str(addr.get("hostname"))
    if hostname:
        errs.extend(validate_dns1123_label(hostname, path.child("hostname")))
    node_name = addr.get("nodeName")
    if node_name is not None:
        node_name = as_str(node_name)
        errs.extend(invalid(path.child("nodeName"), node_name, msg)
                    for msg in names.name_is_dns_subdomain(node_name, False))
    errs.extend(names.validate_non_special_ip(ip, path.child("ip")))
    return errs


def _validate_endpoint_port(port: dict, require_name: bool, path: Path) -> ErrorList:
    # validateEndpointPort
    errs: ErrorList = []
    name = as_str(port.get("name"))
    if require_name and not name:
        errs.append(required(path.child("name"), ""))
    elif name:
        errs.extend(validate_dns1123_label(name, path.child("name")))
    number = as_int(port.get("port"))
    errs.extend(invalid(path.child("port"), number, msg) for msg in names.is_valid_port_num(number))
    protocol = _protocol(port)
    if protocol not in SUPPORTED_PORT_PROTOCOLS:
        errs.append(not_supported(path.child("protocol"), GoJSON(protocol),
                                  SUPPORTED_PORT_PROTOCOLS))
    if port.get("appProtocol") is not None:
        errs.extend(validate_qualified_name(as_str(port.get("appProtocol")),
                                            path.child("appProtocol")))
    return errs


# --------------------------------------------------------------------------- Pod

_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")  # sets.List() order
_TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")


def validate_pod(obj: dict) -> ErrorList:
    """validatePodMetadataAndSpec (ValidatePodCreate without the feature-gated extras)."""
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    errs.extend(validate_pod_spec(spec, Path("spec")))
    # validateContainersOnlyForPod: pods (not templates) reject padded image names.
    for field_name in ("containers", "initContainers"):
        for i, ctr in enumerate(as_list(spec.get(field_name))):
            image = as_str(as_dict(ctr).get("image"))
            if image != image.strip():
                errs.append(invalid(Path("spec", field_name).index(i).child("image"), image,
                                    "must not have leading or trailing whitespace"))
    return errs


def validate_pod_update(obj: dict, old: dict) -> ErrorList:
    """ValidatePodUpdate, reduced to metadata plus spec validation (the spec-mutation rules
    for running pods are left out)."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    errs.extend(validate_pod_spec(as_dict(obj.get("spec")), Path("spec")))
    return errs


def validate_pod_spec(spec: dict, path: Path) -> ErrorList:
    """ValidatePodSpec: containers, init containers and the simple top-level fields.

    Left out: volumes and volume mounts, resources, probes, security contexts, affinity,
    topology spread, DNS config.
    """
    errs: ErrorList = []
    containers = [as_dict(c) for c in as_list(spec.get("containers"))]
    init_containers = [as_dict(c) for c in as_list(spec.get("initContainers"))]
    errs.extend(_validate_containers(containers, path.child("containers")))
    errs.extend(_validate_init_containers(init_containers, containers,
                                          path.child("initContainers")))
    errs.extend(_check_enum(spec.get("restartPolicy"), _RESTART_POLICIES,
                            path.child("restartPolicy")))
    errs.extend(_check_enum(spec.get("dnsPolicy"), _DNS_POLICIES, path.child("dnsPolicy")))
    errs.extend(validate_labels(spec.get("nodeSelector"), path.child("nodeSelector")))
    sa_name = as_str(spec.get("serviceAccountName"))
    if sa_name:
        errs.extend(invalid(path.child("serviceAccountName"), sa_name, msg)
                    for msg in names.name_is_dns_subdomain(sa_name, False))
    node_name = as_str(spec.get("nodeName"))
    if node_name:
        errs.extend(invalid(path.child("nodeName"), node_name, msg)
                    for msg in names.name_is_dns_subdomain(node_name, False))
    for field_name in ("hostname", "subdomain"):
        value = as_str(spec.get(field_name))
        if value:
            errs.extend(validate_dns1123_label(value, path.child(field_name)))
    return errs


def _check_enum(value: Any, allowed: tuple[str, ...], path: Path) -> ErrorList:
    # A defaulted enum: absent means "the default", "" is Required, unknown is NotSupported.
    if value is None:
        return []
    value = as_str(value)
    if value == "":
        return [required(path, "")]
    if value not in allowed:
        return [not_supported(path, GoJSON(value), allowed)]
    return []


def _validate_containers(containers: list[dict], path: Path) -> ErrorList:
    # validateContainers
    if not containers:
        return [required(path, "")]
    errs: ErrorList = []
    seen: set[str] = set()
    for i, ctr in enumerate(containers):
        idx_path = path.index(i)
        errs.extend(_validate_container_common(ctr, idx_path))
        name = as_str(ctr.get("name"))
        if name in seen:
            errs.append(duplicate(idx_path.child("name"), name))
        else:
            seen.add(name)
        if ctr.get("restartPolicy") is not None:
            errs.append(forbidden(idx_path.child("restartPolicy"),
                                  "may not be set for non-init containers"))
    return errs


def _validate_init_containers(containers: list[dict], regular: list[dict], path: Path
                              ) -> ErrorList:
    # validateInitContainers: names are unique across init and regular containers.
    errs: ErrorList = []
    seen = {as_str(c.get("name")) for c in regular}
    for i, ctr in enumerate(containers):
        idx_path = path.index(i)
        errs.extend(_validate_container_common(ctr, idx_path))
        restart = ctr.get("restartPolicy")
        if restart is not None and as_str(restart) != "Always":
            errs.append(not_supported(idx_path.child("restartPolicy"), GoJSON(as_str(restart)),
                                      ("Always",)))
        name = as_str(ctr.get("name"))
        if name in seen:
            errs.append(duplicate(idx_path.child("name"), name))
        elif name:
            seen.add(name)
    return errs


def _validate_container_common(ctr: dict, path: Path) -> ErrorList:
    # validateContainerCommon: name (DNS label), image, ports, env names, pull policy.
    errs: ErrorList = []
    name = as_str(ctr.get("name"))
    if not name:
        errs.append(required(path.child("name"), ""))
    else:
        errs.extend(validate_dns1123_label(name, path.child("name")))
    if not as_str(ctr.get("image")):
        errs.append(required(path.child("image"), ""))
    errs.extend(_check_enum(ctr.get("terminationMessagePolicy"), _TERMINATION_MESSAGE_POLICIES,
                            path.child("terminationMessagePolicy")))
    errs.extend(_validate_container_ports(as_list(ctr.get("ports")), path.child("ports")))
    for i, env in enumerate(as_list(ctr.get("env"))):
        env_name = as_str(as_dict(env).get("name"))
        if not env_name:
            errs.append(required(path.child("env").index(i).child("name"), ""))
    errs.extend(_check_enum(ctr.get("imagePullPolicy"), _PULL_POLICIES,
                            path.child("imagePullPolicy")))
    return errs


def _validate_container_ports(ports: list, path: Path) -> ErrorList:
    # validateContainerPorts
    errs: ErrorList = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        port = as_dict(port)
        idx_path = path.index(i)
        name = as_str(port.get("name"))
        if name:
            msgs = names.is_valid_port_name(name)
            if msgs:
                errs.extend(invalid(idx_path.child("name"), name, m) for m in msgs)
            elif name in seen:
                errs.append(duplicate(idx_path.child("name"), name))
            else:
                seen.add(name)
        container_port = as_int(port.get("containerPort"))
        if container_port == 0:
            errs.append(required(idx_path.child("containerPort"), ""))
        else:
            errs.extend(invalid(idx_path.child("containerPort"), container_port, m)
                        for m in names.is_valid_port_num(container_port))
        host_port = as_int(port.get("hostPort"))
        if host_port != 0:
            errs.extend(invalid(idx_path.child("hostPort"), host_port, m)
                        for m in names.is_valid_port_num(host_port))
        protocol = _protocol(port)
        if protocol not in SUPPORTED_PORT_PROTOCOLS:
            errs.append(not_supported(idx_path.child("protocol"), GoJSON(protocol),
                                      SUPPORTED_PORT_PROTOCOLS))
    return errs


def validate_pod_template_spec(template: dict, path: Path) -> ErrorList:
    """ValidatePodTemplateSpec: template labels/annotations and the pod spec."""
    meta = as_dict(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), path.child("labels"))
    errs.extend(validate_annotations(meta.get("annotations"), path.child("annotations")))
    spec = as_dict(template.get("spec"))
    errs.extend(validate_pod_spec(spec, path.child("spec")))
    if as_list(spec.get("ephemeralContainers")):
        errs.append(forbidden(path.child("spec", "ephemeralContainers"),
                              "ephemeral containers not allowed in pod template"))
    return errs


# --------------------------------------------------------------------------- Events

_EVENTS_V1_TO_INTERNAL = {
    # events.k8s.io/v1 field -> core.Event (internal) field, as conversion maps them.
    "regarding": "involvedObject", "note": "message", "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp", "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_REPORTING_INSTANCE_LIMIT = 128
_ACTION_LIMIT = 128
_REASON_LIMIT = 128
_NOTE_LIMIT = 1024


def events_v1_to_internal(obj: dict) -> dict:
    """Rename events.k8s.io/v1 fields to the core.Event names error paths use."""
    return {_EVENTS_V1_TO_INTERNAL.get(k, k): v for k, v in obj.items()}


def _legacy_validate_event(event: dict) -> ErrorList:
    # legacyValidateEvent: namespace consistency and, for new-style events, reporting fields.
    errs: ErrorList = []
    namespace = as_str(as_dict(event.get("metadata")).get("namespace"))
    involved_ns = as_str(as_dict(event.get("involvedObject")).get("namespace"))
    ns_path = Path("involvedObject", "namespace")
    if not event.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                errs.append(invalid(ns_path, involved_ns, "does not match event.namespace"))
        elif namespace != involved_ns:
            errs.append(invalid(ns_path, involved_ns, "does not match event.namespace"))
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            errs.append(invalid(ns_path, involved_ns, "does not match event.namespace"))
        controller = as_str(event.get("reportingController"))
        if not controller:
            errs.append(required(Path("reportingController"), ""))
        errs.extend(invalid(Path("reportingController"), controller, msg)
                    for msg in names.is_qualified_name(controller))
        for fld, limit in (("reportingInstance", _REPORTING_INSTANCE_LIMIT),
                           ("action", _ACTION_LIMIT), ("reason", _REASON_LIMIT)):
            value = as_str(event.get(fld))
            if not value:
                errs.append(required(Path(fld), ""))
            if len(value.encode()) > limit:
                errs.append(invalid(Path(fld), "", f"can have at most {limit} characters"))
        if len(as_str(event.get("message")).encode()) > _NOTE_LIMIT:
            errs.append(invalid(Path("message"), "", f"can have at most {_NOTE_LIMIT} characters"))
    errs.extend(invalid(Path("namespace"), namespace, msg)
                for msg in names.is_dns1123_subdomain(namespace))
    return errs


def validate_event_create(obj: dict, strict: bool) -> ErrorList:
    """ValidateEventCreate: legacy rules always; strict ones for events.k8s.io/v1."""
    event = events_v1_to_internal(obj) if strict else obj
    errs = _legacy_validate_event(event)
    if not strict:
        return errs  # core/v1: no further validation, for backwards compatibility
    errs.extend(validate_object_meta(event.get("metadata"), True, names.name_is_dns_subdomain))
    errs.extend(_validate_event_series(event))
    if not event.get("eventTime"):
        errs.append(required(Path("eventTime"), ""))
    event_type = as_str(event.get("type"))
    if event_type not in ("Normal", "Warning"):
        errs.append(invalid(Path("type"), "", f"has invalid value: {event_type}"))
    for fld in ("firstTimestamp", "lastTimestamp"):
        if event.get(fld):
            errs.append(invalid(Path(fld), "", "needs to be unset"))
    if as_int(event.get("count")) != 0:
        errs.append(invalid(Path("count"), "", "needs to be unset"))
    source = as_dict(event.get("source"))
    if as_str(source.get("component")) or as_str(source.get("host")):
        errs.append(invalid(Path("source"), "", "needs to be unset"))
    return errs


def _validate_event_series(event: dict) -> ErrorList:
    # validateV1EventSeries (the paths are single names containing a dot, as upstream)
    series = event.get("series")
    if series is None:
        return []
    series = as_dict(series)
    errs: ErrorList = []
    if as_int(series.get("count")) < 2:
        errs.append(invalid(Path("series.count"), "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(required(Path("series.lastObservedTime"), ""))
    return errs


def validate_event_update(obj: dict, old: dict, strict: bool) -> ErrorList:
    """ValidateEventUpdate: events.k8s.io/v1 events are immutable apart from series."""
    event = events_v1_to_internal(obj) if strict else obj
    errs = _legacy_validate_event(event)
    if not strict:
        return errs
    old_event = events_v1_to_internal(old)
    errs.extend(validate_object_meta_update(event.get("metadata"), old_event.get("metadata")))
    if event.get("series") != old_event.get("series"):
        errs.extend(_validate_event_series(event))
    # Upstream checks reason twice; kept, since each failure is its own Status cause.
    for fld in ("involvedObject", "reason", "message", "source", "firstTimestamp",
                "lastTimestamp", "count", "reason", "type", "eventTime", "action", "related",
                "reportingController", "reportingInstance"):
        errs.extend(validate_immutable(_event_field(event, fld), _event_field(old_event, fld),
                                       Path(fld)))
    return errs


def _event_field(event: dict, fld: str) -> Any:
    # Plain strings print with %q and count with %v; structs and timestamps print as JSON.
    value = event.get(fld)
    if fld in ("reason", "message", "action", "reportingController", "reportingInstance"):
        return as_str(value)
    if fld == "count":
        return as_int(value)
    if fld == "type":
        return as_str(value)
    return GoJSON(value)

