"""The bot-blocker agent (spoa's `bot_blocker` example) on the PyPI package
haproxyspoa: message `check-ua` with argument `ua` (the User-Agent header)
sets the transaction variable `bot` to whether it says "bot".

It binds port 0 and prints `listening on HOST:PORT` once it listens, so a test
reads the address back instead of guessing a free port.

Usage: python haproxyspoa_bot.py
"""

import asyncio
import logging

from haproxyspoa.payloads.ack import AckPayload, ActionVarScope
from haproxyspoa.spoa_server import SpoaServer

# haproxyspoa logs three INFO lines per message; keep the output to errors.
logging.getLogger("haproxyspoa.logging").setLevel(logging.WARNING)

agent = SpoaServer()


@agent.handler("check-ua")
async def check_ua(ua=None, **_):
    if isinstance(ua, bytes):
        ua = ua.decode("utf-8", "replace")
    bot = isinstance(ua, str) and "bot" in ua.lower()
    return AckPayload().set_var(ActionVarScope.TRANSACTION, "bot", bot)


async def main():
    server = await asyncio.start_server(agent.handle_connection, host="127.0.0.1", port=0)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    await server.serve_forever()


asyncio.run(main())
