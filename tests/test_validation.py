"""Tests of simulator.apiserver.validation against kube-apiserver's exact wording."""

from __future__ import annotations

import copy

import pytest

from simulator.apiserver.validation import (
    FieldError,
    invalid_message,
    names,
    validate,
    validate_status,
)
from simulator.apiserver.validation.field import GoJSON, GoStruct, Path, format_value, go_quote
from simulator.apiserver.validation.names import is_ip, parse_ip_sloppy

ING = "networking.k8s.io/Ingress"
ING_CLASS = "networking.k8s.io/IngressClass"

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which "
    "must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric "
    "character (e.g. '*.example.com', regex used for validation is "
    "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"


def errors(kind: str, obj: dict, old: dict | None = None) -> list[str]:
    return [e.error() for e in validate(kind, obj, old)]


def meta(name: str = "x", namespace: str | None = "default", **extra) -> dict:
    m = {"name": name, **extra}
    if namespace is not None:
        m["namespace"] = namespace
    return m


def backend(name: str = "svc", number: int | None = 80, port_name: str | None = None) -> dict:
    port: dict = {}
    if number is not None:
        port["number"] = number
    if port_name is not None:
        port["name"] = port_name
    return {"service": {"name": name, "port": port}}


def ingress(*paths: dict, host: str | None = "foo.example.com", **spec) -> dict:
    rule: dict = {"http": {"paths": list(paths)}}
    if host is not None:
        rule["host"] = host
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("ing"),
            "spec": {"rules": [rule], **spec}}


def http_path(path: str | None = "/", path_type: str | None = "Prefix", be: dict | None = None
              ) -> dict:
    p: dict = {"backend": be if be is not None else backend()}
    if path is not None:
        p["path"] = path
    if path_type is not None:
        p["pathType"] = path_type
    return p


P0 = "spec.rules[0].http.paths[0]"


# --------------------------------------------------------------------------- field.Error


class TestFieldError:
    def test_body_and_error_and_cause(self):
        err = FieldError("FieldValueRequired", "spec.rules[0].http.paths[0].pathType", "",
                         "pathType must be specified")
        assert err.body() == "Required value: pathType must be specified"
        assert err.error() == ("spec.rules[0].http.paths[0].pathType: Required value: "
                               "pathType must be specified")
        assert err.cause() == {"reason": "FieldValueRequired",
                               "message": "Required value: pathType must be specified",
                               "field": "spec.rules[0].http.paths[0].pathType"}

    def test_value_formatting_as_go(self):
        assert FieldError("FieldValueInvalid", "f", "a\"b\n", "d").body() == \
            'Invalid value: "a\\"b\\n": d'
        assert FieldError("FieldValueInvalid", "f", 70000, "d").body() == "Invalid value: 70000: d"
        assert FieldError("FieldValueInvalid", "f", True, "").body() == "Invalid value: true"
        assert FieldError("FieldValueInvalid", "f", None, "d").body() == "Invalid value: null: d"
        assert FieldError("FieldValueInvalid", "f", {"b": "1", "a": "<"}, "d").body() == \
            'Invalid value: {"a":"\\u003c","b":"1"}: d'
        assert FieldError("FieldValueForbidden", "f", "", "nope").body() == "Forbidden: nope"
        assert format_value(GoStruct(z=1, a=GoJSON("x"))) == '{"z":1,"a":"x"}'
        assert format_value(1e6) == "1e+06"
        assert go_quote("é\x01") == '"é\\x01"'

    def test_paths(self):
        assert str(Path("spec", "rules").index(0).child("host")) == "spec.rules[0].host"
        assert str(Path("data").key("tls.crt")) == "data[tls.crt]"
        assert str(Path("annotations").child("kubernetes.io/ingress.class")) == \
            "annotations.kubernetes.io/ingress.class"


class TestInvalidMessage:
    def test_single_and_several_and_duplicates(self):
        a = FieldError("FieldValueInvalid", "spec.rules[0].host", "1.2.3.4",
                       "must be a DNS name, not an IP address")
        b = FieldError("FieldValueRequired", "spec.rules[0].http.paths", "", "")
        assert invalid_message("Ingress.networking.k8s.io", "x", [a]) == (
            'Ingress.networking.k8s.io "x" is invalid: spec.rules[0].host: Invalid value: '
            '"1.2.3.4": must be a DNS name, not an IP address')
        assert invalid_message("Ingress.networking.k8s.io", "x", [a, b, a]) == (
            'Ingress.networking.k8s.io "x" is invalid: [spec.rules[0].host: Invalid value: '
            '"1.2.3.4": must be a DNS name, not an IP address, spec.rules[0].http.paths: '
            'Required value]')
        assert invalid_message("Service", "s", []) == 'Service "s" is invalid'


# --------------------------------------------------------------------------- Ingress


DOCS_INGRESS = {
    # The "minimal Ingress" of https://kubernetes.io/docs/concepts/services-networking/ingress/
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "minimal-ingress",
        "namespace": "default",
        "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
    },
    "spec": {
        "ingressClassName": "nginx-example",
        "rules": [{"http": {"paths": [{
            "path": "/testpath", "pathType": "Prefix",
            "backend": {"service": {"name": "test", "port": {"number": 80}}},
        }]}}],
    },
}


