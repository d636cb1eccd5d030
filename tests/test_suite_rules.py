"""Rules the test suite itself keeps, checked so that a new test cannot break them unseen.

Playwright's sync API (the browser tests share the pytest process, and with xdist any
worker may run one first) leaves its event loop marked as running in the main thread, so a
bare `asyncio.run` in a test passes alone and fails after a browser test. Tests go through
`tests.gotty.run_async` or `run_in_main_thread` instead.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).parent
# The helpers themselves, the simulator (its own thread) and this file.
EXEMPT = {TESTS / "gotty.py", TESTS / "k8s" / "apiserver.py", Path(__file__)}
BARE_RUN = re.compile(r"\basyncio\.run\(")


def test_no_test_calls_asyncio_run_directly() -> None:
    offenders = [f"{path.relative_to(TESTS)}:{number}"
                 for path in sorted(TESTS.rglob("*.py")) if path not in EXEMPT
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if BARE_RUN.search(line)]
    assert offenders == []


def test_the_rule_sees_a_bare_call() -> None:
    assert BARE_RUN.search("    result = asyncio.run(main())")
    assert not BARE_RUN.search("    result = run_async(main())")
