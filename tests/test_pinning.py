"""Calls to hosts an admin chose go to the address that was checked (issue #9, findings 2 and 3).

DNS is answered by the test at the boundary (socket.getaddrinfo), differently on the second call, as a
rebinding attacker's name server would; a loopback listener that must receive nothing is checked with
a non-blocking accept(): a connection that reached it waits in its backlog, whatever the timing.
"""

import ipaddress
import socket
import ssl
from datetime import UTC, datetime, timedelta

import pytest

from accessbridge.http import ServiceError, Timeout, http_request
from accessbridge.pinning import embedded_ipv4
from locks.vendors.base import DeviceOffline, VendorPermanentError
from tests.fakes.base import FakeServer, Response


@pytest.fixture
def dns(monkeypatch, settings):
    """Production address rules, and a resolver whose answer for a name may change after the first call."""
    settings.LOCKS_ALLOW_PRIVATE_HOSTS = False

    class Resolver:
        def __init__(self):
            self.answers: dict[str, tuple[list[str], list[str]]] = {}
            self.calls: dict[str, int] = {}

        def answer(self, host, first, then=None):
            self.answers[host] = (first, then or first)

    resolver = Resolver()
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in resolver.answers:
            return real(host, port, *args, **kwargs)
        resolver.calls[host] = resolver.calls.get(host, 0) + 1
        first, then = resolver.answers[host]
        addresses = first if resolver.calls[host] == 1 else then
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return resolver


class Listener:
    """A TCP port that only listens: anything that connects stays in the backlog for received()."""

    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket()
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def received(self) -> bool:
        try:
            connection, _ = self.sock.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True

    def close(self):
        self.sock.close()


@pytest.fixture
def loopback():
    listener = Listener()
    yield listener
    listener.close()


def refuse_127_0_0_1(host, address):
    if address == ipaddress.ip_address("127.0.0.1"):
        raise ValueError(f"{host} is 127.0.0.1")


# --- DNS rebinding --------------------------------------------------------------------------------
def checked_server_and_rebound_listener() -> tuple[FakeServer, Listener]:
    """A server on 127.0.0.2 and a listener on 127.0.0.1 at the same port (the OS picks the server's port,
    which another process may hold on 127.0.0.1: then try another)."""
    for _ in range(20):
        checked = FakeServer()
        checked.bind_host = "127.0.0.2"  # another loopback address, told apart from 127.0.0.1 by the check
        checked.start()
        try:
            return checked, Listener("127.0.0.1", int(checked.url.rsplit(":", 1)[1]))
        except OSError:
            checked.stop()
    pytest.fail("no port was free on both 127.0.0.1 and 127.0.0.2")


def test_the_request_goes_to_the_checked_address_not_to_a_second_answer(dns):
    checked, rebound = checked_server_and_rebound_listener()
    try:
        checked.route("GET", "/lockers", lambda request, match: Response(200, {"host": request.headers["host"]}))
        port = checked.url.rsplit(":", 1)[1]
        dns.answer("gateway.rebind.test", first=["127.0.0.2"], then=["127.0.0.1"])
        response = http_request(
            "GET", f"http://gateway.rebind.test:{port}/lockers", service="Test", address_check=refuse_127_0_0_1
        )
        assert response.json() == {"host": f"gateway.rebind.test:{port}"}  # the original Host header
        assert dns.calls["gateway.rebind.test"] == 1
        assert not rebound.received()
    finally:
        rebound.close()
        checked.stop()


def test_a_gateway_name_rebound_to_loopback_reaches_nothing_there(dns, loopback):
    """The attack from the issue: a LAN address when checked, 127.0.0.1 when connected."""
    from locks.vendors.thekeys.client import GatewayClient

    dns.answer("tk-gateway.rebind.test", first=["192.0.2.50"], then=["127.0.0.1"])  # TEST-NET-1: nobody there
    client = GatewayClient(f"tk-gateway.rebind.test:{loopback.port}", timeout=Timeout(0.3, 0.3), busy_pauses=())
    with pytest.raises(DeviceOffline):
        client.lockers()
    assert not loopback.received()


@pytest.mark.parametrize(
    "address",
    ["2002:7f00:1::", "64:ff9b::7f00:1", "::7f00:1", "::ffff:127.0.0.1", "2001:0:4136:e378:8000:63bf:80ff:fffe"],
    ids=["6to4", "nat64", "ipv4-compatible", "ipv4-mapped", "teredo"],
)
def test_a_gateway_name_resolving_to_loopback_inside_ipv6_is_refused(dns, loopback, address):
    from locks.vendors.thekeys.client import GatewayClient

    dns.answer("tk-gateway.v6.test", first=[address])
    with pytest.raises(VendorPermanentError, match="is this machine \\(loopback\\): it cannot be a gateway"):
        GatewayClient(f"tk-gateway.v6.test:{loopback.port}").lockers()
    assert not loopback.received()


