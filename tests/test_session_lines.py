"""What the log and the page say about a session (issue 12 point 8): the whole command line
at session start, quoted and safe for a terminal; the tab title of a session that never
starts.

Real servers and WebSocket clients; the logged line is pasted back into a real bash to show
it is the same argv.
"""

from __future__ import annotations

import html
import re
import socket
import subprocess
import urllib.parse
from pathlib import Path

from gotty_py.server.commandline import command_line
from tests.gotty import Gotty, http_request, open_session
from tests.jwt_keys import claims, hs256, write_secret

RUNNING = r"Command is running for client 127\.0\.0\.1:\d+ with pid \d+: (.*)$"
HOSTILE = ["it's", "two words", "a\x1b[31mred\x1b[0m", "line\n2000/01/01 00:00:00 fake",
           "\u202eevil", "\x9bc", "$HOME;`id`", "back\\slash", ""]


def _bash_words(line: str) -> list[str]:
    """The words bash makes of `line` (the logged command line pasted into a shell)."""
    script = f'for w in {line}; do printf "%s\\0" "$w"; done'
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    return [word.decode() for word in out.split(b"\0")[:-1]]


def _running_line(server_output: str) -> str:
    match = re.search(RUNNING, server_output, re.MULTILINE)
    assert match is not None, server_output
    return match.group(1)


class TestCommandLineLogged:
    def test_client_arguments_are_logged_quoted_and_escaped(self, gotty: Gotty) -> None:
        server = gotty("--permit-arguments", "sh", "-c", "exit 0", "a0")
        query = "?" + "&".join(f"arg={urllib.parse.quote(a)}" for a in HOSTILE)
        open_session(server, query).frames_until_close()
        server.wait_for_line("Command is running")
        line = _running_line(server.output())
        # No byte a terminal acts on reached the log, and the line was not split in two.
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202e]", line), repr(line)
        assert "$'a\\E[31mred\\E[0m'" in line and "$'line\\n2000/01/01" in line
        # Pasted into bash, it is exactly the argv the session ran.
        assert _bash_words(line) == ["sh", "-c", "exit 0", "a0", *HOSTILE]

    def test_a_launch_tokens_arguments_are_logged(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        server = gotty("--jwt-secret-file", str(tmp_path / "secret"), "--jwt-audience",
                       "console", "--jwt-issuer", "portal", "echo")
        token = hs256(secret, claims(args=["exec", "-it", "web 0", "--", "bash"]))
        open_session(server, f"?jwt={token}").frames_until_close()
        server.wait_for_line("Command is running")
        assert _running_line(server.output()) == "echo exec -it 'web 0' -- bash"

    def test_plain_words_stay_plain(self) -> None:
        assert command_line(["kubectl", "get", "pods", "-n", "prod"]) == \
            "kubectl get pods -n prod"


class TestTitleOfASessionThatNeverStarts:
    FORMAT = "{{ .user }}: {{ .claims.ns }}/{{ .claims.pod }}"  # config/kubernetes.hcl's

    def test_a_refused_token_leaves_the_tab_a_real_title(self, gotty: Gotty,
                                                         tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        server = gotty("--jwt-secret-file", str(tmp_path / "secret"), "--jwt-audience",
                       "console", "--jwt-issuer", "portal", "--title-format", self.FORMAT,
                       "sh", "-c", "read x")
        # The page a browser shows for a bad token: its title is all the tab will have.
        page = http_request(server.url + "?jwt=bad").text
        title = re.search(r"<title>(.*?)</title>", page)
        assert title is not None
        assert html.unescape(title.group(1)) == f"sh@{socket.gethostname()}"
        client = open_session(server, "?jwt=bad")
        frames = client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1008
        assert not any(frame.startswith("3") for frame in frames)  # no title replaces it
        # A session that starts still gets the configured title.
        good = hs256(secret, claims(ns="prod", pod="web-1"))
        started = open_session(server, f"?jwt={good}")
        assert started.recv() == "3alice: prod/web-1"
        started.close()

    def test_a_template_the_page_can_fill_is_kept(self, gotty: Gotty) -> None:
        server = gotty("--title-format", "{{ .command }} from {{ .remote_addr }}", "true")
        assert re.search(r"<title>true from 127\.0\.0\.1:\d+</title>",
                         http_request(server.url).text)
