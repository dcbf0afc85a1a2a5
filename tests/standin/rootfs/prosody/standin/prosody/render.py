"""Renders the stand-in Prosody's configuration into the folder given as argument.

The domain layout and options follow the prosody image's templates at stable-11146-2
(prosody/rootfs/defaults/prosody.cfg.lua and conf.d/jitsi-meet.cfg.lua), for the parts Debian's
Prosody 13 can run without Jitsi's own Prosody plugins (jitsi-meet-prosody is not reachable
here): VirtualHost XMPP_DOMAIN (meet.jitsi, anonymous unless ENABLE_AUTH) with BOSH and the XMPP
websocket, XMPP_AUTH_DOMAIN (auth.meet.jitsi) for the service accounts, the MUC components
XMPP_MUC_DOMAIN (muc.meet.jitsi, XMPP_MUC_MODULES appended, XMPP_MUC_CONFIGURATION lines) and
XMPP_INTERNAL_MUC_DOMAIN (internal-muc.meet.jitsi, the brewery), the breakout rooms' MUC
breakout.XMPP_DOMAIN (unless ENABLE_BREAKOUT_ROOMS is false; XMPP_BREAKOUT_MUC_MODULES appended;
Jitsi's own muc_breakout_rooms module that links its rooms to their main rooms is not here), the
component
focus.XMPP_DOMAIN that hands IQs to focus@XMPP_AUTH_DOMAIN (plugins/mod_client_proxy.lua), plugins
from /prosody-plugins-custom, and conf.d/*.cfg.lua included last. AUTH_TYPE=jwt logins are
checked by the stand-in's own token modules (plugins/mod_auth_standin_token.lua,
mod_standin_token_room.lua). TURN and STUN servers are handed to clients (XEP-0215, Prosody's
own mod_external_services) from STUN_*, TURN_* and TURNS_* as the global template lines 31-41,
138, 352-414 do. Variables the stand-in cannot honour are refused rather than ignored.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, "/standin/lib")

from standin import Refusal, env, env_bool, env_list, refuse_and_exit


def lua(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_list(values: list[str]) -> str:
    return "{ " + "".join(f"{lua(v)}; " for v in values) + "}"


def refuse_unsupported() -> None:
    mode = env("PROSODY_MODE", "client")
    if mode != "client":
        raise Refusal(f"the stand-in runs PROSODY_MODE=client only, not {mode!r}")
    if env_bool("ENABLE_VISITORS", "0"):
        raise Refusal("the stand-in does not implement ENABLE_VISITORS")
    if not env_bool("ENABLE_AUTH", "0"):
        return
    if auth_type() not in ("internal", "jwt"):
        raise Refusal(f"the stand-in implements AUTH_TYPE internal and jwt, not {auth_type()!r}")
    if auth_type() == "jwt" and not (env("JWT_APP_ID") and env("JWT_APP_SECRET")):
        raise Refusal(
            "AUTH_TYPE=jwt needs JWT_APP_ID and JWT_APP_SECRET: without them no token can be "
            "checked, and nobody logs in"
        )


def auth_type() -> str:
    return env("PROSODY_AUTH_TYPE", env("AUTH_TYPE", "internal"))


def global_config() -> str:
    """prosody.cfg.lua: the server-wide part."""
    ipv6 = env_bool("ENABLE_IPV6", "true")
    interfaces = lua_list(["*", "::"] if ipv6 else ["*"])
    modules = ["roster", "saslauth", "tls", "disco", "admin_shell", "private", "limits"]
    modules += ["version", "ping", "posix", "http_health"]
    # Line 138: the module is loaded for TURN_HOST or TURNS_HOST only, not for STUN_HOST.
    modules += ["external_services"] if turn_hosts() else []
    modules += env_list("GLOBAL_MODULES")
    limits = []
    if not env_bool("PROSODY_DISABLE_C2S_LIMIT", "0"):
        limits.append(f"c2s = {{ rate = {lua(env('PROSODY_C2S_LIMIT', '10kb/s'))} }};")
    if not env_bool("PROSODY_DISABLE_S2S_LIMIT", "0"):
        limits.append(f"s2sin = {{ rate = {lua(env('PROSODY_S2S_LIMIT', '30kb/s'))} }};")
    admins = env_list("PROSODY_ADMINS")
    proxies = env_list("PROSODY_TRUSTED_PROXIES", "127.0.0.1,::1")
    return "\n".join(
        [
            "-- Rendered by the jitsi-deploy Prosody stand-in from its environment.",
            f"admins = {lua_list(admins)}",
            "component_admins_as_room_owners = true",
            f"modules_enabled = {lua_list(modules)}",
            "component_ports = { }",
            "https_ports = { }",
            'modules_disabled = { "offline"; "register"; "s2s"; }',
            "allow_registration = false",
            f"trusted_proxies = {lua_list(proxies)}",
            "limits = { " + " ".join(limits) + " }",
            'pidfile = "/run/prosody/prosody.pid"',
            "c2s_require_encryption = "
            + str(env_bool("PROSODY_C2S_REQUIRE_ENCRYPTION", "1")).lower(),
            f"c2s_ports = {{ {int(env('XMPP_PORT', '5222'))} }}",
            f"c2s_interfaces = {interfaces}",
            'authentication = "internal_hashed"',
            "log = { { levels = { min = "
            + lua(env("LOG_LEVEL", "info"))
            + ' }, timestamps = "%Y-%m-%d %X", to = "console" } }',
            *external_services_config(),
            # GLOBAL_CONFIG is split on a literal backslash-n, as the template does.
            *[line for line in env("GLOBAL_CONFIG").split("\\n") if line],
            'network_backend = "epoll"',
            "unbound = { resolvconf = true }",
            f"http_ports = {{ {int(env('PROSODY_HTTP_PORT', '5280'))} }}",
            f"http_interfaces = {interfaces}",
            'data_path = "/var/lib/prosody/data"',
            'Include "conf.d/*.cfg.lua"',
            "",
        ]
    )


def site_config() -> str:
    """conf.d/jitsi-meet.cfg.lua: the Jitsi domains."""
    domain = env("XMPP_DOMAIN", "meet.jitsi")
    auth = env("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")
    muc = env("XMPP_MUC_DOMAIN", "muc.meet.jitsi")
    internal_muc = env("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
    guest = env("XMPP_GUEST_DOMAIN", "guest.meet.jitsi")
    jvb = f"{env('JVB_AUTH_USER', 'jvb')}@{auth}"
    focus = f"focus@{auth}"
    encrypt = str(env_bool("PROSODY_C2S_REQUIRE_ENCRYPTION", "1")).lower()
    websocket = env_bool("ENABLE_XMPP_WEBSOCKET", "1")
    auth_on = env_bool("ENABLE_AUTH", "0")
    tokens = auth_on and auth_type() == "jwt"
    guests = auth_on and env_bool("ENABLE_GUESTS", "0")
    site_modules = ["bosh", *(["websocket", "smacks"] if websocket else [])]
    site_modules += env_list("XMPP_MODULES")
    breakouts = env_bool("ENABLE_BREAKOUT_ROOMS", "true")
    breakout_muc = "breakout." + domain
    muc_modules = [*(["standin_token_room"] if tokens else []), *env_list("XMPP_MUC_MODULES")]

    def ssl(host: str) -> str:
        path = "/run/prosody/config/certs/" + host
        return f"    ssl = {{ key = {lua(path + '.key')}; certificate = {lua(path + '.crt')}; }}"

    def muc_room_options() -> list[str]:
        return [
            "    muc_room_locking = false",
            "    muc_room_default_public_jids = true",
            "    muc_tombstones = false",
            "    muc_room_allow_persistent = false",
        ]

    admins = [f"{env('JIGASI_XMPP_USER', 'jigasi')}@{auth}"] if env("JIGASI_XMPP_PASSWORD") else []
    if env("JIBRI_XMPP_PASSWORD"):
        admins.append(f"{env('JIBRI_XMPP_USER', 'jibri')}@{auth}")
    admins += [focus, jvb]
    smacks = ["smacks_max_unacked_stanzas = 5", "smacks_hibernation_time = 60"]
    smacks.append("smacks_max_old_sessions = 1")
    lines = [
        "-- Rendered by the jitsi-deploy Prosody stand-in from its environment.",
        f"admins = {lua_list(admins)}",
        f"unlimited_jids = {lua_list([focus, jvb])}",
        'plugin_paths = { "/prosody-plugins-custom"; "/standin/prosody/plugins"; }',
        f"http_default_host = {lua(domain)}",
        "consider_bosh_secure = true",
        "consider_websocket_secure = true",
        *(smacks if websocket else []),
        'storage = { smacks_h = "memory" }',
        *(accepted_claims() if tokens else []),
        "",
        f"VirtualHost {lua(domain)}",
        *site_auth(auth_on, tokens),
        ssl(domain),
        f"    modules_enabled = {lua_list(site_modules)}",
        f"    main_muc = {lua(muc)}",
        *([f"    breakout_rooms_muc = {lua(breakout_muc)}"] if breakouts else []),
        f"    c2s_require_encryption = {encrypt}",
        *[f"    {line}" for line in env_list("XMPP_CONFIGURATION")],
        "",
    ]
    if guests:
        lines += [
            f"VirtualHost {lua(guest)}",
            '    authentication = "anonymous"',
            f"    modules_enabled = {lua_list(['smacks'] if websocket else [])}",
            f"    main_muc = {lua(muc)}",
            f"    c2s_require_encryption = {encrypt}",
            "",
        ]
    lines += [
        f"VirtualHost {lua(auth)}",
        ssl(auth),
        '    modules_enabled = { "smacks"; }',
        '    authentication = "internal_hashed"',
        "    smacks_hibernation_time = 15",
        "",
        f'Component {lua(internal_muc)} "muc"',
        '    storage = "memory"',
        f"    modules_enabled = {lua_list(env_list('XMPP_INTERNAL_MUC_MODULES'))}",
        "    restrict_room_creation = true",
        "    muc_room_cache_size = 1000",
        *muc_room_options(),
        "",
        f'Component {lua(muc)} "muc"',
        "    restrict_room_creation = true",
        '    storage = "memory"',
        f"    modules_enabled = {lua_list(muc_modules)}",
        "    muc_room_cache_size = 10000",
        *muc_room_options(),
        # XMPP_MUC_CONFIGURATION is split on commas, one option per item, as the template does.
        *[f"    {line}" for line in env_list("XMPP_MUC_CONFIGURATION")],
        "",
        *(breakout_component(breakout_muc) if breakouts else []),
        # The web client asks jicofo for a room through this address (mod_client_proxy here is
        # the stand-in's own module, not Jitsi's).
        f'Component {lua("focus." + domain)} "client_proxy"',
        f"    target_address = {lua(focus)}",
        "",
    ]
    return "\n".join(lines)


def breakout_component(host: str) -> list[str]:
    """The breakout rooms' MUC, with the image's options (its Jitsi modules left out)."""
    return [
        f'Component {lua(host)} "muc"',
        '    storage = "memory"',
        "    restrict_room_creation = true",
        "    muc_room_cache_size = 10000",
        "    muc_room_locking = false",
        "    muc_room_default_public_jids = true",
        "    muc_tombstones = false",
        "    muc_room_allow_persistent = false",
        f"    modules_enabled = {lua_list(env_list('XMPP_BREAKOUT_MUC_MODULES'))}",
        "",
    ]


def site_auth(auth_on: bool, tokens: bool) -> list[str]:
    if tokens:
        return token_auth()
    return internal_auth() if auth_on else ['    authentication = "anonymous"']


def accepted_claims() -> list[str]:
    """The issuers and audiences a token may name, set server-wide as the template does (only
    when given: the token module then takes the app id for both)."""
    lines = []
    for variable, option in (
        ("JWT_ACCEPTED_ISSUERS", "asap_accepted_issuers"),
        ("JWT_ACCEPTED_AUDIENCES", "asap_accepted_audiences"),
    ):
        if env(variable):
            lines.append(f"{option} = {lua_list(env_list(variable))}")
    return lines


def token_auth() -> list[str]:
    """AUTH_TYPE=jwt: logins with a token on the page's URL, checked by the stand-in's own
    token module (plugins/mod_auth_standin_token.lua), with the template's options."""
    return [
        '    authentication = "standin_token"',
        f"    app_id = {lua(env('JWT_APP_ID'))}",
        f"    app_secret = {lua(env('JWT_APP_SECRET'))}",
        f"    allow_empty_token = {str(env_bool('JWT_ALLOW_EMPTY', '0')).lower()}",
    ]


