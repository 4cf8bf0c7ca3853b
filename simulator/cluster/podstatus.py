"""The status a kubelet reports for a pod it runs (pkg/kubelet/kubelet_pods.go
generateAPIPodStatus and pkg/kubelet/status/generate.go), built from the kubelet's own record
of the pod: a pure function, so what is reported can be tested without sockets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

# The order kubelet 1.33 writes the pod conditions in.
CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                   "PodScheduled")


def normalize_image(image: str) -> str:
    """The image reference as containerd reports it: registry and tag made explicit
    (`nginxdemos/hello:plain-text` -> `docker.io/nginxdemos/hello:plain-text`)."""
    name = image
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if sep else f"docker.io/library/{name}"
    last = name.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    """A stable, made-up repo digest for an image (`docker.io/x@sha256:...`)."""
    normalized = normalize_image(image)
    repo = normalized.split("@", 1)[0]
    last_colon = repo.rfind(":")
    if last_colon > repo.rfind("/"):
        repo = repo[:last_colon]
    return f"{repo}@sha256:{hashlib.sha256(normalized.encode()).hexdigest()}"


@dataclass
class ContainerState:
    """What the kubelet knows of one container."""

    name: str
    image: str
    container_id: str
    started_at: str
    ready: bool = False
    running: bool = True
    exit_code: int | None = None
    reason: str = ""
    finished_at: str = ""
    restart_count: int = 0
    # The previous instance's `terminated` state once the container has restarted.
    last_terminated: Obj | None = None

    def terminated(self) -> Obj:
        """This instance's `terminated` state (meaningful once it has stopped)."""
        return {"exitCode": self.exit_code or 0, "reason": self.reason,
                "startedAt": self.started_at, "finishedAt": self.finished_at,
                "containerID": self.container_id}


@dataclass
class PodState:
    """What the kubelet knows of one pod, enough to write its status."""

    pod_ip: str
    host_ip: str
    start_time: str
    containers: list[ContainerState]
    terminal: bool = False
    # condition type -> (status, lastTransitionTime): a time changes only with the status.
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.terminal and all(c.running and c.ready for c in self.containers)

    def phase(self) -> str:
        """getPhase: Running while containers run; once the deleted pod's containers have
        stopped, Succeeded if all exited 0, else Failed."""
        if not self.terminal:
            return "Running"
        return "Succeeded" if all(c.exit_code == 0 for c in self.containers) else "Failed"


def _condition(state: PodState, cond_type: str, status: str, at: str, reason: str = "",
               message: str = "") -> Obj:
    previous = state.transitions.get(cond_type)
    if previous is None or previous[0] != status:
        state.transitions[cond_type] = (status, at)
    cond: Obj = {"type": cond_type, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": state.transitions[cond_type][1]}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _container_status(c: ContainerState) -> Obj:
    if c.running:
        state: Obj = {"running": {"startedAt": c.started_at}}
    else:
        state = {"terminated": c.terminated()}
    last = {"terminated": dict(c.last_terminated)} if c.last_terminated else {}
    return {"name": c.name, "state": state, "lastState": last, "ready": c.running and c.ready,
            "restartCount": c.restart_count, "image": normalize_image(c.image),
            "imageID": image_id(c.image),
            "containerID": c.container_id, "started": c.running}


def build_status(state: PodState, at: str) -> Obj:
    """The pod status to report at time `at` (RFC 3339); updates `state.transitions`."""
    unready = [c.name for c in state.containers if not (c.running and c.ready)]
    if state.terminal:
        ready_reason, ready_message = "PodCompleted", ""
    elif unready:
        ready_reason = "ContainersNotReady"
        ready_message = f"containers with unready status: [{' '.join(unready)}]"
    else:
        ready_reason, ready_message = "", ""
    ready = "True" if state.ready else "False"
    conditions = [
        _condition(state, "PodReadyToStartContainers", "False" if state.terminal else "True",
                   at),
        _condition(state, "Initialized", "True", at,
                   "PodCompleted" if state.terminal else ""),
        _condition(state, "Ready", ready, at, ready_reason, ready_message),
        _condition(state, "ContainersReady", ready, at, ready_reason, ready_message),
        _condition(state, "PodScheduled", "True", at),
    ]
    return {
        "phase": state.phase(),
        "conditions": conditions,
        "hostIP": state.host_ip,
        "hostIPs": [{"ip": state.host_ip}],
        "podIP": state.pod_ip,
        "podIPs": [{"ip": state.pod_ip}],
        "startTime": state.start_time,
        "containerStatuses": [_container_status(c) for c in state.containers],
    }
