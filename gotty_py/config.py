"""Merging the layers of configuration: default < HCL config file < GOTTY_* env < flag.

Rules of this module: it reads the config file and the environment mapping it is given and
returns an `Options` with each value's `Origin`; every failure is a `ConfigError` naming
the file and line (or variable, or flag) and the key and what was expected, which the CLI
turns into exit code 2. An unknown key is an error with a did-you-mean (a misspelt
`credential` must not start a server without authentication), unless the operator chose
`config_unknown_keys = "warn"` for a GoTTY config.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hcl
from hcl.lexer import Lexer

from .options import (
    OPTION_SPECS,
    SPECS_BY_HCL_KEY,
    SPECS_BY_NAME,
    Options,
    OptionSpec,
    OptionValueError,
    Origin,
    Origins,
    Source,
    coerce,
)


class ConfigError(Exception):
    """A configuration problem; the message is complete and meant for the operator."""


@dataclass
class LoadedConfig:
    """The merged options plus what the operator should be told about how they came to be."""

    options: Options
    config_file: str | None = None
    warnings: list[str] = field(default_factory=list)
    explicit: set[str] = field(default_factory=set)
    origins: Origins = field(default_factory=Origins)


@dataclass(frozen=True)
class HclDocument:
    """A parsed config file: its values, and the line each top-level key is on (lower-cased
    key to line; pyhcl's result keeps no positions)."""

    data: Mapping[str, Any]
    lines: Mapping[str, int] = field(default_factory=dict)


def expand_home(path: str, home: str | None = None) -> str:
    """GoTTY's `~/` expansion (from $HOME), without its panic on short paths."""
    if path.startswith("~/"):
        base = home if home is not None else os.environ.get("HOME", os.path.expanduser("~"))
        return os.path.join(base, path[2:])
    return path


def read_hcl_file(path: str) -> HclDocument:
    """Parse an HCL file; syntax errors name the file and the line where the mistake is."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text ({exc.reason})") from None
    return parse_hcl(text, path)


def parse_hcl(text: str, path: str) -> HclDocument:
    """The document, or a ConfigError at the line the operator must fix."""
    try:
        data = hcl.loads(text)
    except Exception as exc:  # pyhcl raises ValueError and its own lexer/parser errors
        statements = _statements(text)
        if isinstance(statements, _Unfinished):
            raise ConfigError(f"config file {path} line {statements.line}: HCL syntax error: "
                              f"{statements.message}") from None
        raise ConfigError(f"config file {path}: HCL syntax error: "
                          f"{_with_column(str(exc), text)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected key = value pairs at the top level")
    statements = _statements(text)
    return HclDocument(data, statements if isinstance(statements, dict) else {})


@dataclass(frozen=True)
class _Unfinished:
    line: int
    message: str


_KEY_TOKENS = ("IDENTIFIER", "STRING")
_OPEN = {"LEFTBRACE": "RIGHTBRACE", "LEFTBRACKET": "RIGHTBRACKET", "LEFTPAREN": "RIGHTPAREN"}
_OPERATORS = {"ADD", "MINUS", "MULTIPLY", "DIVIDE", "EQ", "NE", "LT", "GT", "LE", "GE",
              "PERIOD", "QMARK", "COLON"}


def _statements(text: str) -> dict[str, int] | _Unfinished | None:
    """Walk the top-level statements with pyhcl's own lexer: the line of each key, or the
    statement whose key has no `=` (pyhcl's parser notices that only at the next token,
    often on the next line, and reports that line). None when the lexer itself fails."""
    lexer = Lexer()
    try:
        lexer.input(text)
        tokens = [token for token in iter(lexer.token, None)
                  if token.type not in ("COMMENT", "MULTICOMMENT")]
    except Exception:  # the lexer's own errors: pyhcl's message says where
        return None
    lines: dict[str, int] = {}
    index = 0
    while index < len(tokens):
        key = tokens[index]
        if key.type == "COMMA":
            index += 1
            continue
        if key.type not in _KEY_TOKENS:
            return None  # not a statement: pyhcl's message is the better one
        index += 1
        if index < len(tokens) and tokens[index].type == "EQUAL":
            index = _skip_value(tokens, index + 1)
        else:
            while index < len(tokens) and tokens[index].type in _KEY_TOKENS:
                index += 1  # block labels: name "label" { ... }
            if index >= len(tokens) or tokens[index].type != "LEFTBRACE":
                return _Unfinished(key.lineno, f"key {key.value!r} is not followed by '=' "
                                               "(key = value) or a block { ... }")
            index = _skip_group(tokens, index)
        lines[str(key.value).lower()] = key.lineno
    return lines


def _skip_group(tokens: list[Any], index: int) -> int:
    """Past the bracket group opening at `index` (to the end if it is never closed)."""
    depth = 0
    while index < len(tokens):
        kind = tokens[index].type
        if kind in _OPEN:
            depth += 1
        elif kind in _OPEN.values():
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index


def _skip_value(tokens: list[Any], index: int) -> int:
    """Past one value and the operators joining it to others (`1 + 2`, `-3`)."""
    while index < len(tokens):
        if tokens[index].type == "MINUS":
            index += 1
            continue
        index = _skip_group(tokens, index) if tokens[index].type in _OPEN else index + 1
        if index < len(tokens) and tokens[index].type in _OPERATORS:
            index += 1
            continue
        return index
    return index


_POSITION = re.compile(r"^Line (\d+), column (\d+):")


def _with_column(message: str, text: str) -> str:
    """pyhcl counts the column from the start of the file; count it from the line's."""
    found = _POSITION.match(message)
    if found is None:
        return message
    line, offset = int(found.group(1)), int(found.group(2))
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}:" + message[found.end():]