class TestIngressValid:
    def test_docs_examples_are_valid(self):
        assert errors(ING, DOCS_INGRESS) == []
        tls_ingress = {
            "metadata": meta("tls-example-ingress"),
            "spec": {
                "tls": [{"hosts": ["https-example.foo.com"], "secretName": "testsecret-tls"}],
                "rules": [{"host": "https-example.foo.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": backend("service1")}]}}],
            },
        }
        assert errors(ING, tls_ingress) == []
        wildcard = {
            "metadata": meta("ingress-wildcard-host"),
            "spec": {"rules": [
                {"host": "foo.bar.com", "http": {"paths": [http_path("/bar")]}},
                {"host": "*.foo.com", "http": {"paths": [http_path("/foo")]}},
            ]},
        }
        assert errors(ING, wildcard) == []
        resource_backend = {
            "metadata": meta("ingress-resource-backend"),
            "spec": {"defaultBackend": {"resource": {
                "apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static-assets"}},
                "rules": [{"http": {"paths": [http_path("/icons", "ImplementationSpecific", {
                    "resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket",
                                 "name": "icon-assets"}})]}}]},
        }
        assert errors(ING, resource_backend) == []

    def test_default_backend_only_and_named_port_and_rule_without_http(self):
        obj = {"metadata": meta("x"), "spec": {"defaultBackend": backend("svc", None, "http")}}
        assert errors(ING, obj) == []
        obj = {"metadata": meta("x"), "spec": {"defaultBackend": backend(),
                                               "rules": [{"host": "a.b"}]}}
        assert errors(ING, obj) == []

    def test_implementation_specific_allows_empty_path(self):
        assert errors(ING, ingress(http_path(None, "ImplementationSpecific"))) == []


