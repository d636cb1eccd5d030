"""JWT launch tokens: the verifier on its own (no server), its replay store, the launch it
hands to the server, and explicit typing.

Tokens are made with PyJWT and `cryptography` in the test (tests/jwt_keys.py), never with
gotty-py's minting code; every refusal is checked for its exact reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from gotty_py.auth.jwt import (
    LaunchTokenVerifier,
    TokenFailure,
    TokenRejected,
    VerifiedLaunch,
    verifier_from_options,
)
from gotty_py.auth.replay import MemoryReplayStore
from gotty_py.backend.environment import session_environment
from gotty_py.facts import SessionFacts
from gotty_py.options import Options
from gotty_py.server.grant import launch_from_verified
from tests.gotty import run_async
from tests.jwt_keys import (
    BAD_TOKENS,
    KeyPair,
    claims,
    ed25519_pair,
    es256,
    handmade,
    hs256,
    now,
    rsa_pair,
    write_jwks,
    write_secret,
)

# The failure class of each BAD_TOKENS case that is not MALFORMED.
FAILURE_OF_BAD_TOKEN = {
    "missing": TokenFailure.MISSING,
    "wrong signature": TokenFailure.BAD_SIGNATURE,
    "tampered payload": TokenFailure.BAD_SIGNATURE,
    "expired": TokenFailure.EXPIRED,
    "not yet valid": TokenFailure.NOT_YET_VALID,
    "issued in the future": TokenFailure.NOT_YET_VALID,
    "wrong audience": TokenFailure.AUDIENCE,
    "no audience": TokenFailure.AUDIENCE,
    "wrong issuer": TokenFailure.ISSUER,
    "too long-lived": TokenFailure.LIFETIME,
    **{name: TokenFailure.CLAIMS for name in (
        "no exp", "no iat", "no jti", "exp not a number", "args a string", "args not strings",
        "args with NUL", "nbf not a number", "write not a boolean", "sub not a string")},
}


def hs_verifier(tmp_path: Path, **options: Any) -> tuple[LaunchTokenVerifier, bytes]:
    secret = write_secret(tmp_path / "secret")
    verifier = verifier_from_options(Options(
        jwt_secret_file=str(tmp_path / "secret"), jwt_audience="console", jwt_issuer="portal",
        jwt_max_lifetime=120, jwt_leeway=5, **options))
    assert verifier is not None
    return verifier, secret


def verify(verifier: LaunchTokenVerifier, token: str | None) -> VerifiedLaunch:
    """The verifier is async (its replay store may be networked); these tests call it
    from synchronous code."""
    return run_async(verifier.verify(token))


def reason_of(verifier: LaunchTokenVerifier, token: str | None) -> str:
    with pytest.raises(TokenRejected) as caught:
        verify(verifier, token)
    return caught.value.reason


class TestVerifier:
    def test_valid_hs256_token(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        payload = claims(args=["exec", "-it", "pod", "--", "bash"], ns="prod", write=False)
        launch = verify(verifier, hs256(secret, payload))
        assert launch.args == ("exec", "-it", "pod", "--", "bash")
        assert launch.user == "alice"
        assert launch.write is False
        assert launch.jti == payload["jti"]
        assert launch.claims["ns"] == "prod"

    def test_args_and_write_are_optional(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        launch = verify(verifier, hs256(secret, claims(sub=None)))
        assert (launch.args, launch.user, launch.write) == ((), None, None)

    @pytest.mark.parametrize(("make", "reason"), [(m, r) for _, m, r in BAD_TOKENS],
                             ids=[name for name, _, _ in BAD_TOKENS])
    def test_refusal_reason(self, tmp_path: Path, make: Callable[[bytes], str],
                            reason: str) -> None:
        verifier, secret = hs_verifier(tmp_path)
        assert reason_of(verifier, make(secret)) == reason

    @pytest.mark.parametrize(("name", "make"), [(n, m) for n, m, _ in BAD_TOKENS],
                             ids=[name for name, _, _ in BAD_TOKENS])
    def test_failure_class(self, tmp_path: Path, name: str, make: Callable[[bytes], str]) -> None:
        """The stable class the metrics count (`gotty_py_launch_token_refusals_total`)."""
        verifier, secret = hs_verifier(tmp_path)
        with pytest.raises(TokenRejected) as caught:
            verify(verifier, make(secret))
        assert caught.value.failure is FAILURE_OF_BAD_TOKEN.get(name, TokenFailure.MALFORMED)

    def test_replayed_class(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        token = hs256(secret, claims())
        verify(verifier, token)
        with pytest.raises(TokenRejected) as caught:
            verify(verifier, token)
        assert caught.value.failure is TokenFailure.REPLAYED

    def test_reasons_never_contain_the_token(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        for _, make, _ in BAD_TOKENS:
            token = make(secret)
            reason = reason_of(verifier, token)
            assert not token or token.split(".")[0] not in reason
            assert secret.decode() not in reason

    def test_a_token_is_single_use(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        token = hs256(secret, claims())
        verify(verifier, token)
        assert reason_of(verifier, token) == "token already used"
        verify(verifier, hs256(secret, claims(jti="other")))

    def test_a_refused_token_does_not_use_up_its_jti(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        payload = claims()
        assert reason_of(verifier, hs256(secret, {**payload, "aud": "x"})) == "wrong audience"
        verify(verifier, hs256(secret, payload))

    def test_a_token_with_aud_needs_an_audience_configured(self, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        verifier = verifier_from_options(Options(jwt_secret_file=str(tmp_path / "secret")))
        assert verifier is not None
        assert reason_of(verifier, hs256(secret, claims(aud="some-console"))) == "wrong audience"
        verify(verifier, hs256(secret, claims(aud=None, iss="anyone")))

    def test_leeway_accepts_small_clock_skew(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        verify(verifier, hs256(secret, claims(iat=now() - 60, exp=now() - 3)))
        verify(verifier, hs256(secret, claims(nbf=now() + 3, iat=now() + 3)))

    def test_no_max_lifetime_makes_iat_optional(self, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        verifier = verifier_from_options(Options(jwt_secret_file=str(tmp_path / "secret"),
                                                 jwt_max_lifetime=0))
        assert verifier is not None
        verify(verifier, hs256(secret, claims(iat=None, aud=None, exp=now() + 86400)))

    @pytest.mark.parametrize("make_pair", [es256, ed25519_pair, rsa_pair],
                             ids=["ES256", "EdDSA", "RS256"])
    def test_public_key_file(self, tmp_path: Path, make_pair: Callable[[Path], KeyPair]) -> None:
        pair = make_pair(tmp_path)
        verifier = verifier_from_options(Options(jwt_public_key_file=str(pair.public_pem)))
        assert verifier is not None
        assert verifier.keys.algorithms == (pair.algorithm,)
        launch = verify(verifier, pair.sign(claims(aud=None, args=["a"])))
        assert launch.args == ("a",)
        other = make_pair(tmp_path / "..")
        assert reason_of(verifier, other.sign(claims(aud=None))) == "invalid token"

    def test_hmac_token_signed_with_the_public_key_is_refused(self, tmp_path: Path) -> None:
        """The key-confusion attack: the public key (which anyone may know) used as an
        HMAC secret must not verify."""
        pair = es256(tmp_path)
        verifier = verifier_from_options(Options(jwt_public_key_file=str(pair.public_pem)))
        assert verifier is not None
        forged = handmade({"alg": "HS256", "typ": "JWT"}, claims(aud=None),
                          hmac_key=pair.public_pem.read_bytes())
        assert reason_of(verifier, forged) == "invalid token"

    def test_token_of_another_algorithm_family_is_refused(self, tmp_path: Path) -> None:
        pair = ed25519_pair(tmp_path)
        verifier = verifier_from_options(Options(jwt_public_key_file=str(pair.public_pem)))
        assert verifier is not None
        assert reason_of(verifier, es256(tmp_path, "x").sign(claims(aud=None))) == "invalid token"

    def test_jwks_rotation_by_kid(self, tmp_path: Path) -> None:
        old, new, gone = es256(tmp_path, "old"), ed25519_pair(tmp_path, "new"), es256(
            tmp_path, "gone")
        jwks = write_jwks(tmp_path / "jwks.json", {"2024-old": old, "2025-new": new})
        verifier = verifier_from_options(Options(jwt_jwks_file=str(jwks)))
        assert verifier is not None
        assert verifier.keys.algorithms == ("ES256", "EdDSA")
        assert verify(verifier, old.sign(claims(aud=None), {"kid": "2024-old"})).user == "alice"
        assert verify(verifier, new.sign(claims(aud=None), {"kid": "2025-new"})).user == "alice"
        assert reason_of(verifier, gone.sign(claims(aud=None), {"kid": "2023-gone"})) == \
            "unknown signing key"
        assert reason_of(verifier, old.sign(claims(aud=None))) == "unknown signing key"
        # A known kid with another key's signature, or another key's algorithm, is forged.
        assert reason_of(verifier, gone.sign(claims(aud=None), {"kid": "2024-old"})) == \
            "invalid token"
        assert reason_of(verifier, old.sign(claims(aud=None), {"kid": "2025-new"})) == \
            "invalid token"

    def test_jwks_file_rotated_in_place_is_reloaded(self, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
        """A rotated JWKS (a Secret swapped under a running console) needs no restart; a
        broken one keeps the previous keys."""
        old, new = es256(tmp_path, "old"), es256(tmp_path, "new")
        jwks = write_jwks(tmp_path / "jwks.json", {"2024-old": old})
        verifier = verifier_from_options(Options(jwt_jwks_file=str(jwks)))
        assert verifier is not None
        assert reason_of(verifier, new.sign(claims(aud=None), {"kid": "2025-new"})) == \
            "unknown signing key"

        def rewrite(text: str, mtime: int) -> None:
            jwks.write_text(text)
            os.utime(jwks, ns=(mtime, mtime))  # a distinct stamp, however fast the test runs

        rewrite(json.dumps({"keys": [old.jwk("2024-old"), new.jwk("2025-new")]}), 10**18)
        assert verify(verifier, new.sign(claims(aud=None), {"kid": "2025-new"})).user == "alice"
        rewrite("{not json", 2 * 10**18)
        with caplog.at_level("ERROR", logger="gotty_py.auth"):
            assert verify(verifier, old.sign(claims(aud=None), {"kid": "2024-old"})).user == \
                "alice"
        assert "keeping the previous ones" in caplog.text

    def test_jwks_key_with_alg_is_used_with_that_alg_only(self, tmp_path: Path) -> None:
        pair = rsa_pair(tmp_path)
        jwk = pair.jwk("k1") | {"alg": "PS256"}
        (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        verifier = verifier_from_options(Options(jwt_jwks_file=str(tmp_path / "jwks.json")))
        assert verifier is not None
        assert verifier.keys.algorithms == ("PS256",)
        token = jwt.encode(claims(aud=None), pair.private, algorithm="PS256",
                           headers={"kid": "k1"})
        verify(verifier, token)
        assert reason_of(verifier, pair.sign(claims(aud=None), {"kid": "k1"})) == "invalid token"


def claim(store: MemoryReplayStore, jti: str, expires_at: float) -> bool:
    return run_async(store.claim(jti, expires_at))


class TestReplayStore:
    def test_claims_once_and_forgets_after_expiry(self) -> None:
        clock = [1000.0]
        store = MemoryReplayStore(clock=lambda: clock[0])
        assert claim(store, "a", 1060)
        assert claim(store, "b", 2000)
        assert not claim(store, "a", 1060)
        assert len(store) == 2
        clock[0] = 1061
        assert claim(store, "c", 1100)
        assert len(store) == 2  # "a" was pruned
        assert claim(store, "a", 1200)  # its token has expired: no replay is possible


class TestLaunch:
    @pytest.mark.parametrize(("server_write", "claim", "expected"), [
        (True, None, True), (True, True, True), (True, False, False),
        (False, None, False), (False, True, False), (False, False, False),
    ])
    def test_write_claim_only_takes_away(self, tmp_path: Path, server_write: bool,
                                         claim: bool | None, expected: bool) -> None:
        verifier, secret = hs_verifier(tmp_path)
        launch = launch_from_verified(verify(verifier, hs256(secret, claims(write=claim))),
                                      ("sh",), server_write)
        assert launch.permit_write is expected
        facts = SessionFacts(id="s", started_at=0, remote_addr="", user=launch.user,
                             argv=launch.argv, size=(80, 24))
        assert session_environment({}, facts, launch.env) == {"GOTTY_USER": "alice",
                                                              "GOTTY_SESSION_ID": "s"}
        assert launch.user == "alice"


class TestExplicitTyping:
    """--jwt-type (RFC 8725 §3.11): another JWT of the same portal cannot launch a session."""

    def test_required_type(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path, jwt_type="gotty-launch+jwt")
        typed = jwt.encode(claims(), secret, algorithm="HS256",
                           headers={"typ": "application/Gotty-Launch+JWT"})
        assert verify(verifier, typed).user == "alice"
        for headers in ({}, {"typ": "JWT"}, {"typ": 5}):
            token = jwt.encode(claims(), secret, algorithm="HS256", headers=headers)
            assert reason_of(verifier, token) == "wrong token type"

    def test_not_checked_by_default(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        assert verify(verifier, jwt.encode(claims(), secret, algorithm="HS256")).user == "alice"
