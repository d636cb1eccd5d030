"""Turning options into the server's fixed parts, or refusing to start with GoTTY's codes.

Rules of this module: everything checked or loaded once at start-up lives here (option
consistency, templates, the index page, TLS material, the launch-token verifier), and every
failure is a `StartupError` carrying the exit code of gotty-spec §3.4. Nothing here runs
after the server has started.
"""

from __future__ import annotations

import re
import secrets
import ssl
import string
from importlib import resources

from ..auth.jwt import JwtConfigError, LaunchTokenVerifier, verifier_from_options
from ..auth.replay import ReplayStore
from ..config import expand_home
from ..options import (
    NO_ORIGINS,
    OPTION_SPECS,
    Options,
    OptionValueError,
    Origins,
    check_admin_credential,
    check_range,
)
from .limits import INIT_MESSAGE_FLOOR, MAX_MESSAGE_SIZE
from .template import Template, TemplateError, html_template, js_string


class ExitCode:
    """GoTTY's exit codes (gotty-spec §3.4)."""

    OK = 0
    NO_COMMAND = 1
    CONFIG = 2
    CONSTRUCTION = 3
    CLIENT_CERT_WITHOUT_TLS = 6
    RUNTIME = 8


class StartupError(Exception):
    """The server cannot start; `code` is the process exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_options(options: Options) -> None:
    """Option combinations no server can run with."""
    if options.enable_basic_auth and not options.credential:
        raise StartupError(ExitCode.CONFIG,
                           "enable_basic_auth is set but no credential (user:pass) is given")
    if options.enable_tls_client_auth and not options.enable_tls:
        raise StartupError(ExitCode.CLIENT_CERT_WITHOUT_TLS,
                           "TLS client authentication is enabled, but TLS is not enabled")
    _check_declared_ranges(options)
    _check_admin_credential(options)
    if not INIT_MESSAGE_FLOOR <= options.init_message_limit <= MAX_MESSAGE_SIZE:
        raise StartupError(ExitCode.CONFIG, (
            f"init_message_limit (--init-message-limit) is {options.init_message_limit}: it "
            f"must be between {INIT_MESSAGE_FLOOR} and {MAX_MESSAGE_SIZE} bytes"))
    if options.ws_ping_interval and options.ws_ping_timeout > options.ws_ping_interval:
        raise StartupError(ExitCode.CONFIG, "ws_ping_timeout must not exceed ws_ping_interval")
    if options.ws_origin:
        try:
            re.compile(options.ws_origin)
        except re.error as exc:
            raise StartupError(ExitCode.CONSTRUCTION,
                               f"invalid ws-origin regular expression: {exc}") from None


def _check_admin_credential(options: Options) -> None:
    """An admin credential that is malformed (an `Options` built in code: the config loader
    checked the others), or the site's own: every terminal user would be an admin."""
    if not options.admin_credential:
        return
    try:
        check_admin_credential(options.admin_credential)
    except OptionValueError as exc:
        raise StartupError(ExitCode.CONFIG, f"admin_credential (--admin-credential): {exc}"
                           ) from None
    if options.admin_credential == options.credential:
        raise StartupError(ExitCode.CONFIG, (
            "admin_credential (--admin-credential) is the same as credential (--credential): "
            "every user of the terminal could end everyone's sessions; give the admin view "
            "a credential of its own"))


def _check_declared_ranges(options: Options) -> None:
    """The bounds declared with each int option (`minimum=`/`maximum=` in options.py).

    Values read by the config loader were checked there, naming their source; this catches
    an `Options` built in code. (ws_send_timeout has no "never", minimum 1: a client that
    stopped reading would hold its connection, its slot and megabytes of buffered output
    for ever once its command has exited.)"""
    for spec in OPTION_SPECS:
        if spec.kind != "int" or (spec.minimum is None and spec.maximum is None):
            continue
        try:
            check_range(spec, getattr(options, spec.name))
        except OptionValueError as exc:
            flag = f" ({spec.cli_names[0]})" if spec.cli_names else ""
            raise StartupError(ExitCode.CONFIG, f"{spec.name}{flag}: {exc}") from None


