"""The browser client against the real server: each test checks one thing that a broken
frontend (or a frontend/server mismatch) would get wrong."""

from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import textwrap
from pathlib import Path

import pytest
from gotty_harness import PageRecorder, ServerFactory
from playwright.sync_api import Browser, Page, expect
from terminal_page import WAIT_MS, TerminalPage

pytestmark = pytest.mark.browser

BASH = ("bash", "--norc", "--noprofile")


def init_frame(frames: list[str]) -> dict[str, object]:
    """The first frame a socket sent, which must be the JSON init message."""
    assert frames, "the socket sent nothing"
    value = json.loads(frames[0])
    assert isinstance(value, dict)
    return value


def test_typed_command_runs_and_output_shows(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder, artifacts_dir: Path
) -> None:
    """Keys reach the shell and its output reaches the screen; the setup is in order:
    init JSON (with the GottyPy flag), then a resize matching the terminal."""
    server = gotty_server(*BASH, options=["-w"])
    term = TerminalPage(page).open(server.url)

    term.type_line("echo hello-$((6*7))")
    term.wait_for_line("hello-42")
    expect(page.locator(".gotty-readonly")).to_be_hidden()

    sent = recorder.wait_for_frames(page, "sent", lambda frames: len(frames) >= 2)
    init = init_frame(sent)
    # `Resumable`: the page can reattach after a lost connection (docs/sessions.md).
    assert init == {"Arguments": "", "AuthToken": "", "GottyPy": 1, "Resumable": True}
    assert sent[1].startswith("3"), sent[:3]
    cols, rows = term.size()
    assert json.loads(sent[1][1:]) == {"columns": cols, "rows": rows}
    assert recorder.websockets[0].url == server.url.replace("http://", "ws://") + "ws"

    # Something colourful for the screenshot.
    term.type_line(
        "printf '\\033[1;32mgreen\\033[0m \\033[1;34mblue\\033[0m \\u00e9\\u4e2d\\U0001F600\\n'"
    )
    term.wait_for_line("green blue é中😀")
    term.screenshot(artifacts_dir / "session-live.png")


def test_large_paste_arrives_whole(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder
) -> None:
    """A 200 KiB paste (ASCII and multibyte text) reaches the process byte for byte.
    GoTTY's frontends split or truncate big input; the tty is put in raw mode so that the
    line discipline's 4095-byte line limit does not interfere."""
    rng = random.Random(42)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 éß中😀"
    text = "".join(rng.choice(alphabet) for _ in range(200 * 1024))
    data = text.encode("utf-8")
    reader = textwrap.dedent(
        f"""
        import hashlib, os, sys, tty
        tty.setraw(0)
        os.write(1, b"READY\\r\\n")
        want, got = {len(data)}, bytearray()
        while len(got) < want:
            chunk = os.read(0, 65536)
            if not chunk:
                break
            got += chunk
        os.write(1, f"n={{len(got)}} sha256={{hashlib.sha256(got).hexdigest()}}\\r\\n".encode())
        os.read(0, 1)  # stay alive (and the session open) until a key arrives
        """
    )
    server = gotty_server("python3", "-c", reader, options=["-w"])
    term = TerminalPage(page).open(server.url)
    term.wait_for_line("READY")

    # A real paste event on xterm's textarea: the path a browser paste takes.
    page.evaluate(
        """text => {
            const data = new DataTransfer();
            data.setData('text/plain', text);
            const area = document.querySelector('textarea.xterm-helper-textarea');
            area.dispatchEvent(new ClipboardEvent(
                'paste', {clipboardData: data, bubbles: true, cancelable: true}));
        }""",
        text,
    )
    term.wait_for_text("sha256=", timeout=30_000)
    expected = f"n={len(data)} sha256={hashlib.sha256(data).hexdigest()}"
    assert expected in term.buffer_text()
    sent = recorder.wait_for_frames(page, "sent", lambda frames: any(f[:1] == "1" for f in frames))
    inputs = [f for f in sent if f.startswith("1")]
    assert len(inputs) == 1, "the paste must go out as one message"


