"""JWT launch tokens in the browser: a URL minted by `gotty-py-token` opens a working
terminal running the signed arguments, and the token leaves the address bar."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gotty_harness import PageRecorder, ServerFactory
from playwright.sync_api import Page, expect
from terminal_page import WAIT_MS, TerminalPage

from tests.gotty import GottyProcess
from tests.jwt_keys import KeyPair, es256

pytestmark = pytest.mark.browser

# Shows its arguments one per bracket, then becomes an interactive shell.
COMMAND = ("sh", "-c", 'printf "args:"; printf " [%s]" "$@"; echo; '
           "exec bash --norc --noprofile", "a0")


def mint_url(pair: KeyPair, url: str, *args: str, sub: str = "alice") -> str:
    result = subprocess.run(
        [sys.executable, "-m", "gotty_py.token_cli", "--key-file", str(pair.private_pem),
         "--sub", sub, "--aud", "console", "--iss", "portal", "--ttl", "60",
         "--claim", "ns=prod", "--url", url, "--", *args],
        capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.strip()


def jwt_server(gotty_server: ServerFactory, pair: KeyPair, *extra: str) -> GottyProcess:
    return gotty_server(*COMMAND, options=[
        "-w", "--jwt-public-key-file", str(pair.public_pem), "--jwt-audience", "console",
        "--jwt-issuer", "portal", "--title-format", "{{ .user }} in {{ .claims.ns }}", *extra])


def test_minted_url_opens_a_terminal_with_the_signed_args(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder, tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    pair = es256(tmp_path)
    server = jwt_server(gotty_server, pair)
    url = mint_url(pair, server.url, "one", "two words")
    term = TerminalPage(page).open(url)

    term.wait_for_line("args: [one] [two words]")
    assert "jwt=" not in page.url
    assert page.evaluate("location.search") == ""
    # The page read the token before removing it, and sent it in the init message.
    sent = recorder.wait_for_frames(page, "sent", lambda frames: len(frames) >= 1)
    assert json.loads(sent[0])["Arguments"] == "?" + url.split("?", 1)[1]
    page.wait_for_function("() => document.title === 'alice in prod'", timeout=WAIT_MS)

    term.type_line("echo user=$GOTTY_USER typed-$((6*7))")
    term.wait_for_line("user=alice typed-42")
    term.screenshot(artifacts_dir / "jwt-session.png")


def test_a_used_link_opened_again_is_refused_with_the_reason(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder,
    tmp_path: Path, artifacts_dir: Path,
) -> None:
    """A launch link works once: a second tab with the same URL shows why it was refused,
    and the first session keeps working."""
    pair = es256(tmp_path)
    server = jwt_server(gotty_server, pair)
    url = mint_url(pair, server.url, "first")
    term = TerminalPage(page).open(url)
    term.wait_for_line("args: [first]")

    second = page.context.new_page()
    second.goto(url)
    message = second.locator(".gotty-message")
    expect(message).to_have_text("Connection closed: token already used", timeout=WAIT_MS)
    second.screenshot(path=str(artifacts_dir / "jwt-already-used.png"))
    second.close()

    term.type_line("echo still-$((6*7))")
    term.wait_for_line("still-42")
    server.wait_for_line(r"Refused session from 127\.0\.0\.1:\d+: token already used")


def test_reconnect_uses_the_sessions_ticket(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder, tmp_path: Path,
) -> None:
    """The launch token is single-use, so with --reconnect the page reconnects with the
    ticket its session was given: a working terminal with the same signed arguments, and
    the used token is not sent again."""
    pair = es256(tmp_path)
    server = jwt_server(gotty_server, pair, "--reconnect", "--reconnect-time", "1")
    term = TerminalPage(page).open(mint_url(pair, server.url, "x"))
    term.wait_for_line("args: [x]")
    term.type_line("exit")
    term.wait_open_count(2)
    term.wait_for_line("args: [x]")
    term.type_line("echo again-$((6*7))")
    term.wait_for_line("again-42")
    second_init = json.loads(
        recorder.wait_for_frames(page, "sent", lambda frames: len(frames) >= 1, socket=1)[0]
    )
    assert re.fullmatch(r"\?ticket=[\w%-]+", str(second_init["Arguments"]))
    assert "jwt=" not in str(second_init["Arguments"])
