"""Launch tokens: a JWT that says which arguments a session runs with, and for whom.

Rules of this module: `LaunchTokenVerifier.verify` (async, for the replay store's sake)
takes the token string and returns a plain `VerifiedLaunch` or raises `TokenRejected` with
a reason that is safe to show the user and to log (never the token, never key material).
Nothing is trusted before the signature is checked, so an unsigned or forged token only
ever gets "invalid token". It does not import the server or the protocol layers; the
server turns the result into a session `Launch`.

Checks, in order: size and shape (the header and payload JSON within `boundedjson`'s
bounds); header (`alg` from the configured list only, no `crit`,
`jku`, `jwk`, `x5u`, `x5c`); key by `kid` (JWKS); signature (PyJWT, `algorithms=` from
configuration); claim types; `exp`, `nbf`, `iss`, `aud` (PyJWT, with leeway); `iat` not in
the future and `exp - iat` within the maximum lifetime; `jti`, `sub`, `args`, `write`;
finally the single use of `jti`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt

from .. import boundedjson
from ..options import NO_ORIGINS, Options, Origins
from .keys import KeyConfigError, KeySet, KeySources, VerificationKey, load_key_set
from .replay import MemoryReplayStore, ReplayStore

log = logging.getLogger("gotty_py.auth")

MAX_TOKEN_LENGTH = 8 * 1024  # a launch token travels in a URL
MAX_ID_LENGTH = 256  # jti and sub
# exp, iat and nbf: whole seconds a float64 holds exactly (about 285 million years either
# way). Beyond, the comparisons with the clock mean nothing (10**400 is no float at all).
MAX_TIME_CLAIM = 2**53
# Digits a claim's number may have before the JSON is refused as such: enough for
# `_number` to give its own reason ("exp out of range") to any value in a token.
MAX_CLAIM_NUMBER_LENGTH = 1024
FORBIDDEN_HEADERS = ("crit", "jku", "jwk", "x5u", "x5c")
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# The reasons a token is refused: the WebSocket close reason the page shows, and the log.
MISSING = "token missing"
INVALID = "invalid token"
EXPIRED = "token expired"
NOT_YET_VALID = "token not yet valid"
ISSUED_IN_FUTURE = "token issued in the future"
WRONG_AUDIENCE = "wrong audience"
WRONG_ISSUER = "wrong issuer"
TOO_LONG_LIVED = "token lifetime too long"
UNKNOWN_KEY = "unknown signing key"
ALREADY_USED = "token already used"
WRONG_TYPE = "wrong token type"


class TokenFailure(StrEnum):
    """Why a token was refused, as one of a small fixed set of words (a metric label: never
    a value from the token). Several reasons the user sees map onto one failure."""

    MISSING = "missing"
    MALFORMED = "malformed"  # not a JWS, a header or algorithm that is not allowed
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_KEY = "unknown-key"
    WRONG_TYPE = "wrong-type"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"  # nbf, or iat in the future
    AUDIENCE = "audience"
    ISSUER = "issuer"
    LIFETIME = "lifetime"  # exp - iat beyond the maximum lifetime
    CLAIMS = "claims"  # a claim missing or of the wrong type
    REPLAYED = "replayed"  # the jti was used before
    STORE_UNAVAILABLE = "store-unavailable"  # the single-use store cannot answer


_FAILURE_OF_REASON = {
    MISSING: TokenFailure.MISSING,
    INVALID: TokenFailure.MALFORMED,
    EXPIRED: TokenFailure.EXPIRED,
    NOT_YET_VALID: TokenFailure.NOT_YET_VALID,
    ISSUED_IN_FUTURE: TokenFailure.NOT_YET_VALID,
    WRONG_AUDIENCE: TokenFailure.AUDIENCE,
    WRONG_ISSUER: TokenFailure.ISSUER,
    TOO_LONG_LIVED: TokenFailure.LIFETIME,
    UNKNOWN_KEY: TokenFailure.UNKNOWN_KEY,
    ALREADY_USED: TokenFailure.REPLAYED,
    WRONG_TYPE: TokenFailure.WRONG_TYPE,
}


class TokenRejected(Exception):
    """A launch token was refused; `reason` is safe to show and to log, `failure` is its
    stable class (from the reason's constant unless given)."""

    def __init__(self, reason: str, failure: TokenFailure | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure = failure or _FAILURE_OF_REASON.get(reason, TokenFailure.CLAIMS)


class JwtConfigError(ValueError):
    """The JWT options cannot work together; the message names the options."""


@dataclass(frozen=True)
class VerifiedLaunch:
    """What a valid launch token grants."""

    args: tuple[str, ...]
    user: str | None  # the `sub` claim
    write: bool | None  # the `write` claim; None when absent
    jti: str
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JwtPolicy:
    """The claim checks beyond the signature."""

    audience: str | None = None
    issuer: str | None = None
    leeway: int = 30
    max_lifetime: int = 300  # seconds between iat and exp; 0 = no limit (iat optional)
    token_type: str | None = None  # required `typ` header (RFC 8725 §3.11), if any


def _number(payload: Mapping[str, Any], name: str) -> float | None:
    """A time claim as a float; any number beyond `MAX_TIME_CLAIM` (including 10**400,
    which no float holds, and 1e308) is refused with a reason of its own."""
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(f"invalid claims: {name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise TokenRejected(f"invalid claims: {name} must be a number")
    if not -MAX_TIME_CLAIM <= value <= MAX_TIME_CLAIM:  # int vs int: never an OverflowError
        raise TokenRejected(f"invalid claims: {name} out of range")
    return float(value)


def _encodable(value: str) -> bool:
    """No lone surrogate: the value can become an argument, GOTTY_USER or a store key."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _segments_parse(token: str) -> bool:
    """The header and payload are JSON within `boundedjson`'s bounds (depth, valid Unicode).

    Checked before PyJWT sees the token, so that nothing it parses can raise what its own
    handlers do not expect (deep nesting, a lone surrogate, a 5000-digit number)."""
    for segment in token.split(".")[:2]:
        try:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
            boundedjson.loads(raw, max_number_length=MAX_CLAIM_NUMBER_LENGTH)
        except (binascii.Error, ValueError):  # JsonRejected is a ValueError
            return False
    return True


def _identifier(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if (not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH
            or _CONTROL.search(value) or not _encodable(value)):
        raise TokenRejected(f"invalid claims: {name} must be a non-empty string of at most "
                            f"{MAX_ID_LENGTH} characters without control characters")
    return value


class KeyFileWatch:
    """Reloads the key set when its file changes: a JWKS or key rotated in place (e.g. a
    mounted Kubernetes Secret, which is swapped through a symlink) takes effect without a
    restart. A file that no longer loads keeps the previous keys, loudly."""

    def __init__(self, path: str, load: Callable[[], KeySet | None]) -> None:
        self.path = path
        self._load = load
        self._stamp = self._read_stamp()

    def _read_stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def current(self, keys: KeySet) -> KeySet:
        stamp = self._read_stamp()
        if stamp is None or stamp == self._stamp:
            return keys
        self._stamp = stamp
        try:
            fresh = self._load()
        except KeyConfigError as exc:
            log.error("JWT keys in %s changed but cannot be used, keeping the previous ones: %s",
                      self.path, exc)
            return keys
        if fresh is None:
            return keys
        log.info("JWT keys reloaded: %s (algorithms %s)", fresh.description,
                 ", ".join(fresh.algorithms))
        return fresh


class LaunchTokenVerifier:
    """Verifies launch tokens against one key set and policy; remembers used `jti`s."""

    def __init__(self, keys: KeySet, policy: JwtPolicy, replay: ReplayStore | None = None,
                 clock: Callable[[], float] = time.time,
                 watch: KeyFileWatch | None = None) -> None:
        self.keys = keys
        self.policy = policy
        self.replay: ReplayStore = replay if replay is not None else MemoryReplayStore(clock)
        self._clock = clock
        self._watch = watch

    def describe(self) -> str:
        """For the start-up log: algorithms and key source, no key material."""
        parts = [f"algorithms {', '.join(self.keys.algorithms)}", f"key: {self.keys.description}"]
        if self.policy.audience:
            parts.append(f"audience {self.policy.audience!r}")
        if self.policy.issuer:
            parts.append(f"issuer {self.policy.issuer!r}")
        if self.policy.max_lifetime:
            parts.append(f"max lifetime {self.policy.max_lifetime}s")
        return "; ".join(parts)

    async def verify(self, token: str | None) -> VerifiedLaunch:
        if not token:
            raise TokenRejected(MISSING)
        if (len(token) > MAX_TOKEN_LENGTH or not _TOKEN_SHAPE.fullmatch(token)
                or not _segments_parse(token)):
            raise TokenRejected(INVALID)
        if self._watch is not None:
            self.keys = self._watch.current(self.keys)
        key = self._key_for(token)
        payload = self._verified_payload(token, key)
        self._check_standard_claims(token, key, payload)
        return await self._grant(payload)

    # --- before the signature: only the header, and nothing in it is believed -----------

    def _key_for(self, token: str) -> VerificationKey:
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise TokenRejected(INVALID) from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.keys.algorithms:
            raise TokenRejected(INVALID)
        if any(name in header for name in FORBIDDEN_HEADERS):
            raise TokenRejected(INVALID)
        if self.policy.token_type is not None and not _same_type(header.get("typ"),
                                                                 self.policy.token_type):
            raise TokenRejected(WRONG_TYPE)
        key = self.keys.find(header.get("kid"))
        if key is None:
            raise TokenRejected(UNKNOWN_KEY)
        if algorithm not in key.algorithms:
            raise TokenRejected(INVALID)
        return key

    def _verified_payload(self, token: str, key: VerificationKey) -> dict[str, Any]:
        """The payload once the signature is valid; no claim is looked at yet."""
        options: Any = {"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                        "verify_aud": False, "verify_iss": False, "verify_sub": False,
                        "verify_jti": False}
        try:
            return jwt.decode(token, key.key, algorithms=list(key.algorithms), options=options)
        except jwt.InvalidSignatureError:
            raise TokenRejected(INVALID, TokenFailure.BAD_SIGNATURE) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise TokenRejected(INVALID) from None

    # --- after the signature ---------------------------------------------------------

    def _check_standard_claims(self, token: str, key: VerificationKey,
                               payload: Mapping[str, Any]) -> None:
        policy = self.policy
        exp = _number(payload, "exp")
        if exp is None:
            raise TokenRejected("invalid claims: exp required")
        _number(payload, "nbf")
        iat = _number(payload, "iat")
        # PyJWT checks exp, nbf, iss and aud (its iat check is replaced by ours below, which
        # has a reason of its own). The token is decoded again: PyJWT offers no public way
        # to validate claims of an already verified payload.
        options: Any = {"verify_iat": False, "verify_sub": False, "verify_jti": False}
        try:
            jwt.decode(token, key.key, algorithms=list(key.algorithms), options=options,
                       audience=policy.audience, issuer=policy.issuer, leeway=policy.leeway)
        except jwt.ExpiredSignatureError:
            raise TokenRejected(EXPIRED) from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected(NOT_YET_VALID) from None
        except jwt.InvalidAudienceError:
            raise TokenRejected(WRONG_AUDIENCE) from None
        except jwt.InvalidIssuerError:
            raise TokenRejected(WRONG_ISSUER) from None
        except jwt.MissingRequiredClaimError as exc:
            reasons = {"aud": WRONG_AUDIENCE, "iss": WRONG_ISSUER}
            raise TokenRejected(reasons.get(exc.claim, f"invalid claims: {exc.claim} "
                                            "required")) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise TokenRejected(INVALID) from None
        now = self._clock()
        if iat is not None and iat > now + policy.leeway:
            raise TokenRejected(ISSUED_IN_FUTURE)
        if policy.max_lifetime:
            if iat is None:
                raise TokenRejected("invalid claims: iat required")
            if exp - iat > policy.max_lifetime:
                raise TokenRejected(TOO_LONG_LIVED)

    async def _grant(self, payload: dict[str, Any]) -> VerifiedLaunch:
        jti = _identifier(payload, "jti")
        if jti is None:
            raise TokenRejected("invalid claims: jti required")
        user = _identifier(payload, "sub")
        args = payload.get("args", [])
        if not isinstance(args, list) or not all(
            isinstance(arg, str) and "\x00" not in arg and _encodable(arg) for arg in args
        ):
            raise TokenRejected("invalid claims: args must be a list of strings")
        write = payload.get("write")
        if write is not None and not isinstance(write, bool):
            raise TokenRejected("invalid claims: write must be true or false")
        # Last, so that only a token that would otherwise be granted uses up its jti.
        expires_at = float(payload["exp"]) + self.policy.leeway
        if not await self.replay.claim(jti, expires_at):
            raise TokenRejected(ALREADY_USED)
        return VerifiedLaunch(args=tuple(args), user=user, write=write, jti=jti,
                              claims=dict(payload))


def _same_type(typ: object, expected: str) -> bool:
    """Media types compare case-insensitively, `application/` may be left out (RFC 7515)."""
    if not isinstance(typ, str):
        return False

    def short(value: str) -> str:
        value = value.lower()
        return value[len("application/"):] if value.startswith("application/") else value

    return short(typ) == short(expected)


def verifier_from_options(options: Options, replay: ReplayStore | None = None, *,
                          origins: Origins = NO_ORIGINS) -> LaunchTokenVerifier | None:
    """The verifier the options ask for, or None when no JWT key option is set.

    Raises JwtConfigError when the options contradict each other or a key cannot be used;
    its message names each option where its value came from (`origins`): the flag, the
    environment variable, or the config file's line and key.
    """
    sources = KeySources(
        secret=options.jwt_secret,
        secret_file=options.jwt_secret_file,
        public_key_file=options.jwt_public_key_file,
        jwks_file=options.jwt_jwks_file,
        algorithms=options.jwt_algorithms,
        labels={name: origins.label(f"jwt_{name}") for name in (
            "secret", "secret_file", "public_key_file", "jwks_file", "algorithms")},
    )
    try:
        keys = load_key_set(sources)
    except KeyConfigError as exc:
        raise JwtConfigError(str(exc)) from None
    if keys is None:
        return None
    for name in ("jwt_leeway", "jwt_max_lifetime"):
        if getattr(options, name) < 0:
            raise JwtConfigError(f"{origins.label(name)} must not be negative")
    policy = JwtPolicy(
        audience=options.jwt_audience or None,
        issuer=options.jwt_issuer or None,
        leeway=options.jwt_leeway,
        max_lifetime=options.jwt_max_lifetime,
        token_type=options.jwt_type or None,
    )
    key_file = options.jwt_jwks_file or options.jwt_public_key_file or options.jwt_secret_file
    watch = KeyFileWatch(key_file, lambda: load_key_set(sources)) if key_file else None
    return LaunchTokenVerifier(keys, policy, replay, watch=watch)
