"""`gotty-py [options] COMMAND [ARGS...]`: typer flags generated from the option declarations.

Rules of this module: the flags come from `OPTION_SPECS` (nothing here names an option
except --version); flags stop at the first non-flag word, and everything after COMMAND is
the command's own argv. It maps every failure to GoTTY's exit codes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import typer

from . import __version__
from .backend.base import BackendConfigError
from .backend.instance import Instance
from .backends import backend_from_options, crash_guard_from_options
from .config import ConfigError, load_options
from .helptext import SectionedCommand
from .logformat import LogFormat, install
from .options import (
    OPTION_SPECS,
    SPECS_BY_NAME,
    Options,
    OptionSpec,
    Origins,
    Section,
    format_default,
)
from .server.app import GottyServer
from .server.listen import listener_from_options
from .server.startup import ExitCode, StartupError, jwt_policy_warnings

log = logging.getLogger("gotty_py")

_PY_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool, "float": float}


def _help(spec: OptionSpec) -> str:
    extra = f"[default: {format_default(spec)}] [env: {spec.env}]"
    if spec.hcl:
        extra += f" [config: {spec.hcl}]"
    return f"{spec.help} {extra}"


def _metavar(spec: OptionSpec, text: bool) -> str:
    if spec.kind == "str" and spec.maximum is not None:
        return "PORT"  # a number held as text (port, ops_port)
    return "TEXT" if text else spec.kind.upper()


def _parameter(spec: OptionSpec) -> inspect.Parameter:
    names = spec.cli_names
    if spec.kind == "bool":
        decl = [f"--{spec.flag}/--no-{spec.flag}"] + ([f"-{spec.short}"] if spec.short else [])
        info = typer.Option(None, *decl, help=_help(spec), show_default=False)
        annotation: Any = bool | None
    else:
        # close_signal accepts names too, so it is read as text and checked by coerce().
        text = spec.kind == "str" or spec.name == "close_signal"
        info = typer.Option(None, *names, help=_help(spec), show_default=False,
                            metavar=_metavar(spec, text))
        annotation = (str if text else _PY_TYPES[spec.kind]) | None
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=info,
                             annotation=annotation)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"gotty-py {__version__}")
        raise typer.Exit(0)


def _normalize_bool_flags(argv: Sequence[str]) -> list[str]:
    """GoTTY accepts `--flag=false` for booleans; click wants `--no-flag`.

    Only the flags before COMMAND are rewritten; the words that are values of other flags
    (`--address 127.0.0.1`) are passed over, not mistaken for the command.
    """
    bool_flags = {spec.flag for spec in OPTION_SPECS if spec.kind == "bool"}
    value_flags = {name for spec in OPTION_SPECS if spec.kind != "bool"
                   for name in spec.cli_names}
    out: list[str] = []
    words = iter(enumerate(argv))
    for index, word in words:
        if not word.startswith("-") or word == "--":
            out.extend(argv[index:])
            break
        if word in value_flags:
            out.append(word)
            following = next(words, None)
            if following is not None:
                out.append(following[1])
            continue
        name, sep, value = word.lstrip("-").partition("=")
        if sep and name in bool_flags and word.startswith("--"):
            lowered = value.lower()
            if lowered in ("1", "t", "true"):
                out.append(f"--{name}")
                continue
            if lowered in ("0", "f", "false"):
                out.append(f"--no-{name}")
                continue
        out.append(word)
    return out


def run_server(flags: dict[str, Any], command: list[str]) -> int:
    """Load the configuration, start the server and run it until it is done."""
    try:
        loaded = load_options(flags, os.environ)
    except ConfigError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return ExitCode.CONFIG
    try:
        log_format = LogFormat(loaded.options.log_format)
    except ValueError:
        typer.echo(f"Error: log_format (--log-format): expected one of "
                   f"{', '.join(LogFormat)}, got {loaded.options.log_format!r}", err=True)
        return ExitCode.CONFIG
    if log_format is not LogFormat.TEXT:
        install(log_format)
    if loaded.config_file:
        log.info("Loading config file at: %s", loaded.config_file)
    for warning in loaded.warnings:
        log.warning("Warning: %s", warning)
    options = loaded.options
    if not command:
        typer.echo("Error: No command given.", err=True)
        return ExitCode.NO_COMMAND
    if options.quiet:
        logging.getLogger("gotty_py").setLevel(logging.CRITICAL)
    if flags.get("jwt_secret") is not None:
        log.warning("Warning: --jwt-secret shows the secret to every user of this machine "
                    "(process list); prefer --jwt-secret-file")
    try:
        return asyncio.run(_serve(options, command, loaded.origins))
    except StartupError as exc:
        if log_format is LogFormat.JSON:  # a log pipeline gets this line as JSON too
            log.critical("Error: %s", exc)
        else:
            typer.echo(f"Error: {exc}", err=True)
        return exc.code


async def _serve(options: Options, command: list[str], origins: Origins) -> int:
    instance = Instance.current()
    # First: socket activation takes LISTEN_* out of the environment the backend copies.
    listener = listener_from_options(options, os.environ)
    try:
        backend = backend_from_options(options, os.environ, instance, command=tuple(command),
                                       origins=origins)
    except BackendConfigError as exc:
        raise StartupError(ExitCode.CONFIG, str(exc)) from None
    server = GottyServer(options, command, backend, listener=listener, origins=origins)
    try:
        watchdog = crash_guard_from_options(options, instance, os.environ)
    except OSError as exc:
        raise StartupError(ExitCode.RUNTIME, f"watchdog (--watchdog): cannot start the "
                           f"watchdog process: {exc.strerror or exc}") from None
    try:
        code = await _run(server, options)
    except StartupError:
        if watchdog is not None:  # no session ever ran: nothing to guard
            watchdog.dismiss()
        raise
    # Every session has ended (the drain): the watchdog goes without a sweep. Any other
    # way out (an exception, a signal's default action) leaves it to sweep.
    if watchdog is not None:
        watchdog.dismiss()
    return code


async def _run(server: GottyServer, options: Options) -> int:
    log.info("gotty-py is starting with command: %s", " ".join(server.command))
    if options.permit_write:
        log.info("Permitting clients to write input to the PTY.")
    if server.site.basic_auth:
        log.info("Using Basic Authentication")
    if server.verifier is not None:
        log.info("Using JWT launch tokens (%s)", server.verifier.describe())
        for warning in jwt_policy_warnings(options):
            log.warning("Warning: %s", warning)
        if options.permit_arguments:
            log.warning("Warning: --permit-arguments is ignored with JWT launch tokens: "
                        "arguments come only from verified tokens, never from ?arg=")
    elif options.permit_arguments:
        log.warning("Permitting clients to append arguments with ?arg= (unsafe)")
    urls = await server.start()
    if options.once:
        log.info("Once option is provided, accepting only one client")
    log.info("HTTP server is listening at: %s", urls[0])
    if server.exposure:
        log.info("%s", server.exposure)
    for url in urls[1:]:
        log.info("Alternative URL: %s", url)
    if server.ops_url:
        log.info("Operations listening at: %s", server.ops_url)
    if server.admin is not None:
        log.info("Admin view of live sessions at: %sadmin/ (user %s)", urls[0],
                 server.admin.access.user)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.handle_signal, signum)
    return await server.wait()


def _command_signature() -> inspect.Signature:
    params = [_parameter(spec) for spec in OPTION_SPECS if spec.flag is not None]
    params.append(inspect.Parameter(
        "version", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
        default=typer.Option(False, "--version", "-v", callback=_version_callback,
                             is_eager=True, help="Show the version and exit."),
    ))
    params.append(inspect.Parameter(
        "command", inspect.Parameter.KEYWORD_ONLY, annotation=list[str] | None,
        default=typer.Argument(None, metavar="COMMAND [ARGS]...", show_default=False,
                               help="The command to run for each client, with its arguments."),
    ))
    return inspect.Signature(params)


def _main_command(**kwargs: Any) -> None:
    command = list(kwargs.pop("command") or [])
    kwargs.pop("version", None)
    raise typer.Exit(run_server(kwargs, command))


_main_command.__signature__ = _command_signature()  # type: ignore[attr-defined]
_main_command.__annotations__ = {
    p.name: p.annotation for p in _main_command.__signature__.parameters.values()  # type: ignore[attr-defined]
}

class _GottyCommand(SectionedCommand):
    """`--help` with the options under their declared sections."""

    section_order = tuple(section.value for section in Section)

    def section_of(self, name: str) -> str | None:
        spec = SPECS_BY_NAME.get(name)
        return spec.section.value if spec is not None else None


_HELP_OPTIONS = ["-h", "--help"]
app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": _HELP_OPTIONS},
)
app.command(
    cls=_GottyCommand,
    help="Share COMMAND as a terminal in the browser (a Python port of GoTTY).",
    epilog="Every option can also be set in the HCL config file (the key after "
           "'config:') or by its GOTTY_* environment variable; a flag wins over both. "
           "The options as a table: python -m gotty_py.docs (docs/options.md in the "
           "source); an example config file: python -m gotty_py.docs hcl.",
    # The command's own settings replace the app's: the help names are repeated here, or
    # -h would be an unknown option.
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": False,
                      "help_option_names": _HELP_OPTIONS},
)(_main_command)


def configure_logging() -> None:
    """GoTTY's text lines until the options say otherwise (`--log-format`)."""
    install(LogFormat.TEXT, sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    configure_logging()
    args = _normalize_bool_flags(list(sys.argv[1:] if argv is None else argv))
    typer.main.get_command(app).main(args=args, prog_name="gotty-py", standalone_mode=True)
