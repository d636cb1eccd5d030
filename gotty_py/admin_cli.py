"""`gotty-py-admin`: list a server's live sessions and end one, from the command line.

Rules of this module: it talks to a running server's admin routes (server/admin.py) over
HTTP(S) and nothing else: it imports nothing of the server, so what it shows is what the
endpoint answers. The credential is read from `--credential` or, better (argv is visible
to every user of the machine), `GOTTY_ADMIN_CREDENTIAL`; it is never printed. Exit codes:
0 done, 1 the server refused or failed (a message says why), 2 a usage error.

    GOTTY_ADMIN_CREDENTIAL=admin:secret gotty-py-admin list --url https://console.example/
    gotty-py-admin end 3f2a9c0d1b4e5f60 --url https://console.example/
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Any

import typer

# The header the server's JSON API requires of a request that changes something: no other
# site's page can send it (server/admin_access.py).
API_HEADER = "X-GoTTY-Admin"
TIMEOUT = 30.0  # seconds for one request (an end waits for the session's end, up to 10 s)

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                  no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="List the live sessions of a gotty-py server, or end one. The server "
                       "must run with --admin-credential.")


class AdminError(Exception):
    """What went wrong, as the operator reads it (exit 1)."""


UrlOption = Annotated[str, typer.Option(
    "--url", metavar="URL", envvar="GOTTY_ADMIN_URL",
    help="The server's base URL (with its --path), e.g. https://console.example/.")]
CredentialOption = Annotated[str, typer.Option(
    "--credential", metavar="USER:PASS", envvar="GOTTY_ADMIN_CREDENTIAL", show_envvar=True,
    show_default=False, help="The server's --admin-credential.")]
CaFileOption = Annotated[str | None, typer.Option(
    "--ca-file", metavar="FILE",
    help="CA certificates (PEM) to verify an https server with, instead of the system's.")]


def _context(ca_file: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def call(url: str, credential: str, path: str, *, method: str = "GET",
         ca_file: str | None = None) -> tuple[int, Any]:
    """One request to the admin API; the status and the decoded JSON answer."""
    if not url.startswith(("http://", "https://")):
        raise AdminError(f"--url {url!r}: expected an http:// or https:// URL")
    target = urllib.parse.urljoin(url if url.endswith("/") else url + "/", path)
    headers = {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode(),
               "Accept": "application/json"}
    if method == "POST":
        headers[API_HEADER] = "1"
    request = urllib.request.Request(target, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT,
                                    context=_context(ca_file)) as response:
            status, content_type, body = (response.status,
                                          response.headers.get("Content-Type", ""),
                                          response.read())
    except urllib.error.HTTPError as exc:
        status, content_type, body = exc.code, exc.headers.get("Content-Type", ""), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AdminError(f"cannot reach {target}: {reason}") from None
    if status == 401:
        raise AdminError("the server refused the admin credential (401)")
    if status == 403:
        text = body.decode(errors="replace").strip()[:200]
        raise AdminError(f"the server refused the request (403): {text}")
    if not content_type.startswith("application/json"):
        raise AdminError(f"no admin endpoint at {target} (HTTP {status}, "
                         f"{content_type or 'no content type'}): is the server run with "
                         "--admin-credential, and is --url its base URL?")
    try:
        return status, json.loads(body)
    except ValueError:
        raise AdminError(f"the server's answer from {target} is not JSON") from None


def _age(started: float, now: float) -> str:
    seconds = max(0, int(now - started))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def format_table(sessions: list[dict[str, Any]], now: float) -> str:
    """One line per session, in columns; the command last (it may be long)."""
    header = ("ID", "USER", "STARTED (UTC)", "AGE", "CLIENT", "IN", "OUT", "OBS", "DETACHED",
              "TARGET", "COMMAND")
    rows = [header]
    for item in sessions:
        started = float(item["started_at"])
        target = item.get("target")
        rows.append((
            str(item["id"]), str(item.get("user") or "-"),
            datetime.datetime.fromtimestamp(started, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            _age(started, now), str(item["client"]), str(item["bytes_in"]),
            str(item["bytes_out"]), str(item["observers"]),
            "yes" if item["detached"] else "no",
            f"{target['namespace']}/{target['pod']}" if target else "-",
            str(item["command"])))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                   row[-1]]).rstrip()
        for row in rows)


@app.command("list", help="List the running sessions: id, user, start, client, bytes in "
                          "and out, observers, detached, target and command.")
def list_sessions(url: UrlOption, credential: CredentialOption, ca_file: CaFileOption = None,
                  as_json: Annotated[bool, typer.Option(
                      "--json", help="Print the server's JSON answer as it is.")] = False,
                  ) -> None:
    try:
        _, answer = call(url, credential, "admin/api/sessions", ca_file=ca_file)
    except AdminError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    sessions = answer.get("sessions", [])
    typer.echo(format_table(sessions, time.time()) if sessions else "no session is running")


@app.command("end", help="End a running session through the server's normal end path "
                         "(the user sees 'ended by an administrator'; cleanup and audit "
                         "run; the event log names the administrator).")
def end_session(session_id: Annotated[str, typer.Argument(
                    metavar="ID", help="The session's id (as `list` shows it).")],
                url: UrlOption, credential: CredentialOption,
                ca_file: CaFileOption = None) -> None:
    if not (len(session_id) == 16 and all(c in "0123456789abcdef" for c in session_id)):
        typer.echo(f"Error: {session_id!r} is no session id (16 hex digits)", err=True)
        raise typer.Exit(2)
    try:
        status, answer = call(url, credential, f"admin/api/sessions/{session_id}/end",
                              method="POST", ca_file=ca_file)
    except AdminError as exc:
        raise _fail(str(exc)) from None
    if status == 404:
        raise _fail(f"no running session {session_id}")
    if status == 202:
        typer.echo(f"session {session_id} is ending")
        return
    if status != 200:
        raise _fail(f"the server answered {status}: {answer}")
    typer.echo(f"session {session_id} ended ({answer.get('outcome')})")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(1)


def main() -> None:
    typer.main.get_command(app).main(prog_name="gotty-py-admin", standalone_mode=True)


if __name__ == "__main__":
    main()
