"""CJK and emoji take two cells (Unicode 11 widths, the unicode11 addon), so columns line up
as in a real terminal; xterm.js's default Unicode 6 table gives the emoji one cell."""

from __future__ import annotations

import pytest
from gotty_harness import ServerFactory
from playwright.sync_api import Page
from terminal_page import TerminalPage

pytestmark = pytest.mark.browser

CELLS_JS = """
() => {
  const buffer = window.gottyTerm.buffer.active;
  for (let y = 0; y < buffer.length; y++) {
    const line = buffer.getLine(y);
    if (!line || !line.translateToString(true).startsWith('W:')) continue;
    const cells = [];
    for (let x = 2; x < 9; x++) {
      const cell = line.getCell(x);
      cells.push([cell.getChars(), cell.getWidth()]);
    }
    return cells;
  }
  return null;
}
"""


def test_wide_characters_take_two_cells(gotty_server: ServerFactory, page: Page) -> None:
    server = gotty_server("sh", "-c", "printf 'W:中😀a|\\r\\n'; read x")
    term = TerminalPage(page).open(server.url)
    term.wait_for_text("W:")
    cells = page.evaluate(CELLS_JS)
    assert cells == [["中", 2], ["", 0], ["😀", 2], ["", 0], ["a", 1], ["|", 1], ["", 1]]
