"""JWT launch tokens: the verifier on its own, then a real server with real WebSocket clients.

Tokens are made with PyJWT and `cryptography` in the test (tests/jwt_keys.py), never with
gotty-py's minting code. Every refusal is checked for its exact close reason, code 1008,
the server's log line, and that no process was started (no marker file, no "Command is
running" line).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from gotty_py.auth.jwt import (
    MAX_TOKEN_LENGTH,
    LaunchTokenVerifier,
    TokenRejected,
    verifier_from_options,
)
from gotty_py.auth.keys import KeySources, load_key_set
from gotty_py.auth.replay import MemoryReplayStore
from gotty_py.config import load_options
from gotty_py.options import Options
from gotty_py.server.sessions import launch_from_verified
from tests.gotty import (
    Client,
    Closed,
    Gotty,
    GottyProcess,
    basic,
    http_request,
    run_gotty,
    start_gotty,
)
from tests.gotty import open_session as open_webtty_session
from tests.jwt_keys import (
    KeyPair,
    claims,
    ed25519_pair,
    es256,
    hs256,
    rsa_pair,
    write_jwks,
    write_secret,
)

# The command of the end-to-end tests: proves it ran (marker file, $0), shows its arguments
# one per bracket, and the user it was started for.
SHOW = 'touch "$0"; printf "[%s]" "$@"; echo; echo "user=${GOTTY_USER-unset}"'
POLICY = ["--jwt-audience", "console", "--jwt-issuer", "portal", "--jwt-max-lifetime", "120"]


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
END_TO_END = {"missing", "malformed", "wrong signature", "alg none", "expired", "not yet valid",
              "wrong audience", "wrong issuer", "too long-lived", "no jti", "args a string"}


def hs_verifier(tmp_path: Path, **options: Any) -> tuple[LaunchTokenVerifier, bytes]:
    secret = write_secret(tmp_path / "secret")
    verifier = verifier_from_options(Options(
        jwt_secret_file=str(tmp_path / "secret"), jwt_audience="console", jwt_issuer="portal",
        jwt_max_lifetime=120, jwt_leeway=5, **options))
    assert verifier is not None
    return verifier, secret


def reason_of(verifier: LaunchTokenVerifier, token: str | None) -> str:
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(token)
    return caught.value.reason


# --- the verifier ----------------------------------------------------------------------------

class TestVerifier:
    def test_valid_hs256_token(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        payload = claims(args=["exec", "-it", "pod", "--", "bash"], ns="prod", write=False)
        launch = verifier.verify(hs256(secret, payload))
        assert launch.args == ("exec", "-it", "pod", "--", "bash")
        assert launch.user == "alice"
        assert launch.write is False
        assert launch.jti == payload["jti"]
        assert launch.claims["ns"] == "prod"

    def test_args_and_write_are_optional(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        launch = verifier.verify(hs256(secret, claims(sub=None)))
        assert (launch.args, launch.user, launch.write) == ((), None, None)

    @pytest.mark.parametrize(("make", "reason"), [(m, r) for _, m, r in BAD_TOKENS],
                             ids=[name for name, _, _ in BAD_TOKENS])
    def test_refusal_reason(self, tmp_path: Path, make: Callable[[bytes], str],
                            reason: str) -> None:
        verifier, secret = hs_verifier(tmp_path)
        assert reason_of(verifier, make(secret)) == reason

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
        verifier.verify(token)
        assert reason_of(verifier, token) == "token already used"
        verifier.verify(hs256(secret, claims(jti="other")))

    def test_a_refused_token_does_not_use_up_its_jti(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        payload = claims()
        assert reason_of(verifier, hs256(secret, {**payload, "aud": "x"})) == "wrong audience"
        verifier.verify(hs256(secret, payload))

    def test_a_token_with_aud_needs_an_audience_configured(self, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        verifier = verifier_from_options(Options(jwt_secret_file=str(tmp_path / "secret")))
        assert verifier is not None
        assert reason_of(verifier, hs256(secret, claims(aud="some-console"))) == "wrong audience"
        verifier.verify(hs256(secret, claims(aud=None, iss="anyone")))

    def test_leeway_accepts_small_clock_skew(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        verifier.verify(hs256(secret, claims(iat=now() - 60, exp=now() - 3)))
        verifier.verify(hs256(secret, claims(nbf=now() + 3, iat=now() + 3)))

    def test_no_max_lifetime_makes_iat_optional(self, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        verifier = verifier_from_options(Options(jwt_secret_file=str(tmp_path / "secret"),
                                                 jwt_max_lifetime=0))
        assert verifier is not None
        verifier.verify(hs256(secret, claims(iat=None, aud=None, exp=now() + 86400)))

    @pytest.mark.parametrize("make_pair", [es256, ed25519_pair, rsa_pair],
                             ids=["ES256", "EdDSA", "RS256"])
    def test_public_key_file(self, tmp_path: Path, make_pair: Callable[[Path], KeyPair]) -> None:
        pair = make_pair(tmp_path)
        verifier = verifier_from_options(Options(jwt_public_key_file=str(pair.public_pem)))
        assert verifier is not None
        assert verifier.keys.algorithms == (pair.algorithm,)
        launch = verifier.verify(pair.sign(claims(aud=None, args=["a"])))
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
        assert verifier.verify(old.sign(claims(aud=None), {"kid": "2024-old"})).user == "alice"
        assert verifier.verify(new.sign(claims(aud=None), {"kid": "2025-new"})).user == "alice"
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
        assert verifier.verify(new.sign(claims(aud=None), {"kid": "2025-new"})).user == "alice"
        rewrite("{not json", 2 * 10**18)
        with caplog.at_level("ERROR", logger="gotty_py.auth"):
            assert verifier.verify(old.sign(claims(aud=None), {"kid": "2024-old"})).user == \
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
        verifier.verify(token)
        assert reason_of(verifier, pair.sign(claims(aud=None), {"kid": "k1"})) == "invalid token"


class TestReplayStore:
    def test_claims_once_and_forgets_after_expiry(self) -> None:
        clock = [1000.0]
        store = MemoryReplayStore(clock=lambda: clock[0])
        assert store.claim("a", 1060)
        assert store.claim("b", 2000)
        assert not store.claim("a", 1060)
        assert len(store) == 2
        clock[0] = 1061
        assert store.claim("c", 1100)
        assert len(store) == 2  # "a" was pruned
        assert store.claim("a", 1200)  # its token has expired: no replay is possible


class TestLaunch:
    @pytest.mark.parametrize(("server_write", "claim", "expected"), [
        (True, None, True), (True, True, True), (True, False, False),
        (False, None, False), (False, True, False), (False, False, False),
    ])
    def test_write_claim_only_takes_away(self, tmp_path: Path, server_write: bool,
                                         claim: bool | None, expected: bool) -> None:
        verifier, secret = hs_verifier(tmp_path)
        launch = launch_from_verified(verifier.verify(hs256(secret, claims(write=claim))),
                                      server_write)
        assert launch.permit_write is expected
        assert launch.env == {"GOTTY_USER": "alice"}
        assert launch.user == "alice"


# --- configuration -------------------------------------------------------------------------

def config_error(options: Options) -> str:
    from gotty_py.auth.jwt import JwtConfigError
    with pytest.raises(JwtConfigError) as caught:
        verifier_from_options(options)
    return str(caught.value)


class TestConfiguration:
    def test_no_key_no_jwt_mode(self) -> None:
        assert verifier_from_options(Options()) is None

    def test_options_from_hcl_and_environment(self, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        config = tmp_path / "gotty.hcl"
        config.write_text('jwt_audience = "console"\njwt_max_lifetime = 90\n'
                          'jwt_algorithms = "HS256, HS384"\n')
        loaded = load_options({"config": str(config)},
                              {"GOTTY_JWT_SECRET_FILE": str(tmp_path / "secret"),
                               "GOTTY_JWT_LEEWAY": "7"}, home="/nonexistent")
        options = loaded.options
        assert (options.jwt_secret_file, options.jwt_audience, options.jwt_leeway,
                options.jwt_max_lifetime) == (str(tmp_path / "secret"), "console", 7, 90)
        verifier = verifier_from_options(options)
        assert verifier is not None
        assert verifier.keys.algorithms == ("HS256", "HS384")
        verifier.verify(jwt.encode(claims(iss=None), secret, algorithm="HS384"))

    def test_errors(self, tmp_path: Path) -> None:
        secret_file = tmp_path / "secret"
        write_secret(secret_file)
        pair = es256(tmp_path)
        errors = {
            "--jwt-secret and --jwt-public-key-file": Options(
                jwt_secret="s" * 40, jwt_public_key_file=str(pair.public_pem)),
            "--jwt-algorithms: mixes HMAC (HS256) and public-key (ES256)": Options(
                jwt_secret="s" * 40, jwt_algorithms="HS256,ES256"),
            "'none' (unsigned tokens) is never accepted": Options(
                jwt_secret="s" * 40, jwt_algorithms="HS256,none"),
            "unknown algorithm 'HS1'": Options(jwt_secret="s" * 40, jwt_algorithms="HS1"),
            "--jwt-algorithms: ES256 does not fit the HMAC secret": Options(
                jwt_secret_file=str(secret_file), jwt_algorithms="ES256"),
            "--jwt-algorithms: RS256 does not fit the public key": Options(
                jwt_public_key_file=str(pair.public_pem), jwt_algorithms="RS256"),
            "--jwt-secret: the HMAC secret must be at least 32 bytes long (it has 6)": Options(
                jwt_secret="short!"),
            "--jwt-secret-file: cannot read /nonexistent/secret: No such file or directory":
                Options(jwt_secret_file="/nonexistent/secret"),
            "--jwt-public-key-file: cannot read": Options(jwt_public_key_file=str(tmp_path)),
            "holds a private key; give the console only the public key": Options(
                jwt_public_key_file=str(pair.private_pem)),
            "not a PEM public key or certificate": Options(jwt_public_key_file=str(secret_file)),
            "RSA key of 1024 bits; at least 2048 are required": Options(
                jwt_public_key_file=str(rsa_pair(tmp_path, "small", 1024).public_pem)),
            "looks like a PEM or SSH key, not an HMAC secret": Options(
                jwt_secret_file=str(pair.public_pem)),
            "--jwt-algorithms is set but no key is": Options(jwt_algorithms="ES256"),
            "--jwt-leeway must not be negative": Options(jwt_secret="s" * 40, jwt_leeway=-1),
        }
        for expected, options in errors.items():
            assert expected in config_error(options)

    def test_jwks_errors(self, tmp_path: Path) -> None:
        pair = es256(tmp_path)
        jwk = pair.jwk("k1")
        cases = {
            "not valid JSON": "{",
            'expected a JWKS, {"keys": [...]}': "[]",
            "key #1 has no kid": json.dumps({"keys": [{k: v for k, v in jwk.items()
                                                      if k != "kid"}]}),
            "kid 'k1' appears more than once": json.dumps({"keys": [jwk, jwk]}),
            "symmetric (oct) keys are not accepted": json.dumps(
                {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}),
            "key 'p': holds a private key": json.dumps({"keys": [
                json.loads(jwt.get_algorithm_by_name("ES256").to_jwk(pair.private))
                | {"kid": "p"}]}),
            "key 'k1': not a valid EC public key": json.dumps({"keys": [jwk | {"x": "AAAA"}]}),
            "holds no signing keys": json.dumps({"keys": [jwk | {"use": "enc"}]}),
        }
        path = tmp_path / "jwks.json"
        for expected, text in cases.items():
            path.write_text(text)
            message = config_error(Options(jwt_jwks_file=str(path)))
            assert expected in message, message
            assert jwk["x"] not in message

    def test_key_sources_need_no_options_module(self) -> None:
        keys = load_key_set(KeySources(secret="k" * 32))
        assert keys is not None and keys.algorithms == ("HS256",)

    @pytest.mark.parametrize(("args", "message"), [
        (["--jwt-secret-file", "/nonexistent/s", "--jwt-jwks-file", "/nonexistent/j"],
         "Error: exactly one JWT key source may be set; got --jwt-secret-file and "
         "--jwt-jwks-file"),
        (["--jwt-secret-file", "/nonexistent/s"],
         "Error: --jwt-secret-file: cannot read /nonexistent/s: No such file or directory"),
        (["--jwt-secret", "s" * 40, "--jwt-algorithms", "none"],
         "Error: --jwt-algorithms: 'none' (unsigned tokens) is never accepted"),
    ])
    def test_startup_errors_exit_2(self, args: list[str], message: str) -> None:
        result = run_gotty("--address", "127.0.0.1", "--port", "0", *args, "true")
        assert result.returncode == 2, result.stderr
        assert message in result.stderr


# --- end to end -----------------------------------------------------------------------------

def open_session(server: GottyProcess, token: str | None, *, prefix: str = "",
                 **extra: Any) -> Client:
    """A session whose page URL carries `token`: arguments `?{prefix}jwt={token}`, or just
    `prefix` without a token."""
    arguments = prefix if token is None else f"?{prefix}jwt={token}"
    return open_webtty_session(server, arguments, **extra)


def refused(client: Client) -> Closed:
    client.frames_until_close()
    assert client.closed is not None
    return client.closed


def run_to_end(client: Client) -> str:
    client.frames_until_close()
    return client.output.decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.fixture(scope="module")
def refusing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[GottyProcess, bytes, Path]]:
    """One HS256 server for all the refusal cases; its command must never run."""
    directory = tmp_path_factory.mktemp("refusals")
    secret = write_secret(directory / "secret")
    marker = directory / "marker"
    server = start_gotty("--address", "127.0.0.1", "--port", "0",
                         "--jwt-secret-file", str(directory / "secret"), *POLICY,
                         "sh", "-c", SHOW, str(marker))
    yield server, secret, marker
    server.stop()


class TestEndToEnd:
    @pytest.mark.parametrize(("make", "reason"),
                             [(m, r) for n, m, r in BAD_TOKENS if n in END_TO_END],
                             ids=[n for n, _, _ in BAD_TOKENS if n in END_TO_END])
    def test_refused_with_reason_and_no_process(
            self, refusing_server: tuple[GottyProcess, bytes, Path],
            make: Callable[[bytes], str], reason: str) -> None:
        server, secret, marker = refusing_server
        token = make(secret)
        closed = refused(open_session(server, token or None))
        assert (closed.code, closed.reason) == (1008, reason)
        server.wait_for_line(rf"Refused session from 127\.0\.0\.1:\d+: {reason}$")
        assert not marker.exists()
        assert "Command is running" not in server.output()

    def test_raw_args_without_a_token_start_nothing(
            self, refusing_server: tuple[GottyProcess, bytes, Path]) -> None:
        server, _, marker = refusing_server
        closed = refused(open_session(server, None, prefix="?arg=get&arg=secrets"))
        assert (closed.code, closed.reason) == (1008, "token missing")
        assert not marker.exists()

    def test_two_tokens_are_one_too_many(
            self, refusing_server: tuple[GottyProcess, bytes, Path]) -> None:
        server, secret, marker = refusing_server
        first, second = hs256(secret, claims()), hs256(secret, claims())
        closed = refused(open_session(server, second, prefix=f"jwt={first}&"))
        assert (closed.code, closed.reason) == (1008, "invalid token")
        assert not marker.exists()

    def test_hs256_token_runs_with_its_args_and_user(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        marker = tmp_path / "marker"
        server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY,
                       "sh", "-c", SHOW, str(marker))
        token = hs256(secret, claims(args=["one", "two words", "--flag=$HOME"]))
        output = run_to_end(open_session(server, token))
        assert "[one][two words][--flag=$HOME]\n" in output
        assert "user=alice\n" in output
        assert marker.exists()
        server.wait_for_line(r"Launch token accepted for user 'alice' \(jti '[\w-]+'\) from "
                             r"127\.0\.0\.1:\d+")

    @pytest.mark.parametrize("make_pair", [es256, ed25519_pair], ids=["ES256", "EdDSA"])
    def test_public_key_token_runs_with_its_args(self, gotty: Gotty, tmp_path: Path,
                                                 make_pair: Callable[[Path], KeyPair]) -> None:
        pair = make_pair(tmp_path)
        server = gotty("--jwt-public-key-file", str(pair.public_pem), *POLICY,
                       "sh", "-c", SHOW, str(tmp_path / "marker"))
        server.wait_for_line(rf"Using JWT launch tokens \(algorithms {pair.algorithm}; ")
        output = run_to_end(open_session(server, pair.sign(claims(args=["signed"], sub="bob"))))
        assert "[signed]\nuser=bob\n" in output

    def test_raw_args_are_ignored_in_jwt_mode(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        server = gotty("--permit-arguments", "--jwt-secret-file", str(tmp_path / "secret"),
                       *POLICY, "sh", "-c", SHOW, str(tmp_path / "marker"))
        server.wait_for_line("--permit-arguments is ignored with JWT launch tokens")
        token = hs256(secret, claims(args=["good"]))
        output = run_to_end(open_session(server, token, prefix="arg=evil&"))
        assert "[good]\n" in output
        assert "evil" not in output

    def test_no_sub_no_user_and_none_inherited(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY,
                       "sh", "-c", SHOW, str(tmp_path / "marker"),
                       env={"GOTTY_USER": "mallory"})
        output = run_to_end(open_session(server, hs256(secret, claims(sub=None))))
        assert "user=unset\n" in output

    def test_title_shows_user_and_claims(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY,
                       "--title-format", "{{ .user }}@{{ .claims.ns }}/{{ .claims.pod }}",
                       "sh", "-c", "read x")
        client = open_session(server, hs256(secret, claims(ns="prod", pod="web-1")))
        assert client.recv() == "3alice@prod/web-1"
        page = http_request(server.url).text
        assert "<title>&lt;no value&gt;@&lt;no value&gt;/&lt;no value&gt;</title>" in page
        client.close()

    @pytest.mark.parametrize(("server_write", "claim", "writable"), [
        (True, None, True), (True, False, False), (False, True, False),
    ], ids=["server-w", "claim-takes-write-away", "claim-cannot-grant-write"])
    def test_write_claim(self, gotty: Gotty, tmp_path: Path, server_write: bool,
                         claim: bool | None, writable: bool) -> None:
        secret = write_secret(tmp_path / "secret")
        # The command decides by itself whether input arrived (read with a timeout), so the
        # test waits on its verdict rather than on a clock.
        script = ('stty -echo; echo ready; if read -t 3 line; then echo "got:$line"; '
                  "else echo no-input; fi")
        server = gotty(*(["-w"] if server_write else []), "--jwt-secret-file",
                       str(tmp_path / "secret"), *POLICY, "bash", "-c", script)
        client = open_session(server, hs256(secret, claims(write=claim)), GottyPy=1)
        frames = [client.recv() for _ in range(3)]
        assert frames[2] == json.dumps({"writable": writable}, separators=(",", ":")).join(
            ["7", ""])
        client.read_until(b"ready")
        client.input("hello\r")
        output = run_to_end(client)
        assert ("got:hello" in output) is writable
        assert ("no-input" in output) is not writable

    def test_replayed_token_is_refused(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        marker = tmp_path / "marker"
        server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY,
                       "sh", "-c", SHOW + '; rm "$0"', str(marker))
        token = hs256(secret, claims(args=["first"]))
        assert "[first]" in run_to_end(open_session(server, token))
        assert not marker.exists()  # the first session removed it on its way out
        closed = refused(open_session(server, token))
        assert (closed.code, closed.reason) == (1008, "token already used")
        assert not marker.exists()
        assert server.output().count("Command is running") == 1

    def test_jwks_rotation(self, gotty: Gotty, tmp_path: Path) -> None:
        old, new, gone = es256(tmp_path, "old"), es256(tmp_path, "new"), es256(tmp_path, "gone")
        jwks = write_jwks(tmp_path / "jwks.json", {"2024": old, "2025": new})
        marker = tmp_path / "marker"
        server = gotty("--jwt-jwks-file", str(jwks), *POLICY, "sh", "-c", SHOW + '; rm "$0"',
                       str(marker))
        for kid, pair in (("2024", old), ("2025", new)):
            token = pair.sign(claims(args=[kid]), {"kid": kid})
            assert f"[{kid}]" in run_to_end(open_session(server, token))
        token = gone.sign(claims(args=["2023"]), {"kid": "2023"})
        closed = refused(open_session(server, token))
        assert (closed.code, closed.reason) == (1008, "unknown signing key")
        assert not marker.exists()
        assert server.output().count("Command is running") == 2

    def test_credential_and_token_must_both_pass(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        server = gotty("--credential", "user:pw", "--jwt-secret-file", str(tmp_path / "secret"),
                       *POLICY, "sh", "-c", SHOW, str(tmp_path / "marker"))
        token = hs256(secret, claims(args=["ok"]))

        def connect(auth_token: str) -> Client:
            return open_webtty_session(server, f"?jwt={token}", auth_token, headers=[
                f"{k}: {v}" for k, v in basic("user:pw").items()])

        closed = refused(connect("user:wrong"))
        assert (closed.code, closed.reason) == (1008, "unauthorized")
        # The wrong credential did not use the token up.
        assert "[ok]" in run_to_end(connect("user:pw"))

    def test_token_and_secret_never_reach_the_log(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        server = gotty("--jwt-secret-file", str(tmp_path / "secret"), *POLICY,
                       "sh", "-c", SHOW, str(tmp_path / "marker"))
        token = hs256(secret, claims(args=["x"]))
        forged = tampered(token)
        assert http_request(f"{server.url}?jwt={token}").status == 200
        assert http_request(f"{server.url.rstrip('/')}?jwt={token}").status in (200, 301)
        # Tornado's own error log prints the URI, query included; ours must not.
        assert http_request(f"{server.url}js/../../etc/passwd?jwt={token}").status == 403
        server.wait_for_line(r"403 GET /js/\.\./\.\./etc/passwd")
        run_to_end(open_session(server, token))
        assert refused(open_session(server, token)).reason == "token already used"
        assert refused(open_session(server, forged)).reason == "invalid token"
        server.wait_for_line("Refused session from .*: invalid token")
        server.stop()
        log = server.output()
        for part in token.split(".") + forged.split(".")[1:]:
            assert part not in log
        assert secret.decode() not in log
        assert "Using JWT launch tokens (algorithms HS256; key: the HMAC secret in" in log


def test_gotty_user_is_not_taken_from_the_environment(tmp_path: Path) -> None:
    """Outside JWT mode GOTTY_USER is never set (the child gets no GOTTY_* from us)."""
    server = start_gotty("--address", "127.0.0.1", "--port", "0", "sh", "-c", SHOW,
                         str(tmp_path / "marker"), env={"GOTTY_USER": "mallory"})
    try:
        assert "user=unset" in run_to_end(open_session(server, None))
    finally:
        server.stop()
    assert os.path.exists(tmp_path / "marker")


def test_jwt_example_config_loads() -> None:
    """config/jwt.example.hcl is hand-written: it must use only real keys and valid values."""
    from tests.gotty import ROOT
    path = ROOT / "config" / "jwt.example.hcl"
    loaded = load_options({"config": str(path)}, {}, home="/nonexistent")
    assert loaded.warnings == []
    options = loaded.options
    assert (options.jwt_jwks_file, options.jwt_algorithms, options.jwt_audience,
            options.jwt_issuer, options.jwt_max_lifetime) == (
        "/etc/gotty/console-jwks.json", "ES256", "console", "portal", 120)
    assert "/etc/gotty/console-jwks.json" in config_error(options)  # not on this machine


def test_auth_package_does_not_import_the_layers_above_it() -> None:
    """auth returns plain results; the server turns them into sessions (DESIGN.md)."""
    import ast

    from tests.gotty import ROOT
    for path in (ROOT / "gotty_py" / "auth").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert not module.lstrip(".").startswith(("webtty", "server")), (path, module)
                assert "gotty_py.webtty" not in module and "gotty_py.server" not in module
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith(("gotty_py.webtty", "gotty_py.server"))
                               for alias in node.names), path


class TestExplicitTyping:
    """--jwt-type (RFC 8725 §3.11): another JWT of the same portal cannot launch a session."""

    def test_required_type(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path, jwt_type="gotty-launch+jwt")
        typed = jwt.encode(claims(), secret, algorithm="HS256",
                           headers={"typ": "application/Gotty-Launch+JWT"})
        assert verifier.verify(typed).user == "alice"
        for headers in ({}, {"typ": "JWT"}, {"typ": 5}):
            token = jwt.encode(claims(), secret, algorithm="HS256", headers=headers)
            assert reason_of(verifier, token) == "wrong token type"

    def test_not_checked_by_default(self, tmp_path: Path) -> None:
        verifier, secret = hs_verifier(tmp_path)
        assert verifier.verify(jwt.encode(claims(), secret, algorithm="HS256")).user == "alice"
