"""TLS certificates for the host nginx: Let's Encrypt (any ACME CA), bring-your-own, self-signed.

nginx reads only the stable symlinks `<tls_root>/<name>/{fullchain,privkey}.pem`.
The deploy first points them at a self-signed placeholder so nginx can always start, then at the
certificate the mode asks for: certbot's `live/<name>/` lineage, or files pushed from the
deployer's machine. Each host name gets its own certificate, so a monitor name whose DNS is not
ready yet never blocks the meeting's certificate.

Plans are pure: they take facts read from the host (`probe_command` + `parse_probe`) and return
commands; a host that already has what the settings ask for gets an empty plan.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..model.proxy import NginxControl, ProxySettings
from ..remote.commands import Command, sh_args
from ..render.templating import render_template
from ..settings.tls import TlsSettings

HOOK_TEMPLATE = "tls/reload-nginx.sh.j2"
PLACEHOLDER_DAYS = 3650


@dataclass(frozen=True)
class CertbotPaths:
    """certbot's directories (the defaults are the distribution's)."""

    config_dir: str = "/etc/letsencrypt"
    work_dir: str = "/var/lib/letsencrypt"
    logs_dir: str = "/var/log/letsencrypt"

    def args(self) -> tuple[str, ...]:
        return (
            "--config-dir",
            self.config_dir,
            "--work-dir",
            self.work_dir,
            "--logs-dir",
            self.logs_dir,
        )

    def live(self, name: str) -> str:
        return str(PurePosixPath(self.config_dir) / "live" / name)

    @property
    def hook(self) -> str:
        return str(PurePosixPath(self.config_dir) / "renewal-hooks/deploy/jitsi-reload-nginx.sh")


@dataclass(frozen=True)
class CertFacts:
    """What the host has for one name (from `probe_command`).

    + target: the directory the fullchain link points into ("" = no link yet).
    + issued: certbot's live lineage for the name exists.
    + custom_sha256: sha256 of the installed custom chain followed by its key ("" = none).
    """

    target: str = ""
    issued: bool = False
    custom_sha256: str = ""


@dataclass(frozen=True)
class HostTlsFacts:
    certs: Mapping[str, CertFacts]
    hook_sha256: str = ""

    def cert(self, name: str) -> CertFacts:
        return self.certs.get(name, CertFacts())


@dataclass(frozen=True)
class CustomPair:
    """A bring-your-own certificate, read on the deployer's machine."""

    fullchain: bytes
    privkey: bytes

    def sha256(self) -> str:
        return sha256(self.fullchain + self.privkey)


def read_custom_pair(settings: TlsSettings) -> CustomPair:
    """Read and sanity-check the custom files before anything is sent to a host."""
    chain = Path(settings.custom_cert).read_bytes()
    key = Path(settings.custom_key).read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in chain:
        raise ValueError(f"{settings.custom_cert} holds no PEM certificate")
    if not re.search(rb"-----BEGIN (RSA |EC )?PRIVATE KEY-----", key):
        raise ValueError(f"{settings.custom_key} holds no unencrypted PEM private key")
    return CustomPair(chain, key)


def source_dir(proxy: ProxySettings, name: str, source: str) -> str:
    """Where a certificate source lives: `selfsigned` or `custom` under the name's directory."""
    return str(PurePosixPath(proxy.tls_root) / name / source)


# (file, mode) of the custom files the deploy installs; the key never readable by others.
CUSTOM_FILES: tuple[tuple[str, str], ...] = (("fullchain.pem", "0644"), ("privkey.pem", "0600"))


