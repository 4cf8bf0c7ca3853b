"""The reference Ingress controller.

`translate.translate(snapshot)` is its pure core: Kubernetes objects (plain JSON dicts) in, a
`simulator.routing.RoutingTable` plus the Ingresses served and the Events to record out. The
informers, status updates and Event recording around it form a thin shell.
"""
