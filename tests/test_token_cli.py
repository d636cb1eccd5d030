"""`gotty-py-token`: the tokens it mints verify with PyJWT and with a real gotty-py."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import jwt
import pytest

from tests.gotty import Gotty, open_session
from tests.jwt_keys import ed25519_pair, es256, write_secret


def mint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gotty_py.token_cli", *args],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def token_of(url: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    (token,) = query["jwt"]
    return token


def test_es256_launch_url_carries_the_claims(tmp_path: Path) -> None:
    pair = es256(tmp_path)
    result = mint("--key-file", str(pair.private_pem), "--kid", "2025-01", "--sub", "alice",
                  "--aud", "console", "--iss", "portal", "--ttl", "90",
                  "--url", "https://console.example/", "--",
                  "exec", "-it", "web-1", "-n", "prod", "--", "bash")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://console.example/?jwt=")
    token = token_of(url)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "2025-01", "typ": "JWT"}
    claims = jwt.decode(token, pair.private.public_key(), algorithms=["ES256"],
                        audience="console", issuer="portal")
    assert claims["args"] == ["exec", "-it", "web-1", "-n", "prod", "--", "bash"]
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 90
    assert len(claims["jti"]) >= 16
    assert "write" not in claims


def test_secret_token_only_write_and_extra_claims(tmp_path: Path) -> None:
    secret = write_secret(tmp_path / "secret")
    common = ["--secret-file", str(tmp_path / "secret"), "--token-only", "--no-write",
              "--claim", "ns=prod", "--claim", "ticket:=1234", "--claim", "groups:=[\"ops\"]"]
    first, second = mint(*common, "--", "a"), mint(*common, "--", "a")
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert "." in token and "jwt=" not in token
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert (claims["write"], claims["ns"], claims["ticket"], claims["groups"]) == (
        False, "prod", 1234, ["ops"])
    assert claims["args"] == ["a"]
    other = jwt.decode(second.stdout.strip(), secret, algorithms=["HS256"])
    assert other["jti"] != claims["jti"]


def test_url_with_query_and_fragment(tmp_path: Path) -> None:
    write_secret(tmp_path / "secret")
    result = mint("--secret-file", str(tmp_path / "secret"), "--url",
                  "https://c.example/base/?theme=dark#renderer=dom")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://c.example/base/?theme=dark&jwt=")
    assert url.endswith("#renderer=dom")


@pytest.mark.parametrize(("args", "message"), [
    ([], "give exactly one of --key-file (PEM private key) and --secret-file"),
    (["--secret-file", "SECRET", "--key-file", "PRIVATE"], "give exactly one of"),
    (["--key-file", "PUBLIC"], "not a PEM private key"),
    (["--key-file", "PRIVATE", "--alg", "RS256"], "algorithm RS256 does not fit the key"),
    (["--key-file", "PRIVATE", "--alg", "none"], "'none' (unsigned tokens) is never accepted"),
    (["--secret-file", "SHORT"], "the HMAC secret must be at least 32 bytes"),
    (["--secret-file", "SECRET", "--claim", "sub=root"], "extra claims may not set sub"),
    (["--secret-file", "SECRET", "--claim", "novalue"], "expected key=value or key:=json"),
    (["--secret-file", "SECRET", "--ttl", "0"], "--ttl must be positive"),
])
def test_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    pair = es256(tmp_path)
    write_secret(tmp_path / "secret")
    (tmp_path / "short").write_text("tiny\n")
    files = {"SECRET": tmp_path / "secret", "SHORT": tmp_path / "short",
             "PRIVATE": pair.private_pem, "PUBLIC": pair.public_pem}
    result = mint(*[str(files.get(arg, arg)) for arg in args], "--token-only")
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_no_url_and_no_token_only_is_an_error(tmp_path: Path) -> None:
    write_secret(tmp_path / "secret")
    result = mint("--secret-file", str(tmp_path / "secret"))
    assert result.returncode == 2
    assert "give --url" in result.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "gotty-py-token"
    assert script.exists(), "pip install -e . declares gotty-py-token"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--key-file" in result.stdout


def test_minted_url_opens_a_session(gotty: Gotty, tmp_path: Path) -> None:
    pair = ed25519_pair(tmp_path)
    server = gotty("--jwt-public-key-file", str(pair.public_pem), "--jwt-audience", "console",
                   "sh", "-c", 'printf "[%s]" "$@"; echo " as $GOTTY_USER"', "a0")
    result = mint("--key-file", str(pair.private_pem), "--sub", "carol", "--aud", "console",
                  "--url", server.url, "--", "one", "two words")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    # The arguments are what the page sends: location.search.
    client = open_session(server, url[len(server.url.rstrip("/")) + 1:])
    client.read_until(b"[one][two words] as carol")
    client.frames_until_close()
    assert client.closed is not None and client.closed.code == 1000


def test_type_header(tmp_path: Path) -> None:
    write_secret(tmp_path / "secret")
    result = mint("--secret-file", str(tmp_path / "secret"), "--token-only",
                  "--typ", "gotty-launch+jwt")
    assert result.returncode == 0, result.stderr
    assert jwt.get_unverified_header(result.stdout.strip())["typ"] == "gotty-launch+jwt"


class TestMistakes:
    """Issue 12.5: the two mistakes a new user makes, each said plainly."""

    def test_command_options_without_the_separator_get_a_hint(self, tmp_path: Path) -> None:
        write_secret(tmp_path / "secret")
        result = mint("--secret-file", str(tmp_path / "secret"), "--token-only",
                      "exec", "-it", "web-0")
        assert result.returncode == 2
        assert ("No such option: -i; options after the command belong to it: put -- before "
                "the command, e.g. gotty-py-token [OPTIONS] -- exec -it web-0") in result.stderr
        assert result.stdout == ""

    def test_an_unknown_option_of_ours_gets_no_separator_hint(self, tmp_path: Path) -> None:
        write_secret(tmp_path / "secret")
        result = mint("--secret-file", str(tmp_path / "secret"), "--tll", "9", "--token-only")
        assert result.returncode == 2
        assert "No such option: --tll" in result.stderr
        assert "put --" not in result.stderr

    def test_a_value_of_ours_is_not_taken_for_the_command(self) -> None:
        from gotty_py.token_cli import missing_separator_hint
        values = {"--sub", "--secret-file"}
        assert missing_separator_hint(["--sub", "alice", "-x"], "-x", values) is None
        assert missing_separator_hint(["--sub", "alice", "ls", "-l"], "-l", values) == (
            "; options after the command belong to it: put -- before the command, e.g. "
            "gotty-py-token [OPTIONS] -- ls -l")

    def test_a_ttl_above_the_servers_default_limit_warns(self, gotty: Gotty,
                                                        tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        result = mint("--secret-file", str(tmp_path / "secret"), "--token-only",
                      "--ttl", "1000")
        assert result.returncode == 0, result.stderr
        assert ("Warning: --ttl 1000 is above gotty-py's default --jwt-max-lifetime (300 s): "
                "a server with the default refuses this token") in result.stderr
        token = result.stdout.strip()
        assert jwt.decode(token, secret, algorithms=["HS256"])["exp"] > 0
        # The warning is true: a server with the default --jwt-max-lifetime refuses it.
        server = gotty("--jwt-secret-file", str(tmp_path / "secret"), "true")
        client = open_session(server, "", token)
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1008
        server.wait_for_line(r"Refused session from 127\.0\.0\.1:\d+: ")

    def test_a_ttl_within_the_default_limit_does_not_warn(self, tmp_path: Path) -> None:
        write_secret(tmp_path / "secret")
        result = mint("--secret-file", str(tmp_path / "secret"), "--token-only", "--ttl", "300")
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""

    def test_help_shows_value_names_not_python_types(self) -> None:
        for flag in ("-h", "--help"):
            result = mint(flag)
            assert result.returncode == 0, result.stderr
            assert "<str>" not in result.stdout and "<list[str]>" not in result.stdout
            assert "<int>" not in result.stdout
            assert "Usage: gotty-py-token [OPTIONS] [-- ARGS...]\n" in result.stdout
            assert "--key-file FILE" in result.stdout and "--ttl SECONDS" in result.stdout
