"""Scenario files: setup manifests and a list of scheduled steps.

```yaml
namespace: default            # where setup objects and namespaced actions go
setup: [ <manifest>, ... ]    # created in order before the clock starts
steps:
  - at: 2                     # seconds after the clock starts
    every: 1.5                # optional: repeat with this period ...
    count: 3                  # ... this many times in all (default 1)
    action: delete_pod        # see ACTIONS
    selector: app=web         # the action's own parameters
    grace: 0
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# action -> parameters it requires
ACTIONS: dict[str, tuple[str, ...]] = {
    "scale": ("deployment", "replicas"),
    "rolling_restart": ("deployment",),
    "delete_pod": ("selector",),
    "readiness_flap": ("selector", "down"),
    "kill_pod": ("selector",),
    "node_loss": (),
    "node_recover": (),
    "drop_watches": (),
    "expire_watches": (),
    "outage": ("seconds",),
    "latency": ("seconds",),
}
_STEP_KEYS = {"at", "every", "count", "action"}


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the step and field."""


@dataclass(frozen=True)
class Step:
    """One scheduled perturbation (possibly repeated)."""

    index: int
    at: float
    action: str
    params: dict[str, Any]
    every: float | None = None
    count: int = 1

    def times(self) -> list[float]:
        """Clock offsets of every occurrence."""
        period = self.every or 0.0
        return [self.at + n * period for n in range(self.count)]


@dataclass(frozen=True)
class Scenario:
    """Setup manifests plus steps, as read from a YAML file."""

    namespace: str = "default"
    setup: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    name: str = ""

    def schedule(self) -> list[tuple[float, int, int, Step]]:
        """Every occurrence as (offset, step index, occurrence number, step), in the order
        they run: by time, ties broken by position in the file (never by chance)."""
        items = [(t, step.index, n, step) for step in self.steps
                 for n, t in enumerate(step.times())]
        return sorted(items, key=lambda item: item[:3])


def _number(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ScenarioError(f"{where}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def _step(index: int, raw: Any) -> Step:
    where = f"steps[{index}]"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping, got {raw!r}")
    action = raw.get("action")
    if action not in ACTIONS:
        raise ScenarioError(f"{where}.action: {action!r} is not one of {', '.join(ACTIONS)}")
    params = {k: v for k, v in raw.items() if k not in _STEP_KEYS}
    for required in ACTIONS[action]:
        if required not in params:
            raise ScenarioError(f"{where}: action {action} needs {required!r}")
    every = raw.get("every")
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ScenarioError(f"{where}.count: expected an integer >= 1, got {count!r}")
    if count > 1 and every is None:
        raise ScenarioError(f"{where}: count {count} needs 'every'")
    return Step(index=index, at=_number(raw.get("at", 0), f"{where}.at"), action=action,
                params=params, every=None if every is None else
                _number(every, f"{where}.every", 0.001), count=count)


def parse_scenario(data: Any, name: str = "") -> Scenario:
    """A Scenario from already-parsed YAML; ScenarioError says what is wrong."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a mapping with 'setup' and 'steps'")
    setup = data.get("setup") or []
    if not isinstance(setup, list) or not all(isinstance(m, dict) for m in setup):
        raise ScenarioError("setup: expected a list of manifests")
    steps = data.get("steps") or []
    if not isinstance(steps, list):
        raise ScenarioError("steps: expected a list")
    return Scenario(namespace=str(data.get("namespace") or "default"), setup=setup,
                    steps=[_step(i, s) for i, s in enumerate(steps)], name=name)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    return parse_scenario(data, name=path.stem)
