"""TLS: the connector binds over TLS to an SMSC with a certificate it trusts, and to none other."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smsgate.adapters.carriers.smpp import SmppConnector
from smsgate.domain.models import Accepted
from tests.builders import message
from tests.peers.smsc import ForeignSmsc

from .conftest import PASSWORD, SYSTEM_ID, RecordingSink, make_spec, until


def _self_signed(directory: Path) -> Path:
    """A certificate for 127.0.0.1 and its key, in one PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    path = directory / "smsc.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    return _self_signed(tmp_path)


@pytest.fixture
async def tls_smsc(pem: Path) -> AsyncIterator[ForeignSmsc]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(pem)
    smsc = ForeignSmsc({SYSTEM_ID: PASSWORD})
    await smsc.start(tls=server)
    try:
        yield smsc
    finally:
        await smsc.stop()


async def test_binds_and_submits_over_tls(tls_smsc: ForeignSmsc, pem: Path) -> None:
    client = ssl.create_default_context(cafile=pem)
    connector = SmppConnector(make_spec(tls_smsc.port, tls=True), PASSWORD, ssl=client)
    await connector.start(RecordingSink())
    try:
        await connector.wait_up()
        [outcome] = await connector.submit([message(1)])
        assert isinstance(outcome, Accepted)
        assert connector.spec.address == f"smpps://127.0.0.1:{tls_smsc.port}"
    finally:
        await connector.close()


async def test_an_smsc_certificate_it_does_not_trust_never_gets_a_bind(
    tls_smsc: ForeignSmsc,
) -> None:
    connector = SmppConnector(make_spec(tls_smsc.port, tls=True), PASSWORD)  # system trust
    await connector.start(RecordingSink())
    try:
        # The handshake fails before the peer sees a connection: the connector says why.
        await until(
            lambda: "CERTIFICATE_VERIFY_FAILED" in (connector.state().binds[0].last_error or ""),
            "a refused handshake",
        )
        assert tls_smsc.binds == []
        assert not connector.is_up
    finally:
        await connector.close()
