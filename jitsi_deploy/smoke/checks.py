"""The smoke checks as data: what each proves, how, and what its failure means to a user.

Web checks speak to the public URL as a browser does; host checks run over SSH on each host.
A check returns a short detail when it passes and raises Failed (or Skipped) otherwise.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import requests
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from ..errors import DeployError
from ..model.brewery import JICOFO_DEBUG_URL, parse_debug
from ..model.services import SERVICES, container_name
from ..model.turn import TURN_PORT
from ..remote.transport import ConnectError, Output, Remote
from ..settings.rooms import RoomPolicy
from ..steps.facts import split_sections
from . import turn, xmpp

Status = Literal["pass", "fail", "skip"]
Login = Literal["anonymous", "guest", "token", "account"]
MIN_DAYS_LEFT = 14  # certbot renews 30 days ahead: under 14 days left, renewal is failing


class Failed(Exception):
    """The check ran and found the fault its message names."""


class Skipped(Exception):
    """The check does not apply to this site (the message says why)."""


@dataclass(frozen=True)
class Target:
    """The deployed site as seen from this machine.

    + public_url, connect_to: see xmpp.Endpoint (connect_to = curl's --resolve).
    + ca_file: trust this CA (a private one) instead of the system's.
    + self_signed_ok: TLS_MODE=selfsigned: a self-signed certificate is what was asked for.
    + core_address: the core's public address, where 5222 must not answer.
    + bridge_addresses: the addresses of the extra bridges, which may reach 5222.
    + login: how the page logs in: "anonymous" (no ENABLE_AUTH), "guest" (anonymous on the
      guest domain; rooms need a user to open them), "token" (AUTH_TYPE=jwt: anonymous with
      ``token`` on the URL) or "account" (nobody without one).
    + turn_host: the TURN server's name ("" = the site has none); turn_secret: the secret its
      credentials are made with (.secrets.env), to offer it expired ones.
    """

    public_url: str
    rooms: RoomPolicy
    core_address: str
    connect_to: str = ""
    ca_file: str = ""
    self_signed_ok: bool = False
    bridge_addresses: tuple[str, ...] = ()
    xmpp_port: int = 5222
    login: Login = "anonymous"
    token: str = ""
    turn_host: str = ""
    turn_secret: str = ""

    @property
    def endpoint(self) -> xmpp.Endpoint:
        # The TLS check judges the certificate; a self-signed one the user chose is not
        # re-refused by every later check.
        verify: str | bool = self.ca_file or not self.self_signed_ok
        domain = xmpp.GUEST_DOMAIN if self.login == "guest" else xmpp.XMPP_DOMAIN
        return xmpp.Endpoint(self.public_url, self.connect_to, verify, domain, self.token)


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Target], str]
    meaning: str


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    detail: str
    meaning: str = ""
    host: str = ""


def run_check(check: Check, target: Target) -> Result:
    """One check, its outcome and, when it failed, what that means."""
    try:
        return Result(check.name, "pass", check.run(target))
    except Skipped as skipped:
        return Result(check.name, "skip", str(skipped))
    except Failed as failed:
        return Result(check.name, "fail", str(failed), check.meaning)
    except Exception as error:  # a check that breaks is a failed check, never a lost report
        return Result(check.name, "fail", f"{type(error).__name__}: {error}", check.meaning)


def web_results(target: Target, checks: tuple[Check, ...] | None = None) -> list[Result]:
    return [run_check(check, target) for check in checks or WEB_CHECKS]


# --- TLS ----------------------------------------------------------------------------------------


def _peer_certificate(endpoint: xmpp.Endpoint, context: ssl.SSLContext) -> bytes:
    with (
        socket.create_connection(endpoint.address(), timeout=xmpp.TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=endpoint.name) as tls,
    ):
        return tls.getpeercert(binary_form=True) or b""


def _names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        )
    except x509.ExtensionNotFound:
        return []
    return extension.value.get_values_for_type(x509.DNSName)


def _common_name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else name.rfc4514_string()


def check_tls(target: Target) -> str:
    """The chain verifies (system CAs or --ca-file) for the site's name, with days to spare."""
    endpoint = target.endpoint
    trusted = ssl.create_default_context(cafile=target.ca_file or None)
    problem = ""
    try:
        der = _peer_certificate(endpoint, trusted)
    except ssl.SSLCertVerificationError as error:
        problem = error.verify_message or str(error)
        der = _peer_certificate(
            endpoint, xmpp.Endpoint(target.public_url, verify=False).ssl_context()
        )
    except OSError as error:
        raise Failed(f"no TLS connection to {endpoint.name}: {error}") from None
    certificate = x509.load_der_x509_certificate(der)
    days = (certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)).days
    self_signed = certificate.issuer == certificate.subject
    placeholder = self_signed and _common_name(certificate.subject) == endpoint.name
    if problem:
        if placeholder and target.self_signed_ok:
            return (
                f"self-signed placeholder for {endpoint.name} (TLS_MODE=selfsigned): browsers warn"
            )
        what = "the deploy's self-signed placeholder" if placeholder else "the certificate"
        raise Failed(f"{what} is not trusted: {problem} (names: {', '.join(_names(certificate))})")
    if days < MIN_DAYS_LEFT:
        raise Failed(f"the certificate expires in {days} days: renewal is not working")
    if self_signed:
        return f"{endpoint.name}: self-signed, trusted through --ca-file, {days} days left"
    return f"{endpoint.name}: issued by {_common_name(certificate.issuer)}, {days} days left"


