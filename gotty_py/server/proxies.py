"""Trusted reverse proxies: which client a request is from when it came through an Ingress.

Rules of this module: `X-Forwarded-For` is believed only from a TCP peer inside one of the
`--trusted-proxies` networks; from anyone else it is ignored, since any client can send
it. From a trusted peer the client is the right-most address of the header that is not
itself a trusted proxy (each proxy appends the address it received the request from, so
everything left of the first untrusted hop may be the client's own invention). The value
is parsed once at start-up; the answer is computed once per request by
`Site.client_address`, which every log line, session, audit record and title uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..options import Network, OptionValueError, parse_networks
from .interfaces import IPAddress, ip_literal
from .startup import ExitCode, StartupError

Address = IPAddress


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
    `[2001:db8::1]:5678`; None for anything else (`unknown`, an obfuscated name)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        text = text.partition(":")[0]
    return ip_literal(text)


@dataclass(frozen=True)
class TrustedProxies:
    """The networks whose `X-Forwarded-For` is believed (none: never believed)."""

    networks: tuple[Network, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str | None:
        """The client's address when `peer` (the TCP peer's IP) is a trusted proxy and the
        header names one; None means: use the peer itself."""
        if not self.trusts(parse_address(peer)):
            return None
        hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
        nearest_trusted: Address | None = None
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                # Written by a proxy we trust, yet not an address: believe no further left.
                break
            if not self.trusts(address):
                return str(address)
            nearest_trusted = address
        # Every hop was a trusted proxy (a request from inside), or the chain broke: the
        # left-most hop we could read is the best we know.
        return str(nearest_trusted) if nearest_trusted is not None else None


NO_PROXIES = TrustedProxies()


def trusted_proxies(text: str) -> TrustedProxies:
    """`--trusted-proxies` at start-up; a bad entry is a configuration error (exit 2)."""
    try:
        return TrustedProxies(parse_networks(text))
    except OptionValueError as exc:
        raise StartupError(ExitCode.CONFIG,
                           f"invalid trusted_proxies (--trusted-proxies): {exc}") from None