# --- IPv4 inside IPv6 -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address,ipv4",
    [
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4
        ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64, well-known prefix
        ("64:ff9b:1::a9fe:a9fe", "169.254.169.254"),  # NAT64, local-use prefix
        ("::7f00:1", "127.0.0.1"),  # IPv4-compatible
        ("::ffff:10.0.0.1", "10.0.0.1"),  # IPv4-mapped
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo: the client, de-obfuscated
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("::1", None),
        ("::", None),
    ],
)
def test_the_ipv4_inside_an_ipv6_address(address, ipv4):
    found = embedded_ipv4(ipaddress.ip_address(address))
    assert (str(found) if found else None) == ipv4


@pytest.mark.parametrize("host", ["[2002:7f00:1::]", "[64:ff9b::7f00:1]", "[::7f00:1]", "[64:ff9b::a9fe:a9fe]"])
def test_a_smartlock_base_url_with_loopback_inside_ipv6_is_never_called(dns, space_a, host):
    from locks.models import LockConnection
    from locks.vendors import adapter_for

    connection = LockConnection(
        space=space_a, vendor="smartlock", config={"base_url": f"https://{host}"}, credentials={"api_token": "t"}
    )
    with pytest.raises(VendorPermanentError, match="is not a public internet address"):
        adapter_for(connection).test_connection()


def test_a_public_address_inside_ipv6_stays_public():
    from locks.vendors.addresses import address_is_public, device_address_refusal

    assert address_is_public(ipaddress.ip_address("64:ff9b::5db8:d822"))  # NAT64 of 93.184.216.34
    assert device_address_refusal(ipaddress.ip_address("2002:c0a8:132::")) == ""  # 6to4 of 192.168.1.50


# --- https to the checked IP: SNI and the certificate still name the host -------------------------
def tls_server_context(tmp_path, *, names: list[str]) -> tuple[ssl.SSLContext, str, list[str]]:
    """A test CA and a server certificate for `names`; returns (server context, CA file, SNI names seen)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

    def certificate(subject, key, issuer, issuer_key, *, ca):
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )  # fmt: skip
        if ca:
            usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
            builder = builder.add_extension(usage, critical=True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AccessBridge test CA")])
    ca = certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    server = certificate(server_name, server_key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(server.public_bytes(pem))
    (tmp_path / "server.key").write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    seen: list[str] = []
    context.sni_callback = lambda sock, name, ctx: seen.append(name)
    return context, str(tmp_path / "ca.pem"), seen


def https_fake(context) -> FakeServer:
    server = FakeServer()
    server.ssl_context = context
    server.route("GET", "/users", lambda request, match: Response(200, {"host": request.headers["host"]}))
    return server


def allow_all(host, address):
    return None


def test_https_to_the_checked_ip_sends_the_host_name_as_sni_and_checks_the_certificate_against_it(dns, tmp_path):
    context, ca_file, sni_seen = tls_server_context(tmp_path, names=["vendor.pinned.test"])
    with https_fake(context) as server:
        port = server.url.rsplit(":", 1)[1]
        dns.answer("vendor.pinned.test", first=["127.0.0.1"], then=["10.9.9.9"])
        response = http_request(
            "GET", f"https://vendor.pinned.test:{port}/users", service="Test", address_check=allow_all, verify=ca_file
        )
    assert response.json() == {"host": f"vendor.pinned.test:{port}"}
    assert sni_seen == ["vendor.pinned.test"]
    assert dns.calls["vendor.pinned.test"] == 1


def test_https_to_the_checked_ip_refuses_a_certificate_for_another_name(dns, tmp_path):
    context, ca_file, _ = tls_server_context(tmp_path, names=["someone-else.test"])
    with https_fake(context) as server:
        port = server.url.rsplit(":", 1)[1]
        dns.answer("vendor.pinned.test", first=["127.0.0.1"])
        with pytest.raises(ServiceError, match="could not connect"):
            http_request(
                "GET", f"https://vendor.pinned.test:{port}/users", service="Test", address_check=allow_all,
                verify=ca_file,
            )
        assert server.requests == []


def test_a_pinned_call_never_follows_a_redirect(dns):
    with FakeServer() as server:
        server.route("GET", "/users", lambda request, match: Response(302, headers={"Location": "http://127.0.0.1:1/"}))
        port = server.url.rsplit(":", 1)[1]
        dns.answer("vendor.pinned.test", first=["127.0.0.1"])
        with pytest.raises(ServiceError, match="HTTP 302"):
            http_request("GET", f"http://vendor.pinned.test:{port}/users", service="Test", address_check=allow_all)
        with pytest.raises(ValueError):
            http_request(
                "GET", f"http://vendor.pinned.test:{port}/users", service="Test", address_check=allow_all,
                allow_redirects=True,
            )


def test_an_unresolvable_host_is_a_transient_error(dns):
    dns.answer("nowhere.pinned.test", first=[])
    with pytest.raises(ServiceError, match="could not resolve nowhere.pinned.test") as raised:
        http_request("GET", "http://nowhere.pinned.test/x", service="Test", address_check=allow_all)
    assert raised.value.transient
