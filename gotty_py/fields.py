"""The `{field}` grammar of the operator's templates: recording file names and the cleanup
command.

Rules of this module: one grammar, one set of field names, one way to read each field from
a session's `SessionFacts`. The uses differ only where a `Dialect` says so, explicitly:
whether `{command}` is the command as given or its base name, what `{user}` is for a
session without a user, what a field the session does not have becomes, and whether the
list field `{args}` is allowed. A template is checked once, at start-up, so that a typo is
an error then and not a failing session later. No I/O.

Fields: `{date}` `{time}` (UTC, of the connection), `{session}`, `{user}`, `{remote_addr}`,
`{hostname}` (the server's), `{command}`, `{arg0}` `{arg1}` ... (the command's arguments,
the server's own first), `{claim.NAME}` (a launch-token claim; text as is, other values as
JSON), `{args}` (every argument, each a word of its own; command words only). `{{` and `}}`
are literal braces.
"""

from __future__ import annotations

import json
import os
import re
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .facts import SessionFacts

SIMPLE_FIELDS = ("date", "time", "session", "user", "remote_addr", "hostname", "command")
LIST_FIELD = "args"
_ARG_FIELD = re.compile(r"arg([0-9]{1,3})")
_CLAIM_FIELD = re.compile(r"claim\.([A-Za-z0-9_.-]{1,64})")


class FieldError(ValueError):
    """A template that cannot be used; the message says why (the caller adds where)."""


class CommandForm(Enum):
    AS_GIVEN = "as given"  # what the server runs: a path or a name looked up in PATH
    BASE_NAME = "base name"  # the last path component, for a file name


@dataclass(frozen=True)
class Dialect:
    """How one use of the grammar differs from the others."""

    command: CommandForm
    no_user: str  # {user} of a session that has no user
    no_value: str  # a field the session does not have: {arg9} of two arguments, {claim.x}
    list_field: bool  # whether {args} may be used (as a word of its own)

    def help(self) -> str:
        """The fields this dialect knows, for error messages."""
        names = [*SIMPLE_FIELDS, "arg0", "arg1", "...", "claim.NAME"]
        if self.list_field:
            names.append(LIST_FIELD)
        return " ".join(name if name == "..." else "{" + name + "}" for name in names)


# Recording file names: the base name of the command, `anonymous` and `_` rather than an
# empty name.
FILE_NAMES = Dialect(command=CommandForm.BASE_NAME, no_user="anonymous", no_value="_",
                     list_field=False)
# Words of the cleanup command's argv: values exactly as the session had them, empty when
# it had none (a shell script tests for "").
COMMAND_WORDS = Dialect(command=CommandForm.AS_GIVEN, no_user="", no_value="",
                        list_field=True)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


@dataclass(frozen=True)
class Field:
    """One `{name}` of a template."""

    name: str

    def value(self, facts: SessionFacts, dialect: Dialect) -> str | None:
        """This field's text for the session; None when the session has no such value."""
        name = self.name
        if name == "date":
            return time.strftime("%Y-%m-%d", time.gmtime(facts.started_at))
        if name == "time":
            return time.strftime("%H%M%S", time.gmtime(facts.started_at))
        if name == "session":
            return facts.id
        if name == "user":
            return facts.user or dialect.no_user
        if name == "remote_addr":
            return facts.remote_addr
        if name == "hostname":
            return facts.hostname
        if name == "command":
            if not facts.argv:
                return None
            return (os.path.basename(facts.command) if dialect.command is CommandForm.BASE_NAME
                    else facts.command)
        arg = _ARG_FIELD.fullmatch(name)
        if arg is not None:
            index = int(arg.group(1))  # {arg0} is the first argument after the command
            return facts.args[index] if index < len(facts.args) else None
        claim = _CLAIM_FIELD.fullmatch(name)
        if claim is not None and claim.group(1) in facts.claims:
            return _text(facts.claims[claim.group(1)])
        return None


def _known(name: str, dialect: Dialect) -> bool:
    return (name in SIMPLE_FIELDS or (name == LIST_FIELD and dialect.list_field)
            or _ARG_FIELD.fullmatch(name) is not None
            or _CLAIM_FIELD.fullmatch(name) is not None)


Piece = tuple[str, Field | None]  # literal text, then a field or None


class FieldText:
    """One piece of text with `{field}`s: a word of a command, a segment of a path."""

    def __init__(self, text: str, dialect: Dialect) -> None:
        self.text = text
        self.dialect = dialect
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise FieldError(f"{exc} in {text!r}") from None
        self.pieces: tuple[Piece, ...] = tuple(
            (literal, None if name is None else self._field(name, spec, conversion))
            for literal, name, spec, conversion in parsed)

    def _field(self, name: str, spec: str | None, conversion: str | None) -> Field:
        if spec or conversion:
            raise FieldError(f"field {{{name}}} may not have a format or conversion")
        if not _known(name, self.dialect):
            raise FieldError(f"unknown field {{{name}}} (known: {self.dialect.help()})")
        if name == LIST_FIELD and self.text != "{" + LIST_FIELD + "}":
            raise FieldError(f"{{{LIST_FIELD}}} must be a word of its own")
        return Field(name)

    @property
    def is_list(self) -> bool:
        """True for exactly `{args}`: every argument, each a word of its own."""
        return self.text == "{" + LIST_FIELD + "}"

    @property
    def has_fields(self) -> bool:
        return any(field is not None for _, field in self.pieces)

    def render(self, facts: SessionFacts, encode: Callable[[str], str] = str) -> str:
        """The text with each field's value, passed through `encode` (a missing value is the
        dialect's `no_value`, not encoded)."""
        out: list[str] = []
        for literal, field in self.pieces:
            out.append(literal)
            if field is not None:
                value = field.value(facts, self.dialect)
                out.append(self.dialect.no_value if value is None else encode(value))
        return "".join(out)
