"""String-format checks and their exact upstream messages.

Ports of apimachinery `pkg/util/validation/validation.go` and `ip.go` (Is* functions returning
message lists), `pkg/api/validation/generic.go` (ValidateNameFunc), `pkg/api/validation/path`
(path segment names) and k8s.io/utils/net `ParseIPSloppy`.

Lengths are byte lengths, as Go's `len(string)`; regexes are anchored at both ends like Go's
`^...$` (Python's `$` would also match before a trailing newline, so `fullmatch` is used).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from .field import ErrorList, Path, invalid, required

# --------------------------------------------------------------------------- message helpers


def max_len_error(length: int) -> str:
    """validation.MaxLenError."""
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError."""
    if not examples:
        return msg + " (regex used for validation is '" + fmt + "')"
    msg += " (e.g. "
    for i, example in enumerate(examples):
        if i > 0:
            msg += " or "
        msg += "'" + example + "', "
    return msg + "regex used for validation is '" + fmt + "')"


def empty_error() -> str:
    """validation.EmptyError."""
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    """validation.InclusiveRangeError."""
    return f"must be between {lo} and {hi}, inclusive"


def _blen(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


# --------------------------------------------------------------------------- DNS names

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_ERR_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_ERR_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_ERR_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
DNS1035_LABEL_MAX_LENGTH = 63
WILDCARD_DNS1123_SUBDOMAIN_FMT = "\\*\\." + DNS1123_SUBDOMAIN_FMT
WILDCARD_DNS1123_SUBDOMAIN_ERR_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
    "alphanumeric character"
)

_dns1123_label_re = re.compile(DNS1123_LABEL_FMT)
_dns1123_subdomain_re = re.compile(DNS1123_SUBDOMAIN_FMT)
_dns1035_label_re = re.compile(DNS1035_LABEL_FMT)
_wildcard_dns1123_subdomain_re = re.compile(WILDCARD_DNS1123_SUBDOMAIN_FMT)