def _suggestion(key: str) -> str:
    close = difflib.get_close_matches(key.lower(), list(SPECS_BY_HCL_KEY), n=1, cutoff=0.6)
    return f"; did you mean {SPECS_BY_HCL_KEY[close[0]].hcl!r}?" if close else ""


def values_from_hcl(document: HclDocument, path: str, *, unknown_keys: str = "error",
                    ) -> tuple[dict[str, Any], dict[str, Origin], list[str]]:
    """Map HCL keys (case-insensitively) onto options: the values, where each came from,
    and warnings. An unknown key is a ConfigError unless `unknown_keys` is "warn"."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    warnings: list[str] = []
    for key, raw in document.data.items():
        line = document.lines.get(key.lower())
        where = f"config file {path}" + (f" line {line}" if line is not None else "")
        spec = SPECS_BY_HCL_KEY.get(key.lower())
        if spec is None:
            if unknown_keys == "warn":
                warnings.append(f"{where}: unknown key {key!r} ignored{_suggestion(key)}")
                continue
            raise ConfigError(
                f"{where}: unknown key {key!r}{_suggestion(key)} (to start anyway, ignoring "
                "unknown keys as GoTTY does, set config_unknown_keys = \"warn\" in the file "
                "or --config-unknown-keys warn)")
        if isinstance(raw, list) and spec.kind == "block" and all(
            isinstance(item, dict) for item in raw
        ):
            # pyhcl yields a list when a block is repeated; later blocks win key by key.
            merged: dict[str, Any] = {}
            for item in raw:
                merged.update(item)
            raw = merged
        try:
            values[spec.name] = relative_to_file(spec, coerce(spec, raw, from_text=False), path)
        except OptionValueError as exc:
            raise ConfigError(f"{where}: key {key!r}: {exc}") from None
        origins[spec.name] = Origin(Source.FILE, path, line, key)
    return values, origins, warnings


def relative_to_file(spec: OptionSpec, value: Any, config_path: str) -> Any:
    """A relative path in a config file means a path next to that file, wherever the server
    was started from: a `file` option's value, or a `command` option's first word when it
    names a file (has a `/`; a bare name is looked up on PATH). `~/` and absolute paths are
    kept as they are; flags and environment variables stay relative to the working
    directory, as every command line does."""
    if not spec.path or not isinstance(value, str) or not value:
        return value
    base = os.path.dirname(os.path.abspath(config_path))
    if spec.path == "file":
        return value if _anchored(value) else os.path.join(base, value)
    try:
        words = shlex.split(value)
    except ValueError:
        return value  # the command's own parser reports it, with the whole text
    if not words or _anchored(words[0]) or "/" not in words[0]:
        return value
    return shlex.join([os.path.join(base, words[0]), *words[1:]])


def _anchored(path: str) -> bool:
    return os.path.isabs(path) or path.startswith("~/") or path == "~"


def values_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Read every option's GOTTY_* variable that is set (empty strings count as set)."""
    values: dict[str, Any] = {}
    for spec in OPTION_SPECS:
        if spec.env is None or spec.env not in env or spec.name == "config":
            continue
        try:
            values[spec.name] = coerce(spec, env[spec.env], from_text=True)
        except OptionValueError as exc:
            raise ConfigError(f"environment variable {spec.env}: {exc}") from None
    return values


