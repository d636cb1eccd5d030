"""The pieces of the browser tests that are not fixtures: recording what a page does on
the wire. (A module of its own, not conftest.py, so that tests import it by a name no
other test directory uses.) Servers are started with `tests.gotty.start_gotty`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from playwright.sync_api import ConsoleMessage, Page, WebSocket
from terminal_page import WAIT_MS

from tests.gotty import GottyProcess

REPO_ROOT = Path(__file__).resolve().parents[2]

ServerFactory = Callable[..., GottyProcess]


@dataclass
class PageRecorder:
    """What a page did on the wire and in its console, for assertions."""

    websockets: list[WebSocket] = field(default_factory=list)
    sent: list[list[str]] = field(default_factory=list)  # frames sent, per socket
    received: list[list[str]] = field(default_factory=list)  # frames received, per socket
    console: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("websocket", self._on_websocket)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def _on_websocket(self, ws: WebSocket) -> None:
        sent: list[str] = []
        received: list[str] = []
        self.websockets.append(ws)
        self.sent.append(sent)
        self.received.append(received)
        ws.on("framesent", lambda payload: sent.append(_as_text(payload)))
        ws.on("framereceived", lambda payload: received.append(_as_text(payload)))

    def wait_for_frames(
        self,
        page: Page,
        direction: Literal["sent", "received"],
        until: Callable[[list[str]], bool],
        socket: int = 0,
        timeout_ms: int = WAIT_MS,
    ) -> list[str]:
        """The frames of one socket once `until` holds for them.

        Playwright reports frames as events from the browser's network layer, which reach
        Python independently of the page's own state: a title the page already shows may
        come from a frame whose `framereceived` event is still on its way. So a test that
        has waited on the page must still wait here before asserting on the wire. Events
        are dispatched only while Playwright runs, hence the short page-side waits.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            per_socket = self.sent if direction == "sent" else self.received
            frames = list(per_socket[socket]) if socket < len(per_socket) else []
            if until(frames):
                return frames
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"socket {socket}: the {direction} frames never matched: {frames[:20]!r}"
                )
            page.wait_for_timeout(20)

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def csp_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]

    def page_errors(self) -> list[str]:
        return [line for line in self.console if line.startswith("pageerror:")]


def _as_text(payload: str | bytes) -> str:
    return payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