class TestIngressSpec:
    def test_rules_or_default_backend_required(self):
        assert errors(ING, {"metadata": meta(), "spec": {}}) == [
            "spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"]
        assert errors(ING, {"metadata": meta(), "spec": {"rules": []}}) == [
            "spec: Invalid value: []: either `defaultBackend` or `rules` must be specified"]

    def test_invalid_message_for_missing_rules(self):
        obj = {"metadata": meta("myapi"), "spec": {}}
        assert invalid_message("Ingress.networking.k8s.io", "myapi", validate(ING, obj)) == (
            'Ingress.networking.k8s.io "myapi" is invalid: spec: Invalid value: null: either '
            "`defaultBackend` or `rules` must be specified")

    def test_backend_service_xor_resource(self):
        both = {"service": {"name": "svc", "port": {"number": 80}},
                "resource": {"kind": "Bucket", "name": "b"}}
        assert errors(ING, ingress(http_path(be=both))) == [
            f'{P0}.backend: Invalid value: "": cannot set both resource and service backends']
        assert errors(ING, ingress(http_path(be={}))) == [
            f'{P0}.backend: Invalid value: "": resource or service backend is required']

    def test_service_name(self):
        assert errors(ING, ingress(http_path(be=backend("")))) == [
            f"{P0}.backend.service.name: Required value"]
        assert errors(ING, ingress(http_path(be=backend("1svc")))) == [
            f'{P0}.backend.service.name: Invalid value: "1svc": {DNS1035_MSG}']
        # A stored DNS-1123-only name keeps being accepted on update (ratchet).
        old = ingress(http_path(be=backend("1svc")))
        assert errors(ING, copy.deepcopy(old), old) == []

    def test_port_name_xor_number(self):
        assert errors(ING, ingress(http_path(be=backend("svc", 80, "http")))) == [
            f'{P0}.backend: Invalid value: "": cannot set both port name & port number']
        assert errors(ING, ingress(http_path(be=backend("svc", None)))) == [
            f"{P0}.backend: Required value: port name or number is required"]
        assert errors(ING, ingress(http_path(be=backend("svc", 0)))) == [
            f"{P0}.backend: Required value: port name or number is required"]

    def test_port_number_range(self):
        assert errors(ING, ingress(http_path(be=backend("svc", 70000)))) == [
            f"{P0}.backend.service.port.number: Invalid value: 70000: {PORT_RANGE_MSG}"]
        assert errors(ING, ingress(http_path(be=backend("svc", -1)))) == [
            f"{P0}.backend.service.port.number: Invalid value: -1: {PORT_RANGE_MSG}"]

    def test_port_name_iana(self):
        assert errors(ING, ingress(http_path(be=backend("svc", None, "HTTP--x-")))) == [
            f'{P0}.backend.service.port.name: Invalid value: "HTTP--x-": '
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            f'{P0}.backend.service.port.name: Invalid value: "HTTP--x-": '
            "must not contain consecutive hyphens",
            f'{P0}.backend.service.port.name: Invalid value: "HTTP--x-": '
            "must not begin or end with a hyphen",
        ]
        assert errors(ING, ingress(http_path(be=backend("svc", None, "a-very-long-port-name")))) \
            == [f'{P0}.backend.service.port.name: Invalid value: "a-very-long-port-name": '
                "must be no more than 15 characters"]
        assert errors(ING, ingress(http_path(be=backend("svc", None, "8080")))) == [
            f'{P0}.backend.service.port.name: Invalid value: "8080": '
            "must contain at least one letter (a-z)"]

    def test_resource_backend(self):
        be = {"resource": {"apiGroup": "Bad_Group", "kind": "", "name": "a/b"}}
        assert errors(ING, ingress(http_path(be=be))) == [
            f'{P0}.backend.resource.apiGroup: Invalid value: "Bad_Group": {SUBDOMAIN_MSG}',
            f"{P0}.backend.resource.kind: Required value",
            f"{P0}.backend.resource.name: Invalid value: \"a/b\": may not contain '/'",
        ]

    def test_default_backend_is_validated(self):
        obj = {"metadata": meta(), "spec": {"defaultBackend": backend("svc", 0)}}
        assert errors(ING, obj) == [
            "spec.defaultBackend: Required value: port name or number is required"]

    def test_host_must_be_dns_subdomain(self):
        assert errors(ING, ingress(http_path(), host="Foo_Bar.com")) == [
            f'spec.rules[0].host: Invalid value: "Foo_Bar.com": {SUBDOMAIN_MSG}']
        assert errors(ING, ingress(http_path(), host="a" * 254)) == [
            f'spec.rules[0].host: Invalid value: "{"a" * 254}": must be no more than 253 '
            "characters"]

    def test_host_must_not_be_ip(self):
        assert errors(ING, ingress(http_path(), host="1.2.3.4")) == [
            'spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address']
        assert errors(ING, ingress(http_path(), host="::1")) == [
            'spec.rules[0].host: Invalid value: "::1": must be a DNS name, not an IP address',
            f'spec.rules[0].host: Invalid value: "::1": {SUBDOMAIN_MSG}',
        ]

    @pytest.mark.parametrize("host", ["*", "*.*.foo.com", "foo.*.com", "*foo.com", "f*.foo.com"])
    def test_wildcard_only_as_whole_first_label(self, host):
        assert errors(ING, ingress(http_path(), host=host)) == [
            f'spec.rules[0].host: Invalid value: "{host}": {WILDCARD_MSG}']

    def test_http_paths_required(self):
        obj = ingress()
        assert errors(ING, obj) == ["spec.rules[0].http.paths: Required value"]

    def test_path_type_required_and_backend_then_skipped(self):
        assert errors(ING, ingress(http_path("/", None, be={}))) == [
            f"{P0}.pathType: Required value: pathType must be specified"]

    def test_path_type_enum(self):
        assert errors(ING, ingress(http_path("/", "Foo"))) == [
            f'{P0}.pathType: Unsupported value: "Foo": supported values: "Exact", '
            '"ImplementationSpecific", "Prefix"']

    @pytest.mark.parametrize("path_type", ["Exact", "Prefix"])
    def test_absolute_path_for_exact_and_prefix(self, path_type):
        assert errors(ING, ingress(http_path("foo", path_type))) == [
            f'{P0}.path: Invalid value: "foo": must be an absolute path']
        assert errors(ING, ingress(http_path(None, path_type))) == [
            f'{P0}.path: Invalid value: "": must be an absolute path']

    @pytest.mark.parametrize(("path", "messages"), [
        ("/foo//bar", ["must not contain '//'"]),
        ("/foo/./bar", ["must not contain '/./'"]),
        ("/foo/../bar", ["must not contain '/../'"]),
        ("/foo%2fbar", ["must not contain '%2f'"]),
        ("/foo%2Fbar", ["must not contain '%2F'"]),
        ("/foo/..", ["cannot end with '/..'"]),
        ("/foo/.", ["cannot end with '/.'"]),
        ("/a/../b//c/.", ["must not contain '//'", "must not contain '/../'",
                          "cannot end with '/.'"]),
    ])
    @pytest.mark.parametrize("path_type", ["Exact", "Prefix"])
    def test_invalid_path_sequences(self, path, messages, path_type):
        assert errors(ING, ingress(http_path(path, path_type))) == [
            f'{P0}.path: Invalid value: "{path}": {m}' for m in messages]

    def test_implementation_specific_paths(self):
        assert errors(ING, ingress(http_path("/foo//bar/..", "ImplementationSpecific"))) == []
        assert errors(ING, ingress(http_path("foo", "ImplementationSpecific"))) == [
            f'{P0}.path: Invalid value: "foo": must be an absolute path']

    def test_tls_hosts_and_secret_name(self):
        obj = ingress(http_path(), tls=[{"hosts": ["*.foo.com", "a.*.com", "Bad"],
                                         "secretName": "Bad_Secret"}])
        assert errors(ING, obj) == [
            f'spec.tls[0].hosts[1]: Invalid value: "a.*.com": {WILDCARD_MSG}',
            f'spec.tls[0].hosts[2]: Invalid value: "Bad": {SUBDOMAIN_MSG}',
            f'spec.tls[0].secretName: Invalid value: "Bad_Secret": {SUBDOMAIN_MSG}',
        ]
        # An empty secretName (the controller's default certificate) is fine.
        assert errors(ING, ingress(http_path(), tls=[{"hosts": ["a.b"]}])) == []

    def test_ingress_class_name(self):
        assert errors(ING, ingress(http_path(), ingressClassName="Nginx")) == [
            f'spec.ingressClassName: Invalid value: "Nginx": {SUBDOMAIN_MSG}']

    def test_annotation_must_match_class_name_on_create_only(self):
        obj = ingress(http_path(), ingressClassName="nginx")
        obj["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "traefik"}
        assert errors(ING, obj) == [
            'annotations.kubernetes.io/ingress.class: Invalid value: "traefik": must match '
            "`ingressClassName` when both are specified"]
        assert errors(ING, obj, copy.deepcopy(obj)) == []
        obj["metadata"]["annotations"]["kubernetes.io/ingress.class"] = "nginx"
        assert errors(ING, obj) == []
        del obj["spec"]["ingressClassName"]
        obj["metadata"]["annotations"]["kubernetes.io/ingress.class"] = "traefik"
        assert errors(ING, obj) == []

    def test_causes_reasons(self):
        errs = validate(ING, ingress(http_path("/", None)))
        assert [e.cause() for e in errs] == [{
            "reason": "FieldValueRequired",
            "message": "Required value: pathType must be specified",
            "field": f"{P0}.pathType"}]
        errs = validate(ING, ingress(http_path("/", "Regex")))
        assert errs[0].type == "FieldValueNotSupported"

    def test_invalid_wildcard_rule_ratchet_on_update(self):
        bad = ingress(http_path("foo", "Prefix"), host="*.foo.com")
        assert errors(ING, bad) == [f'{P0}.path: Invalid value: "foo": must be an absolute path']
        assert errors(ING, copy.deepcopy(bad), bad) == []


class TestIngressMetadata:
    def test_name_required_and_format(self):
        obj = copy.deepcopy(DOCS_INGRESS)
        del obj["metadata"]["name"]
        assert errors(ING, obj) == [
            "metadata.name: Required value: name or generateName is required"]
        obj["metadata"]["name"] = "foo_bar"
        assert errors(ING, obj) == [f'metadata.name: Invalid value: "foo_bar": {SUBDOMAIN_MSG}']

    def test_namespace_required(self):
        obj = copy.deepcopy(DOCS_INGRESS)
        del obj["metadata"]["namespace"]
        assert errors(ING, obj) == ["metadata.namespace: Required value"]

    def test_generate_name(self):
        obj = copy.deepcopy(DOCS_INGRESS)
        obj["metadata"]["generateName"] = "web-"
        assert errors(ING, obj) == []
        obj["metadata"]["generateName"] = "Web-"
        assert errors(ING, obj) == [
            'metadata.generateName: Invalid value: "Web-": ' + SUBDOMAIN_MSG]

    def test_labels(self):
        obj = copy.deepcopy(DOCS_INGRESS)
        obj["metadata"]["labels"] = {"a/b/c": "x", "ok": "bad value", "-k": "v"}
        assert errors(ING, obj) == [
            'metadata.labels: Invalid value: "a/b/c": a qualified name must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
            "subdomain prefix and '/' (e.g. 'example.com/MyName')",
            'metadata.labels: Invalid value: "bad value": a valid label must be an empty string '
            "or consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
            "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            'metadata.labels: Invalid value: "-k": name part must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ]

    def test_annotations(self):
        obj = copy.deepcopy(DOCS_INGRESS)
        obj["metadata"]["annotations"] = {"Example.COM/Key": "v", "big": "x" * (256 * 1024)}
        assert errors(ING, obj) == [
            "metadata.annotations: Too long: may not be more than 262144 bytes"]
        obj["metadata"]["annotations"] = {"/x": "v"}
        assert errors(ING, obj) == [
            'metadata.annotations: Invalid value: "/x": prefix part must be non-empty']

    def test_finalizers(self):
        obj = copy.deepcopy(DOCS_INGRESS)
        obj["metadata"]["finalizers"] = ["example.com/ok", "kubernetes", "custom"]
        assert errors(ING, obj) == [
            'metadata.finalizers[2]: Invalid value: "custom": name is neither a standard '
            "finalizer name nor is it fully qualified"]

    def test_update_repeats_metadata_errors_like_kube_apiserver(self):
        # BeforeUpdate's common checks and the strategy both validate metadata: the causes
        # repeat, the Status message (ToAggregate) does not.
        obj = copy.deepcopy(DOCS_INGRESS)
        obj["metadata"]["labels"] = {"a": "b c"}
        errs = validate(ING, obj, copy.deepcopy(obj))
        assert len(errs) == 4
        assert len({e.error() for e in errs}) == 1
        assert invalid_message("Ingress.networking.k8s.io", "minimal-ingress", errs).startswith(
            'Ingress.networking.k8s.io "minimal-ingress" is invalid: metadata.labels: Invalid '
            'value: "b c": a valid label')

    def test_create_runs_common_checks_only_after_strategy_passes(self):
        # Path-segment name rules never add to a DNS-subdomain error.
        obj = copy.deepcopy(DOCS_INGRESS)
        obj["metadata"]["name"] = "a%b"
        assert errors(ING, obj) == [f'metadata.name: Invalid value: "a%b": {SUBDOMAIN_MSG}']

    def test_name_is_immutable_on_update(self):
        old = copy.deepcopy(DOCS_INGRESS)
        new = copy.deepcopy(DOCS_INGRESS)
        new["metadata"]["name"] = "other"
        msg = 'metadata.name: Invalid value: "other": field is immutable'
        assert msg in errors(ING, new, old)


class TestIngressStatus:
    def status(self, *entries: dict) -> dict:
        obj = copy.deepcopy(DOCS_INGRESS)
        obj["status"] = {"loadBalancer": {"ingress": list(entries)}}
        return obj

    def test_valid_status(self):
        new = self.status({"ip": "10.0.0.1"}, {"hostname": "lb.example.com"},
                          {"ip": "2001:db8::1"}, {"ip": "010.1.1.1"})
        assert validate_status(ING, new, DOCS_INGRESS) == []

    def test_ip_must_be_valid(self):
        new = self.status({"ip": "10.0.0.300"}, {"ip": "foo"})
        assert [e.error() for e in validate_status(ING, new, DOCS_INGRESS)] == [
            'status.loadBalancer.ingress[0].ip: Invalid value: "10.0.0.300": must be a valid IP '
            "address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            'status.loadBalancer.ingress[1].ip: Invalid value: "foo": must be a valid IP '
            "address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ]

    def test_hostname_must_be_dns_name(self):
        new = self.status({"hostname": "1.2.3.4"}, {"hostname": "Bad_Host"})
        assert [e.error() for e in validate_status(ING, new, DOCS_INGRESS)] == [
            'status.loadBalancer.ingress[0].hostname: Invalid value: "1.2.3.4": must be a DNS '
            "name, not an IP address",
            f'status.loadBalancer.ingress[1].hostname: Invalid value: "Bad_Host": {SUBDOMAIN_MSG}',
        ]


# --------------------------------------------------------------------------- IngressClass


def ingress_class(controller: str = "example.com/ingress-controller", **spec) -> dict:
    return {"metadata": meta("nginx", None), "spec": {"controller": controller, **spec}}


class TestIngressClass:
    def test_valid(self):
        assert errors(ING_CLASS, ingress_class("k8s.io/ingress-nginx")) == []
        params = {"apiGroup": "k8s.example.net", "kind": "IngressParameters",
                  "name": "external-lb", "scope": "Namespace", "namespace": "external-config"}
        assert errors(ING_CLASS, ingress_class(parameters=params)) == []
        # scope defaults to Cluster.
        params = {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "lb"}
        assert errors(ING_CLASS, ingress_class(parameters=params)) == []

    def test_controller_required(self):
        assert errors(ING_CLASS, ingress_class("")) == ["spec.controller: Required value"]

    def test_controller_format(self):
        assert errors(ING_CLASS, ingress_class("nginx")) == [
            'spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as '
            '"acme.io/foo")']
        assert errors(ING_CLASS, ingress_class("Example.com/x y")) == [
            f'spec.controller: Invalid value: "Example.com": {SUBDOMAIN_MSG}',
            "spec.controller: Invalid value: \"x y\": Invalid path (regex used for validation is "
            "'[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ]

    def test_controller_max_length(self):
        controller = "example.com/" + "a" * 239
        assert errors(ING_CLASS, ingress_class(controller)) == [
            "spec.controller: Too long: may not be more than 250 bytes"]

    def test_controller_immutable(self):
        old = ingress_class("example.com/a")
        new = ingress_class("example.com/b")
        assert errors(ING_CLASS, new, old) == [
            'spec.controller: Invalid value: "example.com/b": field is immutable']

    def test_parameters(self):
        assert errors(ING_CLASS, ingress_class(parameters={"name": "x"})) == [
            "spec.parameters.kind: Required value"]
        params = {"kind": "K", "name": "n", "scope": "Global"}
        assert errors(ING_CLASS, ingress_class(parameters=params)) == [
            'spec.parameters.scope: Unsupported value: "Global": supported values: "Cluster", '
            '"Namespace"']
        params = {"kind": "K", "name": "n", "scope": "Namespace"}
        assert errors(ING_CLASS, ingress_class(parameters=params)) == [
            "spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"]
        params = {"kind": "K", "name": "n", "scope": "Cluster", "namespace": "ns"}
        assert errors(ING_CLASS, ingress_class(parameters=params)) == [
            "spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"]
        params = {"kind": "K", "name": "n", "scope": "Namespace", "namespace": "Bad.NS",
                  "apiGroup": "_x"}
        assert errors(ING_CLASS, ingress_class(parameters=params)) == [
            f'spec.parameters.apiGroup: Invalid value: "_x": {SUBDOMAIN_MSG}',
            f'spec.parameters.namespace: Invalid value: "Bad.NS": {LABEL_MSG}',
        ]


# --------------------------------------------------------------------------- other kinds


def service(**spec) -> dict:
    spec.setdefault("ports", [{"protocol": "TCP", "port": 80, "targetPort": 8080}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta("web"),
            "spec": {"selector": {"app": "web"}, **spec}}


class TestService:
    def test_minimal_service_is_valid(self):
        assert errors("/Service", service()) == []
        assert errors("/Service", service(ports=[{"port": 80}])) == []
        assert errors("/Service", service(ports=[], clusterIP="None")) == []
        assert errors("/Service", service(type="ExternalName", ports=[],
                                          externalName="example.com.")) == []

    def test_name_is_dns1035_label(self):
        obj = service()
        obj["metadata"]["name"] = "1web"
        assert errors("/Service", obj) == [f'metadata.name: Invalid value: "1web": {DNS1035_MSG}']

    def test_ports(self):
        assert errors("/Service", service(ports=[])) == ["spec.ports: Required value"]
        obj = service(ports=[
            {"port": 0, "protocol": "HTTP", "targetPort": "HTTP"},
            {"name": "a", "port": 80, "targetPort": 70000},
        ])
        assert errors("/Service", obj) == [
            "spec.ports[0].name: Required value",
            f"spec.ports[0].port: Invalid value: 0: {PORT_RANGE_MSG}",
            'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", '
            '"UDP"',
            'spec.ports[0].targetPort: Invalid value: "HTTP": must contain only alpha-numeric '
            "characters (a-z, 0-9), and hyphens (-)",
            'spec.ports[0].targetPort: Invalid value: "HTTP": must contain at least one letter '
            "(a-z)",
            f"spec.ports[1].targetPort: Invalid value: 70000: {PORT_RANGE_MSG}",
        ]

    def test_duplicate_ports(self):
        obj = service(ports=[{"name": "a", "port": 80}, {"name": "a", "port": 80}])
        assert errors("/Service", obj) == [
            'spec.ports[1].name: Duplicate value: "a"',
            'spec.ports[1]: Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,'
            '"Port":80,"TargetPort":0,"NodePort":0}',
        ]

    def test_selector_and_type(self):
        obj = service(selector={"app": "not valid"}, type="Internal")
        assert errors("/Service", obj) == [
            'spec.selector: Invalid value: "not valid": a valid label must be an empty string or '
            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
            "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", '
            '"ExternalName", "LoadBalancer", "NodePort"',
        ]

    def test_headless_load_balancer_and_node_port_on_cluster_ip(self):
        obj = service(type="LoadBalancer", clusterIP="None")
        assert errors("/Service", obj) == [
            "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for "
            "LoadBalancer services"]
        obj = service(ports=[{"port": 80, "nodePort": 30080}])
        assert errors("/Service", obj) == [
            "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]

    def test_target_port_defaults_to_port(self):
        assert errors("/Service", service(ports=[{"port": 8080, "targetPort": ""}])) == []
        assert errors("/Service", service(ports=[{"port": 0}])) == [
            f"spec.ports[0].port: Invalid value: 0: {PORT_RANGE_MSG}",
            f"spec.ports[0].targetPort: Invalid value: 0: {PORT_RANGE_MSG}",
        ]

    def test_status(self):
        old = service(type="LoadBalancer")
        new = copy.deepcopy(old)
        new["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP"},
                                                      {"ip": "bad"}]}}
        assert [e.error() for e in validate_status("/Service", new, old)] == [
            'status.loadBalancer.ingress[1].ip: Invalid value: "bad": must be a valid IP '
            "address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]


def deployment(**spec) -> dict:
    base = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
    }
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"), "spec": base}


class TestDeployment:
    def test_minimal_is_valid(self):
        assert errors("apps/Deployment", deployment()) == []
        assert errors("apps/ReplicaSet", deployment()) == []

    def test_selector_required(self):
        obj = deployment()
        del obj["spec"]["selector"]
        assert errors("apps/Deployment", obj) == [
            "spec.selector: Required value",
            'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not '
            "match template `labels`",
        ]

    def test_selector_must_match_template_labels(self):
        obj = deployment(selector={"matchLabels": {"app": "other"}})
        assert errors("apps/Deployment", obj) == [
            'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not '
            "match template `labels`"]
        obj = deployment(selector={"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["web", "api"]}]})
        assert errors("apps/Deployment", obj) == []

    def test_empty_selector(self):
        assert errors("apps/Deployment", deployment(selector={})) == [
            "spec.selector: Invalid value: {}: empty selector is invalid for deployment"]

    def test_replicas_nonnegative(self):
        assert errors("apps/Deployment", deployment(replicas=-1)) == [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]

    def test_containers(self):
        obj = deployment()
        obj["spec"]["template"]["spec"]["containers"] = []
        assert errors("apps/Deployment", obj) == [
            "spec.template.spec.containers: Required value"]
        obj["spec"]["template"]["spec"]["containers"] = [{"name": ""},
                                                         {"name": "Web", "image": "x"}]
        assert errors("apps/Deployment", obj) == [
            "spec.template.spec.containers[0].name: Required value",
            "spec.template.spec.containers[0].image: Required value",
            f'spec.template.spec.containers[1].name: Invalid value: "Web": {LABEL_MSG}',
        ]

    def test_selector_immutable_on_update(self):
        old = deployment()
        new = deployment(selector={"matchLabels": {"app": "web", "tier": "fe"}})
        new["spec"]["template"]["metadata"]["labels"]["tier"] = "fe"
        assert errors("apps/Deployment", new, old) == [
            'spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"fe"}}: field is '
            "immutable"]

    def test_status_counts(self):
        old = deployment()
        new = copy.deepcopy(old)
        new["status"] = {"replicas": 1, "readyReplicas": 2, "availableReplicas": 1}
        assert [e.error() for e in validate_status("apps/Deployment", new, old)] == [
            "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"]
        new["status"] = {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}
        assert validate_status("apps/Deployment", new, old) == []

    def test_restart_policy(self):
        obj = deployment()
        obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
        assert errors("apps/Deployment", obj) == [
            'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
            '"Always"']


class TestPod:
    def test_pod(self):
        pod = {"metadata": meta("p"), "spec": {"containers": [
            {"name": "c", "image": "busybox", "ports": [{"containerPort": 8080, "name": "http"}]}]}}
        assert errors("/Pod", pod) == []
        pod["spec"]["containers"].append({"name": "c", "image": " busybox"})
        assert errors("/Pod", pod) == [
            'spec.containers[1].name: Duplicate value: "c"',
            'spec.containers[1].image: Invalid value: " busybox": must not have leading or '
            "trailing whitespace",
        ]
        assert errors("/Pod", {"metadata": meta("p"), "spec": {}}) == [
            "spec.containers: Required value"]


class TestEndpointSlice:
    def slice_(self, address_type: str = "IPv4", addresses=("10.0.0.1",), **extra) -> dict:
        return {"metadata": meta("web-abc"), "addressType": address_type,
                "endpoints": [{"addresses": list(addresses)}],
                "ports": [{"name": "", "protocol": "TCP", "port": 80}], **extra}

    def test_valid(self):
        kind = "discovery.k8s.io/EndpointSlice"
        assert errors(kind, self.slice_()) == []
        assert errors(kind, self.slice_("IPv6", ["2001:db8::1"])) == []
        assert errors(kind, self.slice_("FQDN", ["example.com"])) == []

    def test_address_type(self):
        assert errors("discovery.k8s.io/EndpointSlice", self.slice_("IP")) == [
            'addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"']

    def test_addresses(self):
        assert errors("discovery.k8s.io/EndpointSlice",
                      self.slice_("IPv4", ["2001:db8::1", "169.254.0.1"])) == [
            'endpoints[0].addresses[0]: Invalid value: "2001:db8::1": must be a valid IPv4 '
            "address",
            'endpoints[0].addresses[1]: Invalid value: "169.254.0.1": may not be in the '
            "link-local range (169.254.0.0/16, fe80::/10)",
        ]

    def test_loopback_addresses_are_allowed_for_simulated_pods(self, monkeypatch):
        kind = "discovery.k8s.io/EndpointSlice"
        assert errors(kind, self.slice_("IPv4", ["127.0.0.5"])) == []
        monkeypatch.setattr(names, "ALLOW_LOOPBACK_ENDPOINTS", False)  # upstream's rule
        assert errors(kind, self.slice_("IPv4", ["127.0.0.5"])) == [
            'endpoints[0].addresses[0]: Invalid value: "127.0.0.5": may not be in the loopback '
            "range (127.0.0.0/8, ::1/128)"]
        assert errors("discovery.k8s.io/EndpointSlice", self.slice_("IPv4", [])) == [
            "endpoints[0].addresses: Required value: must contain at least 1 address"]

    def test_ports(self):
        obj = self.slice_(ports=[{"name": "http", "protocol": "HTTP"}, {"name": "http"}])
        assert errors("discovery.k8s.io/EndpointSlice", obj) == [
            'ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
            'ports[1].name: Duplicate value: "http"',
        ]

    def test_address_type_immutable(self):
        old = self.slice_()
        new = self.slice_("IPv6", ["2001:db8::1"])
        assert errors("discovery.k8s.io/EndpointSlice", new, old) == [
            'addressType: Invalid value: "IPv6": field is immutable']


class TestSecretAndConfigMap:
    def test_tls_secret_requires_keys(self):
        secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}
        assert errors("/Secret", secret) == ["data[tls.key]: Required value"]
        secret["stringData"] = {"tls.key": "k"}
        assert errors("/Secret", secret) == []

    def test_tls_secret_invalid_message(self):
        secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {}}
        assert invalid_message("Secret", "tls", validate("/Secret", secret)) == (
            'Secret "tls" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required '
            "value]")

    def test_data_keys(self):
        secret = {"metadata": meta("s"), "data": {"bad key": "eA==", "..x": "eA=="}}
        assert errors("/Secret", secret) == [
            'data[bad key]: Invalid value: "bad key": a valid config key must consist of '
            "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
            "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            "data[..x]: Invalid value: \"..x\": must not start with '..'",
        ]

    def test_secret_type_immutable(self):
        old = {"metadata": meta("s"), "type": "Opaque"}
        new = {"metadata": meta("s"), "type": "kubernetes.io/basic-auth",
               "data": {"username": "eA=="}}
        assert errors("/Secret", new, old) == [
            'type: Invalid value: "kubernetes.io/basic-auth": field is immutable']

    def test_config_map(self):
        cm = {"metadata": meta("cm"), "data": {"a.conf": "x", "b c": "y"},
              "binaryData": {"a.conf": "eA=="}}
        assert errors("/ConfigMap", cm) == [
            'data[a.conf]: Invalid value: "a.conf": duplicate of key present in binaryData',
            'data[b c]: Invalid value: "b c": a valid config key must consist of alphanumeric '
            "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex "
            "used for validation is '[-._a-zA-Z0-9]+')",
        ]


class TestOtherKinds:
    def test_namespace_name_is_dns_label(self):
        assert errors("/Namespace", {"metadata": meta("team-a", None)}) == []
        assert errors("/Namespace", {"metadata": meta("team.a", None)}) == [
            'metadata.name: Invalid value: "team.a": must not contain dots']

    def test_lease(self):
        lease = {"metadata": meta("leader"), "spec": {"holderIdentity": "pod-1",
                                                      "leaseDurationSeconds": 0}}
        assert errors("coordination.k8s.io/Lease", lease) == [
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]

    def test_endpoints(self):
        ep = {"metadata": meta("web"), "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}, {}]}
        assert errors("/Endpoints", ep) == [
            "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`"]

    def test_core_event_skips_strict_validation(self):
        event = {"metadata": meta("web.17a"), "involvedObject": {"kind": "Ingress",
                                                                 "namespace": "default"},
                 "reason": "Sync", "message": "ok", "type": "Normal"}
        assert errors("/Event", event) == []
        event["involvedObject"]["namespace"] = "other"
        assert errors("/Event", event) == [
            'involvedObject.namespace: Invalid value: "other": does not match event.namespace']

    def test_events_v1_event(self):
        event = {"metadata": meta("e1"), "regarding": {"kind": "Pod", "namespace": "default"},
                 "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "ctl/x",
                 "reportingInstance": "i", "action": "Sync", "reason": "Synced",
                 "note": "ok", "type": "Info"}
        assert errors("events.k8s.io/Event", event) == [
            'type: Invalid value: "": has invalid value: Info']

    def test_status_of_kinds_without_status_rules_checks_metadata(self):
        ns = {"metadata": meta("team-a", None), "status": {"phase": "Active"}}
        assert validate_status("/Namespace", ns, copy.deepcopy(ns)) == []
        renamed = copy.deepcopy(ns)
        renamed["metadata"]["name"] = "team-b"
        assert 'metadata.name: Invalid value: "team-b": field is immutable' in [
            e.error() for e in validate_status("/Namespace", renamed, ns)]

    def test_rbac_names_are_path_segments(self):
        role = {"metadata": meta("system:ingress-controller", None)}
        assert errors("rbac.authorization.k8s.io/ClusterRole", role) == []
        role = {"metadata": meta("a/b", None)}
        assert errors("rbac.authorization.k8s.io/ClusterRole", role) == [
            "metadata.name: Invalid value: \"a/b\": may not contain '/'"]

    def test_unknown_kinds_get_object_meta_only(self):
        cr = {"metadata": meta("My_Thing"), "spec": {"anything": True}}
        assert errors("example.com/Widget", cr) == [
            f'metadata.name: Invalid value: "My_Thing": {SUBDOMAIN_MSG}']
        assert errors("example.com/Widget", {"metadata": meta("thing", None)}) == []

    def test_crd_name_must_match(self):
        crd = {"metadata": meta("widgets.example.com", None),
               "spec": {"group": "example.com", "names": {"plural": "widgets"}}}
        assert errors("apiextensions.k8s.io/CustomResourceDefinition", crd) == []
        crd["metadata"]["name"] = "widget.example.com"
        assert errors("apiextensions.k8s.io/CustomResourceDefinition", crd) == [
            'metadata.name: Invalid value: "widget.example.com": must be '
            'spec.names.plural+"."+spec.group']


class TestNames:
    @pytest.mark.parametrize(("value", "expected"), [
        ("10.0.0.1", True), ("010.000.000.001", True), ("::ffff:1.2.3.4", True),
        ("2001:db8::1", True), ("1.2.3", False), ("1.2.3.256", False), ("fe80::1%eth0", False),
        ("foo", False), ("", False), (" 1.2.3.4", False),
    ])
    def test_parse_ip_sloppy(self, value, expected):
        assert is_ip(value) is expected

    def test_ipv4_mapped_is_ipv4(self):
        assert parse_ip_sloppy("::ffff:1.2.3.4") == bytes([1, 2, 3, 4])
