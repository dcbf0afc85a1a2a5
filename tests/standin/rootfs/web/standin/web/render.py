"""Renders the web stand-in's nginx configuration and config.js under /run/web/config.

The routes are those of the web image's templates at stable-11146-2 (web/rootfs/defaults/
nginx.conf, default and meet.conf): listen on 8000 (and 8443 with TLS unless DISABLE_HTTPS);
ENABLE_HTTP_REDIRECT turns 8000 into a redirect to https; /http-bind and /xmpp-websocket (with
the upgrade headers) go to XMPP_BOSH_URL_BASE (default http://xmpp.meet.jitsi:5280, the prosody
service's alias) with Host XMPP_DOMAIN, resolved when a request comes; with ENABLE_SUBDOMAINS
(default true) the tenant paths /TENANT/http-bind, /TENANT/xmpp-websocket and /TENANT/config.js
map onto them with prefix=TENANT. config.js points the client at https://PUBLIC_URL/http-bind
and wss://PUBLIC_URL/xmpp-websocket: the template strips "https://" and a trailing "/" from
PUBLIC_URL (default https://localhost:8443) and puts its own scheme in front, so another scheme
gives a broken URL. Everything answers 500 while the `health` fault flag is set.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, "/standin/lib")

from standin import Refusal, env, env_bool, refuse_and_exit

CONFIG = Path("/run/web/config")
TENANT = "([^/?&:'\"]+)"


def nginx_conf() -> str:
    return f"""\
worker_processes {int(env("NGINX_WORKER_PROCESSES", "4"))};
pid /run/nginx.pid;
error_log stderr;
daemon off;
events {{ worker_connections {int(env("NGINX_WORKER_CONNECTIONS", "768"))}; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server_tokens off;
    access_log /dev/stdout;
    client_body_temp_path /run/web/tmp/body;
    proxy_temp_path /run/web/tmp/proxy;
    fastcgi_temp_path /run/web/tmp/fastcgi;
    uwsgi_temp_path /run/web/tmp/uwsgi;
    scgi_temp_path /run/web/tmp/scgi;
    {f"resolver {env('NGINX_RESOLVER')};" if env("NGINX_RESOLVER") else ""}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
{servers()}
}}
"""


def servers() -> str:
    ipv6 = env_bool("ENABLE_IPV6", "1")
    redirect = env_bool("ENABLE_HTTP_REDIRECT", "0")
    body = f"include {CONFIG}/nginx/meet.conf;"
    if redirect:
        body = "return 301 https://$host$request_uri;"
    text = f"""\
    server {{
        listen 8000 default_server;
        {"listen [::]:8000 default_server;" if ipv6 else ""}
        {body}
    }}
"""
    if not env_bool("DISABLE_HTTPS", "0"):
        text += f"""\
    server {{
        listen 8443 ssl;
        {"listen [::]:8443 ssl;" if ipv6 else ""}
        ssl_certificate /storage/keys/cert.crt;
        ssl_certificate_key /storage/keys/cert.key;
        include {CONFIG}/nginx/meet.conf;
    }}
"""
    return text


def meet_conf() -> str:
    domain = env("XMPP_DOMAIN", "meet.jitsi")
    upstream = env("XMPP_BOSH_URL_BASE", "http://xmpp.meet.jitsi:5280")
    text = f"""\
server_name _;
root /standin/web/root;
index index.html;
ssi on;
ssi_types application/javascript;
set $prefix "";

if (-f /tmp/fault-health) {{ return 500; }}
if (-f /var/fault/health) {{ return 500; }}

location = /config.js {{ alias {CONFIG}/config.js; }}

location = /http-bind {{
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header Host {domain};
    proxy_pass {upstream}/http-bind?prefix=$prefix&$args;
}}
"""
    websocket = env_bool("ENABLE_XMPP_WEBSOCKET", "1")
    if websocket:
        text += f"""
location = /xmpp-websocket {{
    tcp_nodelay on;
    proxy_http_version 1.1;
    proxy_set_header Connection $connection_upgrade;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Host {domain};
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_pass {upstream}/xmpp-websocket?prefix=$prefix&$args;
}}
"""
    # A room name is the page itself.
    text += f"""
location ~ ^/{TENANT}$ {{ try_files $uri @root_path; }}
location @root_path {{ rewrite ^/(.*)$ / break; }}
"""
    if env_bool("ENABLE_SUBDOMAINS", "true"):
        tenant = 'set $subdomain "$1."; set $subdir "$1/";'
        text += f"""
location ~ ^/{TENANT}/config.js$ {{ {tenant} alias {CONFIG}/config.js; }}
location ~ ^/{TENANT}/http-bind {{ {tenant} set $prefix "$1"; rewrite ^/(.*)$ /http-bind; }}
"""
        if websocket:
            text += f"""\
location ~ ^/{TENANT}/xmpp-websocket {{
    {tenant} set $prefix "$1"; rewrite ^/(.*)$ /xmpp-websocket;
}}
"""
        text += f"""\
location ~ ^/{TENANT}/(.*)$ {{ {tenant} rewrite ^/{TENANT}/(.*)$ /$2; }}
"""
    return text


def config_js() -> str:
    """The connection part of system-config.js; the tenant comes from nginx's SSI variables."""
    public = env("PUBLIC_URL", "https://localhost:8443").removeprefix("https://").removesuffix("/")
    domain = env("XMPP_DOMAIN", "meet.jitsi")
    muc = env("XMPP_MUC_DOMAIN", "muc.meet.jitsi")
    subdomains = env_bool("ENABLE_SUBDOMAINS", "true")
    subdir = "subdir + " if subdomains else ""
    base = "'/' + " if env_bool("BOSH_RELATIVE", "false") else f"'https://{public}/' + "
    lines = [
        "// Rendered by the jitsi-deploy web stand-in: the connection settings of config.js.",
        "var config = {};",
        f"config.hosts = {{ domain: '{domain}', muc: '{muc}' }};",
    ]
    if subdomains:
        lines += [
            'var subdir = \'<!--# echo var="subdir" default="" -->\';',
            "if (subdir.startsWith('<!--')) { subdir = ''; }",
        ]
    lines.append(f"config.bosh = {base}{subdir}'http-bind';")
    if env_bool("ENABLE_XMPP_WEBSOCKET", "1"):
        lines.append(f"config.websocket = 'wss://{public}/' + {subdir}'xmpp-websocket';")
    return "\n".join(lines) + "\n"


def main() -> None:
    try:
        (CONFIG / "nginx" / "nginx.conf").write_text(nginx_conf())
        (CONFIG / "nginx" / "meet.conf").write_text(meet_conf())
        (CONFIG / "config.js").write_text(config_js())
    except Refusal as error:
        refuse_and_exit(error)


if __name__ == "__main__":
    main()
