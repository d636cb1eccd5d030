"""JWT launch tokens end to end: a real server with real WebSocket clients.

Tokens are made with PyJWT and `cryptography` in the test (tests/jwt_keys.py), never with
gotty-py's minting code. Every refusal is checked for its exact close reason, code 1008,
the server's log line, and that no process was started (no marker file, no "Command is
running" line).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gotty import Client, Closed, Gotty, GottyProcess, basic, http_request, start_gotty
from tests.gotty import open_session as open_webtty_session
from tests.jwt_keys import (
    BAD_TOKENS,
    KeyPair,
    claims,
    ed25519_pair,
    es256,
    hs256,
    tampered,
    write_jwks,
    write_secret,
)

# The command of the end-to-end tests: proves it ran (marker file, $0), shows its arguments
# one per bracket, and the user it was started for.
SHOW = 'touch "$0"; printf "[%s]" "$@"; echo; echo "user=${GOTTY_USER-unset}"'
POLICY = ["--jwt-audience", "console", "--jwt-issuer", "portal", "--jwt-max-lifetime", "120"]
# The cases of BAD_TOKENS (tests/jwt_keys.py) that are also sent to a real server.
END_TO_END = {"missing", "malformed", "wrong signature", "alg none", "expired", "not yet valid",
              "wrong audience", "wrong issuer", "too long-lived", "no jti", "args a string"}


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
        assert "no value" not in page  # the page has no user or claims: command@host
        assert f"<title>sh@{socket.gethostname()}</title>" in page
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
