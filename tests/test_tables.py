"""Table printing: columns and cells as kube-apiserver's printers compute them.

Expected cells follow pkg/printers/internalversion/printers_test.go where upstream has a case,
and the printers' source otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from simulator.apiserver.tables import column_definitions, row_cells
from simulator.apiserver.tables._common import human_duration
from simulator.apiserver.tables._jsonpath import JSONPathError, find_results, print_value

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**delta: float) -> str:
    """An RFC 3339 timestamp `delta` before NOW."""
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str = "x", **extra: object) -> dict:
    return {"name": name, "namespace": "default", **extra}


def names(kind_key: str, printer_columns: list[dict] | None = None) -> list[str]:
    return [c["name"] for c in column_definitions(kind_key, printer_columns)]


def wide(kind_key: str) -> list[str]:
    return [c["name"] for c in column_definitions(kind_key) if c["priority"] == 1]


# ---- HumanDuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=-3), "<invalid>"),
    (timedelta(seconds=-2), "<invalid>"),
    (timedelta(seconds=-1.5), "0s"),
    (timedelta(seconds=-1), "0s"),
    (timedelta(0), "0s"),
    (timedelta(seconds=5), "5s"),
    (timedelta(seconds=119, milliseconds=999), "119s"),
    (timedelta(minutes=2), "2m"),
    (timedelta(minutes=3, seconds=2), "3m2s"),
    (timedelta(minutes=9, seconds=59), "9m59s"),
    (timedelta(minutes=10), "10m"),
    (timedelta(minutes=10, seconds=30), "10m"),
    (timedelta(minutes=179, seconds=59), "179m"),
    (timedelta(hours=3), "3h"),
    (timedelta(hours=3, minutes=5), "3h5m"),
    (timedelta(hours=7, minutes=59), "7h59m"),
    (timedelta(hours=8), "8h"),
    (timedelta(hours=47, minutes=59), "47h"),
    (timedelta(hours=48), "2d"),
    (timedelta(days=2, hours=3), "2d3h"),
    (timedelta(days=7, hours=23), "7d23h"),
    (timedelta(days=8), "8d"),
    (timedelta(days=8, hours=5), "8d"),
    (timedelta(days=729), "729d"),
    (timedelta(days=730), "2y"),
    (timedelta(days=731), "2y1d"),
    (timedelta(days=365 * 8 - 1), "7y364d"),
    (timedelta(days=365 * 8), "8y"),
    (timedelta(days=3650), "10y"),
])
def test_human_duration(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


def test_age_is_unknown_without_creation_timestamp() -> None:
    assert row_cells("/ConfigMap", {"metadata": meta("cm")}, NOW) == ["cm", 0, "<unknown>"]


def test_age_of_future_timestamps() -> None:
    soon = (NOW + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (NOW + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row_cells("/ConfigMap", {"metadata": meta(creationTimestamp=soon)}, NOW)[2] == "0s"
    assert row_cells("/ConfigMap", {"metadata": meta(creationTimestamp=later)},
                     NOW)[2] == "<invalid>"


def test_age_accepts_offsets_and_fractions() -> None:
    stamp = (NOW - timedelta(minutes=5)).astimezone(timezone(timedelta(hours=2)))
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S.123456+02:00")
    assert row_cells("/ConfigMap", {"metadata": meta(creationTimestamp=text)}, NOW)[2] == "5m"


# ---- column definitions ------------------------------------------------------------------------


def test_column_definition_shape() -> None:
    cols = column_definitions("networking.k8s.io/Ingress")
    assert cols[0]["name"] == "Name"
    assert cols[0]["format"] == "name"
    assert cols[0]["type"] == "string"
    assert cols[0]["description"].startswith("Name must be unique within a namespace.")
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in cols)
    assert cols[-1]["description"].startswith("CreationTimestamp is a timestamp")


def test_column_definitions_are_copies() -> None:
    column_definitions("/Pod")[0]["name"] = "Mangled"
    assert column_definitions("/Pod")[0]["name"] == "Name"


@pytest.mark.parametrize(("kind_key", "expected", "wide_columns"), [
    ("networking.k8s.io/Ingress", ["Name", "Class", "Hosts", "Address", "Ports", "Age"], []),
    ("apps/Deployment", ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers",
                         "Images", "Selector"], ["Containers", "Images", "Selector"]),
    ("/Service", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"],
     ["Selector"]),
    ("/Pod", ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node",
              "Readiness Gates"], ["IP", "Node", "Nominated Node", "Readiness Gates"]),
    ("discovery.k8s.io/EndpointSlice", ["Name", "AddressType", "Ports", "Endpoints", "Age"], []),
    ("/Endpoints", ["Name", "Endpoints", "Age"], []),
    ("/Secret", ["Name", "Type", "Data", "Age"], []),
    ("/ConfigMap", ["Name", "Data", "Age"], []),
    ("/Namespace", ["Name", "Status", "Age"], []),
    ("/ServiceAccount", ["Name", "Secrets", "Age"], []),
    ("apps/ReplicaSet", ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images",
                         "Selector"], ["Containers", "Images", "Selector"]),
    ("/Node", ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP",
               "OS-Image", "Kernel-Version", "Container-Runtime"],
     ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]),
    ("/Event", ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message",
                "First Seen", "Count", "Name"],
     ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("events.k8s.io/Event", ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source",
                             "Message", "First Seen", "Count", "Name"],
     ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("networking.k8s.io/IngressClass", ["Name", "Controller", "Parameters", "Age"], []),
    ("coordination.k8s.io/Lease", ["Name", "Holder", "Age"], []),
    ("batch/Job", ["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images",
                   "Selector"], ["Containers", "Images", "Selector"]),
    ("policy/PodDisruptionBudget", ["Name", "Min Available", "Max Unavailable",
                                    "Allowed Disruptions", "Age"], []),
    ("rbac.authorization.k8s.io/RoleBinding", ["Name", "Role", "Age", "Users", "Groups",
                                               "ServiceAccounts"],
     ["Users", "Groups", "ServiceAccounts"]),
    ("rbac.authorization.k8s.io/ClusterRoleBinding", ["Name", "Role", "Age", "Users", "Groups",
                                                      "ServiceAccounts"],
     ["Users", "Groups", "ServiceAccounts"]),
    ("rbac.authorization.k8s.io/Role", ["Name", "Created At"], []),
    ("rbac.authorization.k8s.io/ClusterRole", ["Name", "Created At"], []),
    ("apiextensions.k8s.io/CustomResourceDefinition", ["Name", "Created At"], []),
    ("admissionregistration.k8s.io/ValidatingWebhookConfiguration",
     ["Name", "Webhooks", "Age"], []),
    ("admissionregistration.k8s.io/MutatingWebhookConfiguration",
     ["Name", "Webhooks", "Age"], []),
])
def test_columns(kind_key: str, expected: list[str], wide_columns: list[str]) -> None:
    assert names(kind_key) == expected
    assert wide(kind_key) == wide_columns


@pytest.mark.parametrize("kind_key", [
    "networking.k8s.io/Ingress", "apps/Deployment", "/Service", "/Pod",
    "discovery.k8s.io/EndpointSlice", "/Endpoints", "/Secret", "/ConfigMap", "/Namespace",
    "/ServiceAccount", "apps/ReplicaSet", "apps/StatefulSet", "apps/DaemonSet", "/Node",
    "/Event", "events.k8s.io/Event", "networking.k8s.io/IngressClass",
    "networking.k8s.io/NetworkPolicy", "coordination.k8s.io/Lease", "batch/Job", "batch/CronJob",
    "policy/PodDisruptionBudget", "rbac.authorization.k8s.io/Role",
    "rbac.authorization.k8s.io/RoleBinding", "rbac.authorization.k8s.io/ClusterRole",
    "rbac.authorization.k8s.io/ClusterRoleBinding", "apiextensions.k8s.io/CustomResourceDefinition",
    "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
    "admissionregistration.k8s.io/MutatingWebhookConfiguration", "example.com/Widget",
    "storage.k8s.io/StorageClass",
])
def test_minimal_objects_fill_every_column(kind_key: str) -> None:
    for obj in ({"metadata": meta()}, {}):
        cells = row_cells(kind_key, obj, NOW)
        assert len(cells) == len(column_definitions(kind_key))


# ---- Ingress -----------------------------------------------------------------------------------

ING = "networking.k8s.io/Ingress"


def ingress(rules: list[dict] | None = None, **spec: object) -> dict:
    obj: dict = {"metadata": meta("web", creationTimestamp=ago(minutes=5)),
                 "spec": {"rules": rules or [], **spec}}
    return obj


def test_ingress_defaults() -> None:
    assert row_cells(ING, ingress(), NOW) == ["web", "<none>", "*", "", "80", "5m"]


def test_ingress_upstream_case() -> None:
    obj = {
        "metadata": meta("test1", creationTimestamp=ago(days=3650)),
        "spec": {"ingressClassName": "foo",
                 "defaultBackend": {"service": {"name": "default-backend",
                                                "port": {"name": "default-backend"}}}},
        "status": {"loadBalancer": {"ingress": [{"ip": "2.3.4.5",
                                                 "hostname": "localhost.localdomain"}]}},
    }
    assert row_cells(ING, obj, NOW) == ["test1", "foo", "*", "2.3.4.5", "80", "10y"]


def test_ingress_five_hosts() -> None:
    rules = [{"host": f"h{i}.example.com"} for i in range(1, 6)]
    cells = row_cells(ING, ingress(rules), NOW)
    assert cells[2] == "h1.example.com,h2.example.com,h3.example.com + 2 more..."


def test_ingress_more_counts_rules_not_hosts() -> None:
    rules = [{"host": "a"}, {}, {"host": "b"}, {"host": "c"}, {}]
    assert row_cells(ING, ingress(rules), NOW)[2] == "a,b,c + 2 more..."
    rules = [{}, {"host": "a"}, {"host": "b"}, {"host": "c"}]
    assert row_cells(ING, ingress(rules), NOW)[2] == "a,b,c"
    rules = [{"host": "a"}, {"host": "b"}, {"host": "c"}, {}]
    assert row_cells(ING, ingress(rules), NOW)[2] == "a,b,c + 1 more..."
    assert row_cells(ING, ingress([{}, {"http": {}}]), NOW)[2] == "*"
    assert row_cells(ING, ingress([{"host": "a"}, {"host": "b"}, {"host": "c"}]),
                     NOW)[2] == "a,b,c"


def test_ingress_tls_ports_and_class() -> None:
    obj = ingress([{"host": "a.example.com"}], ingressClassName="nginx",
                  tls=[{"hosts": ["a.example.com"], "secretName": "tls"}])
    assert row_cells(ING, obj, NOW) == ["web", "nginx", "a.example.com", "", "80, 443", "5m"]
    assert row_cells(ING, ingress(tls=[]), NOW)[4] == "80"


def test_ingress_address_is_sorted_unique_and_not_clipped() -> None:
    obj = ingress()
    obj["status"] = {"loadBalancer": {"ingress": [
        {"ip": "10.0.0.20"}, {"hostname": "lb-1234567890.elb.example.com"},
        {"ip": "10.0.0.3", "hostname": "ignored.example.com"}, {"ip": "10.0.0.20"}, {}]}}
    assert row_cells(ING, obj, NOW)[3] == "10.0.0.20,10.0.0.3,lb-1234567890.elb.example.com"


# ---- Service -----------------------------------------------------------------------------------

SVC = "/Service"


def service(**spec: object) -> dict:
    return {"metadata": meta("svc", creationTimestamp=ago(hours=1)), "spec": spec}


def test_service_cluster_ip() -> None:
    obj = service(type="ClusterIP", clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"],
                  ports=[{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                  selector={"app": "web", "tier": "front"})
    assert row_cells(SVC, obj, NOW) == [
        "svc", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "60m", "app=web,tier=front"]


def test_service_server_defaults() -> None:
    obj = service(clusterIP="10.96.0.11", ports=[{"port": 53, "protocol": "UDP"}, {"port": 53}])
    assert row_cells(SVC, obj, NOW) == [
        "svc", "ClusterIP", "10.96.0.11", "<none>", "53/UDP,53/TCP", "60m", "<none>"]


def test_service_headless_and_external_ips() -> None:
    obj = service(type="ClusterIP", clusterIPs=["None"], externalIPs=["1.1.1.1", "2.2.2.2"])
    assert row_cells(SVC, obj, NOW)[1:5] == ["ClusterIP", "None", "1.1.1.1,2.2.2.2", "<none>"]


def test_service_node_port() -> None:
    obj = service(type="NodePort", clusterIPs=["10.96.1.1"],
                  ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                         {"port": 443, "nodePort": 30443, "protocol": "TCP"}])
    assert row_cells(SVC, obj, NOW)[1:5] == [
        "NodePort", "10.96.1.1", "<none>", "80:30080/TCP,443:30443/TCP"]


def test_service_load_balancer_pending() -> None:
    obj = service(type="LoadBalancer", clusterIPs=["1.3.4.5"],
                  ports=[{"port": 80, "protocol": "TCP"}, {"port": 8090, "protocol": "UDP"},
                         {"port": 8000, "protocol": "TCP"}, {"port": 7777, "protocol": "SCTP"}])
    assert row_cells(SVC, obj, NOW)[1:5] == [
        "LoadBalancer", "1.3.4.5", "<pending>", "80/TCP,8090/UDP,8000/TCP,7777/SCTP"]


def test_service_load_balancer_addresses() -> None:
    obj = service(type="LoadBalancer", clusterIPs=["1.5.6.7"],
                  ports=[{"port": 80, "nodePort": 31000, "protocol": "TCP"}])
    obj["status"] = {"loadBalancer": {"ingress": [
        {"ip": "3.4.5.6"}, {"ip": "2.3.4.5"}, {"ip": "5.6.7.8", "hostname": "host5678"}]}}
    assert row_cells(SVC, obj, NOW)[3] == "2.3.4.5,3.4.5.6,5.6.7.8"
    obj["spec"]["externalIPs"] = ["9.9.9.9"]
    assert row_cells(SVC, obj, NOW)[3] == "2.3.4.5,3.4.5.6,5.6.7.8,9.9.9.9"
    obj["status"] = {"loadBalancer": {}}
    assert row_cells(SVC, obj, NOW)[3] == "9.9.9.9"
    obj["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}
    obj["spec"].pop("externalIPs")
    assert row_cells(SVC, obj, NOW)[3:5] == ["lb.example.com", "80:31000/TCP"]


def test_service_external_name() -> None:
    obj = service(type="ExternalName", externalName="db.example.com")
    assert row_cells(SVC, obj, NOW)[1:5] == ["ExternalName", "<none>", "db.example.com",
                                             "<none>"]


# ---- Pod ---------------------------------------------------------------------------------------

POD = "/Pod"


def pod(status: dict, *, containers: int = 1, init: list[dict] | None = None,
        **metadata: object) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "image": "img"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    return {"metadata": meta("p", **metadata), "spec": spec, "status": status}


def running(ready: bool = True, restarts: int = 0, finished: str | None = None) -> dict:
    status: dict = {"ready": ready, "restartCount": restarts, "state": {"running": {}}}
    if finished:
        status["lastState"] = {"terminated": {"finishedAt": finished, "exitCode": 1}}
    return status


def short(cells: list) -> list:
    return cells[1:4]


def test_pod_running_wide() -> None:
    obj = pod({"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
               "containerStatuses": [running()]}, creationTimestamp=ago(days=2, hours=3))
    obj["spec"]["nodeName"] = "node-1"
    assert row_cells(POD, obj, NOW) == [
        "p", "1/1", "Running", "0", "2d3h", "10.244.0.5", "node-1", "<none>", "<none>"]


def test_pod_pending_without_status() -> None:
    obj = {"metadata": meta("p"), "spec": {"containers": [{"name": "c"}]}}
    assert row_cells(POD, obj, NOW) == [
        "p", "0/1", "", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"]


def test_pod_ip_from_pod_ip_field() -> None:
    obj = pod({"phase": "Running", "podIP": "10.1.1.1", "nominatedNodeName": "node-2"})
    assert row_cells(POD, obj, NOW)[5:8] == ["10.1.1.1", "<none>", "node-2"]


@pytest.mark.parametrize(("status", "containers", "expected"), [
    ({"phase": "podPhase", "containerStatuses": [running(restarts=3), {"restartCount": 3}]}, 2,
     ["1/2", "podPhase", "6"]),
    ({"phase": "podPhase", "containerStatuses": [
        running(restarts=3),
        {"state": {"waiting": {"reason": "ContainerWaitingReason"}}, "restartCount": 3}]}, 2,
     ["1/2", "ContainerWaitingReason", "6"]),
    ({"phase": "podPhase", "containerStatuses": [
        {"state": {"waiting": {"reason": "ContainerWaitingReason"}}, "restartCount": 3},
        {"state": {"terminated": {"reason": "ContainerTerminatedReason"}}, "restartCount": 3}]},
     2, ["0/2", "ContainerWaitingReason", "6"]),
    ({"phase": "podPhase", "containerStatuses": [running(restarts=3),
                                                 {"ready": True, "restartCount": 3}]}, 2,
     ["1/2", "podPhase", "6"]),
    ({"phase": "podPhase", "reason": "podReason",
      "containerStatuses": [running(restarts=3), {"ready": True, "restartCount": 3}]}, 2,
     ["1/2", "podReason", "6"]),
    ({"phase": "Running", "containerStatuses": [
        {"ready": True, "restartCount": 3,
         "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
        running(restarts=3)]}, 2, ["1/2", "NotReady", "6"]),
    ({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
      "containerStatuses": [
          {"ready": True, "restartCount": 3,
           "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
          running(restarts=3)]}, 2, ["1/2", "Running", "6"]),
    ({"phase": "podPhase", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}, 2,
     ["0/2", "SchedulingGated", "0"]),
    ({"phase": "Succeeded", "containerStatuses": [
        {"restartCount": 0, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]},
     1, ["0/1", "Completed", "0"]),
    ({"phase": "Failed", "containerStatuses": [
        {"state": {"terminated": {"reason": "Error", "exitCode": 1}}}]}, 1, ["0/1", "Error", "0"]),
    ({"phase": "Running", "containerStatuses": [
        {"state": {"terminated": {"exitCode": 2}}}]}, 1, ["0/1", "ExitCode:2", "0"]),
    ({"phase": "Running", "containerStatuses": [
        {"state": {"terminated": {"exitCode": 137, "signal": 9}}}]}, 1, ["0/1", "Signal:9", "0"]),
    ({"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4,
         "lastState": {"terminated": {"finishedAt": ago(seconds=20)}}}]}, 1,
     ["0/1", "CrashLoopBackOff", "4 (20s ago)"]),
])
def test_pod_status(status: dict, containers: int, expected: list) -> None:
    assert short(row_cells(POD, pod(status, containers=containers), NOW)) == expected


def test_pod_restarts_use_latest_termination() -> None:
    status = {"phase": "Running", "containerStatuses": [
        running(restarts=6, finished=ago(days=5)), running(restarts=3, finished=ago(days=20))]}
    assert short(row_cells(POD, pod(status, containers=2), NOW)) == ["2/2", "Running", "9 (5d ago)"]


def test_pod_terminating() -> None:
    status = {"phase": "Running", "containerStatuses": [running()]}
    obj = pod(status, deletionTimestamp=ago(seconds=10), creationTimestamp=ago(minutes=1))
    assert row_cells(POD, obj, NOW)[:5] == ["p", "1/1", "Terminating", "0", "60s"]
    pending = pod({"phase": "Pending"}, deletionTimestamp=ago(seconds=10))
    assert short(row_cells(POD, pending, NOW)) == ["0/1", "Terminating", "0"]


def test_pod_deleted_after_completion_keeps_reason() -> None:
    status = {"phase": "Succeeded", "containerStatuses": [
        {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}
    obj = pod(status, deletionTimestamp=ago(seconds=10))
    assert short(row_cells(POD, obj, NOW)) == ["0/1", "Completed", "0"]


def test_pod_node_lost() -> None:
    obj = pod({"phase": "Running", "reason": "NodeLost"}, deletionTimestamp=ago(seconds=10))
    assert short(row_cells(POD, obj, NOW)) == ["0/1", "Unknown", "0"]


@pytest.mark.parametrize(("init_statuses", "expected"), [
    ([{"restartCount": 3, "state": {"running": {}},
       "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}},
      {"state": {"waiting": {}}}],
     ["0/1", "Init:0/2", "3 (10s ago)"]),
    ([{"state": {"terminated": {}}},
      {"restartCount": 3, "state": {"running": {}},
       "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}}],
     ["0/1", "Init:1/2", "3 (10s ago)"]),
    ([{"restartCount": 2, "state": {"terminated": {}},
       "lastState": {"terminated": {"finishedAt": ago(minutes=2)}}},
      {"restartCount": 3, "state": {"running": {}},
       "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}}],
     ["0/1", "Init:1/2", "5 (10s ago)"]),
    ([{"state": {"terminated": {"reason": "Error", "exitCode": 1}}}, {}],
     ["0/1", "Init:Error", "0"]),
    ([{"state": {"terminated": {"exitCode": 3}}}, {}], ["0/1", "Init:ExitCode:3", "0"]),
    ([{"state": {"terminated": {"exitCode": 3, "signal": 15}}}, {}],
     ["0/1", "Init:Signal:15", "0"]),
    ([{"state": {"waiting": {"reason": "ImagePullBackOff"}}}, {}],
     ["0/1", "Init:ImagePullBackOff", "0"]),
    ([{"state": {"waiting": {"reason": "PodInitializing"}}}, {}], ["0/1", "Init:0/2", "0"]),
])
def test_pod_init_containers(init_statuses: list[dict], expected: list) -> None:
    status = {"phase": "Pending", "initContainerStatuses": init_statuses,
              "containerStatuses": [{"state": {"waiting": {}}}]}
    obj = pod(status, init=[{"name": "i1"}, {"name": "i2"}])
    assert short(row_cells(POD, obj, NOW)) == expected


def test_pod_init_done_then_running() -> None:
    status = {"phase": "Running",
              "initContainerStatuses": [
                  {"restartCount": 2, "state": {"terminated": {"exitCode": 0}},
                   "lastState": {"terminated": {"finishedAt": ago(minutes=2)}}}],
              "containerStatuses": [running(ready=False, restarts=4, finished=ago(seconds=20))]}
    obj = pod(status, init=[{"name": "i1"}])
    assert short(row_cells(POD, obj, NOW)) == ["0/1", "Running", "4 (20s ago)"]


SIDECARS = [{"name": "s1", "restartPolicy": "Always"}, {"name": "s2", "restartPolicy": "Always"}]


def test_pod_sidecars_started_and_running() -> None:
    status = {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
              "initContainerStatuses": [
                  {"name": "s1", "restartCount": 3, "started": True, "state": {"running": {}},
                   "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}},
                  {"name": "s2", "started": True, "state": {"running": {}}}],
              "containerStatuses": [running(restarts=4, finished=ago(seconds=20))]}
    obj = pod(status, init=SIDECARS)
    assert short(row_cells(POD, obj, NOW)) == ["1/3", "Running", "7 (10s ago)"]


def test_pod_sidecar_not_started() -> None:
    status = {"phase": "Pending", "conditions": [{"type": "Initialized", "status": "False"}],
              "initContainerStatuses": [
                  {"name": "s1", "restartCount": 3, "started": True, "ready": True,
                   "state": {"running": {}},
                   "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}},
                  {"name": "s2", "started": False, "state": {"running": {}}}],
              "containerStatuses": [{"state": {"waiting": {}}}]}
    obj = pod(status, init=SIDECARS)
    assert short(row_cells(POD, obj, NOW)) == ["1/3", "Init:1/2", "3 (10s ago)"]


def test_pod_sidecars_failed_but_initialized() -> None:
    status = {"phase": "Succeeded", "conditions": [{"type": "Initialized", "status": "True"}],
              "initContainerStatuses": [
                  {"name": "s1", "restartCount": 3, "started": False,
                   "state": {"terminated": {"reason": "Error", "exitCode": 137}},
                   "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}},
                  {"name": "s2", "started": False,
                   "state": {"terminated": {"reason": "Error", "exitCode": 137}}}],
              "containerStatuses": [
                  {"restartCount": 4, "state": {"terminated": {"reason": "Completed"}},
                   "lastState": {"terminated": {"finishedAt": ago(seconds=20)}}}]}
    obj = pod(status, init=SIDECARS)
    assert short(row_cells(POD, obj, NOW)) == ["0/3", "Completed", "7 (10s ago)"]


def test_pod_statuses_for_unknown_containers() -> None:
    status = {"phase": "Running",
              "initContainerStatuses": [{"name": "initinvalid"}, {"name": "init1"},
                                        {"name": "sidecar1"}],
              "containerStatuses": [{"name": "containerinvalid"}, {"name": "container1"}]}
    obj = pod(status, init=[{"name": "init1"}, {"name": "sidecar1", "restartPolicy": "Always"}])
    assert short(row_cells(POD, obj, NOW)) == ["0/2", "Init:0/2", "0"]


def test_pod_readiness_gates() -> None:
    status = {"phase": "Running", "conditions": [
        {"type": "condition1", "status": "True"}, {"type": "condition1", "status": "False"},
        {"type": "condition2", "status": "False"}]}
    obj = pod(status)
    obj["spec"]["readinessGates"] = [{"conditionType": "condition1"},
                                     {"conditionType": "condition2"},
                                     {"conditionType": "condition3"}]
    assert row_cells(POD, obj, NOW)[8] == "1/3"


# ---- Deployment / ReplicaSet -------------------------------------------------------------------


def test_deployment() -> None:
    obj = {
        "metadata": meta("web", creationTimestamp=ago(seconds=182)),
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {"app": "web"},
                              "matchExpressions": [{"key": "env", "operator": "In",
                                                    "values": ["prod", "dev"]},
                                                   {"key": "canary", "operator": "DoesNotExist"}]},
                 "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"},
                                                      {"name": "sidecar", "image": "envoy"}]}}},
        "status": {"replicas": 3, "updatedReplicas": 2, "readyReplicas": 1,
                   "availableReplicas": 1},
    }
    assert row_cells("apps/Deployment", obj, NOW) == [
        "web", "1/3", 2, 1, "3m2s", "nginx,sidecar", "nginx:1.25,envoy",
        "app=web,!canary,env in (dev,prod)"]


def test_deployment_defaults_and_bad_selector() -> None:
    obj = {"metadata": meta("d"), "spec": {"template": {"spec": {"containers": []}}}}
    assert row_cells("apps/Deployment", obj, NOW) == ["d", "0/1", 0, 0, "<unknown>", "", "", ""]
    obj["spec"]["replicas"] = 0
    obj["spec"]["selector"] = {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}
    assert row_cells("apps/Deployment", obj, NOW)[1] == "0/0"
    assert row_cells("apps/Deployment", obj, NOW)[7] == "<invalid>"


def test_replicaset() -> None:
    obj = {"metadata": meta("web-7d9c", creationTimestamp=ago(hours=26)),
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web",
                                                                "pod-template-hash": "7d9c"}},
                    "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
           "status": {"replicas": 2, "readyReplicas": 1}}
    assert row_cells("apps/ReplicaSet", obj, NOW) == [
        "web-7d9c", 2, 2, 1, "26h", "c", "i", "app=web,pod-template-hash=7d9c"]
    obj["spec"].pop("selector")
    assert row_cells("apps/ReplicaSet", obj, NOW)[7] == "<none>"
    obj["spec"]["selector"] = {"matchExpressions": [{"key": "a", "operator": "In"}]}
    assert row_cells("apps/ReplicaSet", obj, NOW)[7] == "<error>"


# ---- EndpointSlice / Endpoints -----------------------------------------------------------------

EPS = "discovery.k8s.io/EndpointSlice"


def test_endpoint_slice() -> None:
    obj = {"metadata": meta("web-abcde", creationTimestamp=ago(minutes=7)),
           "addressType": "IPv4",
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
           "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}
    assert row_cells(EPS, obj, NOW) == ["web-abcde", "IPv4", "8080", "10.0.0.1,10.0.0.2",
                                        "7m"]


def test_endpoint_slice_more_and_unset() -> None:
    obj = {"metadata": meta("s"), "addressType": "IPv6",
           "ports": [{"port": 80}, {"name": "metrics"}, {}, {"port": 9090}, {"port": 9091}],
           "endpoints": [{"addresses": [f"fd00::{i}"]} for i in range(1, 6)]}
    assert row_cells(EPS, obj, NOW)[1:4] == [
        "IPv6", "80,metrics,* + 2 more...", "fd00::1,fd00::2,fd00::3 + 2 more..."]
    empty = {"metadata": meta("s"), "addressType": "IPv4", "endpoints": None}
    assert row_cells(EPS, empty, NOW)[1:4] == ["IPv4", "<unset>", "<unset>"]


def test_endpoints() -> None:
    obj = {"metadata": meta("web", creationTimestamp=ago(minutes=1)),
           "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                        "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}]}
    assert row_cells("/Endpoints", obj, NOW) == [
        "web", "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...", "60s"]
    v6 = {"metadata": meta("v6"), "subsets": [{"addresses": [{"ip": "fd00::1"}],
                                               "ports": [{"port": 80}]}]}
    assert row_cells("/Endpoints", v6, NOW)[1] == "[fd00::1]:80"
    headless = {"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "10.0.0.9"}]}]}
    assert row_cells("/Endpoints", headless, NOW)[1] == "10.0.0.9"
    assert row_cells("/Endpoints", {"metadata": meta("e")}, NOW)[1] == "<none>"
    assert row_cells("/Endpoints", {"metadata": meta("e"), "subsets": [{}]}, NOW)[1] == ""


# ---- small core kinds --------------------------------------------------------------------------


def test_secret() -> None:
    obj = {"metadata": meta("tls", creationTimestamp=ago(days=3)), "type": "kubernetes.io/tls",
           "data": {"tls.crt": "Y3J0", "tls.key": "a2V5"}}
    assert row_cells("/Secret", obj, NOW) == ["tls", "kubernetes.io/tls", 2, "3d"]
    plain = {"metadata": meta("s"), "stringData": {"a": "1"}, "data": {"a": "MQ==", "b": "Mg=="}}
    assert row_cells("/Secret", plain, NOW) == ["s", "Opaque", 2, "<unknown>"]


def test_configmap_namespace_serviceaccount() -> None:
    cm = {"metadata": meta("cm", creationTimestamp=ago(seconds=30)),
          "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert row_cells("/ConfigMap", cm, NOW) == ["cm", 3, "30s"]
    ns = {"metadata": {"name": "team-a", "creationTimestamp": ago(days=40)},
          "status": {"phase": "Terminating"}}
    assert row_cells("/Namespace", ns, NOW) == ["team-a", "Terminating", "40d"]
    assert row_cells("/Namespace", {"metadata": {"name": "new"}}, NOW) == ["new", "Active",
                                                                          "<unknown>"]
    sa = {"metadata": meta("default"), "secrets": [{"name": "token"}]}
    assert row_cells("/ServiceAccount", sa, NOW) == ["default", 1, "<unknown>"]


def test_node() -> None:
    obj = {"metadata": {"name": "node-1", "creationTimestamp": ago(days=10),
                        "labels": {"node-role.kubernetes.io/control-plane": "",
                                   "node-role.kubernetes.io/": "", "kubernetes.io/role": "infra"}},
           "spec": {"unschedulable": True},
           "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                     {"type": "Ready", "status": "True"}],
                      "addresses": [{"type": "Hostname", "address": "node-1"},
                                    {"type": "InternalIP", "address": "172.18.0.2"},
                                    {"type": "InternalIP", "address": "172.18.0.3"}],
                      "nodeInfo": {"kubeletVersion": "v1.30.0", "osImage": "Debian",
                                   "kernelVersion": "6.1", "containerRuntimeVersion": ""}}}
    assert row_cells("/Node", obj, NOW) == [
        "node-1", "Ready,SchedulingDisabled", "control-plane,infra", "10d", "v1.30.0",
        "172.18.0.2", "<none>", "Debian", "6.1", "<unknown>"]
    bare = {"metadata": {"name": "foo3"}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown"}]}}
    assert row_cells("/Node", bare, NOW)[:5] == ["foo3", "NotReady", "<none>", "<unknown>", ""]
    assert row_cells("/Node", {"metadata": {"name": "n"}}, NOW)[1] == "Unknown"


def test_event() -> None:
    obj = {"metadata": meta("web.17a"), "type": "Warning", "reason": "BackOff",
           "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{c}"},
           "message": "  Back-off restarting failed container\n",
           "source": {"component": "kubelet", "host": "node-1"},
           "firstTimestamp": ago(days=3), "lastTimestamp": ago(days=2), "count": 6}
    assert row_cells("/Event", obj, NOW) == [
        "2d", "Warning", "BackOff", "pod/web-1", "spec.containers{c}", "kubelet, node-1",
        "Back-off restarting failed container", "3d", 6, "web.17a"]


def test_event_new_api_fields() -> None:
    event_time = (NOW - timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    obj = {"metadata": meta("e"), "type": "Normal", "reason": "Sync",
           "involvedObject": {"kind": "Ingress"}, "message": "synced",
           "eventTime": event_time, "reportingComponent": "ingress-controller",
           "reportingInstance": "ctrl-0"}
    assert row_cells("/Event", obj, NOW) == [
        "90s", "Normal", "Sync", "ingress", "", "ingress-controller, ctrl-0", "synced", "90s",
        1, "e"]
    obj["series"] = {"count": 4, "lastObservedTime": ago(seconds=5)}
    assert row_cells("/Event", obj, NOW)[0] == "5s"
    assert row_cells("/Event", obj, NOW)[8] == 4


def test_events_k8s_io_event() -> None:
    obj = {"metadata": meta("e2"), "type": "Normal", "reason": "Scheduled",
           "regarding": {"kind": "Pod", "name": "web-1"}, "note": "Successfully assigned",
           "eventTime": (NOW - timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
           "reportingController": "default-scheduler", "reportingInstance": "sched-1",
           "deprecatedCount": 0}
    assert row_cells("events.k8s.io/Event", obj, NOW) == [
        "4m", "Normal", "Scheduled", "pod/web-1", "", "default-scheduler, sched-1",
        "Successfully assigned", "4m", 1, "e2"]


def test_ingress_class() -> None:
    key = "networking.k8s.io/IngressClass"
    obj = {"metadata": {"name": "nginx", "creationTimestamp": ago(days=3650)},
           "spec": {"controller": "k8s.io/ingress-nginx"}}
    assert row_cells(key, obj, NOW) == ["nginx", "k8s.io/ingress-nginx", "<none>", "10y"]
    obj["spec"]["parameters"] = {"apiGroup": "example.com", "kind": "customgroup",
                                 "name": "example"}
    assert row_cells(key, obj, NOW)[2] == "customgroup.example.com/example"
    obj["spec"]["parameters"] = {"kind": "ConfigMap", "name": "cfg", "scope": "Namespace"}
    assert row_cells(key, obj, NOW)[2] == "ConfigMap/cfg"
    obj["metadata"]["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    assert row_cells(key, obj, NOW)[0] == "nginx (default)"


def test_lease_job_pdb() -> None:
    lease = {"metadata": meta("ctrl", creationTimestamp=ago(seconds=45)),
             "spec": {"holderIdentity": "ctrl-0_abc"}}
    assert row_cells("coordination.k8s.io/Lease", lease, NOW) == ["ctrl", "ctrl-0_abc", "45s"]
    assert row_cells("coordination.k8s.io/Lease", {"metadata": meta("l")}, NOW)[1] == ""
    job = {"metadata": meta("pi", creationTimestamp=ago(minutes=5)),
           "spec": {"completions": 3, "parallelism": 2,
                    "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
                    "selector": {"matchLabels": {"job-name": "pi"}}},
           "status": {"succeeded": 3, "startTime": ago(minutes=5),
                      "completionTime": ago(minutes=2, seconds=30),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert row_cells("batch/Job", job, NOW) == [
        "pi", "Complete", "3/3", "2m30s", "5m", "pi", "perl", "job-name=pi"]
    running_job = {"metadata": meta("j"), "spec": {"parallelism": 4},
                   "status": {"startTime": ago(seconds=42), "active": 4}}
    assert row_cells("batch/Job", running_job, NOW)[1:4] == ["Running", "0/1 of 4", "42s"]
    assert row_cells("batch/Job", {"metadata": meta("j")}, NOW)[1:4] == ["Running", "0/1", ""]
    pdb = {"metadata": meta("pdb"), "spec": {"minAvailable": "50%"},
           "status": {"disruptionsAllowed": 1}}
    assert row_cells("policy/PodDisruptionBudget", pdb, NOW) == ["pdb", "50%", "N/A", 1,
                                                                 "<unknown>"]
    pdb["spec"] = {"maxUnavailable": 1}
    assert row_cells("policy/PodDisruptionBudget", pdb, NOW)[1:3] == ["N/A", "1"]


def test_rbac_and_webhooks() -> None:
    binding = {"metadata": meta("rb", creationTimestamp=ago(hours=5)),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "view"},
               "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                            {"kind": "ServiceAccount", "name": "ctrl", "namespace": "ingress"},
                            {"kind": "User", "name": "bob"}]}
    assert row_cells("rbac.authorization.k8s.io/RoleBinding", binding, NOW) == [
        "rb", "ClusterRole/view", "5h", "alice, bob", "devs", "ingress/ctrl"]
    role = {"metadata": meta("r", creationTimestamp="2024-05-01T10:00:00Z")}
    assert row_cells("rbac.authorization.k8s.io/Role", role, NOW) == ["r",
                                                                      "2024-05-01T10:00:00Z"]
    assert row_cells("rbac.authorization.k8s.io/ClusterRole", {"metadata": {"name": "c"}},
                     NOW) == ["c", "0001-01-01T00:00:00Z"]
    hook = {"metadata": {"name": "ingress-nginx-admission", "creationTimestamp": ago(days=1)},
            "webhooks": [{"name": "validate.nginx.ingress.kubernetes.io"}]}
    key = "admissionregistration.k8s.io/ValidatingWebhookConfiguration"
    assert row_cells(key, hook, NOW) == ["ingress-nginx-admission", 1, "24h"]


def test_default_table_column_types() -> None:
    cols = column_definitions("apiextensions.k8s.io/CustomResourceDefinition")
    assert [(c["name"], c["type"], c["format"]) for c in cols] == [
        ("Name", "string", "name"), ("Created At", "date", "")]
    crd = {"metadata": {"name": "widgets.example.com", "creationTimestamp": "2024-01-02T03:04:05Z"}}
    assert row_cells("apiextensions.k8s.io/CustomResourceDefinition", crd, NOW) == [
        "widgets.example.com", "2024-01-02T03:04:05Z"]


# ---- custom resources --------------------------------------------------------------------------

CR = "example.com/Widget"
COLUMNS = [
    {"name": "Ready", "type": "string",
     "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas",
     "description": "Desired replicas"},
    {"name": "Ratio", "type": "number", "jsonPath": ".status.ratio", "priority": 1},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {"name": "Host", "type": "string", "jsonPath": ".spec.hosts[0]", "format": "hostname"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def widget(**spec: object) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": meta("w", creationTimestamp=ago(hours=2, minutes=10)),
            "spec": spec,
            "status": {"ratio": 2, "conditions": [{"type": "Synced", "status": "False"},
                                                  {"type": "Ready", "status": "True"}]}}


def test_custom_resource_columns() -> None:
    cols = column_definitions(CR, COLUMNS)
    assert [c["name"] for c in cols] == ["Name", "Ready", "Replicas", "Ratio", "Paused", "Host",
                                         "Age"]
    assert cols[1] == {"name": "Ready", "type": "string", "format": "", "priority": 0,
                       "description": "Custom resource definition column (in JSONPath format): "
                                      '.status.conditions[?(@.type=="Ready")].status'}
    assert cols[2]["description"] == "Desired replicas"
    assert cols[3]["priority"] == 1
    assert cols[5]["format"] == "hostname"
    assert cols[6]["type"] == "date"


def test_custom_resource_cells() -> None:
    obj = widget(replicas=3, paused=False, hosts=["a.example.com", "b.example.com"])
    assert row_cells(CR, obj, NOW, COLUMNS) == ["w", "True", 3, 2.0, False, "a.example.com",
                                                "130m"]


def test_custom_resource_missing_and_mistyped_values_are_null() -> None:
    obj = widget(replicas="three", paused="no", hosts=[])
    obj["status"] = {"ratio": "high"}
    assert row_cells(CR, obj, NOW, COLUMNS) == ["w", None, None, None, None, None, "130m"]
    obj = widget(replicas=2.9)
    assert row_cells(CR, obj, NOW, COLUMNS)[2] == 2


def test_custom_resource_string_column_prints_any_value() -> None:
    columns = [{"name": "V", "type": "string", "jsonPath": ".spec.v"}]
    for value, text in [(3, "3"), (1.5, "1.5"), (2.0, "2"), (1e6, "1e+06"), (123456.0, "123456"),
                        (0.00001, "1e-05"), (True, "true"), (None, "<no value>"),
                        ({"b": 1, "a": [1, "x<y"]}, '{"a":[1,"x\\u003cy"],"b":1}')]:
        assert row_cells(CR, {"metadata": meta("w"), "spec": {"v": value}}, NOW,
                         columns) == ["w", text]


def test_custom_resource_date_column() -> None:
    columns = [{"name": "Seen", "type": "date", "jsonPath": ".status.seen"}]
    for value, text in [(ago(seconds=30), "30s"), ("not a date", "<invalid>"), ("", "<unknown>"),
                        ("0001-01-01T00:00:00Z", "<unknown>"), (5, None)]:
        obj = {"metadata": meta("w"), "status": {"seen": value}}
        assert row_cells(CR, obj, NOW, columns) == ["w", text]


def test_custom_resource_without_columns_gets_age() -> None:
    obj = widget()
    for printer_columns in (None, []):
        assert names(CR, printer_columns) == ["Name", "Age"]
        assert column_definitions(CR, printer_columns)[1]["type"] == "date"
        assert row_cells(CR, obj, NOW, printer_columns) == ["w", "130m"]


def test_unknown_builtin_kind_uses_default_table() -> None:
    obj = {"metadata": {"name": "standard", "creationTimestamp": "2024-05-31T12:00:00Z"}}
    assert names("storage.k8s.io/StorageClass") == ["Name", "Created At"]
    assert row_cells("storage.k8s.io/StorageClass", obj, NOW) == ["standard",
                                                                  "2024-05-31T12:00:00Z"]


def test_gateway_api_style_columns() -> None:
    columns = [
        {"name": "Class", "type": "string", "jsonPath": ".spec.gatewayClassName"},
        {"name": "Address", "type": "string", "jsonPath": ".status.addresses[*].value"},
        {"name": "Programmed", "type": "string",
         "jsonPath": ".status.conditions[?(@.type==\"Programmed\")].status"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    gw = {"metadata": meta("gw", creationTimestamp=ago(minutes=3)),
          "spec": {"gatewayClassName": "example"},
          "status": {"addresses": [{"value": "10.0.0.1"}, {"value": "10.0.0.2"}],
                     "conditions": [{"type": "Programmed", "status": "True"}]}}
    key = "gateway.networking.k8s.io/Gateway"
    assert row_cells(key, gw, NOW, columns) == ["gw", "example", "10.0.0.1", "True", "3m"]


# ---- JSONPath ----------------------------------------------------------------------------------

DATA = {"metadata": {"labels": {"app.kubernetes.io/name": "web", "tier": "front"}},
        "items": [{"n": 1, "name": "a"}, {"n": 2, "name": "b"}, {"n": 3, "name": "c"}],
        "nested": {"x": {"name": "deep"}}}


@pytest.mark.parametrize(("path", "expected"), [
    (".metadata.labels.tier", ["front"]),
    (r".metadata.labels.app\.kubernetes\.io/name", ["web"]),
    (".metadata.labels['tier']", ["front"]),
    (".items[0].name", ["a"]),
    (".items[-1].name", ["c"]),
    (".items[0:2].name", ["a", "b"]),
    (".items[*].n", [1, 2, 3]),
    (".items[0,2].name", ["a", "c"]),
    (".items[?(@.n>1)].name", ["b", "c"]),
    (".items[?(@.n!=2)].name", ["a", "c"]),
    (".items[?(@.name=='b')].n", [2]),
    (".items[?(@.missing)].n", []),
    (".items[?(@.name)].n", [1, 2, 3]),
    ("..name", ["a", "b", "c", "deep"]),
    ("{.nested.x.name}", ["deep"]),
    (".nope.deeper", []),
    (".metadata.labels.tier.more", []),
])
def test_jsonpath(path: str, expected: list) -> None:
    assert find_results(path, DATA) == expected


@pytest.mark.parametrize("path", [".items[5]", ".metadata[0]", ".items[?(@.n=='1')]",
                                  "metadata", ".items[x]"])
def test_jsonpath_errors(path: str) -> None:
    with pytest.raises(JSONPathError):
        find_results(path, DATA)


def test_print_value_uses_go_formatting() -> None:
    assert print_value(-0.5) == "-0.5"
    assert print_value(1234567.0) == "1.234567e+06"
    assert print_value(0.0001) == "0.0001"
    assert print_value([1.0, 1e-7, 1e21, "&"]) == '[1,1e-7,1e+21,"\\u0026"]'