# --- the page and the XMPP transports ------------------------------------------------------------


def check_page(target: Target) -> str:
    endpoint = target.endpoint
    try:
        answer = endpoint.http().get(endpoint.url("/"), timeout=xmpp.TIMEOUT)
    except requests.RequestException as error:
        raise Failed(f"GET / failed: {error}") from None
    kind = answer.headers.get("Content-Type", "")
    if answer.status_code != 200 or "html" not in kind:
        raise Failed(f"GET / answered HTTP {answer.status_code} ({kind or 'no content type'})")
    return f"GET / 200 {kind}, {len(answer.content)} bytes"


def _login(transport: str) -> Callable[[Target], str]:
    def check(target: Target) -> str:
        try:
            anonymous = target.login != "account"
            with xmpp.session(transport, target.endpoint, anonymous) as user:
                if not anonymous:
                    offered = ", ".join(user.mechanisms)
                    return f"stream open, login with an account ({offered}){_retried(user)}"
                how = "token" if target.login == "token" else "anonymous"
                return f"{how} session {user.jid}{_retried(user)}"
        except xmpp.XmppError as error:
            raise Failed(f"no session: {error}") from None

    return check


def _retried(user: xmpp.Session) -> str:
    return f" (on a second try; the first: {user.first_failure})" if user.first_failure else ""


# --- the room policy -----------------------------------------------------------------------------


def _join(target: Target, room: str, password: str | None) -> tuple[xmpp.Refusal | None, str]:
    """Join as the page does (ask focus, then enter); the refusal if any, and focus's answer."""
    if target.login not in ("anonymous", "token"):
        raise Skipped("ENABLE_AUTH=1: only a logged-in user opens rooms, and smoke has no account")
    try:
        with xmpp.session("websocket", target.endpoint) as user:
            focus = user.ask_focus(room) + _retried(user)
            return user.join(room, password), focus
    except xmpp.XmppError as error:
        raise Failed(f"could not try the room {room!r}: {error}") from None


def _refused(refusal: xmpp.Refusal | None, focus: str) -> str:
    return f"refused: {refusal} (focus: {focus})"


def check_public_room(target: Target) -> str:
    if not target.rooms.public_rooms:
        raise Skipped("PUBLIC_ROOMS is empty")
    room = target.rooms.public_rooms[0]
    refusal, focus = _join(target, room, None)
    if refusal:
        raise Failed(f"{room!r} {_refused(refusal, focus)}")
    return f"{room!r} joined without a password"


def _private_room(rooms: RoomPolicy) -> tuple[str, str]:
    """A private room and its password: a configured one, else a fresh name."""
    if rooms.room_passwords:
        return next(iter(rooms.room_passwords.items()))
    return f"{rooms.private_prefix}smoke-{uuid.uuid4().hex[:8]}", rooms.default_password


