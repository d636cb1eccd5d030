"""Which `Host` headers the server answers: the defence against DNS rebinding.

A page on `rebind.attacker.example` can make its own name resolve to 127.0.0.1 (or to
any address the victim's browser reaches), and from then on its scripts are same-origin
with this server: `Origin` and `Host` agree, so the origin check passes and the page gets
a shell. What the attacker cannot change is the name in the `Host` header. So every
request (site routes and `/ws`) must name a host this server really serves:

- on a loopback listener (127.0.0.0/8, ::1, `localhost`): `localhost`, `*.localhost`
  (browsers resolve those themselves, RFC 6761) and loopback addresses;
- on any other listener: this host's name (`socket.gethostname()`), any IP literal
  (a browser sends an address as Host only when it connected to that address, so no
  rebinding is possible with one; in Kubernetes the pod is reached through Service and
  node addresses it cannot list), and, on a wildcard listener, the loopback names too;
- everywhere, the `--allowed-hosts` names and `*.domain` patterns (behind a proxy or an
  Ingress the Host is the public name, which only the operator knows); `*` turns the
  check off.

A name without a port in `--allowed-hosts` matches any port; the built-in names match
any port (kubectl port-forward and proxies change it, and a rebinding page chooses the
port anyway). Matching is case-insensitive and ignores a trailing dot. A request without
any Host header (HTTP/1.0 tools) is allowed: every browser sends one.

Rules of this module: pure decisions from start-up values (`AllowedHosts` is made once
from the options and the machine's name); the handlers ask `allows(host_header)` and do
the refusing, counting and logging themselves.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from ..options import HostPattern, parse_host_patterns, split_host_port
from .interfaces import ip_literal, is_wildcard
from .startup import ExitCode, StartupError

LOOPBACK_NAMES = ("localhost",)


def is_loopback_listener(address: str) -> bool:
    """`127.x.y.z`, `::1`, `localhost` or a Unix socket (`unix:...`): only this machine
    can connect (to a Unix socket, a proxy or a tool like curl, which send `localhost`)."""
    if address.lower() in LOOPBACK_NAMES or address.startswith("unix:"):
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AllowedHosts:
    """The names and patterns a request's Host may carry (see the module's rules)."""

    names: frozenset[str] = frozenset()
    patterns: tuple[HostPattern, ...] = ()
    loopback_only: bool = False  # IP literals: loopback ones only
    any_ip: bool = False  # IP literals: any (non-loopback listeners)
    loopback_names: bool = False  # localhost and *.localhost
    anything: bool = False  # `--allowed-hosts '*'`

    def allows(self, host_header: str | None) -> bool:
        if self.anything or host_header is None:
            return True
        host, port = split_host_port(host_header.strip().lower())
        if port == -1 or not host:
            return False
        address = ip_literal(host)
        if address is not None:
            if self.any_ip or (self.loopback_only and address.is_loopback):
                return True
        elif host in self.names or (self.loopback_names and (
                host in LOOPBACK_NAMES or host.endswith(".localhost"))):
            return True
        return any(_matches(pattern, host, port) for pattern in self.patterns)


def _matches(pattern: HostPattern, host: str, port: int | None) -> bool:
    name, wanted_port = pattern
    if wanted_port is not None and port != wanted_port:
        return False
    if name.startswith("*."):
        return host.endswith(name[1:]) and len(host) > len(name) - 1
    address = ip_literal(host)
    if address is not None:
        return address == ip_literal(name)
    return host == name


def allowed_hosts(address: str, allowed: str, hostname: str | None = None) -> AllowedHosts:
    """The hosts a server listening at `address` serves, plus `--allowed-hosts`."""
    try:
        patterns = parse_host_patterns(allowed)
    except ValueError as exc:
        raise StartupError(ExitCode.CONFIG, f"allowed_hosts (--allowed-hosts): {exc}") from None
    if ("*", None) in patterns:
        return AllowedHosts(anything=True)
    if is_loopback_listener(address):
        return AllowedHosts(patterns=patterns, loopback_only=True, loopback_names=True)
    # Not socket.getfqdn(): a reverse lookup at start-up can hang where DNS is slow; a
    # fully qualified name goes in --allowed-hosts.
    name = (hostname if hostname is not None else socket.gethostname()).lower().rstrip(".")
    return AllowedHosts(names=frozenset({name} if name else ()), patterns=patterns,
                        any_ip=True, loopback_names=is_wildcard(address))
