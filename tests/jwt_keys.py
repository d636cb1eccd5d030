"""Keys and tokens for the JWT tests, made here with `cryptography` and PyJWT directly (not
with gotty-py's own minting code, so that the tests check it against an independent
issuer). Nothing is downloaded; every key is fresh per test."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

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
