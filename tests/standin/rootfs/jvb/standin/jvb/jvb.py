"""The jvb stand-in: a real XMPP client in the bridge's place (XMPP side in xmpp_bridge.py).

It logs in the way jvb.conf (jvb/rootfs/defaults/jvb.conf at stable-11146-2) configures the real
bridge: user JVB_AUTH_USER (jvb) on XMPP_AUTH_DOMAIN (auth.meet.jitsi) with JVB_AUTH_PASSWORD, at
each XMPP_SERVER (default xmpp.meet.jitsi) on XMPP_PORT (5222), and joins the brewery
JVB_BREWERY_MUC@XMPP_INTERNAL_MUC_DOMAIN as JVB_MUC_NICKNAME (default: the container's hostname).
/about/health on 8080 (all interfaces, as the bridge's private HTTP server) stays green while the
XMPP session is lost: the real bridge's known trap.

`jvb.py --check` is the config step's check of the variables jvb.conf reads; without it, the
bridge runs. Fault flags: `health` makes every HTTP answer a 500; `xmpp-lost` closes the XMPP
sessions and keeps them closed while the flag exists. Like the real bridge (no shutdown hook),
it stops on SIGTERM without closing its sessions.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

sys.path.insert(0, "/standin/lib")

from standin import (
    Refusal,
    check_heap,
    env,
    env_bool,
    exit_on_sigterm,
    refuse_and_exit,
    serve_http,
    setup_logging,
    xmpp_servers,
)

# The booleans jvb.conf passes through toBool, with their defaults.
BOOLEANS = {
    "COLIBRI_REST_ENABLED": "false",
    "DISABLE_AWS_HARVESTER": "true",
    "ENABLE_JVB_XMPP_SERVER": "0",
    "ENABLE_OCTO": "0",
    "ENABLE_VLA": "0",
    "JVB_ADVERTISE_PRIVATE_CANDIDATES": "true",
    "JVB_CC_TRUST_BWE": "true",
    "JVB_DISABLE_STUN": "0",
    "JVB_DISABLE_XMPP": "0",
    "JVB_REQUIRE_VALID_ADDRESS": "0",
    "JVB_USE_USRSCTP": "false",
    "SHUTDOWN_REST_ENABLED": "false",
}


@dataclass(frozen=True)
class Settings:
    xmpp: bool
    jid: str
    password: str
    brewery: str
    nickname: str
    servers: list[tuple[str, int]]


def settings() -> Settings:
    flags = {name: env_bool(name, default) for name, default in BOOLEANS.items()}
    if flags["ENABLE_JVB_XMPP_SERVER"]:
        raise Refusal("the stand-in does not implement ENABLE_JVB_XMPP_SERVER (a brewery server)")
    domain = env("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")
    muc = env("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
    return Settings(
        xmpp=not flags["JVB_DISABLE_XMPP"],
        jid=f"{env('JVB_AUTH_USER', 'jvb')}@{domain}",
        password=env("JVB_AUTH_PASSWORD"),
        brewery=f"{env('JVB_BREWERY_MUC', 'jvbbrewery')}@{muc}",
        nickname=env("JVB_MUC_NICKNAME", env("HOSTNAME")),
        servers=xmpp_servers(),
    )


def main() -> None:
    setup_logging()
    exit_on_sigterm()
    try:
        config = settings()
        if "--check" in sys.argv:
            return
        check_heap("VIDEOBRIDGE_MAX_MEMORY")
    except Refusal as error:
        refuse_and_exit(error)
    serve_http("0.0.0.0", 8080, {("GET", "/about/health"): lambda _: (200, "application/json", "")})
    if not config.xmpp:
        asyncio.run(asyncio.Event().wait())
    from xmpp_bridge import run_bridges  # slixmpp takes a third of a second to load: REST first

    servers = config.servers
    asyncio.run(run_bridges(config.jid, config.password, config.brewery, config.nickname, servers))


if __name__ == "__main__":
    main()
