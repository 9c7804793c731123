"""TLS to the dedicated MTA with a private CA (TRIGGERED_EMAIL_SMTP_CA_FILE), over STARTTLS and
implicit TLS, against a real TLS aiosmtpd server whose CA the test makes: the certificate and
its host name are always verified, never silently not."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.mail import EmailMessage

from delivery.smtp_backend import EmailBackend
from tests.conftest import free_port


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_server_cert(directory: Path, host_ip: str = "127.0.0.1") -> dict[str, Path]:
    """A private CA and a server certificate it signed, for `host_ip` (and localhost)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Test private CA"))
        .issuer_name(_name("Test private CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("mta.internal"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host_ip))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca": directory / "ca.pem",
        "cert": directory / "server.pem",
        "key": directory / "server.key",
    }
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class Collect:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.secure: list[bool] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content)
        self.secure.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK"


@pytest.fixture
def tls_files(tmp_path):
    return make_ca_and_server_cert(tmp_path)


def server_context(files) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files["cert"], files["key"])
    return context


def start_server(mode: str, files) -> tuple[Controller, int, Collect]:
    handler = Collect()
    port = free_port()
    if mode == "starttls":
        controller = Controller(
            handler, hostname="127.0.0.1", port=port,
            tls_context=server_context(files), require_starttls=True,
        )  # fmt: skip
    else:
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, ssl_context=server_context(files),
            server_hostname="localhost",
        )  # fmt: skip
    controller.start()
    return controller, port, handler


@pytest.fixture(params=["starttls", "implicit"])
def tls_server(request, tls_files):
    controller, port, handler = start_server(request.param, tls_files)
    yield request.param, port, handler
    controller.stop()


def backend(mode: str, port: int, host: str = "127.0.0.1") -> EmailBackend:
    return EmailBackend(
        host=host, port=port, use_tls=mode == "starttls", use_ssl=mode == "implicit",
        timeout=5, fail_silently=False,
    )  # fmt: skip


def message() -> EmailMessage:
    return EmailMessage("TLS check", "body", "orders@example.com", ["jane@example.org"])


@pytest.mark.django_db
def test_the_private_ca_is_trusted_over_starttls_and_implicit_tls(tls_server, tls_files, settings):
    mode, port, handler = tls_server
    settings.TRIGGERED_EMAIL_SMTP_CA_FILE = str(tls_files["ca"])

    assert backend(mode, port).send_messages([message()]) == 1

    deadline = time.monotonic() + 5
    while not handler.received and time.monotonic() < deadline:
        time.sleep(0.02)
    assert handler.secure == [True]
    assert b"Subject: TLS check" in handler.received[0]


@pytest.mark.django_db
def test_without_the_ca_the_certificate_is_refused(tls_server, settings):
    mode, port, handler = tls_server
    settings.TRIGGERED_EMAIL_SMTP_CA_FILE = ""

    with pytest.raises(ssl.SSLCertVerificationError):
        backend(mode, port).send_messages([message()])
    assert handler.received == []


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_a_certificate_for_another_host_is_refused_even_from_the_trusted_ca(
    mode, tmp_path, settings
):
    files = make_ca_and_server_cert(tmp_path, host_ip="127.0.0.3")
    settings.TRIGGERED_EMAIL_SMTP_CA_FILE = str(files["ca"])
    controller, port, handler = start_server(mode, files)
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|127\.0\.0\.1"):
            backend(mode, port).send_messages([message()])
    finally:
        controller.stop()
    assert handler.received == []
