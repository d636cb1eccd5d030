"""JWT launch tokens: configuration (options from HCL and the environment, key and JWKS
errors, startup errors) and config/jwt.example.hcl.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from gotty_py.auth.jwt import verifier_from_options
from gotty_py.auth.keys import KeySources, load_key_set
from gotty_py.config import load_options
from gotty_py.options import Options
from tests.gotty import run_async, run_gotty
from tests.jwt_keys import claims, es256, rsa_pair, write_secret


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
        run_async(verifier.verify(jwt.encode(claims(iss=None), secret, algorithm="HS384")))

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

    def test_a_value_from_the_config_file_is_named_by_file_line_and_key(
            self, tmp_path: Path) -> None:
        # Issue 12.3: not `--jwt-jwks-file: cannot read ...`, a flag the operator never gave.
        config = tmp_path / "gotty.hcl"
        config.write_text('address = "127.0.0.1"\nport = 0\n\njwt_jwks_file = "keys.json"\n')
        result = run_gotty("--config", str(config), "true")
        assert result.returncode == 2, result.stderr
        assert (f"Error: config file {config} line 4: key 'jwt_jwks_file': cannot read "
                f"{tmp_path / 'keys.json'}: No such file or directory") in result.stderr
        assert "--jwt-jwks-file" not in result.stderr

    def test_a_value_from_the_environment_is_named_by_its_variable(self) -> None:
        result = run_gotty("--address", "127.0.0.1", "--port", "0", "true",
                           env={"GOTTY_JWT_SECRET_FILE": "/nonexistent/s"})
        assert result.returncode == 2, result.stderr
        assert ("Error: environment variable GOTTY_JWT_SECRET_FILE: cannot read "
                "/nonexistent/s") in result.stderr

    def test_mixed_sources_are_each_named(self, tmp_path: Path) -> None:
        config = tmp_path / "gotty.hcl"
        config.write_text('jwt_secret_file = "/nonexistent/s"\n')
        loaded = load_options({"config": str(config), "jwt_jwks_file": "/nonexistent/j"}, {})
        from gotty_py.auth.jwt import JwtConfigError
        with pytest.raises(JwtConfigError) as caught:
            verifier_from_options(loaded.options, origins=loaded.origins)
        assert str(caught.value) == (
            f"exactly one JWT key source may be set; got config file {config} line 1: key "
            "'jwt_secret_file' and --jwt-jwks-file")


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