def check_private_refused(target: Target) -> str:
    if not target.rooms.private_prefix:
        raise Skipped("PRIVATE_ROOM_PREFIX is empty: no private rooms")
    room, _ = _private_room(target.rooms)
    refusal, focus = _join(target, room, None)
    if refusal is None:
        raise Failed(f"{room!r} let a user in without a password")
    if (refusal.type, refusal.condition) != ("auth", "not-authorized"):
        raise Failed(f"{room!r} {_refused(refusal, focus)}, not the password prompt")
    return f"{room!r} asks for a password (auth/not-authorized)"


def check_private_joined(target: Target) -> str:
    if not target.rooms.private_prefix:
        raise Skipped("PRIVATE_ROOM_PREFIX is empty: no private rooms")
    room, password = _private_room(target.rooms)
    refusal, focus = _join(target, room, password)
    if refusal:
        raise Failed(f"{room!r} with its password {_refused(refusal, focus)}")
    return f"{room!r} joined with its password"


def check_unknown_room(target: Target) -> str:
    if target.rooms.other_rooms != "deny":
        raise Skipped(f"OTHER_ROOMS={target.rooms.other_rooms}: other rooms are not refused")
    room = f"smoke-{uuid.uuid4().hex[:12]}"
    refusal, _ = _join(target, room, None)
    if refusal is None:
        raise Failed(f"{room!r} let a user in")
    return f"{room!r} refused ({refusal})"


# --- the XMPP port -------------------------------------------------------------------------------


def _source_address(address: str, port: int) -> str:
    """The local address this machine uses toward ``address`` (nothing is sent)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((address, port))
        return probe.getsockname()[0]


def check_xmpp_port(target: Target) -> str:
    address, port = target.core_address, target.xmpp_port
    try:
        source = _source_address(address, port)
    except OSError as error:
        return f"{address}:{port} unreachable from here ({error.strerror or error})"
    if source in target.bridge_addresses:
        raise Skipped(f"this machine ({source}) is a bridge: {port} is open to it on purpose")
    try:
        with socket.create_connection((address, port), timeout=3):
            pass
    except ConnectionRefusedError:
        return f"{address}:{port} refused the connection"
    except TimeoutError:
        return f"{address}:{port} did not answer (filtered)"
    except OSError as error:
        return f"{address}:{port} unreachable ({error.strerror or error})"
    raise Failed(f"{address}:{port} accepted a connection from {source}")


# --- TURN ---------------------------------------------------------------------------------------

# Peers no relay may reach (coturn's denied-peer-ip): this host's loopback and a private network.
FORBIDDEN_PEERS = ("127.0.0.1", "10.0.0.1")


def _turn_service(target: Target, kind: str, transport: str) -> xmpp.ExternalService:
    """The TURN service Prosody hands a participant, with fresh credentials."""
    if not target.turn_host:
        raise Skipped("TURN_HOSTNAME is empty: the site has no TURN server")
    if target.login == "account":
        raise Skipped("ENABLE_AUTH=1: Prosody hands TURN servers to logged-in users alone")
    try:
        with xmpp.session("websocket", target.endpoint) as user:
            services = user.external_services()
    except xmpp.XmppError as error:
        raise Failed(f"Prosody handed out no TURN servers: {error}") from None
    found = [s for s in services if (s.type, s.transport) == (kind, transport)]
    if not found or found[0].host != target.turn_host:
        offered = ", ".join(f"{s.type}:{s.host}:{s.port}/{s.transport}" for s in services)
        raise Failed(f"no {kind} server over {transport} for {target.turn_host} ({offered})")
    return found[0]


def _turn_server(target: Target, service: xmpp.ExternalService) -> turn.Server:
    """Where the service is reached from here: at --resolve's address when given (the TURN name
    is the site's host, its TLS name checked as a browser does), else where DNS says."""
    address = target.connect_to.rpartition(":")[0].strip("[]") or service.host
    transport = "tls" if service.type == "turns" else service.transport
    verify = bool(target.ca_file) or not target.self_signed_ok
    return turn.Server(
        address, service.port or TURN_PORT, transport, service.host,
        target.ca_file or None, verify,
    )  # fmt: skip


def _allocation(kind: str, transport: str) -> Callable[[Target], str]:
    def check(target: Target) -> str:
        service = _turn_service(target, kind, transport)
        found = turn.probe(_turn_server(target, service), service.username, service.password)
        if not found.ok:
            raise Failed(found.message)
        return found.message

    return check


