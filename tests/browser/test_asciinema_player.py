"""Our asciicast v3 files in a real v3 player: asciinema-player (the asciinema project's web
player, from npm, a devDependency of frontend/ that the page never loads).

asciinema 3's command-line player is a Rust program on neither PyPI nor Debian; the web
player is the one real v3 player the project can install (`npm ci` in frontend/, which CI
runs before the suite). A recording made by a real session with `--audit-format v3`, and a
v2 one converted by `gotty-py-audit convert`, are played to their end; the player's screen
must show the session's output at the recorded size.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest
from gotty_harness import REPO_ROOT
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.gotty import Gotty
from tests.test_audit import AUDIT_CLI, connect, wait_line

pytestmark = pytest.mark.browser

PLAYER = REPO_ROOT / "frontend" / "node_modules" / "asciinema-player" / "dist" / "bundle"
SCRIPT = "echo 'first line'; printf '\\033[1;32mgreen in v3\\033[0m\\n'; exit 3"


@pytest.fixture
def player_page(page: Page) -> Page:
    if not (PLAYER / "asciinema-player.min.js").exists():
        message = f"{PLAYER} is missing: run make frontend-test (npm ci in frontend/)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    page.set_content('<!doctype html><html><body><div id="player"></div></body></html>')
    page.add_style_tag(path=str(PLAYER / "asciinema-player.css"))
    page.add_script_tag(path=str(PLAYER / "asciinema-player.min.js"))
    return page


def play(page: Page, cast: Path, expect: str = "green in v3") -> tuple[str, int]:
    """Plays `cast` to its end in the player: (the screen's text, its number of lines).

    The player fires `ended` when its clock reaches the end, and paints the last frame on a
    later animation frame; on a loaded machine the screen read straight after `ended` was
    still blank. So the screen is read once it shows `expect`, or after a 10 s deadline (then
    the caller's assertion shows what it did show)."""
    page.evaluate("""text => new Promise((resolve, reject) => {
        const player = AsciinemaPlayer.create({ data: text },
            document.getElementById('player'),
            { autoPlay: true, speed: 20, idleTimeLimit: 0.05, controls: false });
        player.addEventListener('ended', resolve);
        player.addEventListener('error', reject);
    })""", cast.read_text(encoding="utf-8"))
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function("""text => [...document.querySelectorAll('.ap-term .ap-line')]
            .some(line => line.innerText.includes(text))""", arg=expect, timeout=10_000)
    lines = page.locator(".ap-term .ap-line")
    return "\n".join(lines.all_inner_texts()), lines.count()


def record(gotty: Gotty, audit: Path, *options: str) -> Path:
    server = gotty("--audit-dir", str(audit), *options, "sh", "-c", SCRIPT)
    client, remote = connect(server, size=(90, 20))
    client.frames_until_close()
    return Path(wait_line(audit / "sessions.jsonl", remote)["recording"])


def test_a_v3_recording_plays(gotty: Gotty, tmp_path: Path, player_page: Page) -> None:
    screen, rows = play(player_page, record(gotty, tmp_path / "audit", "--audit-format", "v3"))
    assert "first line" in screen and "green in v3" in screen
    assert rows == 20


def test_a_converted_v2_recording_plays(gotty: Gotty, tmp_path: Path,
                                        player_page: Page) -> None:
    converted = tmp_path / "converted.cast"
    subprocess.run([str(AUDIT_CLI), "convert", str(record(gotty, tmp_path / "audit")), "-o",
                    str(converted)], check=True, timeout=30)
    screen, rows = play(player_page, converted)
    assert "first line" in screen and "green in v3" in screen
    assert rows == 20
