"""The certificate that protects the bridges' XMPP login (model/xmpp_tls.py): made from the site's
key alone, the same on every render; the core's Prosody gets it with its key, every bridge the
truststore that pins it (read here by the JDK's own keytool) and nothing secret."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from jitsi_deploy.errors import RenderError
from jitsi_deploy.model import paths, xmpp_tls
from jitsi_deploy.model.services import XMPP_AUTH_DOMAIN
from tests.unit.sites import rendered, two_hosts

KEY = xmpp_tls.XMPP_TLS_KEY.make()
CERT = f"{paths.PROSODY_CERTS_DIR}/{XMPP_AUTH_DOMAIN}.crt"
PRIVATE = f"{paths.PROSODY_CERTS_DIR}/{XMPP_AUTH_DOMAIN}.key"
TRUSTSTORE = f"{paths.JVB_CONFIG_DIR}/{xmpp_tls.TRUSTSTORE_NAME}"


def test_the_certificate_names_the_bridges_domain_and_is_the_same_for_the_same_key():
    cert = x509.load_pem_x509_certificate(xmpp_tls.certificate_pem(KEY))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [XMPP_AUTH_DOMAIN]
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    public = xmpp_tls.private_key(KEY).public_key().public_numbers()
    assert cert.public_key().public_numbers() == public
    assert xmpp_tls.certificate_pem(KEY) == xmpp_tls.certificate_pem(KEY)
    assert xmpp_tls.truststore(KEY) == xmpp_tls.truststore(KEY)
    assert xmpp_tls.certificate_pem(xmpp_tls.XMPP_TLS_KEY.make()) != xmpp_tls.certificate_pem(KEY)


def test_the_jdks_keytool_reads_the_truststore_as_trust_in_that_certificate(tmp_path: Path):
    store = tmp_path / "trust.jks"
    store.write_bytes(xmpp_tls.truststore(KEY))
    argv = ["keytool", "-list", "-v", "-keystore", str(store), "-storetype", "JKS"]
    listed = subprocess.run(
        [*argv, "-storepass", xmpp_tls.TRUSTSTORE_PASSWORD], capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Entry type: trustedCertEntry" in listed.stdout
    assert "Your keystore contains 1 entry" in listed.stdout
    cert = x509.load_pem_x509_certificate(xmpp_tls.certificate_pem(KEY))
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"SHA256: {fingerprint}" in listed.stdout
    tampered = subprocess.run([*argv, "-storepass", "other"], capture_output=True, text=True)
    assert "Keystore was tampered with, or password was incorrect" in tampered.stdout


def test_the_core_gets_the_certificate_and_its_key_every_bridge_the_truststore_alone(
    tmp_path: Path,
):
    deployment = two_hosts(tmp_path)
    core, bridge = (
        rendered(deployment, "meet.example.org"),
        rendered(deployment, "jvb1.example.org"),
    )
    key = core.file(PRIVATE)
    assert (key.mode, key.owner) == (0o600, "1000")
    secret = core.site.secrets[xmpp_tls.XMPP_TLS_KEY.name]
    loaded = serialization.load_pem_private_key(key.content, None)
    assert loaded.private_numbers() == xmpp_tls.private_key(secret).private_numbers()
    assert core.file(CERT).content == xmpp_tls.certificate_pem(secret)
    for host in (core, bridge):
        assert host.file(TRUSTSTORE).content == xmpp_tls.truststore(secret)
        custom = host.file(f"{paths.JVB_CONFIG_DIR}/custom-jvb.conf").content.decode()
        assert "shard0.DISABLE_CERTIFICATE_VERIFICATION = false" in custom
        compose = host.file(paths.COMPOSE_FILE).content.decode()
        assert f'JAVA_TOOL_OPTIONS: "{xmpp_tls.java_options()}"' in compose
    assert not any(b"PRIVATE KEY" in f.content or secret.encode() in f.content
                   for f in bridge.files), "nothing secret of the core on a bridge"  # fmt: skip


def test_a_key_edited_by_hand_is_refused_with_what_to_do():
    zero = "A" * 43  # the grammar of a made key (.secrets.env takes it), but no P-256 key
    with pytest.raises(RenderError, match="Delete its line to have a new one made"):
        xmpp_tls.certificate_pem(zero)
