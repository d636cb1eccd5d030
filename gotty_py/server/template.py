"""GoTTY's `{{ .var }}` templates (title format, custom index) without Go, and the escaping
of values pasted into page source (HTML, JS string literals).

Rules of this module: it understands the subset of Go's text/template that GoTTY configs
use, field access (`{{ .command }}`, `{{ .server.hostname }}`), and prints values the way
Go does (`[a b]` for a list, `<no value>` for a missing key). Anything else in `{{ }}` is a
`TemplateError` at start-up, so a config never renders something silently different.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

NO_VALUE = "<no value>"

_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
_FIELD_PATH = re.compile(r"^\s*((?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)\s*$")


class TemplateError(ValueError):
    """The template uses syntax this port does not support, or is malformed."""


def go_format(value: Any) -> str:
    """Print a value as Go's fmt %v does for the types GoTTY puts in templates."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = " ".join(f"{key}:{go_format(value[key])}" for key in sorted(value))
        return f"map[{items}]"
    return str(value)


@dataclass(frozen=True)
class _Field:
    path: tuple[str, ...]

    def render(self, data: Mapping[str, Any]) -> str:
        value: Any = data
        for name in self.path:
            if not isinstance(value, Mapping) or name not in value:
                return NO_VALUE
            value = value[name]
        return go_format(value)

    def resolves(self, data: Mapping[str, Any]) -> bool:
        """Whether `data` has a value here (render would not print `<no value>`)."""
        value: Any = data
        for name in self.path:
            if not isinstance(value, Mapping) or name not in value:
                return False
            value = value[name]
        return value is not None


class Template:
    """A parsed template: literal text and field actions, rendered against a dict."""

    def __init__(self, source: str, *, escape: Callable[[str], str] | None = None) -> None:
        self.source = source
        self._escape = escape or (lambda text: text)
        self._parts: list[str | _Field] = []
        position = 0
        for match in _ACTION.finditer(source):
            literal = source[position : match.start()]
            if match.group(1):
                literal = literal.rstrip()
            self._parts.append(literal)
            self._parts.append(self._parse_action(match.group(2)))
            position = match.end()
            if match.group(3):
                rest = source[position:]
                position += len(rest) - len(rest.lstrip())
        tail = source[position:]
        if "{{" in tail:
            raise TemplateError(f"unclosed action in template {source!r}")
        self._parts.append(tail)

    @staticmethod
    def _parse_action(action: str) -> _Field:
        if action.strip().startswith("/*") and action.strip().endswith("*/"):
            return _Field(path=("\0comment",))
        match = _FIELD_PATH.match(action)
        if match is None:
            raise TemplateError(
                f"unsupported template action {{{{{action}}}}}: only field access such as "
                "{{ .command }} is supported"
            )
        path = match.group(1)
        return _Field(path=tuple(part for part in path.split(".") if part))

    def complete(self, data: Mapping[str, Any]) -> bool:
        """Whether every field the template uses has a value in `data`."""
        return all(part.resolves(data) for part in self._parts
                   if isinstance(part, _Field) and part.path != ("\0comment",))

    def render(self, data: Mapping[str, Any]) -> str:
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
            elif part.path == ("\0comment",):
                continue
            else:
                out.append(self._escape(part.render(data)))
        return "".join(out)


def js_string(value: str) -> str:
    """A JS single-quoted string body; GoTTY pasted values unescaped, breaking on a quote."""
    return json.dumps(value)[1:-1].replace("'", "\\'").replace("</", "<\\/")


def html_template(source: str) -> Template:
    """A template whose values are HTML-escaped, as Go's html/template does in text."""
    return Template(source, escape=lambda text: html.escape(text, quote=True))


def title_variables(
    server: Mapping[str, Any],
    client: Mapping[str, Any],
    slave: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """GoTTY's one flat map (server < client < process) plus the nested `.server` maps."""
    flat: dict[str, Any] = {}
    flat.update(server)
    flat.update(client)
    if slave:
        flat.update(slave)
    if extra:
        flat.update(extra)
    flat["server"] = dict(server)
    flat["master"] = dict(client)
    if slave:
        flat["slave"] = dict(slave)
    return flat
