"""How the certificates of the host nginx are obtained: the TLS part of the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TlsMode = Literal["letsencrypt", "custom", "selfsigned"]
TLS_MODES: tuple[TlsMode, ...] = ("letsencrypt", "custom", "selfsigned")


@dataclass(frozen=True)
class TlsSettings:
    """How the certificates are obtained.

    + mode: "letsencrypt" (certbot, HTTP-01 via the nginx webroot), "custom" (your files) or
      "selfsigned" (a first test without DNS; browsers warn).
    + email: ACME account contact (expiry warnings), required for letsencrypt.
    + staging: Let's Encrypt's staging CA (untrusted certificates, generous rate limits).
    + acme_server: ACME directory URL of another CA (private CA, test server); not with staging.
    + custom_cert / custom_key: local paths of the full chain and key (PEM) for mode "custom";
      one pair serves every host name, so it must cover them all (SAN or wildcard).
    """

    mode: TlsMode = "selfsigned"
    email: str = ""
    staging: bool = False
    acme_server: str = ""
    custom_cert: str = ""
    custom_key: str = ""

    def __post_init__(self) -> None:
        if self.mode not in TLS_MODES:
            raise ValueError(f"tls mode must be one of {', '.join(TLS_MODES)}, not {self.mode!r}")
        if self.mode == "letsencrypt" and "@" not in self.email:
            raise ValueError("tls mode letsencrypt needs an email address for the ACME account")
        if self.staging and self.acme_server:
            raise ValueError("tls staging and acme_server exclude each other (certbot refuses)")
        if self.mode == "custom" and not (self.custom_cert and self.custom_key):
            raise ValueError("tls mode custom needs custom_cert and custom_key paths")
