"""Keys and tokens for the JWT tests, made here with `cryptography` and PyJWT directly (not
with gotty-py's own minting code, so that the tests check it against an independent
issuer). Nothing is downloaded; every key is fresh per test. BAD_TOKENS, the tokens that
must be refused, serves both tests/test_jwt_verifier.py and tests/test_jwt_sessions.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gotty_py.auth.jwt import MAX_TOKEN_LENGTH

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass
class KeyPair:
    private: PrivateKey
    private_pem: Path
    public_pem: Path
    algorithm: str

    def sign(self, payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(payload, self.private, algorithm=self.algorithm, headers=headers)

    def jwk(self, kid: str) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        data: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        data["kid"] = kid
        return data


def _write_pair(directory: Path, name: str, key: PrivateKey, algorithm: str) -> KeyPair:
    private_pem = directory / f"{name}.pem"
    public_pem = directory / f"{name}.pub.pem"
    private_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    public_pem.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(key, private_pem, public_pem, algorithm)


def es256(directory: Path, name: str = "es256") -> KeyPair:
    return _write_pair(directory, name, ec.generate_private_key(ec.SECP256R1()), "ES256")


def ed25519_pair(directory: Path, name: str = "ed25519") -> KeyPair:
    return _write_pair(directory, name, ed25519.Ed25519PrivateKey.generate(), "EdDSA")


def rsa_pair(directory: Path, name: str = "rsa", bits: int = 2048) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _write_pair(directory, name, key, "RS256")


def write_jwks(path: Path, keys: dict[str, KeyPair]) -> Path:
    path.write_text(json.dumps({"keys": [pair.jwk(kid) for kid, pair in keys.items()]}))
    return path


def write_secret(path: Path) -> bytes:
    """A 64-character secret in a file with a trailing newline, as `echo` would write it."""
    secret = secrets.token_urlsafe(48).encode()
    path.write_bytes(secret + b"\n")
    return secret


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid claim set (60 s lifetime, fresh jti); an override of None removes a claim."""
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(12),
                               "sub": "alice", "aud": "console", "iss": "portal"}
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not None}


def hs256(secret: bytes, payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"",
             hmac_key: bytes | None = None) -> str:
    """A compact JWS built by hand, for tokens PyJWT refuses to make."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    if hmac_key is not None:
        signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def tampered(token: str) -> str:
    header, _, signature = token.split(".")
    forged = claims(args=["--kubeconfig", "/etc/admin"])
    return f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"


def now() -> int:
    return int(time.time())


# (name, token maker given the server's secret, expected reason). Every token is valid but
# for the one thing named.
BAD_TOKENS: list[tuple[str, Callable[[bytes], str], str]] = [
    ("missing", lambda s: "", "token missing"),
    ("malformed", lambda s: "not-a-token", "invalid token"),
    ("undecodable", lambda s: "abc.def.ghi", "invalid token"),
    ("wrong signature", lambda s: hs256(b"another-secret-of-32-bytes-or-more!!", claims()),
     "invalid token"),
    ("tampered payload", lambda s: tampered(hs256(s, claims())), "invalid token"),
    ("alg none", lambda s: jwt.encode(claims(), None, algorithm="none"), "invalid token"),
    ("alg none with a signature", lambda s: handmade({"alg": "none"}, claims(), b"sig"),
     "invalid token"),
    ("alg not in the list", lambda s: jwt.encode(claims(), s, algorithm="HS512"),
     "invalid token"),
    ("expired", lambda s: hs256(s, claims(iat=now() - 200, exp=now() - 100)), "token expired"),
    ("not yet valid", lambda s: hs256(s, claims(nbf=now() + 100)), "token not yet valid"),
    ("issued in the future", lambda s: hs256(s, claims(iat=now() + 100, exp=now() + 150)),
     "token issued in the future"),
    ("wrong audience", lambda s: hs256(s, claims(aud="other-console")), "wrong audience"),
    ("no audience", lambda s: hs256(s, claims(aud=None)), "wrong audience"),
    ("wrong issuer", lambda s: hs256(s, claims(iss="evil-portal")), "wrong issuer"),
    ("too long-lived", lambda s: hs256(s, claims(exp=now() + 3600)), "token lifetime too long"),
    ("no exp", lambda s: hs256(s, claims(exp=None)), "invalid claims: exp required"),
    ("no iat", lambda s: hs256(s, claims(iat=None)), "invalid claims: iat required"),
    ("no jti", lambda s: hs256(s, claims(jti=None)), "invalid claims: jti required"),
    ("exp not a number", lambda s: hs256(s, claims(exp="tomorrow")),
     "invalid claims: exp must be a number"),
    ("args a string", lambda s: hs256(s, claims(args="exec -it pod")),
     "invalid claims: args must be a list of strings"),
    ("args not strings", lambda s: hs256(s, claims(args=["exec", 1])),
     "invalid claims: args must be a list of strings"),
    ("args with NUL", lambda s: hs256(s, claims(args=["a\x00b"])),
     "invalid claims: args must be a list of strings"),
    ("nbf not a number", lambda s: hs256(s, claims(nbf=True)),
     "invalid claims: nbf must be a number"),
    ("write not a boolean", lambda s: hs256(s, claims(write="yes")),
     "invalid claims: write must be true or false"),
    ("sub not a string", lambda s: hs256(s, claims(sub=42)), "invalid claims: sub must be a "
     "non-empty string of at most 256 characters without control characters"),
    ("crit header", lambda s: hs256(s, claims(), {"crit": ["exp"]}), "invalid token"),
    ("jku header", lambda s: hs256(s, claims(), {"jku": "https://evil.example/jwks"}),
     "invalid token"),
    ("jwk header", lambda s: hs256(s, claims(), {"jwk": {"kty": "oct", "k": "AAAA"}}),
     "invalid token"),
    ("x5u header", lambda s: hs256(s, claims(), {"x5u": "https://evil.example/cert"}),
     "invalid token"),
    ("x5c header", lambda s: hs256(s, claims(), {"x5c": ["MIIB"]}), "invalid token"),
    ("longer than 8 KiB", lambda s: hs256(s, claims(pad="x" * MAX_TOKEN_LENGTH)),
     "invalid token"),
]
