"""Browser tests: Debian's Chromium driven by Playwright against a real gotty-py server.

Each test starts `python -m gotty_py` on 127.0.0.1 with a free port (port 0), reads the URL
from the server's `HTTP server is listening at: ...` line, opens it in Chromium and reads
the terminal through `window.gottyTerm` (the page exposes its xterm.js Terminal for
tests), so the checks work with the WebGL renderer, whose canvas has no readable text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gotty_harness import REPO_ROOT, PageRecorder, ServerFactory
from playwright.sync_api import Page

from tests.gotty import GottyProcess, start_gotty

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Chromium the browser tests cannot run: skip them locally, fail them in CI."""
    if Path(CHROMIUM).exists():
        return
    reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI"):
        return  # let the launch fail loudly: CI must install Chromium
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Use Debian's Chromium (never a downloaded browser) with flags that keep it offline."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture
def gotty_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Returns `start(*command, options=[...])`; every server started is stopped afterwards."""
    servers: list[GottyProcess] = []
    home = tmp_path / "home"
    home.mkdir()

    def start(*command: str, options: list[str] | None = None) -> GottyProcess:
        server = start_gotty("--address", "127.0.0.1", "--port", "0", *(options or []),
                             *command, home=str(home), env={"TERM": "xterm-256color"})
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def recorder(page: Page) -> Iterator[PageRecorder]:
    """Records the page's WebSocket frames and console; fails the test on CSP violations
    or uncaught page errors (a broken bundle or a page the server's CSP blocks)."""
    rec = PageRecorder()
    rec.attach(page)
    yield rec
    assert rec.csp_violations() == [], rec.csp_violations()
    assert rec.page_errors() == [], rec.page_errors()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
