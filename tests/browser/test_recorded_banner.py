"""The "This session is recorded" banner: shown when the server says the session's
recording is open (message 7, `recorded`), never otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from gotty_harness import PageRecorder, ServerFactory
from playwright.sync_api import Page, expect
from terminal_page import WAIT_MS, TerminalPage

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("audit", ["recorded", "none", "unusable"])
def test_banner_only_when_recorded(gotty_server: ServerFactory, page: Page,
                                   recorder: PageRecorder, tmp_path: Path,
                                   artifacts_dir: Path, audit: str) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the audit directory should be")
    options = {"recorded": ["--audit-dir", str(tmp_path / "audit")], "none": [],
               "unusable": ["--audit-dir", str(blocked)]}[audit]  # optional: runs unrecorded
    server = gotty_server("cat", options=options)
    TerminalPage(page).open(server.url)
    # The read-only badge comes from the same session-info message: once it shows, the
    # page has read whatever that message said about the recording.
    expect(page.locator(".gotty-readonly")).to_be_visible(timeout=WAIT_MS)
    banner = page.locator(".gotty-recorded")
    if audit == "recorded":
        expect(banner).to_be_visible()
        expect(banner).to_have_text("This session is recorded")
        page.screenshot(path=str(artifacts_dir / "recorded-banner.png"))
    else:
        expect(banner).to_be_hidden()
