"""The servers the bench compares and how the one client speaks to each.

Rules of this module: every server runs in its own process, started here, on 127.0.0.1 on a
port the kernel picks; the client side of each protocol is a `Term` over the same
`WsClient`, doing the same work per frame (one C-level decode: base64 for webtty, JSON for
terminado), so that neither side of a ratio pays for a costlier client.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.gotty import GottyProcess, start_gotty

from .wsclient import Closed, WsClient

# The init a client sends when it opens a webtty session (no token, no arguments).
GOTTY_INIT = b'{"Arguments":"","AuthToken":""}'


def rss_kib(pid: int) -> int:
    """The resident set of one process (not its children), from /proc."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        return int(next(ln for ln in handle if ln.startswith("VmRSS:")).split()[1])


class Term(Protocol):
    """One server under test: how to start it and speak its protocol."""

    name: str
    server: GottyProcess

    def connect(self) -> WsClient: ...

    def open(self) -> WsClient:
        """Connect and start the session."""

    def input(self, client: WsClient, data: bytes) -> None: ...

    def output(self, payload: bytes) -> bytes | None:
        """The PTY output a frame carries, None for any other frame."""


class GottyTerm:
    """gotty-py, started as a user starts it (`python -m gotty_py`), webtty protocol."""

    name = "gotty-py"

    def __init__(self, command: Sequence[str], *options: str, source: str | None = None) -> None:
        """`source`: another checkout's directory, whose `gotty_py` runs instead (the
        "before" column of a before/after comparison, `--baseline`)."""
        self.server = start_gotty("-a", "127.0.0.1", "-p", "0", "-w", *options, *command,
                                  cwd=source)
        self.url = self.server.ws_url
        if source is not None:
            self.name = "baseline"

    def connect(self) -> WsClient:
        return WsClient(self.url, subprotocol="webtty")

    def open(self) -> WsClient:
        client = self.connect()
        client.send(GOTTY_INIT)
        return client

    def input(self, client: WsClient, data: bytes) -> None:
        client.send(b"1" + data)

    def output(self, payload: bytes) -> bytes | None:
        return base64.b64decode(payload[1:]) if payload[:1] == b"1" else None

    def stop(self) -> None:
        self.server.stop()


class TerminadoTerm:
    """terminado as shipped: `TermSocket` and `UniqueTermManager` (a process per socket)."""

    name = "terminado"

    def __init__(self, command: Sequence[str]) -> None:
        self.server = start_gotty(*command, module="bench.terminado_server", expect_url=False)
        port = self.server.wait_for_line("terminado listening on", 20).split()[-1]
        self.url = f"ws://127.0.0.1:{port}/websocket"

    def connect(self) -> WsClient:
        return WsClient(self.url)

    def open(self) -> WsClient:
        return self.connect()  # terminado starts the process when the socket opens

    def input(self, client: WsClient, data: bytes) -> None:
        client.send(json.dumps(["stdin", data.decode()]).encode())

    def output(self, payload: bytes) -> bytes | None:
        if not payload.startswith(b'["stdout"'):
            return None
        text: str = json.loads(payload)[1]
        return text.encode()

    def stop(self) -> None:
        self.server.stop()


class FloorServer:
    """A bare Tornado WebSocket echo handler: the handshake's floor on the same stack."""

    def __init__(self) -> None:
        self.server = start_gotty(module="bench.floor_server", expect_url=False)
        port = self.server.wait_for_line("floor listening on", 20).split()[-1]
        self.url = f"ws://127.0.0.1:{port}/echo"

    def stop(self) -> None:
        self.server.stop()


# `python -m bench --baseline DIR` sets it: a third server, gotty-py from DIR's sources.
BASELINE_VARIABLE = "GOTTY_BENCH_BASELINE"


def baseline_source() -> str | None:
    return os.environ.get(BASELINE_VARIABLE) or None


def both(command: Sequence[str], *gotty_options: str) -> list[GottyTerm | TerminadoTerm]:
    """gotty-py and terminado running `command` (and the baseline's gotty-py, if one is
    given), all started before anything is measured."""
    terms: list[GottyTerm | TerminadoTerm] = [GottyTerm(command, *gotty_options),
                                              TerminadoTerm(command)]
    source = baseline_source()
    if source is not None:
        terms.append(GottyTerm(command, *gotty_options, source=source))
    return terms


def columns(terms: Sequence[Term]) -> tuple[str, ...]:
    return tuple(term.name for term in terms)


def read_output(term: Term, client: WsClient, needle: bytes | None = None) -> bytes:
    """PTY output until it contains `needle`, or any byte at all without one (the socket's
    timeout bounds the wait)."""
    seen = bytearray()
    while not seen if needle is None else needle not in seen:
        data = term.output(client.recv())
        if data:
            seen += data
    return bytes(seen)


def finish(client: WsClient, timeout: float = 30.0) -> None:
    """Read until the server closes the connection (its session has ended)."""
    client.sock.settimeout(timeout)
    try:
        while True:
            client.recv()
    except (Closed, OSError):
        pass
    client.abort()
