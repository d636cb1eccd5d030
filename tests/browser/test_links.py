"""Links printed by the command are clickable (the web-links addon), opened without opener."""

from __future__ import annotations

import pytest
from gotty_harness import ServerFactory
from playwright.sync_api import Page
from terminal_page import TerminalPage

pytestmark = pytest.mark.browser

URL = "https://example.invalid/docs?q=1"

# Records what the addon opens instead of opening a real window.
STUB_WINDOW_OPEN = """
() => {
  window.__opened = [];
  window.open = () => {
    const fake = { opener: 'unset', location: { href: '' } };
    window.__opened.push(fake);
    return fake;
  };
}
"""


def test_a_printed_url_opens_on_click(gotty_server: ServerFactory, page: Page) -> None:
    server = gotty_server("sh", "-c", f"echo 'see {URL} now'; read x")
    term = TerminalPage(page).open(server.url)
    term.wait_for_text(URL)
    page.evaluate(STUB_WINDOW_OPEN)
    box = page.locator(".xterm-screen").bounding_box()
    assert box is not None
    cols, rows = term.size()
    row = next(i for i, line in enumerate(term.buffer_text().split("\n")) if URL in line)
    column = term.buffer_text().split("\n")[row].index(URL) + 5
    x = box["x"] + (column + 0.5) * box["width"] / cols
    y = box["y"] + (row + 0.5) * box["height"] / rows
    page.mouse.move(x - 20, y)
    page.mouse.move(x, y)  # hovering lets the addon find the link under the pointer
    page.wait_for_function("() => document.querySelector('.xterm-screen')"
                           ".classList.contains('xterm-cursor-pointer')")
    page.mouse.click(x, y)
    page.wait_for_function("() => window.__opened.length === 1")
    opened = page.evaluate("() => window.__opened[0]")
    assert opened["location"]["href"] == URL
    assert opened["opener"] is None  # the opened page cannot reach back into the terminal