def is_dns1123_label(value: str) -> list[str]:
    """validation.IsDNS1123Label."""
    errs = []
    if _blen(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _dns1123_label_re.fullmatch(value):
        if _dns1123_subdomain_re.fullmatch(value):
            # A valid subdomain but not a valid label: length was checked, so it has dots.
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(DNS1123_LABEL_ERR_MSG, DNS1123_LABEL_FMT, "my-name",
                                    "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """validation.IsDNS1123Subdomain."""
    errs = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _dns1123_subdomain_re.fullmatch(value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_ERR_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """validation.IsDNS1035Label."""
    errs = []
    if _blen(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _dns1035_label_re.fullmatch(value):
        errs.append(regex_error(DNS1035_LABEL_ERR_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    """validation.IsWildcardDNS1123Subdomain: '*.' then a DNS subdomain (RFC 1034 4.3.3)."""
    errs = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _wildcard_dns1123_subdomain_re.fullmatch(value):
        errs.append(regex_error(WILDCARD_DNS1123_SUBDOMAIN_ERR_MSG,
                                WILDCARD_DNS1123_SUBDOMAIN_FMT, "*.example.com"))
    return errs


def is_fully_qualified_domain_name(path: Path, name: str) -> ErrorList:
    """validation.IsFullyQualifiedDomainName (a trailing dot is allowed)."""
    if not name:
        return [required(path, "")]
    if name.endswith("."):
        name = name[:-1]
    errs = is_dns1123_subdomain(name)
    if errs:
        return [invalid(path, name, ",".join(errs))]
    labels = name.split(".")
    if len(labels) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated "
                                    "by dots")]
    for label in labels:
        errs = is_dns1123_label(label)
        if errs:
            return [invalid(path, label, ",".join(errs))]
    return []


# --------------------------------------------------------------------------- ValidateNameFunc

NameFunc = Callable[[str, bool], list[str]]


def _mask_trailing_dash(name: str) -> str:
    """generic.go maskTrailingDash, quirk included: it drops the last TWO characters."""
    if name.endswith("-"):
        return name[:max(len(name) - 2, 0)] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """apimachineryvalidation.NameIsDNSSubdomain."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """apimachineryvalidation.NameIsDNSLabel (also ValidateNamespaceName)."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """apimachineryvalidation.NameIsDNS1035Label (also ValidateServiceName)."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


_PATH_SEGMENT_MAY_NOT_BE = (".", "..")
_PATH_SEGMENT_MAY_NOT_CONTAIN = ("/", "%")


def is_path_segment_name(name: str, prefix: bool = False) -> list[str]:
    """path.ValidatePathSegmentName / content.IsPathSegmentName (no length or empty check)."""
    if not prefix:
        for illegal in _PATH_SEGMENT_MAY_NOT_BE:
            if name == illegal:
                return [f"may not be '{illegal}'"]
    return [f"may not contain '{c}'" for c in _PATH_SEGMENT_MAY_NOT_CONTAIN if c in name]


# --------------------------------------------------------------------------- qualified names

QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_ERR_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_ERR_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
LABEL_VALUE_MAX_LENGTH = 63

_qualified_name_re = re.compile(QUALIFIED_NAME_FMT)
_label_value_re = re.compile(LABEL_VALUE_FMT)


def is_qualified_name(value: str) -> list[str]:
    """validation.IsQualifiedName: an optional DNS-subdomain prefix and '/', then a name."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name "
                + regex_error(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name",
                              "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part " + empty_error())
    elif _blen(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _qualified_name_re.fullmatch(name):
        errs.append("name part " + regex_error(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT,
                                               "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """validation.IsValidLabelValue."""
    errs = []
    if _blen(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _label_value_re.fullmatch(value):
        errs.append(regex_error(LABEL_VALUE_ERR_MSG, LABEL_VALUE_FMT, "MyValue", "my_value",
                                "12345"))
    return errs


# --------------------------------------------------------------------------- misc formats

CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_MAP_KEY_ERR_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
)
_config_map_key_re = re.compile(CONFIG_MAP_KEY_FMT)


def _has_chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    """validation.IsConfigMapKey (keys of ConfigMap and Secret data)."""
    errs = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _config_map_key_re.fullmatch(value):
        errs.append(regex_error(CONFIG_MAP_KEY_ERR_MSG, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME",
                                "key-name"))
    errs.extend(_has_chdir_prefix(value))
    return errs


def is_valid_port_num(port: int) -> list[str]:
    """validation.IsValidPortNum: 1-65535."""
    if 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


_port_name_charset_re = re.compile("[-a-z0-9]+")
_port_name_one_letter_re = re.compile("[a-z]")


def is_valid_port_name(port: str) -> list[str]:
    """validation.IsValidPortName (an IANA_SVC_NAME, RFC 6335, lower case only)."""
    errs = []
    if _blen(port) > 15:
        errs.append(max_len_error(15))
    if not _port_name_charset_re.fullmatch(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _port_name_one_letter_re.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


PERCENT_FMT = "[0-9]+%"
_percent_re = re.compile(PERCENT_FMT)


def is_valid_percent(percent: str) -> list[str]:
    """validation.IsValidPercent."""
    if not _percent_re.fullmatch(percent):
        return [regex_error("a valid percent string must be a numeric string followed by an "
                            "ending '%'", PERCENT_FMT, "1%", "93%")]
    return []


HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"
_http_path_re = re.compile(HTTP_PATH_FMT)


def is_domain_prefixed_path(path: Path, dp_path: str) -> ErrorList:
    """validation.IsDomainPrefixedPath ("acme.io/foo"); note errors carry the failing part."""
    if not dp_path:
        return [required(path, "")]
    segments = dp_path.split("/", 1)
    if len(segments) != 2 or not segments[0] or not segments[1]:
        return [invalid(path, dp_path, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    host, rest = segments
    errs = [invalid(path, host, msg) for msg in is_dns1123_subdomain(host)]
    if not _http_path_re.fullmatch(rest):
        errs.append(invalid(path, rest, regex_error("Invalid path", HTTP_PATH_FMT)))
    return errs


# --------------------------------------------------------------------------- IP addresses

_IPV4_SLOPPY_OCTET = re.compile("[0-9]+")


def _parse_ipv4_sloppy(s: str) -> bytes | None:
    """Go 1.16 net.ParseIP IPv4 parsing, which k8s keeps: leading zeros are allowed."""
    parts = s.split(".")
    if len(parts) != 4:
        return None
    out = bytearray()
    for part in parts:
        if not _IPV4_SLOPPY_OCTET.fullmatch(part):
            return None
        n = int(part)
        if n > 0xFF:
            return None
        out.append(n)
    return bytes(out)


def parse_ip_sloppy(value: str) -> bytes | None:
    """netutils.ParseIPSloppy: 4 bytes for IPv4 (and IPv4-mapped IPv6), 16 for IPv6, or None."""
    if not value or value != value.strip() or "%" in value:
        return None
    if ":" not in value:
        return _parse_ipv4_sloppy(value)
    candidate = value
    if "." in value:
        # An embedded IPv4 tail may have leading zeros too; normalise it for ipaddress.
        head, _, tail = value.rpartition(":")
        v4 = _parse_ipv4_sloppy(tail)
        if v4 is None:
            return None
        candidate = head + ":" + ".".join(str(b) for b in v4)
    try:
        ip = ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.packed
    return ip.packed


def is_ip(value: str) -> bool:
    """Whether netutils.ParseIPSloppy accepts the string."""
    return parse_ip_sloppy(value) is not None


IP_ERR_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def is_valid_ip_for_legacy_field(path: Path, value: str) -> ErrorList:
    """apivalidation.IsValidIPForLegacyField with StrictIPCIDRValidation off (1.33/1.34 default)."""
    if parse_ip_sloppy(value) is None:
        return [invalid(path, value, IP_ERR_MSG)]
    return []


def is_valid_ipv4_address(path: Path, value: str) -> ErrorList:
    """validation.IsValidIPv4Address."""
    ip = parse_ip_sloppy(value)
    if ip is None or len(ip) != 4:
        return [invalid(path, value, "must be a valid IPv4 address")]
    return []


def is_valid_ipv6_address(path: Path, value: str) -> ErrorList:
    """validation.IsValidIPv6Address."""
    ip = parse_ip_sloppy(value)
    if ip is None or len(ip) == 4:
        return [invalid(path, value, "must be a valid IPv6 address")]
    return []


# The one deliberate difference from kube-apiserver: the simulator's pods are servers on
# loopback addresses (127.0.0.0/8), so endpoint addresses may be loopback here.
ALLOW_LOOPBACK_ENDPOINTS = True


def validate_non_special_ip(value: str, path: Path) -> ErrorList:
    """apivalidation.ValidateNonSpecialIP: no unspecified, loopback or link-local addresses
    (loopback allowed while ALLOW_LOOPBACK_ENDPOINTS is set)."""
    ip = parse_ip_sloppy(value)
    if ip is None:
        return [invalid(path, value, "must be a valid IP address")]
    addr = ipaddress.ip_address(ip)
    errs = []
    if addr.is_unspecified:
        errs.append(invalid(path, value, f"may not be unspecified ({value})"))
    if addr.is_loopback and not ALLOW_LOOPBACK_ENDPOINTS:
        errs.append(invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if _is_link_local_unicast(ip):
        errs.append(invalid(path, value,
                            "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if _is_link_local_multicast(ip):
        errs.append(invalid(path, value, "may not be in the link-local multicast range "
                                         "(224.0.0.0/24, ff02::/10)"))
    return errs


def _is_link_local_unicast(ip: bytes) -> bool:
    # net.IP.IsLinkLocalUnicast
    if len(ip) == 4:
        return ip[0] == 169 and ip[1] == 254
    return ip[0] == 0xFE and (ip[1] & 0xC0) == 0x80


def _is_link_local_multicast(ip: bytes) -> bool:
    # net.IP.IsLinkLocalMulticast
    if len(ip) == 4:
        return ip[0] == 224 and ip[1] == 0 and ip[2] == 0
    return ip[0] == 0xFF and (ip[1] & 0x0F) == 0x02


def is_valid_cidr_sloppy(path: Path, value: str) -> ErrorList:
    """IsValidCIDRForLegacyField with strict validation off (netutils.ParseCIDRSloppy)."""
    addr, sep, bits = value.partition("/")
    ip = parse_ip_sloppy(addr) if sep else None
    ok = ip is not None and bits.isdigit() and bits.isascii()
    if ok:
        # An IPv4 address written in IPv6 form still has a 128-bit prefix length.
        max_bits = 32 if ":" not in addr else 128
        ok = int(bits) <= max_bits
    if not ok:
        return [invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                                     "2001:db8::/64)")]
    return []
