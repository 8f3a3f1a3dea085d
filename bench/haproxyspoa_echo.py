"""Echo agent built on the PyPI package haproxyspoa, for bench/agent-haproxy.sh.

For every argument of message `bench` it sets the transaction variable of the
same name to the same value (SET-VAR txn.<name>), as `spoe agent --example
echo` does. Usage: python haproxyspoa_echo.py PORT
"""

import logging
import sys

from haproxyspoa.payloads.ack import AckPayload, ActionVarScope
from haproxyspoa.spoa_server import SpoaServer

# haproxyspoa logs three INFO lines per message (haproxyspoa/logging.py sets
# INFO); left on, the benchmark would measure logging rather than the agent.
logging.getLogger("haproxyspoa.logging").setLevel(logging.WARNING)

agent = SpoaServer()


@agent.handler("bench")
async def echo(**args):
    ack = AckPayload()
    for name, value in args.items():
        ack.set_var(ActionVarScope.TRANSACTION, name, value)
    return ack


agent.run(host="127.0.0.1", port=int(sys.argv[1]))