def internal_auth() -> list[str]:
    """ENABLE_AUTH with AUTH_TYPE internal: accounts made with prosodyctl, stored hashed in the
    data folder; two SASL mechanisms switched off, as the image's template does."""
    return [
        '    authentication = "internal_hashed"',
        '    disable_sasl_mechanisms = { "DIGEST-MD5"; "OAUTHBEARER"; }',
    ]


def turn_hosts() -> bool:
    """`or .Env.TURN_HOST .Env.TURNS_HOST` (lines 138, 356): set and not empty."""
    return bool(env("TURN_HOST") or env("TURNS_HOST"))


# Lines 31-41: the defaults (an empty variable takes them too) and the comma lists.
NUMBERS = {"STUN_PORT": "443", "TURNS_PORT": "443", "TURN_PORT": "443", "TURN_TTL": "86400"}


def number(name: str) -> int:
    """A port or the TTL, which the template writes into the Lua file as they are (lines 359,
    368, 370, 395, 397): anything but a decimal number is refused, since Lua either fails to
    load the file (`3478a`), reads a name (`port = abc` is nil: the service goes out without
    its port, the TTL falls back to a day) or takes a spelling the product never means (0x…)."""
    value = env(name, NUMBERS[name])
    limit = 65535 if name.endswith("_PORT") else 10**9
    if not re.fullmatch(r"[0-9]+", value) or not 1 <= int(value) <= limit:
        what = "a port (1-65535)" if name.endswith("_PORT") else "a number of seconds"
        raise Refusal(
            f"{name}={value!r} is not {what}: the prosody template writes it into "
            "prosody.cfg.lua as Lua, where it breaks the configuration or the TURN service"
        )
    return int(value)


