"""Whether the jvb stand-in verifies its XMPP server's certificate, and against what, as the
real bridge decides it:

- jvb.conf (jvb/rootfs/defaults/jvb.conf at stable-11146-2) sets
  `DISABLE_CERTIFICATE_VERIFICATION = true` in every shard, and ends with
  `include "custom-jvb.conf"`, whose keys override it. The stand-in reads that file as dotted
  `key = value` lines (HOCON's simplest form) and models the shards' flag alone: any other
  line stops the container (stricter than the image, which would apply what it cannot show).
- With verification on, jicoco's MucClient leaves Smack its defaults: the JVM's default trust
  (the truststore javax.net.ssl.trustStore names, as JAVA_TOOL_OPTIONS may set it, else the
  JDK's public CAs) and a check of the XMPP domain (the login's domain, auth.meet.jitsi) against
  the certificate's names (jicoco MucClient.java; Smack's XmppHostnameVerifier).
- The truststore is read as the JVM reads a JKS file: its trusted certificates, and with
  javax.net.ssl.trustStorePassword its keyed SHA-1 checked ("Keystore was tampered with, or
  password was incorrect": no TLS then, so no login; the stand-in stops at once).
"""

from __future__ import annotations

import hashlib
import re
import shlex
import ssl
import struct
from pathlib import Path

from standin import Refusal

CUSTOM_CONF = Path("/run/jvb/config/custom-jvb.conf")
_SHARD_FLAG = re.compile(
    r"videobridge\.apis\.xmpp-client\.configs\.shard(\d+)\.DISABLE_CERTIFICATE_VERIFICATION"
)
_LINE = re.compile(r"\s*([\w.-]+)\s*[=:]\s*\"?(true|false)\"?\s*")


def verified_shards(conf: Path = CUSTOM_CONF) -> set[int]:
    """The shards custom-jvb.conf turns verification on for (none without the file)."""
    if not conf.exists():
        return set()
    verified: set[int] = set()
    for number, line in enumerate(conf.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", "//")):
            continue
        found = _LINE.fullmatch(line)
        shard = _SHARD_FLAG.fullmatch(found.group(1)) if found else None
        if not found or not shard:
            raise Refusal(
                f"custom-jvb.conf line {number}: the stand-in models only "
                f"`…configs.shardN.DISABLE_CERTIFICATE_VERIFICATION = true|false`: {line!r}"
            )
        if found.group(2) == "false":
            verified.add(int(shard.group(1)))
        else:
            verified.discard(int(shard.group(1)))
    return verified


def java_properties(options: str) -> dict[str, str]:
    """The -Dname=value system properties of a JAVA_TOOL_OPTIONS value."""
    words = (word for word in shlex.split(options) if word.startswith("-D"))
    return dict(word[2:].partition("=")[::2] for word in words)


def trust_context(options: str) -> ssl.SSLContext:
    """The JVM's default trust as JAVA_TOOL_OPTIONS sets it, with the name check on."""
    properties = java_properties(options)
    store = properties.get("javax.net.ssl.trustStore")
    if not store:
        return ssl.create_default_context()  # the JDK's public CAs: Debian's here
    kind = properties.get("javax.net.ssl.trustStoreType", "JKS")
    if kind.upper() != "JKS":
        raise Refusal(f"javax.net.ssl.trustStoreType {kind}: the stand-in reads JKS files only")
    password = properties.get("javax.net.ssl.trustStorePassword")
    certificates = jks_certificates(Path(store).read_bytes(), password)
    return ssl.create_default_context(cadata=b"".join(certificates))


def jks_certificates(data: bytes, password: str | None) -> list[bytes]:
    """The certificates (DER) of a JKS file's trusted entries, its integrity checked as the JVM
    checks it when given a password."""
    magic, version, count = struct.unpack_from(">III", data)
    if magic != 0xFEEDFEED or version not in (1, 2):
        raise Refusal("the truststore is not a JKS file: Invalid keystore format")
    if password is not None:
        body, digest = data[:-20], data[-20:]
        keyed = password.encode("utf-16-be") + b"Mighty Aphrodite" + body
        if hashlib.sha1(keyed).digest() != digest:
            raise Refusal("the truststore: Keystore was tampered with, or password was incorrect")
    offset, found = 12, []
    for _ in range(count):
        (tag,) = struct.unpack_from(">I", data, offset)
        if tag != 2:
            raise Refusal("the truststore holds a private key entry: the stand-in reads trust only")
        offset = _skip_utf(data, offset + 4) + 8  # the alias, then the date
        offset = _skip_utf(data, offset)  # "X.509"
        (length,) = struct.unpack_from(">I", data, offset)
        found.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return found


def _skip_utf(data: bytes, offset: int) -> int:
    (length,) = struct.unpack_from(">H", data, offset)
    return offset + 2 + length
