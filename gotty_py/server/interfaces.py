"""The addresses a server listening on every interface (0.0.0.0, ::) is reachable at.

Rules of this module: it reads what the kernel says the host's interfaces hold, never a
name lookup (a host name may resolve to nothing, to 127.0.1.1, or slowly); it lists only
addresses a browser can put in a URL, so loopback (the first URL already is one) and
IPv6 link-local addresses (which need a zone index no browser takes) are left out; and it
never fails the start-up: an address it cannot read is one it does not print.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

_SIOCGIFADDR = 0x8915  # linux/sockios.h: an interface's (first) IPv4 address
_IF_INET6 = Path("/proc/net/if_inet6")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_literal(text: str) -> IPAddress | None:
    """The address `text` spells, an IPv4-mapped IPv6 address as its IPv4 self (how a
    dual-stack socket reports an IPv4 peer); None when it is not an address."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_wildcard(address: str) -> bool:
    """Whether listening at `address` means every interface ("" binds IPv4 and IPv6)."""
    if address == "":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_unspecified
    except ValueError:
        return False  # a host name: it listens where the name resolves


def host_addresses(families: Iterable[socket.AddressFamily]) -> list[str]:
    """This host's addresses of the given families, as URL hosts (IPv6 in brackets)."""
    wanted = set(families)
    found: list[str] = []
    if socket.AF_INET in wanted:
        found.extend(_ipv4_addresses())
    if socket.AF_INET6 in wanted:
        found.extend(f"[{ip}]" for ip in _ipv6_addresses())
    return found


def _usable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)


def _ipv4_addresses() -> list[str]:
    """Each interface's IPv4 address (SIOCGIFADDR; interfaces without one are skipped)."""
    found: list[str] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return found
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for name in names:
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):  # EADDRNOTAVAIL: no IPv4 address
                reply = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
                ip = ipaddress.IPv4Address(reply[20:24])
                if _usable(ip) and str(ip) not in found:
                    found.append(str(ip))
    return found


def _ipv6_addresses() -> list[str]:
    """The host's IPv6 addresses from /proc/net/if_inet6 (Linux): `HEX32 ifindex prefix
    scope flags name` per line."""
    found: list[str] = []
    try:
        lines = _IF_INET6.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if not fields or len(fields[0]) != 32:
            continue
        try:
            ip = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        except ValueError:
            continue
        if _usable(ip) and str(ip) not in found:
            found.append(str(ip))
    return found
