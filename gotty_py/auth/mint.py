"""Minting launch tokens: what a portal does for a user it knows (and `gotty-py-token`).

Rules of this module: it builds the claim set that `auth.jwt` verifies (`args`, `sub`,
`aud`, `iss`, `iat`, `exp`, a random `jti`, optional `write` and extra claims) and signs it
with PyJWT. A portal written in Python may import it; one in another language follows the
claim table in docs/jwt.md.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import jwt

from .keys import KeyConfigError, SigningKey, algorithms_for_key

# Claims the minting code sets itself; extra claims may not override them.
RESERVED_CLAIMS = frozenset({"args", "sub", "aud", "iss", "iat", "nbf", "exp", "jti", "write"})


def mint_launch_token(
    key: SigningKey,
    *,
    algorithm: str,
    args: Sequence[str] = (),
    sub: str | None = None,
    aud: str | None = None,
    iss: str | None = None,
    ttl: int = 60,
    kid: str | None = None,
    typ: str | None = None,
    write: bool | None = None,
    extra: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """A signed launch token, valid for `ttl` seconds from now and usable once."""
    if algorithm not in algorithms_for_key(key):
        raise KeyConfigError(f"algorithm {algorithm} does not fit the key")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    clashing = sorted(RESERVED_CLAIMS & set(extra or {}))
    if clashing:
        raise ValueError(f"extra claims may not set {', '.join(clashing)}")
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = dict(extra or {})
    payload.update({"args": list(args), "iat": issued, "exp": issued + ttl,
                    "jti": secrets.token_urlsafe(16)})
    for name, value in (("sub", sub), ("aud", aud), ("iss", iss), ("write", write)):
        if value is not None:
            payload[name] = value
    headers = {name: value for name, value in (("kid", kid), ("typ", typ)) if value} or None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def launch_url(base: str, token: str) -> str:
    """`base` with `jwt=TOKEN` added to its query (before any fragment)."""
    parts = urllib.parse.urlsplit(base)
    query = f"{parts.query}&jwt={token}" if parts.query else f"jwt={token}"
    return urllib.parse.urlunsplit(parts._replace(query=query))
