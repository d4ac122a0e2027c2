"""Client addresses and allowlists (IPv4, IPv6, CIDR), proxy-aware."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> IPNetwork:
    """A single address or a CIDR subnet; host bits set in a subnet are refused, not silently masked."""
    value = text.strip()
    if not value:
        raise ValueError("an empty entry")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"“{value}” is not an IPv4 or IPv6 address or subnet") from exc
        raise ValueError(
            f"“{value}” has host bits set; did you mean {ipaddress.ip_network(value, strict=False)}?"
        ) from exc


def normalise_address(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def address_allowed(address: str | None, networks: Iterable[str]) -> bool:
    nets = list(networks)
    if not nets:
        return True
    address = normalise_address(address) if address is not None else None
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    for net in nets:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def _trusted(address: str, proxies: list[IPNetwork]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in proxies)


def client_address(meta: dict[str, str]) -> str | None:
    """REMOTE_ADDR, unless it is a configured trusted proxy: then the right-most X-Forwarded-For entry
    that is not itself a trusted proxy (entries to its left are client-supplied and can be forged)."""
    remote = normalise_address(meta.get("REMOTE_ADDR", "") or "")
    proxies = [ipaddress.ip_network(p, strict=False) for p in settings.KONTOR_TRUSTED_PROXIES]
    if remote is None or not proxies or not _trusted(remote, proxies):
        return remote
    hops = [h for h in (part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")) if h]
    for hop in reversed(hops):
        address = normalise_address(hop)
        if address is None:
            return remote
        if not _trusted(address, proxies):
            return address
    return remote