def quoted(name: str, value: str) -> str:
    """A value the template puts between double quotes unescaped (lines 353, 359, 367, 369,
    378, 382, 394): a quote, a backslash or a line break ends the Lua string early, fails to
    load or silently changes the value (`\\n` is a line break in Lua: the secret Prosody signs
    with would not be coturn's). Refused; the rest is written exactly as the template does."""
    if re.search(r'["\\\n\r]', value):
        raise Refusal(
            f"{name} contains a quote, backslash or line break, which the prosody template "
            "writes unescaped into a Lua string of prosody.cfg.lua"
        )
    return lua(value)


def refuse_turn_mistakes() -> None:
    """Without TURN_HOST or TURNS_HOST the image loads no external_services (line 138): a
    TURN_USERNAME, TURN_PASSWORD or STUN_HOST would reach no client, and the meetings of users
    behind a firewall would fail without a word. Stricter than the image, which starts.
    TURN_CREDENTIALS alone is no mistake: upstream's compose file passes it whatever the hosts
    are (docker-compose.yml line 321), and so does the product, a secret made once."""
    idle = [n for n in ("TURN_USERNAME", "TURN_PASSWORD", "STUN_HOST") if env(n)]
    if idle and not turn_hosts():
        raise Refusal(
            f"{', '.join(idle)} set without TURN_HOST or TURNS_HOST: the prosody image loads "
            "mod_external_services only with one of them, so no client would get the service"
        )