def values_from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the flags that were given (None means not given) and coerce them."""
    values: dict[str, Any] = {}
    for name, raw in flags.items():
        if raw is None or name == "config":
            continue
        spec: OptionSpec = SPECS_BY_NAME[name]
        try:
            values[name] = coerce(spec, raw, from_text=isinstance(raw, str))
        except OptionValueError as exc:
            raise ConfigError(f"flag {spec.cli_names[0]}: {exc}") from None
    return values


def _unknown_keys_mode(document: HclDocument, path: str, env_values: Mapping[str, Any],
                       flag_values: Mapping[str, Any]) -> str:
    """The flag, else the environment, else the file's own `config_unknown_keys` key."""
    for layer in (flag_values, env_values):
        if "config_unknown_keys" in layer:
            return str(layer["config_unknown_keys"])
    spec = SPECS_BY_NAME["config_unknown_keys"]
    for key, raw in document.data.items():
        if key.lower() == spec.hcl:
            try:
                return str(coerce(spec, raw, from_text=False))
            except OptionValueError as exc:
                line = document.lines.get(key.lower())
                where = f"config file {path}" + (f" line {line}" if line is not None else "")
                raise ConfigError(f"{where}: key {key!r}: {exc}") from None
    return str(spec.default)


def load_options(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    home: str | None = None,
    read_file: Callable[[str], HclDocument] = read_hcl_file,
) -> LoadedConfig:
    """Build the Options from all layers, in GoTTY's order of precedence."""
    default_config = SPECS_BY_NAME["config"].default
    explicit_path = flags.get("config") or env.get(SPECS_BY_NAME["config"].env or "")
    config_path = expand_home(explicit_path or default_config, home)

    env_values = values_from_env(env)
    flag_values = values_from_flags(flags)
    merged: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    loaded = LoadedConfig(options=Options())
    if explicit_path or os.path.exists(config_path):
        document = read_file(config_path)
        mode = _unknown_keys_mode(document, config_path, env_values, flag_values)
        file_values, origins, loaded.warnings = values_from_hcl(document, config_path,
                                                                unknown_keys=mode)
        merged.update(file_values)
        loaded.config_file = config_path
    merged.update(env_values)
    origins.update({name: Origin(Source.ENV) for name in env_values})
    merged.update(flag_values)
    origins.update({name: Origin(Source.FLAG) for name in flag_values})
    merged["config"] = config_path

    loaded.explicit = set(merged)
    loaded.origins = Origins(origins)
    # GoTTY's post-processing: naming a client CA turns client-certificate auth on.
    if "tls_ca_crt_file" in merged:
        merged.setdefault("enable_tls_client_auth", True)
    loaded.options = Options(**merged)
    return loaded
