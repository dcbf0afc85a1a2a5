"""The certificate that protects the video bridges' XMPP login to the core.

A bridge on another host logs in to the core's Prosody across the Internet. The jvb image
turns certificate verification off for that link (`DISABLE_CERTIFICATE_VERIFICATION = true` in
every shard of jvb.conf at stable-11146-2), as if the bridge were always on the core's Docker
network: whoever sits on the path could show any certificate and take the bridge's password.
So the core's Prosody shows a certificate of the site's own for the domain the bridges log in
to, and every bridge trusts exactly that certificate (pinned: a truststore holding it alone)
and checks it as jicoco's MUC client does once verification is on: Smack's default trust
manager and its check of the XMPP domain against the certificate's names.

The certificate is made from one secret (XMPP_TLS_KEY, a P-256 private key made once, kept
in .secrets.env) with deterministic ECDSA and fixed dates, so each render gives the same bytes
and nothing new is sent to a host unless the key changes.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import RenderError
from ..settings.secrets import Secret

# The domain jvb logs in to (its shards' DOMAIN, XMPP_AUTH_DOMAIN) and Smack checks the name of.
XMPP_AUTH_DOMAIN = "auth.meet.jitsi"
# Where the truststore is read from in the jvb container (its config folder's mount point), and
# the password that makes the JVM check the file's integrity (not a secret: it holds nothing).
TRUSTSTORE_NAME = "xmpp-server.jks"
TRUSTSTORE_PASSWORD = "changeit"
# Fixed, so the certificate is the same on every render; far enough apart never to expire.
NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2125, 1, 1, tzinfo=datetime.UTC)


def _new_key() -> str:
    scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(scalar.to_bytes(32, "big")).decode().rstrip("=")


XMPP_TLS_KEY = Secret("XMPP_TLS_KEY", _new_key)


def private_key(secret: str) -> ec.EllipticCurvePrivateKey:
    try:
        scalar = int.from_bytes(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))
        return ec.derive_private_key(scalar, ec.SECP256R1())
    except ValueError:
        raise RenderError(
            f"{XMPP_TLS_KEY.name} in .secrets.env is not a key the deploy made. Delete its line "
            "to have a new one made (the core and every bridge then get the new certificate)."
        ) from None


def certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """The self-signed certificate for the bridges' XMPP domain, the same for the same key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, XMPP_AUTH_DOMAIN)])
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    serial = int.from_bytes(hashlib.sha256(public).digest()[:16]) >> 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(XMPP_AUTH_DOMAIN)]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    )
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


def certificate_pem(secret: str) -> bytes:
    return certificate(private_key(secret)).public_bytes(serialization.Encoding.PEM)


def key_pem(secret: str) -> bytes:
    return private_key(secret).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def truststore(secret: str) -> bytes:
    """A Java KeyStore (JKS) whose one entry trusts the certificate: the format every JVM
    reads as a truststore. (A PKCS#12 file needs a trust attribute of Oracle's on each
    certificate, which the `cryptography` package cannot write.)"""
    der = certificate(private_key(secret)).public_bytes(serialization.Encoding.DER)
    millis = int(NOT_BEFORE.timestamp() * 1000)
    entry = struct.pack(">I", 2) + _utf(XMPP_AUTH_DOMAIN) + struct.pack(">q", millis)
    entry += _utf("X.509") + struct.pack(">I", len(der)) + der
    body = struct.pack(">III", 0xFEEDFEED, 2, 1) + entry
    return body + _integrity(body, TRUSTSTORE_PASSWORD)


def _utf(text: str) -> bytes:
    """Java's DataOutput.writeUTF for ASCII text: its length in two bytes, then the bytes."""
    data = text.encode("ascii")
    return struct.pack(">H", len(data)) + data


def _integrity(body: bytes, password: str) -> bytes:
    """The keyed SHA-1 a JKS file ends with; the JVM checks it when given the password."""
    return hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()


def java_options() -> str:
    """JAVA_TOOL_OPTIONS for the jvb container: the JVM's default trust is that truststore.
    The image's own JAVA_SYS_PROPS cannot carry it: its run script sets that variable whole
    (jvb/rootfs/etc/s6-overlay/scripts/jvb), while every JVM reads JAVA_TOOL_OPTIONS."""
    store = f"/config/{TRUSTSTORE_NAME}"
    return (
        f"-Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStoreType=JKS "
        f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}"
    )
