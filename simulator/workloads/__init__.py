"""Pod processes for the simulated cluster: each running pod is a real HTTP server on a
loopback address that behaves like the container image it stands for.

    runtime = PodRuntime()
    pod = await runtime.start_pod(PodSpecView("ns", "web-0", pod_ip_for(0), containers))
    pod.ports       # {80: 41234}: containerPort -> the real port to put in EndpointSlices
    pod.image_kind  # "hello-plain-text" | "echo-basic" | "generic"
    await pod.prestop(); await pod.terminate()

Emulated exactly (see each module for the upstream file it copies):
`nginxdemos/hello:plain-text` (images/hello.py), the Gateway API conformance `echo-basic`
(images/echo_basic.py); anything else is a generic echo (images/generic.py).
"""

from .addresses import loopback_aliases_work, pod_ip_for
from .runtime import PodRuntime, RunningPod
from .spec import PodSpecView

__all__ = ["PodRuntime", "PodSpecView", "RunningPod", "pod_ip_for", "loopback_aliases_work"]
