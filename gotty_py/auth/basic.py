"""GoTTY's credential: HTTP Basic auth on the routes and the init message's AuthToken.

Rules of this module: pure checks, no I/O. Every comparison is constant-time; no function
here logs or returns the credential.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from enum import Enum

REALM = "GoTTY"


class BasicAuthResult(Enum):
    OK = "ok"
    MISSING = "missing or malformed Authorization header"
    UNDECODABLE = "Authorization header is not valid base64"
    WRONG = "authorization failed"


def check_basic_auth(header: str | None, credential: str) -> BasicAuthResult:
    """Check an `Authorization` header against `user:pass` the way GoTTY parses it."""
    if not header:
        return BasicAuthResult.MISSING
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return BasicAuthResult.MISSING
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return BasicAuthResult.UNDECODABLE
    if hmac.compare_digest(decoded, credential.encode("utf-8")):
        return BasicAuthResult.OK
    return BasicAuthResult.WRONG


def token_matches(token: str, credential: str) -> bool:
    """The init message's AuthToken must equal the credential (empty when there is none)."""
    return hmac.compare_digest(token.encode("utf-8"), credential.encode("utf-8"))
