"""The event model's perturbations: a scenario (setup manifests + scheduled steps) replayed
on a clock against a running simulator, every random choice drawn from `random.Random(seed)`,
every action recorded to a timeline (JSON lines) so a run can be compared and replayed.

>>> scenario = load_scenario("fixtures/scenarios/churn.yaml")
>>> with SimulatorThread(SimulatorOptions(seed=7)) as thread:
...     timeline = Runner(scenario, seed=7, thread=thread).run()

Actions go through the Kubernetes API (the official `kubernetes` client) and the API
server's fault methods; the one exception is the readiness flap, which flips the pod's
readiness switch (what its readiness endpoint answers) in the pod runtime.
"""

from __future__ import annotations

from .scenario import Scenario, ScenarioError, Step, load_scenario
from .timeline import Entry, read_timeline, write_timeline

__all__ = ["Entry", "Runner", "Scenario", "ScenarioError", "Step", "load_scenario",
           "read_timeline", "write_timeline"]


def __getattr__(name: str):  # the runner pulls in kubernetes; load it only when asked
    if name == "Runner":
        from .runner import Runner
        return Runner
    raise AttributeError(name)
