"""`gotty-py-token`: mint a launch token and print the URL that opens the session.

Rules of this module: it only parses flags, reads the signing key and calls
`auth.mint`; the claims are documented in docs/jwt.md. Errors exit with status 2 and a
message naming the flag, never the key. What a server with the default options would
refuse (a --ttl above its --jwt-max-lifetime) is a warning, not an error: the server may be
configured otherwise.

    gotty-py-token --key-file portal-es256.pem --kid 2024-06 --sub alice --aud console \\
        --iss portal --ttl 60 --url https://console.example/ -- exec -it pod -n ns -- bash
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer._click.core import Context
from typer._click.exceptions import NoSuchOption
from typer.core import TyperOption

from .auth.keys import (
    KeyConfigError,
    SigningKey,
    default_algorithm,
    load_private_key_pem,
    parse_algorithms,
    read_key_file,
    read_secret_file,
)
from .auth.mint import launch_url, mint_launch_token
from .helptext import SectionedCommand
from .options import SPECS_BY_NAME

# What a server started with the defaults accepts as a token's lifetime (exp - iat).
SERVER_MAX_LIFETIME: int = SPECS_BY_NAME["jwt_max_lifetime"].default


def missing_separator_hint(args: Sequence[str], unknown: str,
                           value_options: set[str]) -> str | None:
    """When an unknown option comes after a word that is not ours (the command the token is
    for: `exec -it web-0`), the operator almost certainly forgot `--` before the command."""
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--" or word == unknown or (word.startswith(unknown) and
                                               not word.startswith("--")):
            return None
        if not word.startswith("-") or word == "-":
            return ("; options after the command belong to it: put -- before the "
                    "command, e.g. gotty-py-token [OPTIONS] -- "
                    + shlex.join(args[index:]))
        index += 2 if word in value_options else 1
    return None


class _TokenCommand(SectionedCommand):
    """Plain help, and a hint for the most common mistake: the command's options without
    `--` before the command."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        given = list(args)
        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as exc:
            value_options = {name for param in self.params
                             if isinstance(param, TyperOption) and not param.is_flag
                             for name in param.opts}
            hint = missing_separator_hint(given, exc.option_name, value_options)
            if hint:
                exc.message += hint
            raise


app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(2)


def parse_claims(items: list[str]) -> dict[str, Any]:
    """`key=value` gives a string; `key:=json` gives any JSON value (as in HTTPie)."""
    claims: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.rstrip(":"):
            raise ValueError(f"--claim {item!r}: expected key=value or key:=json")
        if name.endswith(":"):
            try:
                claims[name[:-1]] = json.loads(value)
            except ValueError:
                raise ValueError(f"--claim {item!r}: the value is not JSON") from None
        else:
            claims[name] = value
    return claims


def _signing_key(key_file: str | None, secret_file: str | None) -> SigningKey:
    if (key_file is None) == (secret_file is None):
        raise KeyConfigError("give exactly one of --key-file (PEM private key) and "
                             "--secret-file (HMAC secret)")
    if key_file is not None:
        return load_private_key_pem(read_key_file(key_file, "--key-file"),
                                    f"--key-file {key_file}")
    assert secret_file is not None
    return read_secret_file(secret_file, "--secret-file")


@app.command(cls=_TokenCommand,
             help="Mint a launch token for gotty-py's JWT mode and print the launch URL. "
                  "ARGS (after --) are appended to the command gotty-py runs.")
def main(
    args: Annotated[list[str] | None, typer.Argument(
        metavar="[-- ARGS...]", show_default=False,
        help="Arguments signed into the args claim.")] = None,
    key_file: Annotated[str | None, typer.Option(
        "--key-file", metavar="FILE",
        help="PEM private key (RSA, EC, Ed25519) to sign with.")] = None,
    secret_file: Annotated[str | None, typer.Option(
        "--secret-file", metavar="FILE",
        help="File holding the HMAC secret (at least 32 bytes).")] = None,
    alg: Annotated[str | None, typer.Option(
        "--alg", metavar="ALG", help="Signing algorithm (default: HS256 for a secret, the "
        "key's own for a private key).")] = None,
    kid: Annotated[str | None, typer.Option(
        "--kid", metavar="KID",
        help="Key id header, to pick the key from gotty-py's JWKS.")] = None,
    typ: Annotated[str | None, typer.Option(
        "--typ", metavar="TYPE",
        help="Type header: gotty-py's --jwt-type, when it requires one.")] = None,
    sub: Annotated[str | None, typer.Option(
        "--sub", metavar="USER", help="The user's identity (GOTTY_USER).")] = None,
    aud: Annotated[str | None, typer.Option(
        "--aud", metavar="AUDIENCE", help="Audience: gotty-py's --jwt-audience.")] = None,
    iss: Annotated[str | None, typer.Option(
        "--iss", metavar="ISSUER", help="Issuer: gotty-py's --jwt-issuer.")] = None,
    ttl: Annotated[int, typer.Option(
        "--ttl", metavar="SECONDS",
        help="Seconds until the token expires (a server with the default "
             f"--jwt-max-lifetime accepts at most {SERVER_MAX_LIFETIME}).")] = 60,
    write: Annotated[bool | None, typer.Option(
        "--write/--no-write", help="The write claim: --no-write makes the session read-only "
        "(--write cannot grant more than the server's -w).")] = None,
    claim: Annotated[list[str] | None, typer.Option(
        "--claim", metavar="KEY=VALUE",
        help="Extra claim key=value (a string) or key:=json; repeatable.")] = None,
    url: Annotated[str | None, typer.Option(
        "--url", metavar="URL", help="gotty-py's base URL; the launch URL is printed.")] = None,
    token_only: Annotated[bool, typer.Option(
        "--token-only", help="Print only the token.")] = False,
) -> None:
    if url is None and not token_only:
        raise _fail("give --url (to print the launch URL) or --token-only")
    if ttl <= 0:
        raise _fail("--ttl must be positive")
    if ttl > SERVER_MAX_LIFETIME:
        typer.echo(f"Warning: --ttl {ttl} is above gotty-py's default --jwt-max-lifetime "
                   f"({SERVER_MAX_LIFETIME} s): a server with the default refuses this token; "
                   f"use --ttl {SERVER_MAX_LIFETIME} or less, or raise the server's "
                   "--jwt-max-lifetime", err=True)
    try:
        extra = parse_claims(claim or [])
        key = _signing_key(key_file, secret_file)
        names = parse_algorithms(alg, "--alg") if alg else (default_algorithm(key),)
        if len(names) != 1:
            raise ValueError("--alg: give one algorithm")
        algorithm = names[0]
        token = mint_launch_token(key, algorithm=algorithm, args=args or [], sub=sub, aud=aud,
                                  iss=iss, ttl=ttl, kid=kid, typ=typ, write=write,
                                  extra=extra)
    except (KeyConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(token if token_only or url is None else launch_url(url, token))


def run() -> None:
    app(prog_name="gotty-py-token")


if __name__ == "__main__":
    run()
