"""One declaration of every option: flags, HCL keys, env names, precedence and errors."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path

import pytest

from gotty_py.config import ConfigError, load_options
from gotty_py.options import OPTION_SPECS, SPECS_BY_NAME, Options, Section, format_default
from tests.gotty import run_gotty

GOTTY_OPTIONS = {
    # GoTTY's flag, HCL key and env name for each option of gotty-spec §3.2.
    "address": ("--address", "address", "GOTTY_ADDRESS"),
    "port": ("--port", "port", "GOTTY_PORT"),
    "path": ("--path", "path", "GOTTY_PATH"),
    "permit_write": ("--permit-write", "permit_write", "GOTTY_PERMIT_WRITE"),
    "credential": ("--credential", "credential", "GOTTY_CREDENTIAL"),
    "enable_random_url": ("--random-url", "enable_random_url", "GOTTY_RANDOM_URL"),
    "random_url_length": ("--random-url-length", "random_url_length",
                          "GOTTY_RANDOM_URL_LENGTH"),
    "enable_tls": ("--tls", "enable_tls", "GOTTY_TLS"),
    "tls_crt_file": ("--tls-crt", "tls_crt_file", "GOTTY_TLS_CRT"),
    "tls_key_file": ("--tls-key", "tls_key_file", "GOTTY_TLS_KEY"),
    "tls_ca_crt_file": ("--tls-ca-crt", "tls_ca_crt_file", "GOTTY_TLS_CA_CRT"),
    "index_file": ("--index", "index_file", "GOTTY_INDEX"),
    "title_format": ("--title-format", "title_format", "GOTTY_TITLE_FORMAT"),
    "enable_reconnect": ("--reconnect", "enable_reconnect", "GOTTY_RECONNECT"),
    "reconnect_time": ("--reconnect-time", "reconnect_time", "GOTTY_RECONNECT_TIME"),
    "max_connection": ("--max-connection", "max_connection", "GOTTY_MAX_CONNECTION"),
    "once": ("--once", "once", "GOTTY_ONCE"),
    "timeout": ("--timeout", "timeout", "GOTTY_TIMEOUT"),
    "permit_arguments": ("--permit-arguments", "permit_arguments", "GOTTY_PERMIT_ARGUMENTS"),
    "width": ("--width", "width", "GOTTY_WIDTH"),
    "height": ("--height", "height", "GOTTY_HEIGHT"),
    "ws_origin": ("--ws-origin", "ws_origin", "GOTTY_WS_ORIGIN"),
    "term": ("--term", "term", "GOTTY_TERM"),
    "close_signal": ("--close-signal", "close_signal", "GOTTY_CLOSE_SIGNAL"),
    "close_timeout": ("--close-timeout", "close_timeout", "GOTTY_CLOSE_TIMEOUT"),
    "quiet": ("--quiet", "quiet", "GOTTY_QUIET"),
    "config": ("--config", None, "GOTTY_CONFIG"),
}
GOTTY_DEFAULTS = {
    "address": "0.0.0.0", "port": "8080", "path": "/", "permit_write": False,
    "credential": "", "enable_basic_auth": False, "enable_random_url": False,
    "random_url_length": 8, "enable_tls": False, "tls_crt_file": "~/.gotty.crt",
    "tls_key_file": "~/.gotty.key", "tls_ca_crt_file": "~/.gotty.ca.crt",
    "enable_tls_client_auth": False, "index_file": "",
    "title_format": "{{ .command }}@{{ .hostname }}", "enable_reconnect": False,
    "reconnect_time": 10, "max_connection": 0, "once": False, "timeout": 0,
    "permit_arguments": False, "width": 0, "height": 0, "ws_origin": "", "term": "xterm",
    "close_signal": 1, "close_timeout": -1, "quiet": False,
}


FLAGS = {spec.flag for spec in OPTION_SPECS if spec.flag}


def write(tmp_path: Path, text: str, name: str = "gotty.hcl") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def load(flags: dict[str, object] | None = None, env: dict[str, str] | None = None,
         home: str = "/nonexistent") -> Options:
    return load_options(flags or {}, env or {}, home=home).options


class TestDeclaration:
    @pytest.mark.parametrize("name", sorted(GOTTY_OPTIONS))
    def test_gotty_spelling(self, name: str) -> None:
        flag, hcl_key, env = GOTTY_OPTIONS[name]
        spec = SPECS_BY_NAME[name]
        assert spec.cli_names[0] == flag
        assert spec.hcl == hcl_key
        assert spec.env == env

    def test_gotty_defaults(self) -> None:
        options = Options()
        for name, default in GOTTY_DEFAULTS.items():
            assert getattr(options, name) == default, name

    def test_every_option_is_documented(self) -> None:
        for spec in OPTION_SPECS:
            assert spec.help and (spec.flag or spec.hcl), spec.name
        names = [s.flag for s in OPTION_SPECS if s.flag]
        assert len(names) == len(set(names))

    def test_help_lists_every_flag_with_env_and_default(self) -> None:
        result = run_gotty("--help")
        assert result.returncode == 0
        text = " ".join(result.stdout.split())
        for spec in OPTION_SPECS:
            if spec.flag:
                assert f"--{spec.flag}" in text
                assert f"[env: {spec.env}]" in text


class TestHelp:
    """Issue 12.4: -h works; the help has no Python types or stray `...`, names the close
    signal, groups the options in their sections and says where the docs are."""

    def test_short_h_is_help(self) -> None:
        short, long = run_gotty("-h"), run_gotty("--help")
        assert short.returncode == 0, short.stderr
        assert short.stdout == long.stdout

    def test_usage_and_types(self) -> None:
        text = run_gotty("--help").stdout
        assert text.startswith("Usage: gotty-py [OPTIONS] COMMAND [ARGS]...\n")
        for wrong in ("<list[str]>", "<str>", "<int>", "]...]...", "[ARGS]......"):
            assert wrong not in text, wrong
        assert "-p, --port PORT" in text and "--timeout INT" in text

    def test_close_signal_default_is_a_name(self) -> None:
        text = " ".join(run_gotty("--help").stdout.split())
        assert "(number or name) [default: SIGHUP]" in text
        assert format_default(SPECS_BY_NAME["close_signal"]) == "SIGHUP"

    def test_options_are_grouped_in_their_sections_in_order(self) -> None:
        lines = run_gotty("--help").stdout.splitlines()
        headings = [line[:-1] for line in lines if line.endswith(":") and not line[0].isspace()]
        assert headings == ["Arguments", *(section.value for section in Section), "Other"]
        # Each flag is listed under its own section's heading.
        current = ""
        seen: dict[str, str] = {}
        for line in lines:
            if line.endswith(":") and not line[0].isspace():
                current = line[:-1]
            for word in line.split():
                if word.startswith("--") and word[2:] in FLAGS:
                    seen.setdefault(word[2:], current)
        for spec in OPTION_SPECS:
            if spec.flag:
                assert seen[spec.flag] == spec.section.value, spec.flag

    def test_help_points_to_the_installed_docs(self) -> None:
        text = " ".join(run_gotty("--help").stdout.split())
        assert "python -m gotty_py.docs" in text
        from gotty_py.docs import options_markdown
        docs = options_markdown()
        for section in Section:
            assert f"\n## {section.value}\n" in docs
        assert "| `--port` | `-p` | `port` | `GOTTY_PORT` | str | `\"8080\"` | 0–65535 |" in docs


class TestPrecedence:
    def test_default_file_env_flag(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'port = "1111"\nterm = "fromfile"\ntimeout = 5\n')
        assert load({"config": config}).port == "1111"
        assert load({"config": config}, {"GOTTY_PORT": "2222"}).port == "2222"
        opts = load({"config": config, "port": "3333"}, {"GOTTY_PORT": "2222"})
        assert (opts.port, opts.term, opts.timeout) == ("3333", "fromfile", 5)
        assert load().port == "8080"

    def test_config_path_from_env(self, tmp_path: Path) -> None:
        config = write(tmp_path, "width = 7")
        assert load(env={"GOTTY_CONFIG": config}).width == 7

    def test_home_config_is_read_when_present(self, tmp_path: Path) -> None:
        write(tmp_path, "height = 9", ".gotty")
        assert load(home=str(tmp_path)).height == 9
        assert load(home=str(tmp_path / "none")).height == 0

    def test_env_booleans_follow_go(self) -> None:
        for text, expected in [("1", True), ("true", True), ("T", True), ("0", False),
                               ("false", False), ("F", False)]:
            assert load(env={"GOTTY_PERMIT_WRITE": text}).permit_write is expected

    def test_flag_false_overrides_env_true(self) -> None:
        assert load({"permit_write": False}, {"GOTTY_PERMIT_WRITE": "true"}).permit_write is False


class TestConfigFile:
    def test_keys_are_case_insensitive(self, tmp_path: Path) -> None:
        config = write(tmp_path, "Permit_Write = true\nPORT = 18131\n")
        opts = load({"config": config})
        assert opts.permit_write is True
        assert opts.port == "18131"  # a number is accepted for a string field, as in GoTTY

    def test_unknown_key_is_refused_with_line_and_suggestion(self, tmp_path: Path) -> None:
        # Issue 12.1: a misspelt `credential` must not start a server without Basic auth.
        config = write(tmp_path, 'port = 1\n\ncredentail = "admin:pw"\n')
        with pytest.raises(ConfigError) as info:
            load_options({"config": config}, {})
        assert str(info.value).startswith(
            f"config file {config} line 3: unknown key 'credentail'; did you mean "
            "'credential'?")
        assert 'config_unknown_keys = "warn"' in str(info.value)

    def test_unknown_key_without_a_near_name_has_no_suggestion(self, tmp_path: Path) -> None:
        config = write(tmp_path, "zzzz = 1\n")
        with pytest.raises(ConfigError, match=r"line 1: unknown key 'zzzz' \(to start"):
            load_options({"config": config}, {})

    @pytest.mark.parametrize("how", ["file", "env", "flag"])
    def test_warn_mode_is_an_explicit_choice(self, tmp_path: Path, how: str) -> None:
        text = "bogus_key = 1\nport = 1\n"
        if how == "file":
            text = 'config_unknown_keys = "warn"\n' + text
        config = write(tmp_path, text)
        flags: dict[str, object] = {"config": config}
        env = {"GOTTY_CONFIG_UNKNOWN_KEYS": "warn"} if how == "env" else {}
        if how == "flag":
            flags["config_unknown_keys"] = "warn"
        loaded = load_options(flags, env)
        line = 2 if how == "file" else 1
        assert loaded.warnings == [
            f"config file {config} line {line}: unknown key 'bogus_key' ignored"]
        assert loaded.options.port == "1"

    def test_warn_mode_still_suggests(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'credentail = "a:b"\n')
        loaded = load_options({"config": config, "config_unknown_keys": "warn"}, {})
        assert loaded.warnings == [f"config file {config} line 1: unknown key 'credentail' "
                                   "ignored; did you mean 'credential'?"]

    def test_flag_error_mode_overrides_the_file_warn(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'config_unknown_keys = "warn"\nbogus = 1\n')
        with pytest.raises(ConfigError, match="line 2: unknown key 'bogus'"):
            load_options({"config": config, "config_unknown_keys": "error"}, {})

    def test_bad_unknown_keys_mode_is_refused(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'config_unknown_keys = "ignore"\n')
        with pytest.raises(ConfigError, match=r"line 1: key 'config_unknown_keys': expected "
                                              "one of error, warn"):
            load_options({"config": config}, {})

    def test_preferences_block(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'preferences {\n  font_size = 20\n  background_color = "#123"\n}')
        assert load({"config": config}).preferences == {"font_size": 20,
                                                        "background_color": "#123"}

    def test_close_signal_by_name(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'close_signal = "SIGTERM"')
        assert load({"config": config}).close_signal == signal.SIGTERM
        assert load(env={"GOTTY_CLOSE_SIGNAL": "int"}).close_signal == signal.SIGINT

    @pytest.mark.parametrize(("text", "key", "expected"), [
        ('permit_write = "yes"', "permit_write", "expected a boolean"),
        ("timeout = true", "timeout", "expected an integer"),
        ('width = "wide"', "width", "expected an integer"),
        ("title_format = [1]", "title_format", "expected a string"),
        ("preferences = 3", "preferences", "expected a block"),
        ('close_signal = "SIGNOPE"', "close_signal", "expected a signal"),
    ])
    def test_wrong_type_names_file_key_and_expectation(self, tmp_path: Path, text: str,
                                                       key: str, expected: str) -> None:
        config = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load({"config": config})
        message = str(info.value)
        assert config in message and repr(key) in message and expected in message

    @pytest.mark.parametrize(("text", "line", "key"), [
        ('port = "1"\nterm = "x"\ntitle_format "y"\nwidth = 3\n', 3, "title_format"),
        ('port = "1"\nterm = "x"\ntitle_format "y"\n', 3, "title_format"),
        ("port = 1\n// a comment\nwidth 3\nheight = 4\n", 3, "width"),
        ('a = [1,\n 2]\npreferences {\n font_size = 3\n}\nterm\nwidth = 1\n', 6, "term"),
    ])
    def test_missing_equals_is_reported_at_its_own_line(self, tmp_path: Path, text: str,
                                                        line: int, key: str) -> None:
        # Issue 12.3: pyhcl reports the next token's line (4 for a mistake on line 3).
        config = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load({"config": config})
        assert str(info.value).startswith(
            f"config file {config} line {line}: HCL syntax error: key {key!r} is not "
            "followed by '='")

    def test_other_syntax_errors_count_the_column_from_the_line(self, tmp_path: Path) -> None:
        config = write(tmp_path, "port = 1\nterm = = 3\n")
        with pytest.raises(ConfigError, match="HCL syntax error: line 2, column 8: "
                                              "unexpected EQUAL"):
            load({"config": config})

    def test_value_errors_name_the_line(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'port = 1\n\n\nPermit_Write = "yes"\n')
        with pytest.raises(ConfigError) as info:
            load({"config": config})
        assert str(info.value).startswith(
            f"config file {config} line 4: key 'Permit_Write': expected a boolean")

    def test_origins_record_each_layer(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'port = 1\nterm = "t"\n\njwt_jwks_file = "k.json"\n')
        loaded = load_options({"config": config, "port": "2"}, {"GOTTY_TERM": "e"})
        assert loaded.origins.label("port") == "--port"
        assert loaded.origins.label("term") == "environment variable GOTTY_TERM"
        assert loaded.origins.label("jwt_jwks_file") == (
            f"config file {config} line 4: key 'jwt_jwks_file'")
        assert loaded.origins.label("width") == "--width"  # the default: named by its flag

    def test_syntax_error_names_the_file(self, tmp_path: Path) -> None:
        config = write(tmp_path, "port = = 3\n")
        with pytest.raises(ConfigError, match=f"config file {config}: HCL syntax error"):
            load({"config": config})

    def test_bad_env_value_names_the_variable(self) -> None:
        with pytest.raises(ConfigError, match="GOTTY_TIMEOUT: expected an integer"):
            load(env={"GOTTY_TIMEOUT": "soon"})

    def test_tls_ca_crt_turns_client_auth_on(self) -> None:
        assert load({"tls_ca_crt_file": "/ca.pem"}).enable_tls_client_auth is True
        assert load().enable_tls_client_auth is False


class TestCommandLine:
    def test_missing_explicit_config_exits_2(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.hcl"
        result = run_gotty("--config", str(missing), "true")
        assert result.returncode == 2
        assert f"config file {missing}: no such file" in result.stderr

    def test_wrong_type_exits_2_with_the_message(self, tmp_path: Path) -> None:
        config = write(tmp_path, "once = 5")
        result = run_gotty("--config", config, "true")
        assert result.returncode == 2
        assert f"config file {config} line 1: key 'once': expected a boolean" in result.stderr

    def test_syntax_error_exits_2(self, tmp_path: Path) -> None:
        config = write(tmp_path, "port = {")
        result = run_gotty("--config", config, "true")
        assert result.returncode == 2
        assert config in result.stderr and "syntax error" in result.stderr

    def test_unknown_key_exits_2_naming_file_line_and_key(self, tmp_path: Path) -> None:
        config = write(tmp_path, 'timeout = 1\ncredentail = "admin:pw"\n')
        result = run_gotty("--config", config, "-a", "127.0.0.1", "-p", "0", "true")
        assert result.returncode == 2, result.stderr
        assert (f"Error: config file {config} line 2: unknown key 'credentail'; did you mean "
                "'credential'?") in result.stderr
        assert "listening" not in result.stderr

    def test_unknown_key_in_warn_mode_warns_but_runs(self, tmp_path: Path) -> None:
        config = write(tmp_path, "frobnicate = true\ntimeout = 1\n")
        result = run_gotty("--config", config, "--config-unknown-keys", "warn",
                           "-a", "127.0.0.1", "-p", "0", "true")
        assert result.returncode == 0
        assert f"config file {config} line 1: unknown key 'frobnicate' ignored" in result.stderr

    def test_no_command_exits_1(self) -> None:
        result = run_gotty("-a", "127.0.0.1")
        assert result.returncode == 1
        assert "No command given" in result.stderr

    def test_version(self) -> None:
        result = run_gotty("--version")
        assert result.returncode == 0 and result.stdout.startswith("gotty-py ")

    def test_bool_flag_equals_false(self) -> None:
        result = run_gotty("--permit-write=false", "--once=false", "--timeout", "1",
                           "-a", "127.0.0.1", "-p", "0", "true")
        assert result.returncode == 0
        assert "Permitting clients to write" not in result.stderr

    def test_unknown_flag_is_a_usage_error(self) -> None:
        result = run_gotty("--no-such-flag", "true")
        assert result.returncode == 2
        assert "No such option" in result.stderr

    def test_flags_stop_at_the_command(self, gotty) -> None:  # type: ignore[no-untyped-def]
        server = gotty("--title-format", "{{ .command }} {{ .argv }}",
                       "echo", "-l", "-w", "--port", "1")
        page = urllib.request.urlopen(server.url).read().decode()
        assert "<title>echo [-l -w --port 1]</title>" in page
        assert "Permitting clients to write" not in server.output()

    def test_env_sets_options(self, gotty) -> None:  # type: ignore[no-untyped-def]
        server = gotty("true", env={"GOTTY_TITLE_FORMAT": "from-env", "GOTTY_PATH": "/e/"})
        assert server.url.endswith("/e/")
        assert "<title>from-env</title>" in urllib.request.urlopen(server.url).read().decode()


def test_bool_equals_form_after_flags_with_values() -> None:
    """`--reconnect=false` after `--address 127.0.0.1` is still a flag, not the command."""
    result = run_gotty("--address", "127.0.0.1", "--port", "0", "--permit-write=false",
                       "--timeout", "1", "true")
    assert result.returncode == 0, result.stderr
    assert "Permitting clients to write" not in result.stderr


class TestRanges:
    """Issue 12.2: every numeric option's range is declared and checked for every source."""

    def test_every_int_option_declares_a_range_or_says_why_not(self) -> None:
        unbounded = {s.name for s in OPTION_SPECS if s.kind == "int" and s.minimum is None}
        # close_signal is checked as a signal; close_timeout's negative values mean 10 s;
        # init_message_limit's bounds live with the server's limits (check_options).
        assert unbounded == {"close_signal", "close_timeout", "init_message_limit"}
        assert (SPECS_BY_NAME["port"].minimum, SPECS_BY_NAME["port"].maximum) == (0, 65535)
        assert SPECS_BY_NAME["ops_port"].maximum == 65535

    @pytest.mark.parametrize(("value", "expected"), [
        ("99999", "expected 0-65535, got 99999"),
        ("70000", "expected 0-65535, got 70000"),
        ("-1", "expected a number 0-65535 (digits only), got '-1'"),
        ("80a", "expected a number 0-65535 (digits only), got '80a'"),
        ("", "expected a number 0-65535 (digits only), got ''"),
    ])
    def test_port_out_of_range_from_each_source(self, tmp_path: Path, value: str,
                                                expected: str) -> None:
        with pytest.raises(ConfigError, match=re.escape(f"flag --port: {expected}")):
            load({"port": value})
        with pytest.raises(ConfigError,
                           match=re.escape(f"environment variable GOTTY_PORT: {expected}")):
            load(env={"GOTTY_PORT": value})
        config = write(tmp_path, f"\nport = {json.dumps(value)}\n")
        with pytest.raises(ConfigError,
                           match=re.escape(f"config file {config} line 2: key 'port': "
                                           f"{expected}")):
            load({"config": config})

    def test_a_number_in_the_file_is_checked_too(self, tmp_path: Path) -> None:
        config = write(tmp_path, "port = 99999\n")
        with pytest.raises(ConfigError, match="line 1: key 'port': expected 0-65535"):
            load({"config": config})

    def test_edges_are_accepted(self) -> None:
        assert load({"port": "0"}).port == "0"
        assert load({"port": "65535"}).port == "65535"
        assert load(env={"GOTTY_OPS_PORT": ""}).ops_port == ""
        assert load({"ops_port": "65535"}).ops_port == "65535"
        assert load({"width": 65535, "timeout": 0}).width == 65535

    @pytest.mark.parametrize(("name", "env", "value", "expected"), [
        ("ops_port", "GOTTY_OPS_PORT", "65536",
         "expected a port number (0-65535) or empty, got '65536'"),
        ("timeout", "GOTTY_TIMEOUT", "-1", "expected at least 0, got -1"),
        ("jwt_max_lifetime", "GOTTY_JWT_MAX_LIFETIME", "-5", "expected at least 0, got -5"),
        ("width", "GOTTY_WIDTH", "65536", "expected 0-65535, got 65536"),
        ("random_url_length", "GOTTY_RANDOM_URL_LENGTH", "0", "expected 1-128, got 0"),
        ("ws_send_timeout", "GOTTY_WS_SEND_TIMEOUT", "0", "expected at least 1, got 0"),
    ])
    def test_other_ranges(self, name: str, env: str, value: str, expected: str) -> None:
        with pytest.raises(ConfigError, match=re.escape(f"{env}: {expected}")):
            load(env={env: value})

    @pytest.mark.parametrize("value", ["99999", "70000", "-1"])
    def test_the_server_refuses_a_bad_port_with_exit_2(self, value: str) -> None:
        result = run_gotty("-a", "127.0.0.1", "--port", value, "true")
        assert result.returncode == 2, result.stderr
        assert "Error: flag --port: expected" in result.stderr
        assert "listening" not in result.stderr

    def test_an_options_value_built_in_code_is_checked_at_start_up(self) -> None:
        from gotty_py.server.startup import StartupError, check_options
        with pytest.raises(StartupError, match=r"width \(--width\): expected 0-65535"):
            check_options(Options(width=70000))
        with pytest.raises(StartupError, match=r"cleanup_timeout \(--cleanup-timeout\): "
                                               "expected at least 0, got -1"):
            check_options(Options(cleanup_timeout=-1))
