"""Launch-token keys and the algorithm policy: which key verifies which algorithms.

Rules of this module: it reads key material (an HMAC secret, a PEM public key, a JWKS
file) and decides, before any token is seen, which algorithms are accepted: an explicit
list, one family only (HMAC or public key, never both: that mix is the key-confusion bug
class), never `none`, each fitting its key. Every problem is a `KeyConfigError` whose
message names the option and never contains key material.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHM_BY_CURVE = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512",
                         "secp256k1": "ES256K"}
EDDSA_ALGORITHMS = ("EdDSA",)
KNOWN_ALGORITHMS = (*HMAC_ALGORITHMS, *RSA_ALGORITHMS, *EC_ALGORITHM_BY_CURVE.values(),
                    *EDDSA_ALGORITHMS)
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
MIN_RSA_BITS = 2048

PublicKey = (rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
             | ed448.Ed448PublicKey)
PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
              | ed448.Ed448PrivateKey)
KeyMaterial = bytes | PublicKey | PrivateKey
SigningKey = bytes | PrivateKey


class KeyConfigError(ValueError):
    """A key or algorithm option that cannot work; the message is for the operator."""


@dataclass(frozen=True)
class VerificationKey:
    """One key and the algorithms a token signed with it may use."""

    key: bytes | PublicKey
    algorithms: tuple[str, ...]
    kid: str | None = None


@dataclass(frozen=True)
class KeySet:
    """The keys that verify launch tokens, the accepted algorithms, and how to pick a key.

    With a JWKS (`by_kid`), a token names its key by the `kid` header, so old and new keys
    can both be listed during a rotation; otherwise the single key verifies every token.
    """

    keys: tuple[VerificationKey, ...]
    algorithms: tuple[str, ...]
    by_kid: bool
    description: str

    def find(self, kid: object) -> VerificationKey | None:
        if not self.by_kid:
            return self.keys[0]
        if not isinstance(kid, str):
            return None
        return next((key for key in self.keys if key.kid == kid), None)


def algorithms_for_key(key: KeyMaterial) -> tuple[str, ...]:
    """Every algorithm this key can verify (or sign) with."""
    if isinstance(key, bytes):
        return HMAC_ALGORITHMS
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        algorithm = EC_ALGORITHM_BY_CURVE.get(key.curve.name)
        return (algorithm,) if algorithm else ()
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey
                  | ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return EDDSA_ALGORITHMS
    return ()


def default_algorithm(key: KeyMaterial) -> str:
    """The algorithm used when none is configured: the first that fits the key."""
    fitting = algorithms_for_key(key)
    if not fitting:
        raise KeyConfigError("unsupported key type")
    return fitting[0]


def is_hmac(algorithm: str) -> bool:
    return algorithm in HMAC_ALGORITHMS


def parse_algorithms(text: str, option: str) -> tuple[str, ...]:
    """A comma- or space-separated list of algorithm names (matched case-insensitively)."""
    canonical = {name.lower(): name for name in KNOWN_ALGORITHMS}
    names: list[str] = []
    for word in re.split(r"[\s,]+", text.strip()):
        if not word:
            continue
        if word.lower() == "none":
            raise KeyConfigError(f"{option}: 'none' (unsigned tokens) is never accepted")
        name = canonical.get(word.lower())
        if name is None:
            raise KeyConfigError(f"{option}: unknown algorithm {word!r} "
                                 f"(known: {', '.join(KNOWN_ALGORITHMS)})")
        if name not in names:
            names.append(name)
    if not names:
        raise KeyConfigError(f"{option}: the list of algorithms is empty")
    hmac = [name for name in names if is_hmac(name)]
    public = [name for name in names if not is_hmac(name)]
    if hmac and public:
        raise KeyConfigError(
            f"{option}: mixes HMAC ({', '.join(hmac)}) and public-key ({', '.join(public)}) "
            "algorithms; choose one family")
    return tuple(names)


def secret_from_bytes(secret: bytes, option: str) -> bytes:
    """Check an HMAC secret: long enough, and not a public key given by mistake."""
    if secret.lstrip().startswith(b"-----BEGIN") or secret.startswith((b"ssh-", b"ecdsa-")):
        raise KeyConfigError(f"{option}: looks like a PEM or SSH key, not an HMAC secret "
                             "(a public key belongs in --jwt-public-key-file)")
    if len(secret) < MIN_SECRET_BYTES:
        raise KeyConfigError(f"{option}: the HMAC secret must be at least {MIN_SECRET_BYTES} "
                             f"bytes long (it has {len(secret)})")
    return secret


def read_key_file(path: str, option: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise KeyConfigError(f"{option}: cannot read {path}: {exc.strerror}") from None


def read_secret_file(path: str, option: str) -> bytes:
    """The secret is the file's bytes less trailing newlines (as `echo` and editors add)."""
    return secret_from_bytes(read_key_file(path, option).rstrip(b"\r\n"), option)