def test_multibyte_characters_split_across_frames(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder
) -> None:
    """Output written one byte at a time arrives in many frames, each ending inside a
    UTF-8 character; the screen must still show the characters, not U+FFFD."""
    sample = "[é中😀ü€𝄞]"
    writer = textwrap.dedent(
        f"""
        import os, time
        os.write(1, b"start\\r\\n")
        for byte in {sample.encode("utf-8")!r}:
            os.write(1, bytes([byte]))
            time.sleep(0.02)
        os.write(1, b"\\r\\nend\\r\\n")
        time.sleep(60)
        """
    )
    server = gotty_server("python3", "-c", writer)
    term = TerminalPage(page).open(server.url)
    term.wait_for_line("end")

    assert sample in term.buffer_text().split("\n")
    assert "\ufffd" not in term.buffer_text()
    received = recorder.wait_for_frames(
        page, "received", lambda frames: sum(f.startswith("1") for f in frames) >= 8
    )
    outputs = [f for f in received if f.startswith("1")]
    assert len(outputs) >= 8, f"expected the bytes to arrive split, got {len(outputs)} frames"


def test_viewport_size_reaches_the_pty(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder, artifacts_dir: Path
) -> None:
    """The fitted size is what `stty size` reports, before and after a window resize, and
    the COLSxROWS hint appears without stealing the keyboard."""
    server = gotty_server(*BASH, options=["-w"])
    page.set_viewport_size({"width": 1000, "height": 600})
    term = TerminalPage(page).open(server.url)

    cols, rows = term.size()
    term.type_line("echo size=$(stty size)")
    term.wait_for_line(f"size={rows} {cols}")

    page.set_viewport_size({"width": 640, "height": 400})
    page.wait_for_function("c => window.gottyTerm.cols < c", arg=cols, timeout=WAIT_MS)
    new_cols, new_rows = term.size()
    assert (new_cols, new_rows) != (cols, rows)
    expect(page.locator(".gotty-size")).to_have_text(f"{new_cols}x{new_rows}")
    expect(page.locator(".gotty-size")).to_have_css("pointer-events", "none")
    page.screenshot(path=str(artifacts_dir / "resize-overlay.png"))

    # Typed once the new size is on the wire (xterm takes it before the page sends it), and
    # while the hint is still showing.
    resize = f'3{{"columns":{new_cols},"rows":{new_rows}}}'
    assert resize in recorder.wait_for_frames(page, "sent", lambda frames: resize in frames)
    term.type_line("echo size=$(stty size)")
    term.wait_for_line(f"size={new_rows} {new_cols}")
    expect(page.locator(".gotty-size")).to_be_hidden(timeout=WAIT_MS)


def test_window_title_comes_from_the_server(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder
) -> None:
    """Message `3` sets document.title, raw UTF-8 included."""
    server = gotty_server(*BASH, options=["--title-format", "Tïtle ✓ {{ .command }}"])
    TerminalPage(page).open(server.url)
    page.wait_for_function("() => document.title === 'Tïtle ✓ bash'", timeout=WAIT_MS)
    title = "3Tïtle ✓ bash"
    assert title in recorder.wait_for_frames(page, "received", lambda frames: title in frames)


def test_read_only_session_ignores_keys_and_shows_badge(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder, artifacts_dir: Path
) -> None:
    """Without -w the server says `7{"writable":false}`: the badge shows and typed keys
    are not sent at all."""
    server = gotty_server(*BASH)
    term = TerminalPage(page).open(server.url)
    expect(page.locator(".gotty-readonly")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".gotty-readonly")).to_have_text("read-only")

    term.type_line("echo should-not-run")
    # Frames leave in order: once a later frame has been sent, any input would have been too.
    cols, rows = term.size()
    marker = f'3{{"columns":{cols},"rows":{rows}}}'
    with recorder.websockets[0].expect_event("framesent", predicate=lambda f: f == marker):
        page.evaluate("t => window.gotty.client.connection.sendResize(t[0], t[1])", [cols, rows])
    assert [f for f in recorder.sent[0] if f.startswith("1")] == []
    assert "should-not-run" not in term.buffer_text()
    page.screenshot(path=str(artifacts_dir / "read-only.png"))


