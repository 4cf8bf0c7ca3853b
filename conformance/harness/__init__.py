"""What cases use to talk to a target: an HTTP(S) client that sets Host and SNI
independently (`client`), eventual-consistency polling with the time to consistency recorded
(`consistency`), a constant-rate load generator (`load`), manifest builders (`manifests`) and
a thin layer over the `kubernetes` client (`kube`).

Cases use only these, the Kubernetes API and HTTP(S): never simulator internals."""
