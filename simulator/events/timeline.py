"""The timeline: one JSON object per line for every action taken.

`t` is the offset in seconds from the clock's start (wall-clock dependent); `step`, `n`,
`action`, `target` and `choice` are what the seed and the scenario decide, so two runs of the
same scenario and seed agree on them; `objects` names what was touched (`Kind ns/name`) and
`result` what came back, both of which may depend on the cluster's timing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any


@dataclass
class Entry:
    """One action on the timeline."""

    t: float
    step: int
    n: int
    action: str
    target: str = ""
    choice: dict[str, Any] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def replay_key(self) -> tuple[Any, ...]:
        """The part two runs with the same scenario and seed must agree on."""
        return (self.step, self.n, self.action, self.target,
                json.dumps(self.choice, sort_keys=True))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def write_timeline(entries: list[Entry], out: str | Path | IO[str]) -> None:
    """Write entries as JSON lines to a path or an open text file."""
    text = "".join(e.to_json() + "\n" for e in entries)
    if isinstance(out, (str, Path)):
        Path(out).write_text(text)
    else:
        out.write(text)


def read_timeline(path: str | Path) -> list[Entry]:
    """Entries from a JSON-lines timeline file."""
    return [Entry(**json.loads(line)) for line in Path(path).read_text().splitlines()
            if line.strip()]