def external_services_config() -> list[str]:
    """Lines 352-414: the shared secret, and the services handed out, in the template's order
    (stun; turn per host and transport; turns per host, always tcp). Prosody's
    mod_external_services makes each client's credentials from them (username: the expiry
    time, password: base64 of HMAC-SHA1 over it with the secret, as coturn's use-auth-secret
    checks)."""
    lines = []
    if env("TURN_CREDENTIALS"):
        lines.append(
            f"external_service_secret = {quoted('TURN_CREDENTIALS', env('TURN_CREDENTIALS'))};"
        )
    if not (env("STUN_HOST") or turn_hosts()):
        return lines
    services = []
    if env("STUN_HOST"):
        stun = quoted("STUN_HOST", env("STUN_HOST"))
        services.append(
            f'type = "stun", host = {stun}, port = {number("STUN_PORT")}, transport = "udp"'
        )
    for host in env_list("TURN_HOST"):
        for transport in env_list("TURN_TRANSPORT", "tcp"):
            services.append(turn_entry("turn", host, number("TURN_PORT"), transport))
    for host in env_list("TURNS_HOST"):
        services.append(turn_entry("turns", host, number("TURNS_PORT"), "tcp"))
    body = ",\n".join(f"    {{ {service} }}" for service in services)
    return [*lines, "external_services = {", *([body] if body else []), "};"]


def turn_entry(kind: str, host: str, port: int, transport: str) -> str:
    """One turn or turns entry (lines 365-384, 392-411)."""
    fields = [
        f'type = "{kind}"',
        f"host = {quoted(kind.upper() + '_HOST', host)}",
        f"port = {port}",
        f"transport = {quoted('TURN_TRANSPORT', transport)}",
        f"ttl = {number('TURN_TTL')}",
    ]
    if env("TURN_CREDENTIALS"):
        fields += ["secret = true", 'algorithm = "turn"']
    for name, field in (("TURN_USERNAME", "username"), ("TURN_PASSWORD", "password")):
        if env(name):
            fields.append(f"{field} = {quoted(name, env(name))}")
    return ", ".join(fields)


def main() -> None:
    folder = Path(sys.argv[1])
    try:
        refuse_unsupported()
        refuse_turn_mistakes()
        (folder / "prosody.cfg.lua").write_text(global_config())
        (folder / "conf.d" / "jitsi-meet.cfg.lua").write_text(site_config())
    except Refusal as error:
        refuse_and_exit(error)


if __name__ == "__main__":
    main()
