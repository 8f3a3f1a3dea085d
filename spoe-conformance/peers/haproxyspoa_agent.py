"""An echo agent on the PyPI package haproxyspoa, for `spoe conformance`.

For every argument of message `conformance` it sets the transaction variable
of the same name to the same value, as `spoe agent --example echo` does; other
messages get an empty ACK (the package's behaviour for a message without a
handler).

It binds port 0 and prints `listening on HOST:PORT` once it listens, so a test
reads the address back instead of guessing a free port. `SpoaServer.run()`
cannot report the port it bound, so the server is started with asyncio and
the package's own connection handler (`SpoaServer.handle_connection`), which
is what `run()` does inside.

Usage: python haproxyspoa_agent.py
"""

import asyncio
import logging

from haproxyspoa.payloads.ack import AckPayload, ActionVarScope
from haproxyspoa.spoa_server import SpoaServer

# haproxyspoa logs three INFO lines per message; keep the output to errors.
logging.getLogger("haproxyspoa.logging").setLevel(logging.WARNING)

agent = SpoaServer()


@agent.handler("conformance")
async def echo(**args):
    ack = AckPayload()
    for name, value in args.items():
        ack.set_var(ActionVarScope.TRANSACTION, name, value)
    return ack


async def main():
    server = await asyncio.start_server(agent.handle_connection, host="127.0.0.1", port=0)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    await server.serve_forever()


asyncio.run(main())
