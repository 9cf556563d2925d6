"""SSRF guard: which hosts and addresses a fetch may connect to.

A fetched URL comes from third-party feeds, so it (or a redirect) may point at the machine itself,
the private network or a cloud metadata endpoint. Only globally routable unicast addresses pass,
unless the operator allows a CIDR (tests and local demos allow ``127.0.0.1/32``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list[tuple[Any, ...]]]

BLOCKED_HOSTNAMES = frozenset({
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data",
    "instance-data.ec2.internal", "metadata.azure.internal",
})
"""Cloud metadata service names, blocked by name before any lookup."""

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedAddress(Exception):
    """The host, or an address it resolves to, is not a public internet address."""


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse allow-list CIDRs; raises ValueError on a malformed one."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address (embedded IPv4 forms are checked too)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
        if address.scope_id:
            return False
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_loopback or address.is_link_local
        or address.is_private or address.is_unspecified
    )


def is_allowed_address(address: IPAddress, allowed: Sequence[IPNetwork] = ()) -> bool:
    """True when the address is public or inside an operator-allowed network."""
    if any(address.version == net.version and address in net for net in allowed):
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        mapped = address.ipv4_mapped
        if any(net.version == 4 and mapped in net for net in allowed):
            return True
    return is_public_address(address)


def literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (brackets and zone allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check_hostname(host: str, allowed: Sequence[IPNetwork] = ()) -> None:
    """Check a host without resolving it: metadata names and blocked IP literals raise BlockedAddress."""
    name = host.strip("[]").rstrip(".").lower()
    if name in BLOCKED_HOSTNAMES:
        raise BlockedAddress(f"host {name!r} is a metadata service name")
    address = literal_address(name)
    if address is not None and not is_allowed_address(address, allowed):
        raise BlockedAddress(f"address {address} of host {name!r} is not public")


def resolve_checked(host: str, port: int, allowed: Sequence[IPNetwork] = (),
                    resolve: Resolver = socket.getaddrinfo) -> list[str]:
    """Resolve ``host`` and return the addresses it may be reached at; BlockedAddress if none.

    The caller connects to these addresses only (never to the name again), so a name with one
    public and one private record, or one that re-resolves differently, cannot reach the private
    one. Lookup errors (socket.gaierror) propagate.
    """
    check_hostname(host, allowed)
    infos = resolve(host.strip("[]"), port, 0, socket.SOCK_STREAM)
    addresses: list[str] = []
    refused: list[str] = []
    for info in infos:
        text = str(info[4][0])
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if "%" in text or not is_allowed_address(address, allowed):
            refused.append(text)
        elif text not in addresses:
            addresses.append(text)
    if not addresses:
        if refused:
            raise BlockedAddress(f"host {host!r} resolves to {', '.join(refused)}, which is not public")
        raise socket.gaierror(socket.EAI_NONAME, f"no address for {host!r}")
    return addresses