def test_close_reason_is_shown(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder, artifacts_dir: Path
) -> None:
    """When the command exits the server closes with a reason; the page shows it and
    keeps the output that came before."""
    server = gotty_server("python3", "-c", "import sys; print('bye-now'); sys.exit(3)")
    term = TerminalPage(page).open(server.url, still_open=False)
    message = page.locator(".gotty-message")
    expect(message).to_be_visible(timeout=WAIT_MS)
    expect(message).to_have_text(re.compile(r"^Connection closed: .*exit.*\b3\b"))
    term.wait_for_line("bye-now")
    page.screenshot(path=str(artifacts_dir / "closed.png"))


def test_reconnect_gives_a_working_terminal(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder, artifacts_dir: Path
) -> None:
    """With --reconnect the page opens a *new* socket after the close, sends a fresh init
    on it, and keyboard input works there (GoTTY's fork leaves input dead)."""
    server = gotty_server(*BASH, options=["-w", "--reconnect", "--reconnect-time", "1"])
    term = TerminalPage(page).open(server.url)
    term.type_line("exit")
    expect(page.locator(".gotty-message")).to_contain_text("Reconnecting in 1 s", timeout=WAIT_MS)

    page.screenshot(path=str(artifacts_dir / "reconnecting.png"))

    term.wait_open_count(2)
    expect(page.locator(".gotty-message")).to_be_hidden()
    term.type_line("echo again-$((6*7))")
    term.wait_for_line("again-42")
    page.screenshot(path=str(artifacts_dir / "reconnected.png"))

    sent = recorder.wait_for_frames(page, "sent", lambda frames: len(frames) >= 2, socket=1)
    assert len(recorder.websockets) == 2
    assert init_frame(sent)["GottyPy"] == 1
    assert sent[1].startswith("3")


def test_base_path_and_basic_auth(
    gotty_server: ServerFactory, browser: Browser, artifacts_dir: Path
) -> None:
    """Relative links and the WebSocket URL work under --path, behind Basic auth."""
    server = gotty_server(
        *BASH, options=["-w", "--path", "/sub/dir/", "--credential", "user:s3cret"]
    )
    assert server.url.endswith("/sub/dir/")
    context = browser.new_context(http_credentials={"username": "user", "password": "s3cret"})
    try:
        page = context.new_page()
        recorder = PageRecorder()
        recorder.attach(page)
        term = TerminalPage(page).open(server.url)
        term.type_line("echo auth-$((6*7))")
        term.wait_for_line("auth-42")
        assert recorder.websockets[0].url.endswith("/sub/dir/ws")
        sent = recorder.wait_for_frames(page, "sent", lambda frames: len(frames) >= 1)
        assert init_frame(sent)["AuthToken"] == "user:s3cret"
        assert recorder.csp_violations() == []
    finally:
        context.close()


def test_rejected_token_shows_the_servers_reason(
    gotty_server: ServerFactory, browser: Browser, artifacts_dir: Path
) -> None:
    """A wrong AuthToken (here: a tampered auth_token.js) is refused with a close reason,
    which the page shows instead of a bare "connection lost"."""
    server = gotty_server(*BASH, options=["-w", "--credential", "user:s3cret"])
    context = browser.new_context(http_credentials={"username": "user", "password": "s3cret"})
    try:
        page = context.new_page()
        page.route(
            "**/auth_token.js",
            lambda route: route.fulfill(
                content_type="text/javascript", body="var gotty_auth_token = 'user:wrong';"
            ),
        )
        page.goto(server.url)
        message = page.locator(".gotty-message")
        expect(message).to_have_text(re.compile(r"^Connection closed: \S"), timeout=WAIT_MS)
        page.screenshot(path=str(artifacts_dir / "unauthorized.png"))
    finally:
        context.close()