def normalize_base_path(path: str) -> str:
    """Add the leading and trailing slash GoTTY adds to --path."""
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    return path


def random_path(length: int) -> str:
    alphabet = string.digits + string.ascii_lowercase
    return "/" + "".join(secrets.choice(alphabet) for _ in range(length)) + "/"


def title_template(options: Options) -> Template:
    try:
        return Template(options.title_format)
    except TemplateError as exc:
        raise StartupError(ExitCode.CONSTRUCTION, f"invalid title format: {exc}") from None


def index_template(options: Options) -> Template:
    """The custom --index page, or the built-in one; read once, as GoTTY does."""
    path = options.index_file
    try:
        if path:
            with open(expand_home(path), encoding="utf-8") as handle:
                source = handle.read()
        else:
            source = resources.files("gotty_py").joinpath("templates/index.html").read_text(
                encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(ExitCode.CONSTRUCTION,
                           f"failed to read index file {path}: {exc}") from None
    try:
        return html_template(source)
    except TemplateError as exc:
        raise StartupError(ExitCode.CONSTRUCTION,
                           f"invalid index template {path or '(built-in)'}: {exc}") from None


def config_js(options: Options) -> str:
    """sorenisanerd's config.js, plus the WebGL switch our page reads."""
    return (
        f"var gotty_term = '{js_string(options.term)}';\n"
        f"var gotty_ws_query_args = '{js_string(options.ws_query_args)}';\n"
        f"var gotty_enable_webgl = {'true' if options.enable_webgl else 'false'};\n"
    )


def ssl_context(options: Options) -> ssl.SSLContext:
    crt = expand_home(options.tls_crt_file)
    key = expand_home(options.tls_key_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(crt, key)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(ExitCode.RUNTIME,
                           f"failed to load TLS certificate {crt} / key {key}: {exc}") from None
    if options.enable_tls_client_auth:
        ca = expand_home(options.tls_ca_crt_file)
        try:
            context.load_verify_locations(ca)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(ExitCode.RUNTIME,
                               f"failed to load TLS CA certificate {ca}: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def launch_token_verifier(options: Options, replay: ReplayStore, *,
                          origins: Origins = NO_ORIGINS) -> LaunchTokenVerifier | None:
    """JWT mode when a key option is set, remembering used `jti`s in `replay`;
    contradictory JWT options are config errors, naming where each value came from."""
    try:
        verifier = verifier_from_options(options, replay, origins=origins)
    except JwtConfigError as exc:
        raise StartupError(ExitCode.CONFIG, str(exc)) from None
    if verifier is None and options.jwt_required:
        raise StartupError(ExitCode.CONFIG, (
            "jwt_required (--jwt-required) is set, but no launch-token key is: set "
            "jwt_jwks_file, jwt_public_key_file or jwt_secret_file (the command takes its "
            "arguments from the token, so no session could run without one)"))
    return verifier


def jwt_policy_warnings(options: Options) -> list[str]:
    """What a JWT-mode server accepts beyond what it should, for start-up warnings.

    Without an audience the server accepts every token that has no `aud`; without an
    issuer, every issuer's. One portal key commonly signs for several consoles (one per
    cluster): a token meant for another of them would open this one (docs/jwt.md)."""
    warnings = []
    if not options.jwt_audience:
        warnings.append("--jwt-audience is not set: any token this key signed without an "
                        "audience is accepted, including one meant for another console or "
                        "cluster; set it to this console's name (see docs/jwt.md)")
    if not options.jwt_issuer:
        warnings.append("--jwt-issuer is not set: a token from any issuer this key signs "
                        "for is accepted; set it to the portal's name (see docs/jwt.md)")
    return warnings
