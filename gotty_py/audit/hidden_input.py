"""Keeping what is typed at a password prompt out of input recordings.

Rules of this module: pure, no I/O. The caller asks the terminal, at the moment each input
message is written, whether it hides input (line mode with ECHO off: `read -s`, sudo, ssh,
getpass) and passes the answer in; this module decides what the recording gets. A hidden
run (input messages in a row while the terminal hides them) becomes one marker, written
where its first message would have been; nothing of it is kept, not even its length. Where the
terminal cannot be asked (None) the input is recorded: the absence of an answer is not a
prompt.
"""

from __future__ import annotations

from enum import Enum

HIDDEN_MARKER = "input hidden (echo off)"


class Verdict(Enum):
    """What the recording does with one input message."""

    RECORD = "record"
    MARK = "mark"  # the first of a hidden run: write HIDDEN_MARKER instead of the input
    DROP = "drop"  # more of the same hidden run: nothing


class HiddenInput:
    """One session's input, message by message."""

    def __init__(self) -> None:
        self._hiding = False
        self.runs = 0  # hidden runs, each marked once

    def verdict(self, hidden: bool | None) -> Verdict:
        if not hidden:
            self._hiding = False
            return Verdict.RECORD
        if self._hiding:
            return Verdict.DROP
        self._hiding = True
        self.runs += 1
        return Verdict.MARK
