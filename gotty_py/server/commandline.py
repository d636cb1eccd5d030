"""A session's command line as the log shows it: one shell line, safe on a terminal.

Rules of this module: the line is what a shell would need to run the same argv
(`shlex.join`), except that a word holding a character a terminal acts on or a reader
cannot see is written in bash's ANSI-C quoting, so a client's `?arg=` or a token's
arguments can neither change the reader's terminal nor end the line and fake another.
Pure: strings in, a string out.
"""

from __future__ import annotations

import shlex
import unicodedata
from collections.abc import Sequence

# Characters a terminal acts on or a reader cannot see: controls (C0, DEL, C1), format
# characters (bidirectional overrides, zero-width), line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ANSI_C = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
           "\r": "\\r", "\x1b": "\\E", "\\": "\\\\", "'": "\\'"}


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN_CATEGORIES


def _ansi_c(char: str) -> str:
    if char in _ANSI_C:
        return _ANSI_C[char]
    if not _hidden(char):
        return char
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def command_line(argv: Sequence[str]) -> str:
    """`argv` as one shell command line (shlex.join) that is safe to print on a terminal.

    shlex.join leaves control characters as they are. A word holding any such character
    is written `$'a\\Eb\\n'` instead, which still pastes back into bash as the same word;
    every other word is shlex.quote'd."""
    words = []
    for word in argv:
        if any(_hidden(char) for char in word):
            words.append("$'" + "".join(_ansi_c(char) for char in word) + "'")
        else:
            words.append(shlex.quote(word))
    return " ".join(words)
