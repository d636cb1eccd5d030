"""The `store` option: where used `jti`s and reconnect tickets are kept, parsed once.

Rules of this module: `parse_store` turns the option's text into a `StoreChoice` or raises
`StoreConfigError` with a message that names the option and never shows a password; it does
no I/O beyond checking that the TLS files a URL names can be read. `StoreUnavailable` is
the one error a shared store raises when it cannot answer in time; the callers (the
verifier's replay check, the grant's tickets) refuse the launch on it, so the single-use
rule is never skipped. Nothing here imports the Redis client: the in-memory default costs
nothing.

URL forms (`redis://` plain, `rediss://` TLS)::

    redis://[[username]:password@]host[:port][/db][?query]

with query keys `socket_connect_timeout`, `socket_timeout` (seconds) and, for `rediss://`
only, `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile` (paths). Anything else is refused.
"""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

DEFAULT_PORT = 6379
# A store that is not there must never hold a session start for long: one connection
# attempt and one command round trip each have this long (seconds), unless the URL says.
DEFAULT_CONNECT_TIMEOUT = 1.0
DEFAULT_SOCKET_TIMEOUT = 1.0
MAX_TIMEOUT = 30.0
_TIMEOUT_KEYS = ("socket_connect_timeout", "socket_timeout")
_TLS_FILE_KEYS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
OPTION_NAMES = "--store, config key store, GOTTY_STORE"


class StoreKind(enum.Enum):
    MEMORY = "memory"  # this process only
    REDIS = "redis"  # shared by every replica


class StoreUnavailable(Exception):
    """The shared store did not answer in time or at all; the text names the store (never
    its password) and the cause, for the log. Launches are refused while this is raised."""


class StoreConfigError(ValueError):
    """The `store` option cannot be used; the message names the option."""


@dataclass(frozen=True)
class RedisAddress:
    """Where the Redis is and how to talk to it; `describe()` is safe to log."""

    host: str
    port: int = DEFAULT_PORT
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def describe(self) -> str:
        """scheme://host:port/db, without credentials."""
        scheme = "rediss" if self.tls else "redis"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/{self.db}"

    @property
    def deadline(self) -> float:
        """The longest one store operation may take: a connection plus a round trip."""
        return self.connect_timeout + self.socket_timeout


@dataclass(frozen=True)
class StoreChoice:
    kind: StoreKind
    redis: RedisAddress | None = None  # set exactly when kind is REDIS


MEMORY = StoreChoice(StoreKind.MEMORY)


def redacted(value: str) -> str:
    """The option's text with any password replaced, for error messages."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "(an unparseable URL)"
    if parts.password is None:
        return value
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return SplitResult(parts.scheme, f"{user}:***@{host}", parts.path, parts.query,
                       parts.fragment).geturl()


def parse_store(value: str) -> StoreChoice:
    """The store the option names; StoreConfigError when it cannot be used."""
    text = value.strip()
    if text == StoreKind.MEMORY.value:
        return MEMORY
    try:
        return StoreChoice(StoreKind.REDIS, _redis_address(text))
    except StoreConfigError as exc:
        raise StoreConfigError(f"invalid store {redacted(text)!r} ({OPTION_NAMES}): "
                               f"{exc}") from None


def _redis_address(text: str) -> RedisAddress:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:  # a bad port or bracketed host
        raise StoreConfigError(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("redis", "rediss"):
        raise StoreConfigError('expected "memory" or a redis:// or rediss:// URL')
    if not parts.hostname:
        raise StoreConfigError("the URL names no host")
    if parts.fragment:
        raise StoreConfigError("the URL must not have a #fragment")
    tls = parts.scheme == "rediss"
    path = unquote(parts.path).strip("/")
    if path and not (path.isascii() and path.isdigit()):
        raise StoreConfigError(f"the path must be a database number, not /{path}")
    query = _query(parts.query, tls)
    timeouts = {key: _seconds(key, query[key]) for key in _TIMEOUT_KEYS if key in query}
    files = {key: _readable(key, query[key]) for key in _TLS_FILE_KEYS if key in query}
    if ("ssl_certfile" in files) != ("ssl_keyfile" in files):
        raise StoreConfigError("ssl_certfile and ssl_keyfile go together")
    return RedisAddress(
        host=parts.hostname,
        port=port or DEFAULT_PORT,
        db=int(path) if path else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
        connect_timeout=timeouts.get("socket_connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        socket_timeout=timeouts.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT),
        ca_certs=files.get("ssl_ca_certs"),
        certfile=files.get("ssl_certfile"),
        keyfile=files.get("ssl_keyfile"),
    )


def _query(query: str, tls: bool) -> dict[str, str]:
    try:
        values = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise StoreConfigError(f"the query {query!r} is not key=value pairs") from None
    allowed = _TIMEOUT_KEYS + (_TLS_FILE_KEYS if tls else ())
    for key, given in values.items():
        if key not in allowed:
            if key in _TLS_FILE_KEYS:
                raise StoreConfigError(f"{key} needs a rediss:// (TLS) URL")
            raise StoreConfigError(f"unknown query key {key!r}; known: {', '.join(allowed)}")
        if len(given) > 1:
            raise StoreConfigError(f"{key} is given more than once")
    return {key: given[0] for key, given in values.items()}


def _seconds(key: str, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= MAX_TIMEOUT):
        raise StoreConfigError(f"{key} must be a number of seconds above 0 and at most "
                               f"{MAX_TIMEOUT:g}, not {text!r}")
    return seconds


def _readable(key: str, path: str) -> str:
    if not path:
        raise StoreConfigError(f"{key} is empty")
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise StoreConfigError(f"{key} {path}: no such readable file")
    return path
