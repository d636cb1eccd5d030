"""The handshake floor: a bare Tornado WebSocket echo handler on `/echo`, nothing else.

`python -m bench.floor_server` prints `floor listening on PORT`. It is the same stack as
gotty-py's (Tornado on the asyncio loop, TCP_NODELAY), so that the cost of an upgrade on its
own can be subtracted from a session's start.
"""

from __future__ import annotations

import asyncio
import signal

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket


class Echo(tornado.websocket.WebSocketHandler):
    def open(self, *args: str, **kwargs: str) -> None:
        self.set_nodelay(True)

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


async def main() -> None:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/echo", Echo)]))
    server.add_sockets(sockets)
    print(f"floor listening on {sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
