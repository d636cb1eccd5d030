"""Finding the program a command word names, the way exec will, before any session needs it.

Rules of this module: one function, `find_program`, answers "which file would exec run for
this word, and can it?" with the PATH of the environment the program will be started
with. A word with a `/` is a path (relative ones against the working directory, as exec
sees them); a bare word is looked up on PATH. It only looks; it runs nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping


class ProgramNotUsable(Exception):
    """The word names no program this server can run; the text says which file and why."""


def find_program(word: str, environ: Mapping[str, str]) -> str:
    """The absolute path exec would run for `word`, or ProgramNotUsable."""
    if not word:
        raise ProgramNotUsable("the program name is empty")
    if "/" not in word:
        search = environ.get("PATH", os.defpath)
        found = shutil.which(word, path=search)
        if found is None:
            raise ProgramNotUsable(f"{word!r} is not an executable file on PATH ({search})")
        return os.path.abspath(found)
    path = os.path.abspath(word)
    if not os.path.exists(path):
        raise ProgramNotUsable(f"{path}: no such file")
    if os.path.isdir(path):
        raise ProgramNotUsable(f"{path}: is a directory")
    if not os.access(path, os.X_OK):
        raise ProgramNotUsable(f"{path}: not executable (chmod +x?)")
    return path
