"""Events the controller records on the Ingresses it serves."""

from __future__ import annotations

from dataclasses import dataclass

WARNING = "Warning"
NORMAL = "Normal"


@dataclass(frozen=True, order=True)
class ControllerEvent:
    """A Warning (or Normal) Event to record on an Ingress."""

    namespace: str
    ingress: str
    type: str
    reason: str
    message: str


class EventLog:
    """Collects the Events of one translation, without duplicates, in a stable order."""

    def __init__(self) -> None:
        self._events: set[ControllerEvent] = set()

    def warn(self, ingress: tuple[str, str], reason: str, message: str) -> None:
        """Record a Warning on the Ingress `(namespace, name)`."""
        self._events.add(ControllerEvent(ingress[0], ingress[1], WARNING, reason, message))

    def events(self) -> tuple[ControllerEvent, ...]:
        """All Events, sorted by Ingress, then type, reason and message."""
        return tuple(sorted(self._events))

    def warnings(self) -> tuple[str, ...]:
        """The Warnings as one-line notes for `RoutingTable.warnings`."""
        return self.notes(self.events())

    @staticmethod
    def notes(events: tuple[ControllerEvent, ...]) -> tuple[str, ...]:
        """The Warnings among sorted `events` as one-line notes for `RoutingTable.warnings`."""
        return tuple(f"{e.namespace}/{e.ingress}: {e.reason}: {e.message}"
                     for e in events if e.type == WARNING)
