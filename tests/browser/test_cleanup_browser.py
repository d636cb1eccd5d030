"""Closing the browser tab ends every process of the session (checked in the process table)."""

from __future__ import annotations

import re

import pytest
from gotty_harness import ServerFactory
from playwright.sync_api import Page
from terminal_page import TerminalPage

from tests.gotty import proc_start, wait_for

pytestmark = pytest.mark.browser


def test_closing_the_tab_leaves_no_process(gotty_server: ServerFactory, page: Page) -> None:
    server = gotty_server("bash", "--norc", "--noprofile", options=["-w", "--close-timeout", "1"])
    term = TerminalPage(page).open(server.url)
    term.type_line("nohup sleep 1000 >/dev/null 2>&1 & echo NOHUP=$!; echo SHELL=$$; "
                   "setsid sh -c 'echo SETSID=$$; exec sleep 1001' &")
    pattern = re.compile(r"(?:NOHUP|SHELL|SETSID)=(\d+)")

    def three_pids() -> list[str] | None:
        ids = pattern.findall(term.buffer_text())
        return ids if len(ids) == 3 else None

    pids = [int(p) for p in wait_for(three_pids, 15, message="the three PIDs on screen")]
    processes = {pid: proc_start(pid) for pid in pids}
    assert len(processes) == 3 and all(processes.values()), processes

    page.close()  # the user closes the tab

    wait_for(lambda: all(proc_start(pid) != start for pid, start in processes.items()), 1 + 5,
             message="every process of the closed tab's session to end")
