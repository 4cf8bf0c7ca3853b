"""The Ingress conformance suite (cases, targets, harness, reports)."""
