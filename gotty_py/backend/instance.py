"""Which gotty-py server instance a process belongs to, and whether that server still lives.

Rules of this module: an instance is named by its server's PID, that process's start time
(so a recycled PID never passes for the server) and a random nonce, as one word
`PID.START.NONCE`. Every session process carries it as `GOTTY_INSTANCE`; nothing else in
the session's environment changes, and the user needs none of it. An instance is alive
while a process with its PID and start time exists. This module only names and checks; the
sweep and the watchdog end processes.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from .environment import INSTANCE_VARIABLE
from .processtree import read_proc


@dataclass(frozen=True)
class Instance:
    """One running (or once running) gotty-py server."""

    pid: int
    starttime: int
    nonce: str

    @classmethod
    def current(cls) -> Instance:
        """This process, as a server instance; a fresh nonce each time."""
        me = read_proc(os.getpid())
        assert me is not None, "/proc/self/stat must be readable"
        return cls(me.pid, me.starttime, secrets.token_hex(8))

    @classmethod
    def parse(cls, word: str) -> Instance | None:
        """The instance a `GOTTY_INSTANCE` value names; None for anything malformed."""
        parts = word.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        if not parts[2] or len(parts[2]) > 64 or not parts[2].isalnum():
            return None
        return cls(int(parts[0]), int(parts[1]), parts[2])

    @property
    def word(self) -> str:
        return f"{self.pid}.{self.starttime}.{self.nonce}"

    @property
    def marker(self) -> str:
        """`GOTTY_INSTANCE=<word>`, as it stands in a session process's environment."""
        return f"{INSTANCE_VARIABLE}={self.word}"

    def alive(self) -> bool:
        """True while the server process of this instance exists (a zombie does not count)."""
        info = read_proc(self.pid)
        return info is not None and info.starttime == self.starttime
