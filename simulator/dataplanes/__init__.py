"""Real proxies as data planes: the RoutingTable rendered to nginx.conf / haproxy.cfg
(pure functions, golden-file tested) and supervisors that run the real process on loopback,
validate each new configuration before applying it, reload gracefully and keep the last good
configuration when validation fails.

Every data plane (the in-process `simulator.proxy.Proxy` included) has the same face, the
`DataPlane` protocol in `base`, so `simulator up --data-plane NAME` can swap them."""