def probe_command(proxy: ProxySettings, certbot: CertbotPaths) -> Command:
    """Fact gathering: one line per name `name<TAB>link target dir<TAB>issued<TAB>custom sha`."""
    script = (
        'root=$1 live=$2 hook=$3; shift 3; for n in "$@"; do '
        't=$(readlink "$root/$n/fullchain.pem" || true); '
        'i=0; [ -e "$live/$n/fullchain.pem" ] && i=1; c=; '
        'if [ -f "$root/$n/custom/fullchain.pem" ] && [ -f "$root/$n/custom/privkey.pem" ]; then '
        'c=$(cat "$root/$n/custom/fullchain.pem" "$root/$n/custom/privkey.pem" | sha256sum); fi; '
        'printf "%s\\t%s\\t%s\\t%s\\n" "$n" "${t%/*}" "$i" "${c%% *}"; done; '
        'h=; [ -f "$hook" ] && h=$(sha256sum < "$hook"); printf "hook\\t%s\\n" "${h%% *}"'
    )
    args = (proxy.tls_root, str(PurePosixPath(certbot.config_dir) / "live"), certbot.hook)
    return sh_args(script, (*args, *proxy.host_names()), "read the state of the TLS certificates")


def parse_probe(output: str) -> HostTlsFacts:
    certs: dict[str, CertFacts] = {}
    hook = ""
    for line in output.splitlines():
        fields = line.split("\t")
        if fields[0] == "hook":
            hook = fields[1]
        elif len(fields) == 4:
            name, target, issued, custom = fields
            certs[name] = CertFacts(target, issued == "1", custom)
    return HostTlsFacts(certs, hook)


def placeholder_plan(proxy: ProxySettings, facts: HostTlsFacts) -> list[Command]:
    """Self-signed certificates and links for names without any, so nginx can start at all."""
    plan = []
    for name in proxy.host_names():
        if facts.cert(name).target:
            continue
        selfsigned = source_dir(proxy, name, "selfsigned")
        plan.append(_selfsigned_command(name, selfsigned))
        plan.append(_link_command(proxy, name, selfsigned))
    return plan


def _selfsigned_command(name: str, directory: str) -> Command:
    script = (
        'mkdir -p "$2" && umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -sha256 '
        '-days "$3" -subj "/CN=$1" -addext "subjectAltName=DNS:$1" '
        '-keyout "$2/privkey.pem" -out "$2/fullchain.pem" '
        '&& chmod 644 "$2/fullchain.pem"'
    )
    return sh_args(
        script,
        (name, directory, str(PLACEHOLDER_DAYS)),
        f"create a self-signed certificate for {name}",
    )


# Points the links in directory $B at the files in directory $T.
_LINK = 'ln -sfn "$T/fullchain.pem" "$B/fullchain.pem" && ln -sfn "$T/privkey.pem" "$B/privkey.pem"'


def _link_command(proxy: ProxySettings, name: str, directory: str) -> Command:
    base = str(PurePosixPath(proxy.tls_root) / name)
    return sh_args(
        f"B=$1 T=$2; {_LINK}",
        (base, directory),
        f"point the certificate links of {name} at {directory}",
    )


def certificate_plan(
    settings: TlsSettings,
    proxy: ProxySettings,
    facts: HostTlsFacts,
    nginx: NginxControl,
    certbot: CertbotPaths | None = None,
    custom: CustomPair | None = None,
) -> list[Command]:
    """Get the certificates the mode asks for and switch nginx to them.

    Run after `placeholder_plan` and after the site is installed (certbot's HTTP-01 challenge is
    answered from the site's webroot). Each switch runs `nginx -t` and puts the previous links
    back if nginx refuses. `custom` is `read_custom_pair(settings)` for mode "custom".
    """
    certbot = certbot or CertbotPaths()
    plan: list[Command] = []
    if settings.mode == "letsencrypt" and facts.hook_sha256 != sha256(render_hook(nginx)):
        plan.append(install_hook_command(nginx, certbot))
    for name in proxy.host_names():
        plan += _name_plan(settings, proxy, facts.cert(name), name, nginx, certbot, custom)
    return plan