def check_turn_refusals(target: Target) -> str:
    """A wrong password and expired credentials are refused; a relay to this host's loopback or
    a private network too."""
    service = _turn_service(target, "turn", "udp")
    server = _turn_server(target, service)
    wrong = turn.probe(server, service.username, service.password[::-1])
    expired = turn.probe(server, *turn.rest_credentials(target.turn_secret, -60))
    for what, found in (("a wrong password", wrong), ("credentials expired", expired)):
        if found.ok or found.error_code != 401:
            raise Failed(f"{what} not refused: {found.message}")
    with turn.TurnClient(server) as client:
        client.allocate(service.username, service.password)
        for peer in FORBIDDEN_PEERS:
            try:
                client.create_permission(peer)
            except turn.TurnError as error:
                if error.code != 403:
                    raise Failed(f"a relay to {peer}: {error}, not 403 Forbidden") from None
                continue
            raise Failed(f"the TURN server relays to {peer}: anyone can reach this network")
    peers = ", ".join(FORBIDDEN_PEERS)
    return f"wrong password, expired credentials refused (401); relays to {peers} refused (403)"


WEB_CHECKS = (
    Check(
        "TLS certificate",
        check_tls,
        "browsers refuse or warn: the certificate is missing, for another name, expiring or "
        "not from a trusted CA (see the certificate step of `fab deploy`; --ca-file for a "
        "private CA)",
    ),
    Check(
        "page",
        check_page,
        "users get no meeting page: nginx or the web container is down, or PUBLIC_URL points "
        "elsewhere",
    ),
    Check(
        "BOSH",
        _login("bosh"),
        "the /http-bind route or PUBLIC_URL is wrong (users see 'You have been disconnected')",
    ),
    Check(
        "websocket",
        _login("websocket"),
        "the /xmpp-websocket route (upgrade headers) or PUBLIC_URL is wrong: clients fall back "
        "to BOSH or see 'You have been disconnected'",
    ),
    Check(
        "public room",
        check_public_room,
        "users cannot enter the public room: jicofo does not answer or the room policy refuses it",
    ),
    Check(
        "private room without password",
        check_private_refused,
        "private rooms are open to anyone with the link: the room policy is not in force",
    ),
    Check(
        "private room with password",
        check_private_joined,
        "the private room's password does not let people in: the password in the room policy "
        "is not the one in .secrets.env / PRIVATE_ROOM_PASSWORD(S)",
    ),
    Check(
        "unknown room refused",
        check_unknown_room,
        "OTHER_ROOMS=deny is not enforced: anyone can open any room",
    ),
    Check(
        "TURN over TLS on 443",
        _allocation("turns", "tcp"),
        "participants whose network lets only 443 out join but get no audio or video: coturn, "
        "the TLS split on 443 (nginx's stream site) or the TURN name's certificate is wrong",
    ),
    Check(
        "TURN over UDP",
        _allocation("turn", "udp"),
        "participants behind a firewall that blocks the bridge's port get no media: coturn is "
        "down, 3478/udp is closed, or its secret is not Prosody's",
    ),
    Check(
        "TURN refusals",
        check_turn_refusals,
        "the TURN server relays for anyone or into the host's own networks (its settings are "
        "not the deploy's): stop coturn and deploy again",
    ),
    Check(
        "XMPP port 5222 closed",
        check_xmpp_port,
        "Prosody's client port is open to the internet: the firewall (DOCKER-USER) lets anyone "
        "try logins on 5222; it should be open to the bridges only",
    ),
)


# --- over SSH, on each host ----------------------------------------------------------------------


@dataclass(frozen=True)
class HostCheck:
    """A check run on a host as root: a shell script and a judge of its output."""

    name: str
    roles: tuple[str, ...]
    script: str
    judge: Callable[[Output], str]
    meaning: str


def bridges_judge(expected: tuple[str, ...]) -> Callable[[Output], str]:
    """jicofo must see every bridge of the inventory, by nickname: the core's own and each
    [jvb] host's. A draining bridge counts (it keeps its meetings), and is named."""

    def judge(output: Output) -> str:
        if output.exit_code:
            raise Failed(f"jicofo's /debug did not answer: {output.stderr.strip()[-200:]}")
        try:
            brewery = parse_debug(output.stdout)
        except ValueError as error:
            raise Failed(f"jicofo's /debug has no bridges: {error}") from None
        missing = brewery.missing(expected)
        if missing:
            raise Failed(f"jicofo lacks {', '.join(missing)} (sees {brewery.describe()})")
        return f"jicofo sees every bridge of the inventory: {brewery.describe()}"

    return judge


