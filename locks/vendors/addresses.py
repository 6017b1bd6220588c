"""Which addresses AccessBridge may call for a lock connection. Space admins type them in (a cloud
vendor's base URL, a gateway's LAN address), so they must not turn AccessBridge into a way to reach its
own machine, its network or the cloud's metadata service (SSRF).

- Cloud vendors (SmartLock): https only, and every address the host name resolves to must be public.
- LAN gateways (The Keys): private ranges are what a gateway has, but never loopback, link-local
  (169.254.0.0/16, fe80::/10) or a cloud metadata address.

The clients pass these rules to the shared HTTP session as an address check (accessbridge.pinning): the
host name is resolved once, right before each request, every address is checked, and the request goes
to the checked address itself. So a name pointing at a forbidden address (169.254.169.254.nip.io), an
address reported by a vendor's cloud, and a name whose answer changes between check and connect (DNS
rebinding) are all refused before a byte is sent. An IPv6 address that carries an IPv4 address (mapped,
compatible, 6to4, NAT64, Teredo) is judged by that IPv4.

`settings.LOCKS_ALLOW_PRIVATE_HOSTS` (default: DEBUG) lifts both rules, for the stand-ins that tests and
local runs start on 127.0.0.1 over plain http.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings

from accessbridge.pinning import AddressCheck, IPAddress, embedded_ipv4
from locks.vendors.base import VendorPermanentError

# Instance metadata services outside the link-local range: AWS over IPv6, Alibaba Cloud, Azure's wire server.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


def private_hosts_allowed() -> bool:
    return settings.LOCKS_ALLOW_PRIVATE_HOSTS


def public_url_guard(url: str, *, service: str) -> AddressCheck | None:
    """Raise unless `url` is https; return the check every address of its host must pass when connecting
    (None when private hosts are allowed)."""
    if private_hosts_allowed():
        return None
    if urlsplit(url).scheme != "https":
        raise VendorPermanentError(
            "only https:// addresses can be used (the API token is sent along)", service=service
        )

    def check(host: str, address: IPAddress) -> None:
        if not address_is_public(address):
            raise VendorPermanentError(
                f"{host} is not a public internet address; AccessBridge calls {service} only on public hosts",
                service=service,
            )

    return check


def lan_host_guard(*, service: str) -> AddressCheck | None:
    """The check every address of a gateway's host must pass when connecting (None: private hosts allowed)."""
    if private_hosts_allowed():
        return None

    def check(host: str, address: IPAddress) -> None:
        reason = device_address_refusal(address)
        if reason:
            raise VendorPermanentError(
                f"The gateway address {host} is {reason}: it cannot be a gateway.", service=service
            )

    return check


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
    # ::ffff:127.0.0.1, ::7f00:1, 2002:7f00:1::, 64:ff9b::7f00:1 are all 127.0.0.1.
    return embedded_ipv4(address) or address