def _name_plan(
    settings: TlsSettings,
    proxy: ProxySettings,
    cert: CertFacts,
    name: str,
    nginx: NginxControl,
    certbot: CertbotPaths,
    custom: CustomPair | None,
) -> list[Command]:
    plan = []
    if settings.mode == "letsencrypt":
        target = certbot.live(name)
        if not cert.issued:
            plan.append(certbot_command(settings, proxy, name, certbot))
    elif settings.mode == "custom":
        if custom is None:
            raise ValueError("tls mode custom: pass read_custom_pair(settings) as custom")
        target = source_dir(proxy, name, "custom")
        if cert.custom_sha256 != custom.sha256():
            plan += custom_install_commands(target, custom)
    else:
        target = source_dir(proxy, name, "selfsigned")
    if cert.target != target or plan:
        plan.append(switch_command(proxy, name, target, cert.target, nginx))
    return plan


def certbot_command(
    settings: TlsSettings, proxy: ProxySettings, name: str, certbot: CertbotPaths
) -> Command:
    """certbot certonly over HTTP-01 from the nginx webroot; a valid certificate is kept."""
    argv = [
        "certbot",
        "certonly",
        "--webroot",
        "--webroot-path",
        proxy.acme_webroot,
        "--cert-name",
        name,
        "--domains",
        name,
        "--non-interactive",
        "--agree-tos",
        "--no-eff-email",
        "--email",
        settings.email,
        "--keep-until-expiring",
        *certbot.args(),
    ]
    if settings.staging:
        argv.append("--staging")
    if settings.acme_server:
        argv += ["--server", settings.acme_server]
    return Command(tuple(argv), f"obtain a certificate for {name} (ACME HTTP-01)")


def renew_command(certbot: CertbotPaths, force: bool = False) -> Command:
    """Renew what is due now, as certbot's timer does (`force`: all, e.g. after a key leak).

    Run by hand, so without the random delay of up to 8 minutes certbot adds when not on a tty.
    """
    argv = ("certbot", "renew", "--non-interactive", "--no-random-sleep-on-renew", *certbot.args())
    if force:
        argv += ("--force-renewal",)
    return Command(argv, "renew the certificates that are due")


def custom_install_commands(directory: str, custom: CustomPair) -> list[Command]:
    """Push the custom pair through stdin (never argv); written then renamed, key at 0600."""
    script = (
        'mkdir -p "$(dirname "$1")" && umask 077 && cat > "$1.new" && chmod "$2" "$1.new" '
        '&& mv "$1.new" "$1"'
    )
    contents = {"fullchain.pem": custom.fullchain, "privkey.pem": custom.privkey}
    return [
        Command(
            ("sh", "-c", script, "sh", f"{directory}/{file}", mode),
            f"install {directory}/{file} (mode {mode})",
            contents[file],
        )
        for file, mode in CUSTOM_FILES
    ]


def switch_command(
    proxy: ProxySettings, name: str, target: str, previous: str, nginx: NginxControl
) -> Command:
    """Point the links at `target`, then reload if `nginx -t` passes, else restore `previous`."""
    base = str(PurePosixPath(proxy.tls_root) / name)
    script = (
        f"B=$3 T=$1; {_LINK}; "
        f"if out=$({shlex.join(nginx.test)} 2>&1); then exec {shlex.join(nginx.reload)}; fi; "
        f'if [ -n "$2" ]; then T=$2; {_LINK}; fi; '
        'echo "nginx refused the new certificate; the previous one stays:" >&2; '
        'echo "$out" >&2; exit 1'
    )
    return sh_args(
        script, (target, previous, base), f"serve the certificate in {target} for {name}"
    )


def render_hook(nginx: NginxControl) -> str:
    return render_template(
        HOOK_TEMPLATE, test=shlex.join(nginx.test), reload=shlex.join(nginx.reload)
    )


def install_hook_command(nginx: NginxControl, certbot: CertbotPaths) -> Command:
    """certbot runs renewal-hooks/deploy/* after every successful renewal."""
    script = (
        'mkdir -p "$(dirname "$1")" && cat > "$1.new" && chmod 755 "$1.new" && mv "$1.new" "$1"'
    )
    return Command(
        ("sh", "-c", script, "sh", certbot.hook),
        "install the certbot deploy hook that reloads nginx",
        render_hook(nginx).encode(),
    )


def sha256(content: str | bytes) -> str:
    data = content.encode() if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()
