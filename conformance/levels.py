"""Features, levels and profiles: how cases are labelled and selected."""

from __future__ import annotations

CORE = "core"
EXTENDED = "extended"
IMPLEMENTATION_SPECIFIC = "implementation-specific"
LEVELS = (CORE, EXTENDED, IMPLEMENTATION_SPECIFIC)

FEATURES = (
    "host_rules", "path_rules", "default_backend", "ingress_class", "load_balancing",
    "endpoint_churn", "tls", "status", "bad_input",
)

# Which levels each --gate value fails the run on.
GATES = {CORE: {CORE}, EXTENDED: {CORE, EXTENDED}}

# Named selections (--profile): (features or None for all, levels or None for all).
PROFILES: dict[str, tuple[frozenset[str] | None, frozenset[str] | None]] = {
    "full": (None, None),
    "core": (None, frozenset({CORE})),
    "quick": (frozenset(FEATURES) - {"endpoint_churn", "load_balancing"}, None),
}

# Long cases start first so parallel workers finish together.
SLOW_FEATURES = ("endpoint_churn", "load_balancing")
