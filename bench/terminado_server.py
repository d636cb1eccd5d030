"""terminado, the bench's yardstick: `python -m bench.terminado_server COMMAND...`.

A fresh process per connection (`UniqueTermManager`) on `/websocket`, as a terminado
deployment serves one terminal per tab; 127.0.0.1 on a port the kernel picks, printed as
`terminado listening on PORT`. Nothing is tuned: this is terminado as shipped.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import tornado.httpserver
import tornado.netutil
import tornado.web
from terminado import TermSocket, UniqueTermManager


async def main(argv: list[str]) -> None:
    manager = UniqueTermManager(shell_command=argv)
    application = tornado.web.Application(
        [(r"/websocket", TermSocket, {"term_manager": manager})])
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(application)
    server.add_sockets(sockets)
    print(f"terminado listening on {sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.stop()
    await manager.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
