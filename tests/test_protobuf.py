"""Kubernetes protobuf bodies (application/vnd.kubernetes.protobuf) <-> JSON dicts."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from simulator.apiserver.protobuf import MAGIC, ProtobufError, decode, encode, message_name
from simulator.apiserver.protobuf.codec import SPECIAL, go_duration_string, parse_go_duration
from simulator.apiserver.protobuf.schema import load_schema

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.pb"))


def _fixture(name: str) -> tuple[bytes, dict]:
    expected = json.loads((FIXTURES / f"{name}.json").read_text())
    return (FIXTURES / f"{name}.pb").read_bytes(), expected


def _roundtrip(obj: dict) -> dict:
    return decode(encode(obj))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return MAGIC + _field(1, type_meta) + _field(2, raw) + _field(3, b"") + _field(4, b"")


# --- bodies produced by client-go and kubectl ---------------------------------------------------


def test_fixtures_present() -> None:
    assert len(FIXTURE_NAMES) >= 20
    for name in FIXTURE_NAMES:
        assert (FIXTURES / f"{name}.json").is_file(), name


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_decode_real_client_bodies(name: str) -> None:
    body, expected = _fixture(name)
    assert decode(body) == expected


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_encode_gives_client_go_bytes(name: str) -> None:
    body, expected = _fixture(name)
    assert encode(expected) == body
    assert _roundtrip(expected) == expected


def test_ingress_from_client_go() -> None:
    obj = decode(_fixture("ingress")[0])
    assert obj["apiVersion"] == "networking.k8s.io/v1" and obj["kind"] == "Ingress"
    spec = obj["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["defaultBackend"] == {"service": {"name": "default-http", "port": {"name": "http"}}}
    assert spec["tls"] == [{"hosts": ["a.example.com", "b.example.com"], "secretName": "demo-tls"},
                           {"hosts": ["c.example.com"]}]
    paths = spec["rules"][0]["http"]["paths"]  # IngressRuleValue is inlined into the rule
    assert paths[0] == {"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "web", "port": {"number": 80}}}}
    assert paths[1]["backend"]["service"]["port"] == {"name": "grpc"}
    assert paths[2]["backend"] == {"resource": {"apiGroup": "k8s.example.com",
                                                "kind": "StorageBucket", "name": "static-assets"}}
    assert "host" not in spec["rules"][1]
    assert spec["rules"][2] == {"host": "*.wild.example.com"}
    assert obj["metadata"]["creationTimestamp"] is None  # as Go's json.Marshal writes it
    assert obj["status"] == {"loadBalancer": {}}


def test_deployment_from_client_go() -> None:
    obj = decode(_fixture("deployment")[0])
    spec = obj["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 1}
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"] == {"limits": {"cpu": "1500m", "memory": "1Gi"},
                                      "requests": {"cpu": "100m", "memory": "128Mi"}}
    # ProbeHandler is inlined into the probe; IntOrString ports keep their JSON type.
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert container["readinessProbe"] == {"tcpSocket": {"port": 8080}, "periodSeconds": 5}
    assert container["startupProbe"]["exec"] == {"command": ["cat", "/tmp/ready"]}
    # Pointers set to a zero value are kept, plain zero fields with omitempty are not.
    assert container["securityContext"]["runAsUser"] == 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False
    assert "hostNetwork" not in pod
    # VolumeSource is inlined into the volume.
    assert pod["volumes"][0] == {"name": "config",
                                 "configMap": {"name": "web-config", "defaultMode": 0o644}}
    assert pod["volumes"][1]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}


def test_secret_and_configmap_bytes_are_base64() -> None:
    secret = decode(_fixture("secret")[0])
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert data["tls.key"] == bytes([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF])
    assert data["empty"] == b""
    assert secret["stringData"] == {"note": "héllo"}
    assert secret["immutable"] is True
    cm = decode(_fixture("configmap")[0])
    assert base64.b64decode(cm["binaryData"]["blob"]) == bytes([0, 1, 2, 253, 254, 255])
    assert cm["data"] == {"nginx.conf": "events {}\n", "empty": ""}


def test_service_target_ports() -> None:
    ports = decode(_fixture("service")[0])["spec"]["ports"]
    assert [p["targetPort"] for p in ports] == [8080, "https", 0]  # unset IntOrString is 0
    assert ports[0]["nodePort"] == 30080
    assert "nodePort" not in ports[1]


def test_endpointslice_condition_booleans() -> None:
    obj = decode(_fixture("endpointslice")[0])
    conditions = [e["conditions"] for e in obj["endpoints"]]
    assert conditions == [{"ready": True, "serving": True, "terminating": False},
                          {"ready": False, "serving": False, "terminating": True},
                          {}]
    assert obj["ports"][1] == {"name": "", "port": 0}
    assert obj["metadata"]["ownerReferences"][0]["controller"] is True


def test_times() -> None:
    event = decode(_fixture("event-events-v1")[0])
    assert event["eventTime"] == "2024-05-06T07:08:09.123456Z"
    assert event["series"] == {"count": 2, "lastObservedTime": "2024-05-06T07:09:00.500000Z"}
    assert event["deprecatedFirstTimestamp"] == "2024-05-06T07:08:09Z"
    assert event["deprecatedLastTimestamp"] is None
    core = decode(_fixture("event-core-v1")[0])
    assert core["firstTimestamp"] == "2024-01-02T03:04:05Z"
    assert core["eventTime"] is None
    lease = decode(_fixture("lease")[0])
    assert lease["spec"]["renewTime"] == "2024-05-06T07:08:09.654321Z"
    assert lease["spec"]["leaseTransitions"] == 0
    assert lease["metadata"]["creationTimestamp"] == "2024-05-06T00:00:00Z"


def test_delete_options_in_any_group_version() -> None:
    core = decode(_fixture("deleteoptions-core")[0])
    assert core == {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                    "preconditions": {"uid": "0000-1111", "resourceVersion": "99"},
                    "propagationPolicy": "Foreground", "dryRun": ["All"]}
    assert decode(_fixture("deleteoptions-networking")[0]) == {
        "apiVersion": "networking.k8s.io/v1", "kind": "DeleteOptions"}
    meta = {"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "orphanDependents": False}
    assert _roundtrip(meta) == meta


def test_json_names_that_differ_from_proto_names() -> None:
    ic = decode(_fixture("ingressclass")[0])
    assert ic["spec"]["parameters"]["apiGroup"] == "k8s.example.com"  # proto name "aPIGroup"
    webhook = decode(_fixture("validatingwebhookconfiguration")[0])["webhooks"][0]
    assert webhook["rules"][0]["operations"] == ["CREATE", "UPDATE"]  # Rule is inlined
    assert webhook["rules"][0]["resources"] == ["ingresses"]
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == b"\x30\x82\x01\x0a"
    crd = decode(_fixture("customresourcedefinition")[0])
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    assert spec["properties"]["extra"] == {"type": "object",
                                           "x-kubernetes-preserve-unknown-fields": True}
    assert spec["properties"]["replicas"]["default"] == 1
    assert spec["properties"]["mode"]["enum"] == ["a", "b"]
    assert spec["properties"]["tags"]["items"] == {"type": "string"}
    assert spec["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert schema["properties"]["status"]["additionalProperties"] is False
    assert spec["x-kubernetes-validations"] == [{"rule": "self.replicas < 10",
                                                 "message": "too many"}]


# --- round trips of objects written here --------------------------------------------------------

INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "demo", "namespace": "default", "creationTimestamp": None,
                 "labels": {"app": "demo"}, "annotations": {"a/b": "c"}},
    "spec": {
        "ingressClassName": "nginx",
        "defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
        "tls": [{"hosts": ["a.example.com"], "secretName": "a-tls"}],
        "rules": [
            {"host": "a.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                {"path": "/api", "pathType": "Exact",
                 "backend": {"service": {"name": "api", "port": {"name": "grpc"}}}},
            ]}},
            {"http": {"paths": [
                {"path": "/", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "web", "port": {"number": 8080}}}},
            ]}},
        ],
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ports": [
        {"port": 443, "protocol": "TCP", "error": ""}]}]}},
}

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": None,
                 "generation": 2, "resourceVersion": "17", "uid": "3f1c"},
    "spec": {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "nginx",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "2", "memory": "512Mi"},
                                  "requests": {"cpu": "250m", "memory": "64Mi"}},
                    "livenessProbe": {"httpGet": {"path": "/", "port": "http"},
                                      "initialDelaySeconds": 3},
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "failureThreshold": 1},
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 0,
            },
        },
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
        "minReadySeconds": 5,
    },
    "status": {"observedGeneration": 2, "replicas": 1, "conditions": [
        {"type": "Available", "status": "True", "lastUpdateTime": "2024-02-03T04:05:06Z",
         "lastTransitionTime": "2024-02-03T04:05:06Z", "reason": "MinimumReplicasAvailable"}]},
}

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "s", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
    "type": "Opaque",
    "data": {"bin": base64.b64encode(bytes(range(256))).decode(), "txt": "aGk="},
}

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": None},
    "spec": {
        "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                  {"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https"}],
        "selector": {"app": "web"},
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    },
    "status": {"loadBalancer": {}},
}

ENDPOINT_SLICE = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {"name": "web-x", "namespace": "default", "creationTimestamp": None,
                 "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv4",
    "endpoints": [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True, "serving": True,
                                                   "terminating": False}, "nodeName": "n1"},
        {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
    ],
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
}

EVENT = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": {"name": "demo.1", "namespace": "default", "creationTimestamp": None},
    "eventTime": "2024-05-06T07:08:09.000001Z",
    "reportingController": "ctrl",
    "reportingInstance": "ctrl-1",
    "action": "Sync",
    "reason": "Synced",
    "regarding": {"kind": "Ingress", "namespace": "default", "name": "demo"},
    "note": "ok",
    "type": "Normal",
    "deprecatedSource": {},
    "deprecatedFirstTimestamp": None,
    "deprecatedLastTimestamp": None,
}

LEASE = {
    "apiVersion": "coordination.k8s.io/v1",
    "kind": "Lease",
    "metadata": {"name": "leader", "namespace": "kube-system", "creationTimestamp": None},
    "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
             "acquireTime": "2024-05-06T07:00:00.000000Z",
             "renewTime": "2024-05-06T07:08:09.999999Z", "leaseTransitions": 3},
}

ROUND_TRIPS = {"ingress": INGRESS, "deployment": DEPLOYMENT, "secret": SECRET,
               "service": SERVICE, "endpointslice": ENDPOINT_SLICE, "event": EVENT,
               "lease": LEASE}


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_round_trip(name: str) -> None:
    obj = copy.deepcopy(ROUND_TRIPS[name])
    body = encode(obj)
    assert body.startswith(MAGIC)
    assert decode(body) == obj
    assert obj == ROUND_TRIPS[name]  # the input is not modified


def test_round_trip_keeps_pointer_zero_values() -> None:
    spec = _roundtrip(DEPLOYMENT)["spec"]
    assert spec["replicas"] == 0
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 0
    assert _roundtrip(ENDPOINT_SLICE)["endpoints"][1]["conditions"] == {"ready": False}


def test_sparse_input_comes_back_as_go_would_write_it() -> None:
    sparse = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    assert _roundtrip(sparse) == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "creationTimestamp": None},
        "spec": {"selector": None,
                 "template": {"metadata": {"creationTimestamp": None},
                              "spec": {"containers": [{"name": "c", "image": "i",
                                                       "resources": {}}]}},
                 "strategy": {}},
        "status": {},
    }


def test_times_are_rfc3339_utc() -> None:
    obj = copy.deepcopy(LEASE)
    obj["metadata"]["creationTimestamp"] = "2024-05-06T09:00:00+02:00"
    obj["spec"]["renewTime"] = "2024-05-06T09:08:09.1234567+02:00"
    obj["spec"]["acquireTime"] = "0001-01-01T00:00:00Z"  # Go's zero time
    spec = _roundtrip(obj)
    assert spec["metadata"]["creationTimestamp"] == "2024-05-06T07:00:00Z"
    assert spec["spec"]["renewTime"] == "2024-05-06T07:08:09.123456Z"
    assert spec["spec"]["acquireTime"] is None


def test_list_and_status_round_trip() -> None:
    items = [{k: v for k, v in INGRESS.items() if k not in ("apiVersion", "kind")}]
    lst = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressList",
           "metadata": {"resourceVersion": "5"}, "items": items}
    assert _roundtrip(lst) == lst
    status = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
              "message": 'ingresses.networking.k8s.io "x" not found', "reason": "NotFound",
              "details": {"name": "x", "group": "networking.k8s.io", "kind": "ingresses"},
              "code": 404}
    assert _roundtrip(status) == status


def test_raw_extension_and_fields_v1_hold_json() -> None:
    revision = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": "r1", "creationTimestamp": None, "managedFields": [
                    {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                     "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}]},
                "data": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}},
                "revision": 3}
    assert _roundtrip(revision) == revision
    empty = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
             "metadata": {"creationTimestamp": None}, "data": None, "revision": 0}
    assert _roundtrip(empty) == empty


def test_embedded_protobuf_object_in_raw_extension() -> None:
    inner = encode(LEASE)
    revision = _field(1, b"") + _field(2, _field(1, inner)) + bytes([0x18, 1])
    obj = decode(_envelope("apps/v1", "ControllerRevision", revision))
    assert obj["data"] == LEASE


def test_packed_repeated_scalars_and_unknown_fields() -> None:
    # PodSecurityContext.supplementalGroups (field 4, repeated int64), sent packed, plus an
    # unknown field 999 that a newer client might send: Go skips it, so do we.
    psc = _field(4, _varint(1000) + _varint(2000)) + _varint(999 << 3) + _varint(7)
    pod_spec = _field(14, psc)
    body = _envelope("v1", "Pod", _field(2, pod_spec))
    obj = decode(body)
    assert obj["spec"]["securityContext"] == {"supplementalGroups": [1000, 2000]}


def test_negative_numbers() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": None},
           "spec": {"containers": None, "activeDeadlineSeconds": -5,
                    "securityContext": {"runAsUser": -1}}, "status": {}}
    assert _roundtrip(obj) == obj


def test_subject_access_review_extra_values() -> None:
    obj = decode(_fixture("subjectaccessreview")[0])
    assert obj["spec"]["extra"] == {"scopes": ["a", "b"], "none": []}


# --- errors -------------------------------------------------------------------------------------


def test_protobuf_error_is_value_error() -> None:
    assert issubclass(ProtobufError, ValueError)


@pytest.mark.parametrize("body", [b"", b"k8s", b"k8s\x01abc", b'{"kind":"Pod"}', b"k8s\x00"])
def test_bad_magic_or_empty(body: bytes) -> None:
    with pytest.raises(ProtobufError):
        decode(body)


def test_truncated_bodies() -> None:
    body = encode(INGRESS)
    type_meta_end = 4 + 2 + body[5]  # magic, tag, one-byte length, typeMeta
    for cut in range(5, len(body) - 4):
        if cut == type_meta_end:
            continue  # an envelope without raw is a valid, empty object
        with pytest.raises(ProtobufError):
            decode(body[:cut])


def test_malformed_nested_data() -> None:
    with pytest.raises(ProtobufError, match="truncated"):
        decode(_envelope("v1", "Secret", _field(1, b"\x0a\x05ab")))
    with pytest.raises(ProtobufError, match="wire type"):
        decode(_envelope("v1", "Secret", bytes([0x08, 0x01])))  # metadata as a varint
    with pytest.raises(ProtobufError, match="wire type"):
        decode(_envelope("v1", "Secret", bytes([0x0B])))  # group start
    with pytest.raises(ProtobufError):
        decode("k8s\x00")  # type: ignore[arg-type]


@pytest.mark.parametrize(("api_version", "kind", "message"), [
    ("example.com/v1", "Widget", "apiVersion"),
    ("networking.k8s.io/v1", "Gateway", "kind"),
    ("networking.k8s.io/v9", "Ingress", "apiVersion"),
    ("", "Ingress", "apiVersion"),
    ("v1", "", "kind"),
])
def test_unknown_api_version_or_kind(api_version: str, kind: str, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        decode(_envelope(api_version, kind, b""))
    with pytest.raises(ProtobufError):
        encode({"apiVersion": api_version, "kind": kind})


def test_encode_rejects_wrong_json_types() -> None:
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["replicas"] = "3"
    with pytest.raises(ProtobufError, match="replicas"):
        encode(bad)
    bad = copy.deepcopy(SECRET)
    bad["data"]["x"] = "not base64!"
    with pytest.raises(ProtobufError, match="base64"):
        encode(bad)
    with pytest.raises(ProtobufError):
        encode({**LEASE, "metadata": ["x"]})
    with pytest.raises(ProtobufError):
        encode({**LEASE, "metadata": {"creationTimestamp": "yesterday"}})
    with pytest.raises(ProtobufError):
        encode([])  # type: ignore[arg-type]


# --- schema and helpers -------------------------------------------------------------------------


def test_schema_loads_fast_and_matches_go_facts() -> None:
    start = time.perf_counter()
    schema = load_schema()
    assert time.perf_counter() - start < 1.0
    info = json.loads((Path(__file__).parents[1] / "simulator" / "apiserver" / "protobuf"
                       / "jsoninfo.json").read_text())
    for name, msg in schema.messages.items():
        if name in info:
            assert set(map(int, info[name])) == set(msg.by_number), name
        elif msg.fields:
            assert name in SPECIAL or name.endswith(".v1.List"), name


@pytest.mark.parametrize(("api_version", "kind", "expected"), [
    ("networking.k8s.io/v1", "Ingress", "k8s.io.api.networking.v1.Ingress"),
    ("networking.k8s.io/v1", "IngressClass", "k8s.io.api.networking.v1.IngressClass"),
    ("v1", "Service", "k8s.io.api.core.v1.Service"),
    ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
    ("discovery.k8s.io/v1", "EndpointSlice", "k8s.io.api.discovery.v1.EndpointSlice"),
    ("coordination.k8s.io/v1", "Lease", "k8s.io.api.coordination.v1.Lease"),
    ("events.k8s.io/v1", "Event", "k8s.io.api.events.v1.Event"),
    ("rbac.authorization.k8s.io/v1", "Role", "k8s.io.api.rbac.v1.Role"),
    ("batch/v1", "CronJob", "k8s.io.api.batch.v1.CronJob"),
    ("policy/v1", "PodDisruptionBudget", "k8s.io.api.policy.v1.PodDisruptionBudget"),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
     "k8s.io.api.admissionregistration.v1.MutatingWebhookConfiguration"),
    ("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition",
     "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"),
    ("meta.k8s.io/v1", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
    ("v1", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
    ("apps/v1", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
])
def test_message_names(api_version: str, kind: str, expected: str) -> None:
    assert message_name(api_version, kind) == expected


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5\u00b5s"), (2_000_000, "2ms"), (1_000_000_000, "1s"),
    (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"), (5_400_500_000_000, "1h30m0.5s"),
    (-30_000_000_000, "-30s"),
])
def test_go_durations(ns: int, text: str) -> None:
    assert go_duration_string(ns) == text
    assert parse_go_duration(text) == ns


def test_decode_performance() -> None:
    body = _fixture("deployment")[0]
    decode(body)
    start = time.perf_counter()
    for _ in range(100):
        decode(body)
    assert (time.perf_counter() - start) / 100 < 0.05


def _walk(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_walk(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_walk(v) for v in value)
    return 1


def test_every_fixture_round_trips_through_encode_without_loss() -> None:
    for name in FIXTURE_NAMES:
        _, expected = _fixture(name)
        again = _roundtrip(_roundtrip(expected))
        assert again == expected and _walk(again) == _walk(expected), name
