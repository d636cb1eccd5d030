"""The admin page in Chromium: a user's terminal in one browser context, the administrator's
page in another; the End button ends the user's session through the server's end path."""

from __future__ import annotations

import re
from pathlib import Path

from gotty_harness import PageRecorder, ServerFactory
from playwright.sync_api import Browser, expect
from terminal_page import WAIT_MS, TerminalPage


def test_end_button_ends_the_users_session(gotty_server: ServerFactory, browser: Browser,
                                           artifacts_dir: Path) -> None:
    server = gotty_server("sh", "-c", "echo READY; exec sleep 1000",
                          options=["--admin-credential", "admin:s3cret"])
    user = browser.new_context()
    admin = browser.new_context(http_credentials={"username": "admin", "password": "s3cret"})
    try:
        terminal = TerminalPage(user.new_page()).open(server.url)
        terminal.wait_for_text("READY")
        page = admin.new_page()
        recorder = PageRecorder()
        recorder.attach(page)
        page.goto(server.url + "admin/")
        rows = page.locator("tr[data-session]")
        expect(rows).to_have_count(1, timeout=WAIT_MS)
        session_id = rows.first.get_attribute("data-session")
        assert session_id and re.fullmatch(r"[0-9a-f]{16}", session_id)
        expect(rows.first).to_contain_text("sleep 1000")
        page.screenshot(path=str(artifacts_dir / "admin-page.png"))
        rows.first.get_by_role("button", name="End").click()
        # Back on the page (303), which says so and lists nothing.
        expect(page.locator(".note")).to_have_text(f"Session {session_id} ended.",
                                                   timeout=WAIT_MS)
        expect(rows).to_have_count(0)
        expect(page.locator("body")).to_contain_text("No session is running.")
        # The user's page shows why its session closed.
        expect(terminal.page.locator(".gotty-message")).to_have_text(
            "Connection closed: ended by an administrator", timeout=WAIT_MS)
        server.wait_for_line(rf"Session {session_id} ended by administrator admin from "
                             r"127\.0\.0\.1:\d+")
        assert recorder.csp_violations() == [] and recorder.page_errors() == []
    finally:
        user.close()
        admin.close()
