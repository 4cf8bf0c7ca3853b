"""The embedded cluster: a fake Kubernetes API server, the event model, workloads,
the reference Ingress controller and its data planes."""
