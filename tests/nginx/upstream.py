"""Stand-in for the web container behind the test nginx: plain HTTP answers and a websocket echo.

Run as `python upstream.py HOST PORT`; prints "ready" once listening. Plain requests get a body
naming the path and the forwarding headers nginx set; a websocket echoes every message back.
"""

from __future__ import annotations

import asyncio
import sys
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

# Large enough for gzip_min_length, as the web container's bundles are.
SCRIPT = "console.log('jitsi');\n" * 200


def answer(connection: ServerConnection, request: Request) -> Response | None:
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    if request.path.partition("?")[0].endswith(".js"):
        body, kind = SCRIPT, "application/javascript"
    else:
        forwarded = request.headers.get("X-Forwarded-Proto", "")
        body = f"upstream {request.path} host={request.headers['Host']} proto={forwarded}\n"
        kind = "text/plain"
    response = connection.respond(HTTPStatus.OK, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = kind
    # The proxy must replace these, not repeat them.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "upstream"
    return response


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def main(host: str, port: int) -> None:
    async with serve(echo, host, port, process_request=answer, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
