"""Merging the layers of configuration: default < HCL config file < GOTTY_* env < flag.

Rules of this module: it reads the config file and the environment mapping it is given and
returns an `Options`; every failure is a `ConfigError` naming the file (or variable) and
the key and what was expected, which the CLI turns into exit code 2. Unknown keys are
warnings, never errors, so a GoTTY config keeps loading.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hcl

from .options import (
    OPTION_SPECS,
    SPECS_BY_HCL_KEY,
    SPECS_BY_NAME,
    Options,
    OptionSpec,
    OptionValueError,
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


def expand_home(path: str, home: str | None = None) -> str:
    """GoTTY's `~/` expansion (from $HOME), without its panic on short paths."""
    if path.startswith("~/"):
        base = home if home is not None else os.environ.get("HOME", os.path.expanduser("~"))
        return os.path.join(base, path[2:])
    return path


def read_hcl_file(path: str) -> dict[str, Any]:
    """Parse an HCL file into a dict; syntax errors name the file and the position."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text ({exc.reason})") from None
    try:
        data = hcl.loads(text)
    except Exception as exc:  # pyhcl raises ValueError and its own lexer/parser errors
        raise ConfigError(f"config file {path}: HCL syntax error: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected key = value pairs at the top level")
    return data


def values_from_hcl(data: Mapping[str, Any], path: str) -> tuple[dict[str, Any], list[str]]:
    """Map HCL keys (case-insensitively) onto options; returns values and warnings."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, raw in data.items():
        spec = SPECS_BY_HCL_KEY.get(key.lower())
        if spec is None:
            warnings.append(f"config file {path}: unknown key {key!r} ignored")
            continue
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
            raise ConfigError(f"config file {path}: key {key!r}: {exc}") from None
    return values, warnings


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


def load_options(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    home: str | None = None,
    read_file: Callable[[str], dict[str, Any]] = read_hcl_file,
) -> LoadedConfig:
    """Build the Options from all layers, in GoTTY's order of precedence."""
    default_config = SPECS_BY_NAME["config"].default
    explicit_path = flags.get("config") or env.get(SPECS_BY_NAME["config"].env or "")
    config_path = expand_home(explicit_path or default_config, home)

    merged: dict[str, Any] = {}
    loaded = LoadedConfig(options=Options())
    if explicit_path or os.path.exists(config_path):
        data = read_file(config_path)
        file_values, loaded.warnings = values_from_hcl(data, config_path)
        merged.update(file_values)
        loaded.config_file = config_path
    merged.update(values_from_env(env))
    merged.update(values_from_flags(flags))
    merged["config"] = config_path

    loaded.explicit = set(merged)
    # GoTTY's post-processing: naming a client CA turns client-certificate auth on.
    if "tls_ca_crt_file" in merged:
        merged.setdefault("enable_tls_client_auth", True)
    loaded.options = Options(**merged)
    return loaded
