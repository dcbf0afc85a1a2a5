"""The bridge's XMPP login verifies the core's certificate (model/xmpp_tls.py; CONTRACT.md,
jvb): the real Prosody shows the certificate the product makes, from the files the product
renders into its config folder; the jvb stand-in, given the product's custom-jvb.conf,
truststore and JAVA_TOOL_OPTIONS, logs in only when the certificate is that one."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from jitsi_deploy.model import xmpp_tls
from jitsi_deploy.model.services import XMPP_AUTH_DOMAIN
from jitsi_deploy.render.templating import TEMPLATES_DIR
from tests.standin.standins import Container, Options, owned_dir, running
from tests.standin.test_xmpp import ALIAS, bridges, jicofo_env, jvb_env, start

pytestmark = pytest.mark.docker

PROBE = Path(__file__).with_name("XmppTlsProbe.java")
SITE_KEY = xmpp_tls.XMPP_TLS_KEY.make()
OTHER_KEY = xmpp_tls.XMPP_TLS_KEY.make()
CUSTOM_CONF = (TEMPLATES_DIR / "jvb" / "custom-jvb.conf").read_text()


def owned_file(path: Path, content: bytes, mode: int) -> None:
    path.write_bytes(content)
    os.chown(path, 1000, 1000)
    path.chmod(mode)


@pytest.fixture
def prosody(images, prosody_options, net, tmp_path: Path) -> Iterator[Container]:
    """Prosody with the site's certificate in its config folder, as the product ships it."""
    certs = owned_dir(tmp_path / "prosody" / "config" / "certs")
    owned_file(certs / f"{XMPP_AUTH_DOMAIN}.crt", xmpp_tls.certificate_pem(SITE_KEY), 0o644)
    owned_file(certs / f"{XMPP_AUTH_DOMAIN}.key", xmpp_tls.key_pem(SITE_KEY), 0o600)
    prosody_options.network = net
    prosody_options.aliases = [ALIAS]
    prosody_options.publish = ["127.0.0.1::5222"]
    with running(images["prosody"], prosody_options) as container:
        container.wait_healthy()
        yield container


def bridge(
    stack: ExitStack,
    image: str,
    net: str,
    folder: Path,
    trusted: str,
    custom: str = CUSTOM_CONF,
    options: str = xmpp_tls.java_options(),
) -> Container:
    """A bridge whose config folder holds ``custom`` (none when empty) and the truststore of
    ``trusted``'s certificate, its JVM started with ``options``."""
    config = owned_dir(folder)
    owned_file(config / xmpp_tls.TRUSTSTORE_NAME, xmpp_tls.truststore(trusted), 0o644)
    if custom:
        owned_file(config / "custom-jvb.conf", custom.encode(), 0o644)
    env = jvb_env("jvb1", JAVA_TOOL_OPTIONS=options)
    return stack.enter_context(
        running(image, Options(env=env, network=net, volumes=[f"{config}:/config:ro"]))
    )


def test_a_bridge_that_trusts_the_sites_certificate_joins(images, prosody, net, tmp_path):
    with ExitStack() as stack:
        jicofo = start(stack, images["jicofo"], net, **jicofo_env())
        jvb = bridge(stack, images["jvb"], net, tmp_path / "jvb", SITE_KEY)
        jicofo.wait_for(lambda: bridges(jicofo) == 1, "the bridge in the brewery")
        assert "is refused" not in jvb.logs()


def test_a_bridge_shown_another_certificate_refuses_it_and_never_logs_in(
    images, prosody, net, tmp_path
):
    """What a bridge sees when someone on the path answers for the core: its password is
    never sent."""
    with ExitStack() as stack:
        jvb = bridge(stack, images["jvb"], net, tmp_path / "jvb", OTHER_KEY)
        jvb.wait_for(lambda: "certificate verify failed" in jvb.logs(), "a refused certificate")
        assert f"the certificate of {ALIAS}:5222 is refused" in jvb.logs()
        assert "Authenticated as jvb@" not in prosody.logs()


def test_without_the_products_custom_conf_the_image_trusts_any_certificate(
    images, prosody, net, tmp_path
):
    """The image's own default, which the product's custom-jvb.conf turns around: the same
    foreign truststore, and the bridge joins."""
    with ExitStack() as stack:
        jicofo = start(stack, images["jicofo"], net, **jicofo_env())
        bridge(stack, images["jvb"], net, tmp_path / "jvb", OTHER_KEY, custom="")
        jicofo.wait_for(lambda: bridges(jicofo) == 1, "the bridge in the brewery")


@pytest.mark.parametrize(
    ("custom", "options", "refusal"),
    [
        (
            CUSTOM_CONF + "videobridge.cc.trust-bwe = false\n",
            xmpp_tls.java_options(),
            "custom-jvb.conf line 6: the stand-in models only",
        ),
        (
            CUSTOM_CONF,
            xmpp_tls.java_options().replace("Password=changeit", "Password=other"),
            "Keystore was tampered with, or password was incorrect",
        ),
    ],
    ids=["a custom line it cannot show", "another truststore password"],
)
def test_what_the_stand_in_cannot_verify_stops_it(images, net, tmp_path, custom, options, refusal):
    with ExitStack() as stack:
        jvb = bridge(stack, images["jvb"], net, tmp_path / "jvb", SITE_KEY, custom, options)
        assert jvb.wait_exit() != 0
        assert refusal in jvb.logs()


@pytest.mark.parametrize(
    ("trusted", "verdict"),
    [(SITE_KEY, "verified: CN=auth.meet.jitsi"), (OTHER_KEY, "refused: PKIX path")],
    ids=["the site's certificate", "another certificate"],
)
def test_a_real_jvm_given_the_products_java_options_trusts_the_sites_certificate_alone(
    prosody, tmp_path, trusted, verdict
):
    """OpenJDK (the bridge's JVM family) reads the product's truststore through the product's
    JAVA_TOOL_OPTIONS, checks it with its password, trusts the pinned certificate and checks
    the XMPP domain against it (XmppTlsProbe.java), on the real Prosody's STARTTLS."""
    store = tmp_path / xmpp_tls.TRUSTSTORE_NAME
    store.write_bytes(xmpp_tls.truststore(trusted))
    options = xmpp_tls.java_options().replace(f"/config/{xmpp_tls.TRUSTSTORE_NAME}", str(store))
    port = str(prosody.host_port("5222/tcp"))
    probe = subprocess.run(
        ["java", str(PROBE), "127.0.0.1", port, XMPP_AUTH_DOMAIN],
        env={**os.environ, "JAVA_TOOL_OPTIONS": options},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert verdict in probe.stdout, probe.stdout + probe.stderr
    assert "Picked up JAVA_TOOL_OPTIONS" in probe.stderr, "the options reached the JVM"
