"""Which addresses AccessBridge may call for a lock connection. Space admins type them in (a cloud
vendor's base URL, a gateway's LAN address), so they must not turn AccessBridge into a way to reach its
own machine, its network or the cloud's metadata service (SSRF).

- Cloud vendors (SmartLock): https only, and every address the host name resolves to must be public.
- LAN gateways (The Keys): private ranges are what a gateway has, but never loopback, link-local
  (169.254.0.0/16, fe80::/10) or a cloud metadata address.

Both are checked on the resolved addresses right before each request, so a host name pointing at a
forbidden address (169.254.169.254.nip.io) or an address reported by a vendor's cloud is refused too.
Residual risk: DNS rebinding. The HTTP library resolves the name again when it connects, so a name
whose answer changes between our check and that connect could still reach a forbidden address; pinning
the checked address would need per-request TLS server-name handling that the shared session lacks.

`settings.LOCKS_ALLOW_PRIVATE_HOSTS` (default: DEBUG) lifts both rules, for the stand-ins that tests and
local runs start on 127.0.0.1 over plain http.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from locks.vendors.base import VendorPermanentError, VendorTransientError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services outside the link-local range: AWS over IPv6, Alibaba Cloud, Azure's wire server.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


def private_hosts_allowed() -> bool:
    return settings.LOCKS_ALLOW_PRIVATE_HOSTS


def public_url_check(url: str, *, service: str) -> None:
    """Raise unless `url` is https and its host resolves to public internet addresses only."""
    if private_hosts_allowed():
        return
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise VendorPermanentError(
            "only https:// addresses can be used (the API token is sent along)", service=service
        )
    host = parts.hostname or ""
    for address in _resolve(host, parts.port or 443, service=service):
        if not address_is_public(address):
            raise VendorPermanentError(
                f"{host} is not a public internet address; AccessBridge calls {service} only on public hosts",
                service=service,
            )


def lan_host_check(host: str, port: int, *, service: str) -> None:
    """Raise if `host` resolves to an address that cannot be a device on the space's network."""
    if private_hosts_allowed():
        return
    for address in _resolve(host, port, service=service):
        reason = device_address_refusal(address)
        if reason:
            raise VendorPermanentError(
                f"The gateway address {host} is {reason}: it cannot be a gateway.", service=service
            )


def address_is_public(address: IPAddress) -> bool:
    address = _unmapped(address)
    return address.is_global and not (address.is_multicast or address in METADATA_ADDRESSES)


def device_address_refusal(address: IPAddress) -> str:
    """Why this address cannot be a LAN device ("" when it can)."""
    address = _unmapped(address)
    if address.is_loopback:
        return "this machine (loopback)"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast or address.is_unspecified:
        return "not a device address"
    return ""


def _unmapped(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 is 127.0.0.1; Python 3.11's IPv6 properties do not look through the mapping.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _resolve(host: str, port: int, *, service: str) -> set[IPAddress]:
    if not host:
        raise VendorPermanentError("the address has no host name", service=service)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise VendorTransientError(f"could not resolve {host}", service=service) from None
    # An IPv6 scope ("fe80::1%eth0") is not part of the address.
    return {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}