def test_preferences_change_font_and_colours(
    gotty_server: ServerFactory,
    page: Page,
    recorder: PageRecorder,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    """A config `preferences` block (message `4`) sets xterm's font size and colours, and
    the bigger font gives fewer columns, which the PTY learns."""
    config = tmp_path / "gotty.hcl"
    config.write_text(
        textwrap.dedent(
            """
            preferences {
              font_size = 24
              background_color = "rgb(16, 32, 48)"
              foreground_color = "#ffcc00"
              cursor_color = "#ff00ff"
            }
            """
        )
    )
    server = gotty_server(*BASH, options=["-w", "--config", str(config)])
    page.set_viewport_size({"width": 1000, "height": 600})
    term = TerminalPage(page).open(server.url)
    page.wait_for_function("() => window.gottyTerm.options.fontSize === 24", timeout=WAIT_MS)

    theme = page.evaluate("window.gottyTerm.options.theme")
    assert theme["background"] == "rgb(16, 32, 48)"
    assert theme["foreground"] == "#ffcc00"
    assert theme["cursor"] == "#ff00ff"
    expect(page.locator("body")).to_have_css("background-color", "rgb(16, 32, 48)")
    cell_height = page.evaluate(
        "() => document.querySelector('.xterm-screen').getBoundingClientRect().height"
        " / window.gottyTerm.rows"
    )
    assert cell_height >= 24, f"rows should be at least as tall as the 24px font, got {cell_height}"

    cols, rows = term.size()
    assert cols < 80, f"a 24px font in 1000px should give well under 80 columns, got {cols}"
    # xterm takes the new size at once and the page sends it on its next resize event: the
    # line is typed once that resize is on the wire (before it, the shell could still run
    # at the first fit's size, as it once did under the suite's load).
    resize = f'3{{"columns":{cols},"rows":{rows}}}'
    recorder.wait_for_frames(page, "sent", lambda frames: resize in frames)
    term.type_line("echo size=$(stty size)")
    term.wait_for_line(f"size={rows} {cols}")
    term.screenshot(artifacts_dir / "preferences.png")


def test_jwt_is_removed_from_the_address_bar(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder
) -> None:
    """A launch token in `?jwt=` leaves the address bar at once, the other parameters stay,
    and the init message still carries the original query (the server needs the token)."""
    server = gotty_server(*BASH, options=["-w"])
    TerminalPage(page).open(server.url + "?arg=one&jwt=abc.def.ghi&x=%20y")
    assert page.evaluate("location.search") == "?arg=one&x=%20y"
    sent = recorder.wait_for_frames(page, "sent", lambda frames: len(frames) >= 1)
    assert init_frame(sent)["Arguments"] == "?arg=one&jwt=abc.def.ghi&x=%20y"


def test_selection_is_copied_to_the_clipboard(
    gotty_server: ServerFactory, browser: Browser
) -> None:
    """Copy on select: selecting terminal text puts it on the clipboard."""
    server = gotty_server(*BASH, options=["-w"])
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        term = TerminalPage(page).open(server.url)
        term.type_line("echo copy-$((6*7))")
        term.wait_for_line("copy-42")
        page.evaluate(
            """() => {
                const buffer = window.gottyTerm.buffer.active;
                for (let i = 0; i < buffer.length; i++) {
                    if (buffer.getLine(i).translateToString(true) === 'copy-42') {
                        window.gottyTerm.select(0, i, 7);
                        return;
                    }
                }
            }"""
        )
        page.wait_for_function(
            "async () => (await navigator.clipboard.readText()) === 'copy-42'", timeout=WAIT_MS
        )
    finally:
        context.close()


def test_renderer_is_webgl_by_default_and_dom_on_request(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder
) -> None:
    """WebGL by default (it works in headless Chromium); `#renderer=dom` (the test hook)
    gives xterm's DOM renderer, whose rows hold the text."""
    server = gotty_server(*BASH, options=["-w"])
    TerminalPage(page).open(server.url)
    assert page.evaluate("window.gotty.view.renderer.current") == "webgl"
    expect(page.locator(".xterm-screen canvas").first).to_be_attached()

    page.goto(server.url + "#renderer=dom")
    page.reload()  # a hash change alone does not reload the page
    term = TerminalPage(page)
    term.wait_open_count(1)
    assert page.evaluate("window.gotty.view.renderer.current") == "dom"
    term.type_line("echo dom-$((6*7))")
    term.wait_for_line("dom-42")
    expect(page.locator(".xterm-rows")).to_contain_text("dom-42")


@pytest.mark.parametrize("how", ["flag", "preferences"])
def test_webgl_can_be_turned_off_by_the_server(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder, tmp_path: Path, how: str
) -> None:
    """`--no-enable-webgl` (config.js) or `enable_webgl = false` in the preferences block
    (message `4`) gives the DOM renderer."""
    if how == "flag":
        options = ["-w", "--no-enable-webgl"]
    else:
        config = tmp_path / "gotty.hcl"
        config.write_text("preferences {\n  enable_webgl = false\n}\n")
        options = ["-w", "--config", str(config)]
    server = gotty_server(*BASH, options=options)
    term = TerminalPage(page).open(server.url)
    page.wait_for_function("() => window.gotty.view.renderer.current === 'dom'", timeout=WAIT_MS)
    term.type_line("echo nogl-$((6*7))")
    expect(page.locator(".xterm-rows")).to_contain_text("nogl-42", timeout=WAIT_MS)


def test_lost_webgl_context_falls_back_to_dom(
    gotty_server: ServerFactory, page: Page, recorder: PageRecorder
) -> None:
    """When the GPU context goes away the terminal switches to the DOM renderer and keeps
    working (xterm's WebGL addon waits 3 s for a restore before it gives up)."""
    server = gotty_server(*BASH, options=["-w"])
    term = TerminalPage(page).open(server.url)
    assert page.evaluate("window.gotty.view.renderer.current") == "webgl"
    page.evaluate(
        """() => {
            for (const canvas of document.querySelectorAll('.xterm-screen canvas')) {
                const gl = canvas.getContext('webgl2');  // null for a 2d canvas
                if (gl) gl.getExtension('WEBGL_lose_context').loseContext();
            }
        }"""
    )
    page.wait_for_function("() => window.gotty.view.renderer.current === 'dom'", timeout=WAIT_MS)
    term.type_line("echo after-loss-$((6*7))")
    expect(page.locator(".xterm-rows")).to_contain_text("after-loss-42", timeout=WAIT_MS)


@pytest.mark.parametrize(
    ("stop_signal", "expected"),
    [
        (signal.SIGTERM, "Connection closed: server shutting down"),
        (signal.SIGKILL, "Connection lost"),
    ],
)
def test_server_going_away_is_reported(
    gotty_server: ServerFactory,
    page: Page,
    recorder: PageRecorder,
    stop_signal: signal.Signals,
    expected: str,
) -> None:
    """A clean shutdown closes with code 1001 and a reason; a dead server is 1006,
    "Connection lost" (then the page tries to resume the session within its grace
    period, docs/sessions.md). Either message stays on screen."""
    server = gotty_server(*BASH, options=["-w"])
    TerminalPage(page).open(server.url)
    server.process.send_signal(stop_signal)
    expect(page.locator(".gotty-message")).to_have_text(re.compile("^" + expected),
                                                        timeout=WAIT_MS)
