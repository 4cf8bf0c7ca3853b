"""The conformance cases, one module per feature. Each case carries a `feature` marker (on
its module) and a `level` marker: core (the Ingress specification says so), extended (users
rely on it) or implementation-specific (recorded for comparison, never failing the run)."""