def _judge_health(output: Output) -> str:
    text = (output.stdout + output.stderr).strip()
    if output.exit_code:
        raise Failed("\n".join(text.splitlines()[-8:]) or f"exit {output.exit_code}")
    return "every service healthy"


def _judge_room_policy(output: Output) -> str:
    lines = output.stdout.strip().splitlines()
    if output.exit_code or not lines:
        raise Failed((output.stdout + output.stderr).strip()[-200:] or "no answer")
    status, body = lines[-1], "\n".join(lines[:-1]).strip()
    if status == "200" and body == "ok":
        return "room policy in force"
    if status == "404":
        raise Failed("the room policy module is not loaded (404)")
    raise Failed(f"HTTP {status}: {body[:200]}")


def _health_url(service: str, check: str) -> str:
    """Where the host's health script probes ``check`` of ``service``: the same endpoint."""
    described = next(s for s in SERVICES if s.name == service)
    return next(h.url for h in described.health if h.name == check)


# The route answers on the container's loopback only, so it is asked from inside.
ROOM_POLICY_SCRIPT = (
    f"docker exec {container_name('prosody')} curl -sS --max-time 10 "
    f"-w '\\n%{{http_code}}\\n' {_health_url('prosody', 'room-policy')}"
)


def host_checks(bridges: tuple[str, ...]) -> tuple[HostCheck, ...]:
    """The checks over SSH, for a site whose jicofo should see ``bridges`` (by nickname)."""
    return (bridges_check(bridges), *OTHER_HOST_CHECKS)


def bridges_check(expected: tuple[str, ...]) -> HostCheck:
    return HostCheck(
        "bridges",
        ("core",),
        f"curl -fsS --max-time 10 {JICOFO_DEBUG_URL}",
        bridges_judge(expected),
        "conferences on a missing bridge get no audio/video: a bridge is not connected to "
        "jicofo (its jvb is down or drained, or a remote bridge cannot reach 5222 on the core: "
        "check its private_ip and `fab logs --service jvb` there)",
    )


OTHER_HOST_CHECKS = (
    HostCheck(
        "services healthy",
        ("core", "jvb"),
        "/usr/local/sbin/jitsi-health --report",
        _judge_health,
        "a service is down or restarting: see `fab health` and `fab logs`",
    ),
    HostCheck(
        "room policy in force",
        ("core",),
        ROOM_POLICY_SCRIPT,
        _judge_room_policy,
        "Prosody refuses every room (broken settings) or does not enforce the policy: see "
        "`fab logs --service prosody`",
    ),
)


SSH_MEANING = "the host checks could not run: fix the SSH access (as for fab deploy)"


def host_results(remote: Remote, checks: tuple[HostCheck, ...]) -> list[Result]:
    """The checks that apply to this host's role, in one script over its SSH connection."""
    mine = [check for check in checks if remote.host.role in check.roles]
    try:
        outputs = _run_together(remote, mine)
    except ConnectError as error:  # one line for the host, not one per check
        return [Result("SSH", "fail", str(error), SSH_MEANING, remote.host.name)]
    except DeployError as error:
        outputs = {check.name: Output(1, "", str(error)) for check in mine}
    return [_judged(check, outputs[check.name], remote.host.name) for check in mine]


def _run_together(remote: Remote, checks: list[HostCheck]) -> dict[str, Output]:
    """Each check's output under its own section, its exit status on the section's last line."""
    script = "".join(
        f'echo @@{check.name}\n( {check.script}\n) 2>&1\necho; echo "$?"\n' for check in checks
    )
    sections = split_sections(remote.run_script(script, timeout=60 * len(checks)).stdout)
    outputs = {}
    for check in checks:
        *lines, status = sections.get(check.name) or ["no output"]
        code = int(status) if status.isdigit() else 1
        outputs[check.name] = Output(code, "\n".join(lines) + "\n" if lines else "", "")
    return outputs


def _judged(check: HostCheck, output: Output, host: str) -> Result:
    try:
        return Result(check.name, "pass", check.judge(output), host=host)
    except Failed as error:
        return Result(check.name, "fail", str(error), check.meaning, host)
