"""A small page object for the gotty-py terminal page: open it, type, read the screen.

The screen is read from xterm.js's buffer (`window.gottyTerm.buffer.active`), never from
the DOM, so the same checks work with the WebGL and the DOM renderer. Every wait is a
`wait_for_function` on a condition in the page, never a sleep.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

WAIT_MS = 15_000

# Joins the whole buffer (scrollback included) into text, one line per row; wrapped rows
# are joined so that a long line reads as typed.
BUFFER_TEXT_JS = """
() => {
  const buffer = window.gottyTerm.buffer.active;
  let text = '';
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i);
    if (!line) continue;
    if (i > 0 && !line.isWrapped) text += '\\n';
    text += line.translateToString(true);
  }
  return text;
}
"""


class TerminalPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(
        self, url: str, *, renderer: str | None = None, still_open: bool = True
    ) -> TerminalPage:
        """Loads the page and waits until a session has opened (init and resize sent) and,
        with `still_open`, is still open. A test whose command exits at once passes
        `still_open=False`: its socket may well be closed before the first check runs."""
        if renderer is not None:
            url = f"{url}#renderer={renderer}"
        self.page.goto(url)
        self.wait_open_count(1, still_open=still_open)
        return self

    def wait_open_count(self, count: int, *, still_open: bool = True) -> None:
        condition = "n => window.gotty && window.gotty.client.openCount >= n"
        if still_open:
            condition += " && window.gotty.client.connection !== null"
        self.page.wait_for_function(condition, arg=count, timeout=WAIT_MS)

    def focus(self) -> None:
        self.page.focus("textarea.xterm-helper-textarea")

    def type_line(self, text: str) -> None:
        """Types like a person (key events through xterm's textarea), then Enter."""
        self.focus()
        self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")

    def buffer_text(self) -> str:
        return str(self.page.evaluate(BUFFER_TEXT_JS))

    def wait_for_line(self, line: str, timeout: int = WAIT_MS) -> None:
        """Waits until some screen line, trailing blanks removed, equals `line` exactly."""
        self.page.wait_for_function(
            f"want => ({BUFFER_TEXT_JS})().split('\\n').some(l => l.trimEnd() === want)",
            arg=line,
            timeout=timeout,
        )

    def wait_for_text(self, text: str, timeout: int = WAIT_MS) -> None:
        self.page.wait_for_function(
            f"want => ({BUFFER_TEXT_JS})().includes(want)", arg=text, timeout=timeout
        )

    def size(self) -> tuple[int, int]:
        cols, rows = self.page.evaluate("[window.gottyTerm.cols, window.gottyTerm.rows]")
        return int(cols), int(rows)

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path))
