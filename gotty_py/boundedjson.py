"""JSON from an untrusted peer, parsed within fixed bounds or refused with a short reason.

Python's `json.loads` recurses once per nesting level (a deep `[[[[...` raises
`RecursionError`, at a depth that depends on how deep the caller's stack already is),
turns a 400-digit integer into an `int` that later overflows a float conversion, and
keeps `\\ud800` as a lone surrogate that no UTF-8 encoder accepts. Each of those escaped
the callers' error handling as an unexpected exception. `loads` checks the nesting depth
with a linear scan before parsing, refuses numbers longer than any float64 needs, and
refuses strings that are not valid Unicode, so that every bad input is one `JsonRejected`.

Rules of this module: pure, no I/O, imports nothing of gotty-py (the wire protocol and the
launch-token checks both use it). Every failure is a `JsonRejected` (a `ValueError`) whose
text names what was wrong and never quotes the input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 32  # arrays and objects inside one another; webtty messages use 1
MAX_NUMBER_LENGTH = 64  # characters of one number; a float64 needs at most 24
# One string (to its closing quote, or to the end when it has none) or one bracket. The
# string alternative always matches from a quote and never backtracks, so a scan of any
# text is linear.
_TOKENS = re.compile(r'"[^"\\]*(?:\\[\s\S][^"\\]*)*"?|[\[\]{}]')
_OPENERS = frozenset("[{")


class JsonRejected(ValueError):
    """The text is not JSON within the bounds; the message says why (never the input)."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects, brackets inside strings not counted.

    For text that is not JSON the answer is some number, never an exception: `loads`
    refuses such text anyway. The scan visits only strings and brackets, so its cost is
    their number, not the text's length.
    """
    if "[" not in text and "{" not in text:
        return 0
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _number(parse: Callable[[str], Any], limit: int) -> Callable[[str], Any]:
    def bounded(text: str) -> Any:
        if len(text) > limit:
            raise JsonRejected(f"number longer than {limit} characters")
        return parse(text)
    return bounded


def _reject_constant(name: str) -> Any:
    raise JsonRejected(f"{name} is not valid JSON")


def _check_strings(value: Any) -> None:
    """Every string and key encodes as UTF-8 (no lone surrogate from a `\\ud800` escape).

    Recursion is safe here: the depth was bounded before parsing.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonRejected("string is not valid Unicode (lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH,
          max_number_length: int = MAX_NUMBER_LENGTH,
          object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """`json.loads` within the bounds; `JsonRejected` for anything else, whatever it is.

    A caller that wants to say more about a number than "too long" (the token checks: "exp
    out of range") passes a larger `max_number_length` and checks the value itself."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRejected("not valid UTF-8") from None
    else:
        text = data
    if nesting_depth(text) > max_depth:
        raise JsonRejected(f"nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, object_pairs_hook=object_pairs_hook,
                           parse_int=_number(int, max_number_length),
                           parse_float=_number(float, max_number_length),
                           parse_constant=_reject_constant)
    except JsonRejected:
        raise
    except (ValueError, RecursionError):
        # RecursionError only if the scan and the parser ever disagreed: still a refusal.
        raise JsonRejected("not valid JSON") from None
    _check_strings(value)
    return value
