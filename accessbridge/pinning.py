"""Connect to the address that was vetted: resolve a host once, check every address, then connect to it.

Checking a host name's addresses and then letting the HTTP library resolve the name again leaves a gap
(DNS rebinding: the second answer may be 127.0.0.1). Here the request goes to the checked IP itself,
with the original Host header, and for https with the host name as TLS server name: SNI, and the
certificate is checked against the host name, not the IP. Redirects are never followed on this path.

Which addresses are acceptable is the caller's rule (an `AddressCheck`, e.g. locks.vendors.addresses).
An IPv6 address that carries an IPv4 address (`embedded_ipv4`) should be judged by that IPv4.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Called with the host name and each address it resolves to; raises (the caller's error) to refuse.
AddressCheck = Callable[[str, IPAddress], None]

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 §2.5.5.1 (deprecated, still routed by some stacks)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))  # RFC 6052, RFC 8215


class UnresolvableHost(Exception):
    def __init__(self, host: str):
        super().__init__(f"could not resolve {host}")
        self.host = host


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form stands for: IPv4-mapped, IPv4-compatible, 6to4,
    NAT64 (the well-known and local-use prefixes, IPv4 in the last 32 bits) and Teredo (its client).
    Python 3.11's address properties look through none of these but the mapping, and only in part."""
    if address.version == 4:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in network for network in _NAT64):
        return low32
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1, which are themselves
        return low32
    return None


def host_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order of preference (RFC 6724)."""
    if not host:
        raise UnresolvableHost(host)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnresolvableHost(host) from None
    # An IPv6 scope ("fe80::1%eth0") is not part of the address.
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnresolvableHost(host)
    return list(dict.fromkeys(addresses))


def pinned_target(url: str, *, address_check: AddressCheck) -> tuple[str, str]:
    """Resolve the URL's host once and check every address; return (the URL naming the first address,
    the Host header naming the original host). Raises UnresolvableHost or whatever the check raises."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = host_resolve(host, port)
    for address in addresses:
        address_check(host, address)
    address = addresses[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc)), host_header


class PinnedHostAdapter(HTTPAdapter):
    """The URL names the checked IP; TLS speaks to, and verifies the certificate of, the name in Host.

    Only `server_hostname` is set: it is the SNI name, and the name urllib3/ssl match the certificate
    against (check_hostname, or urllib3's own match when that is off). `assert_hostname` is left alone:
    urllib3 would switch check_hostname off on the SSL context that requests shares between sessions.
    Each (IP, host name) pair gets its own connection pool, as the server name is part of the pool key.
    """

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = urlsplit(f"//{request.headers['Host']}").hostname
        return host_params, pool_kwargs


def pinned_session_build(*, user_agent: str) -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = user_agent
    s.trust_env = False  # no proxy from the environment: it would connect to the name, not the IP
    s.mount("https://", PinnedHostAdapter())
    s.mount("http://", PinnedHostAdapter())
    return s