def _check_public_key(key: object, where: str) -> PublicKey:
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey
                      | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        raise KeyConfigError(f"{where}: unsupported key type (use RSA, EC or Ed25519)")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise KeyConfigError(f"{where}: RSA key of {key.key_size} bits; at least "
                             f"{MIN_RSA_BITS} are required")
    if isinstance(key, ec.EllipticCurvePublicKey) and not algorithms_for_key(key):
        raise KeyConfigError(f"{where}: unsupported EC curve {key.curve.name}")
    return key


def load_public_key_pem(data: bytes, where: str) -> PublicKey:
    """A PEM public key or certificate; a private key is refused, as the console must
    hold only what verifies tokens, never what mints them."""
    if b"PRIVATE KEY-----" in data:
        raise KeyConfigError(f"{where}: holds a private key; give the console only the "
                             "public key (the private key stays with the token issuer)")
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key: object = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyConfigError(f"{where}: not a PEM public key or certificate "
                             "(RSA, EC or Ed25519)") from None
    return _check_public_key(key, where)


def load_private_key_pem(data: bytes, where: str) -> PrivateKey:
    """A PEM private key for signing (the token CLI and portals); unencrypted only."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyConfigError(f"{where}: the private key is encrypted; "
                             "give an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyConfigError(f"{where}: not a PEM private key (RSA, EC or Ed25519)") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                      | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise KeyConfigError(f"{where}: unsupported key type (use RSA, EC or Ed25519)")
    _check_public_key(key.public_key(), where)
    return key


def _jwk_key(jwk: Mapping[str, Any], where: str) -> tuple[PublicKey, str | None]:
    """One JWKS entry as a public key, and its `alg` when the entry names one."""
    kty = jwk.get("kty")
    if kty == "oct":
        raise KeyConfigError(f"{where}: symmetric (oct) keys are not accepted in a JWKS; "
                             "use --jwt-secret-file for HMAC")
    if kty not in ("RSA", "EC", "OKP"):
        raise KeyConfigError(f"{where}: unsupported key type {kty!r} (use RSA, EC or OKP)")
    if any(name in jwk for name in ("d", "p", "q", "dp", "dq", "qi")):
        raise KeyConfigError(f"{where}: holds a private key; the JWKS must contain only "
                             "public keys")
    alg = jwk.get("alg")
    if alg is not None and alg not in KNOWN_ALGORITHMS:
        raise KeyConfigError(f"{where}: unsupported alg {alg!r}")
    try:
        # PyJWK's own messages quote the JWK; ours must not, so they are replaced.
        key = jwt.PyJWK(dict(jwk)).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise KeyConfigError(f"{where}: not a valid {kty} public key") from None
    public = _check_public_key(key, where)
    if alg is not None and alg not in algorithms_for_key(public):
        raise KeyConfigError(f"{where}: alg {alg} does not fit a {kty} key")
    return public, alg


def load_jwks(data: bytes, where: str) -> list[tuple[str, PublicKey, str | None]]:
    """A JWKS document: (kid, public key, its `alg` or None) per signing key.

    Every key needs a unique `kid`, since tokens pick their key by it; keys marked
    `"use": "enc"` are skipped (they never sign).
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise KeyConfigError(f"{where}: not valid JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise KeyConfigError(f'{where}: expected a JWKS, {{"keys": [...]}}')
    loaded: list[tuple[str, PublicKey, str | None]] = []
    for index, jwk in enumerate(keys, 1):
        if not isinstance(jwk, dict):
            raise KeyConfigError(f"{where}: key #{index} is not a JSON object")
        if jwk.get("use", "sig") != "sig":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise KeyConfigError(f"{where}: key #{index} has no kid (tokens choose their "
                                 "key by kid)")
        if any(kid == seen for seen, _, _ in loaded):
            raise KeyConfigError(f"{where}: kid {kid!r} appears more than once")
        key, alg = _jwk_key(jwk, f"{where}: key {kid!r}")
        loaded.append((kid, key, alg))
    if not loaded:
        raise KeyConfigError(f"{where}: holds no signing keys")
    return loaded


@dataclass(frozen=True)
class _Candidate:
    """A loaded key before the policy: what it can verify, and its default algorithm."""

    key: bytes | PublicKey
    capable: tuple[str, ...]
    default: str
    kid: str | None = None


def _apply_policy(configured: tuple[str, ...] | None, candidates: Sequence[_Candidate],
                  option: str) -> tuple[tuple[str, ...], tuple[VerificationKey, ...]]:
    """Each key accepts the configured algorithms it can verify (or its default when
    nothing is configured); every configured algorithm must fit at least one key."""
    if configured is None:
        allowed: list[str] = []
        for candidate in candidates:
            if candidate.default not in allowed:
                allowed.append(candidate.default)
        keys = tuple(VerificationKey(c.key, (c.default,), c.kid) for c in candidates)
        return tuple(allowed), keys
    for name in configured:
        if not any(name in candidate.capable for candidate in candidates):
            what = ("the HMAC secret" if isinstance(candidates[0].key, bytes)
                    else "the public key" if len(candidates) == 1 else "any key of the JWKS")
            raise KeyConfigError(f"{option}: {name} does not fit {what}")
    keys = tuple(VerificationKey(c.key, tuple(n for n in configured if n in c.capable), c.kid)
                 for c in candidates)
    return configured, keys


@dataclass(frozen=True)
class KeySources:
    """The key options as given (empty string = not set), with the labels errors use."""

    secret: str = ""
    secret_file: str = ""
    public_key_file: str = ""
    jwks_file: str = ""
    algorithms: str = ""
    labels: Mapping[str, str] | None = None

    def label(self, name: str) -> str:
        return (self.labels or {}).get(name, name)

    def given(self) -> list[str]:
        return [name for name in KEY_SOURCES if getattr(self, name)]


KEY_SOURCES = ("secret", "secret_file", "public_key_file", "jwks_file")


def load_key_set(sources: KeySources) -> KeySet | None:
    """The verification keys and algorithm policy, or None when no key option is set."""
    given = sources.given()
    if not given:
        if sources.algorithms:
            names = ", ".join(sources.label(name) for name in KEY_SOURCES)
            raise KeyConfigError(f"{sources.label('algorithms')} is set but no key is "
                                 f"(give one of {names})")
        return None
    if len(given) > 1:
        raise KeyConfigError("exactly one JWT key source may be set; got "
                             + " and ".join(sources.label(name) for name in given))
    source = given[0]
    label = sources.label(source)
    configured = (parse_algorithms(sources.algorithms, sources.label("algorithms"))
                  if sources.algorithms else None)
    by_kid = False
    candidates: list[_Candidate]
    if source in ("secret", "secret_file"):
        if source == "secret":
            secret = secret_from_bytes(sources.secret.encode("utf-8"), label)
            description = "an HMAC secret"
        else:
            secret = read_secret_file(sources.secret_file, label)
            description = f"the HMAC secret in {sources.secret_file}"
        candidates = [_Candidate(secret, HMAC_ALGORITHMS, "HS256")]
    elif source == "public_key_file":
        where = f"{label} {sources.public_key_file}"
        public = load_public_key_pem(read_key_file(sources.public_key_file, label), where)
        candidates = [_Candidate(public, algorithms_for_key(public), default_algorithm(public))]
        description = f"the public key in {sources.public_key_file}"
    else:
        where = f"{label} {sources.jwks_file}"
        entries = load_jwks(read_key_file(sources.jwks_file, label), where)
        candidates = [
            _Candidate(key, (alg,) if alg else algorithms_for_key(key),
                       alg or default_algorithm(key), kid)
            for kid, key, alg in entries
        ]
        by_kid = True
        description = (f"the JWKS in {sources.jwks_file} (kid "
                       + ", ".join(kid for kid, _, _ in entries) + ")")
    algorithms, keys = _apply_policy(configured, candidates, sources.label("algorithms"))
    return KeySet(keys=keys, algorithms=algorithms, by_kid=by_kid, description=description)
