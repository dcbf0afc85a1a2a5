"""What Uptime Kuma watches: the site, its certificate, BOSH, the websocket, the monitor."""

from __future__ import annotations

from typing import Any

from ..settings.site import Site


def monitors(site: Site) -> list[dict[str, Any]]:
    url = site.public_url
    return [
        {"name": "Meeting site", "type": "http", "url": f"{url}/", "expiryNotification": True},
        {
            "name": "BOSH",
            "type": "keyword",
            "url": f"{url}/http-bind",
            "keyword": "It works! Now point your BOSH client to this URL",
        },
        {
            "name": "XMPP websocket",
            "type": "websocket-upgrade",
            "url": f"wss://{site.meet_hostname}/xmpp-websocket",
            "wsSubprotocol": "xmpp",
        },
        {
            "name": "Status site",
            "type": "http",
            "url": f"https://{site.monitor_hostname}/",
            "expiryNotification": True,
        },
    ]
