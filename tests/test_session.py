"""The webtty session end to end: real server process, real PTYs, real WebSocket client."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import pytest

from tests.gotty import Client, Closed, Gotty, open_session, pid_alive, wait_for


def read_pid(client: Client) -> int:
    """Commands in these tests print `PID=<n>` first."""
    match = re.search(rb"PID=(\d+)", client.read_until(b"PID=", 10) and
                      client.read_until(b"\n", 10))
    assert match is not None
    return int(match.group(1))


def frame_ends_session(gotty: Gotty, frame: str) -> Closed:
    """Send `frame` to a running session: it must close with 1002 and its process end."""
    client = open_session(gotty("sh", "-c", "echo PID=$$; read x"))
    pid = read_pid(client)
    client.send_text(frame)
    client.frames_until_close()
    assert client.closed is not None and client.closed.code == 1002
    wait_for(lambda: not pid_alive(pid), 15, message="the process to end")
    return client.closed


class TestInitialFrames:
    def test_title_then_buffer_size(self, gotty: Gotty) -> None:
        server = gotty("--title-format", "T:{{ .command }}", "sh", "-c", "read x")
        client = open_session(server)
        assert client.recv() == "3T:sh"
        assert client.recv() == "61024"

    def test_reconnect_and_preferences_follow_in_gotty_order(self, gotty: Gotty,
                                                             tmp_path: Path) -> None:
        config = tmp_path / "c.hcl"
        config.write_text("preferences {\n font_size = 20\n background_color = \"#010203\"\n}\n")
        server = gotty("--config", str(config), "--reconnect", "--reconnect-time", "7",
                       "sh", "-c", "read x")
        client = open_session(server)
        frames = [client.recv() for _ in range(4)]
        assert frames[0].startswith("3")
        assert frames[1:] == ["61024", "57",
                              '4{"background-color":"#010203","font-size":20}']

    def test_no_preferences_frame_without_a_block(self, gotty: Gotty) -> None:
        client = open_session(gotty("echo", "x"))
        frames = client.frames_until_close()
        assert not any(f.startswith(("4", "5")) for f in frames)

    def test_session_info_only_for_gotty_py_clients(self, gotty: Gotty) -> None:
        server = gotty("sh", "-c", "read x")
        ours = open_session(server, GottyPy=1)
        assert [ours.recv() for _ in range(3)][2] == '7{"writable":false}'
        theirs = open_session(server)
        theirs.recv(), theirs.recv()
        theirs.input("\n")  # ignored: not writable; ping to see the next frame
        theirs.send_text("2")
        assert theirs.recv() == "2"

    def test_title_variables(self, gotty: Gotty) -> None:
        title_format = "{{ .command }}|{{ .argv }}|{{ .pid }}|{{ .remote_addr }}|{{ .server.argv }}"
        server = gotty("--title-format", title_format, "sh", "-c", "echo PID=$$; read x", "a0")
        client = open_session(server)
        title = client.recv()
        pid = read_pid(client)
        assert re.fullmatch(rf"3sh\|\[-c echo PID=\$\$; read x a0\]\|{pid}\|127\.0\.0\.1:\d+\|"
                            r"\[-c echo PID=\$\$; read x a0\]", title), title

    def test_page_title_has_no_pid(self, gotty: Gotty) -> None:
        """No process yet: a format that needs `.pid` gives the page GoTTY's default title,
        not `<no value>` (which a tab whose session never starts would keep)."""
        import html
        import socket

        from tests.gotty import http_request
        server = gotty("--title-format", "{{ .pid }}", "true")
        page = http_request(server.url).text
        assert f"<title>{html.escape('true@' + socket.gethostname())}</title>" in page


class TestOutput:
    def test_output_is_base64_text_frames(self, gotty: Gotty) -> None:
        client = open_session(gotty("printf", "\\303\\251\\377"))
        frames = client.frames_until_close()
        output_frames = [f for f in frames if f.startswith("1")]
        assert output_frames and all(re.fullmatch(r"1[A-Za-z0-9+/=]*", f) for f in output_frames)
        assert bytes(client.output) == b"\xc3\xa9\xff"

    def test_process_exit_sends_a_close_frame_with_the_status(self, gotty: Gotty) -> None:
        client = open_session(gotty("sh", "-c", "echo bye; exit 3"))
        client.frames_until_close()
        assert b"bye" in client.output
        assert client.closed is not None
        assert (client.closed.code, client.closed.reason) == (1000, "process exited with status 3")

    def test_killed_process_reason(self, gotty: Gotty) -> None:
        client = open_session(gotty("sh", "-c", "kill -9 $$"))
        client.frames_until_close()
        assert client.closed is not None
        assert client.closed.reason == "process killed by signal SIGKILL"

    def test_ping_gets_an_empty_pong(self, gotty: Gotty) -> None:
        client = open_session(gotty("sh", "-c", "read x"))
        client.recv(), client.recv()
        client.send_text("2anything")
        assert client.recv() == "2"


class TestResize:
    CMD = ("-w", "sh", "-c", "stty size; while read x; do stty size; done")

    def test_initial_size_is_sane(self, gotty: Gotty) -> None:
        """Deviation: GoTTY starts the PTY at 0x0."""
        client = open_session(gotty(*self.CMD))
        assert b"24 80" in client.read_until(b"\n")

    def test_resize_reaches_the_process(self, gotty: Gotty) -> None:
        client = open_session(gotty(*self.CMD))
        client.read_until(b"24 80")
        client.resize(100, 30)
        client.input("\r")
        client.read_until(b"30 100")
        client.send_text('3{"columns":81.9,"rows":25.5}')
        client.input("\r")
        client.read_until(b"25 81")
        client.send_text("3{}")
        client.input("\r")
        client.read_until(b"0 0")

    def test_width_alone_fixes_the_columns(self, gotty: Gotty) -> None:
        client = open_session(gotty("--width", "50", *self.CMD))
        client.read_until(b"24 50")
        client.resize(100, 30)
        client.input("\r")
        client.read_until(b"30 50")

    def test_width_and_height_give_a_fixed_size(self, gotty: Gotty) -> None:
        """Deviation: GoTTY ignores resizes and leaves the PTY at 0x0 forever."""
        client = open_session(gotty("--width", "60", "--height", "20", *self.CMD))
        client.read_until(b"20 60")
        client.resize(100, 30)
        client.input("\r")
        client.read_until(b"20 60\r\n\r\n20 60")  # the second size, after the echoed newline
        assert b"30" not in client.output

    @pytest.mark.parametrize("frame", ["3", "3{bad", '3{"columns":-5}', '3{"rows":99999}',
                                       '3{"columns":"80"}'])
    def test_bad_resize_ends_the_session_cleanly(self, gotty: Gotty, frame: str) -> None:
        assert "resize" in frame_ends_session(gotty, frame).reason


class TestInput:
    RAW_HEX = ("sh", "-c", "stty raw -echo; echo READY; head -c 4 | od -An -tx1")

    def test_input_needs_permit_write(self, gotty: Gotty) -> None:
        client = open_session(gotty("sh", "-c", "stty raw -echo; echo READY; head -c 1; echo GOT"))
        client.read_until(b"READY")
        client.input("x")
        client.send_text("2")
        assert client.recv() == "2"
        assert b"GOT" not in client.output

    def test_raw_bytes_reach_the_pty(self, gotty: Gotty) -> None:
        """Text frames are not UTF-8 validated, as in GoTTY (gotty-client splits UTF-8)."""
        client = open_session(gotty("-w", *self.RAW_HEX))
        client.read_until(b"READY")
        client.input(b"\xff\xfe\xc3")
        client.input(b"\xa9")
        client.read_until(b"ff fe c3 a9")

    def test_base64_input_after_set_encoding(self, gotty: Gotty) -> None:
        client = open_session(gotty("-w", *self.RAW_HEX))
        client.read_until(b"READY")
        client.send_text("4base64")
        client.send_text("1" + base64.b64encode(b"\x01\x02").decode())
        client.send_text("4null")
        client.input(b"AB")
        client.read_until(b"01 02 41 42")

    def test_invalid_base64_ends_the_session(self, gotty: Gotty) -> None:
        client = open_session(gotty("-w", "sh", "-c", "read x"))
        client.send_text("4base64")
        client.send_text("1%%%")
        client.frames_until_close()
        assert client.closed is not None
        assert client.closed.code == 1002
        assert client.closed.reason == "malformed input: invalid base64"

    @pytest.mark.parametrize("size", [1025, 3000, 1024 * 1024 + 7])
    def test_large_input_arrives_whole(self, gotty: Gotty, size: int) -> None:
        """Deviation: yudai's GoTTY truncates input above ~1 KiB; sorenisanerd's ends it."""
        script = f"stty raw -echo; echo READY; head -c {size} | sha256sum"
        client = open_session(gotty("-w", "sh", "-c", script))
        client.read_until(b"READY")
        payload = bytes((i * 7 + 3) % 251 + 1 for i in range(size)).replace(b"\x03", b"x")
        client.input(payload)
        client.read_until(hashlib.sha256(payload).hexdigest().encode(), timeout=30)

    def test_binary_frames_after_init_are_ignored(self, gotty: Gotty) -> None:
        client = open_session(gotty("-w", *self.RAW_HEX))
        client.read_until(b"READY")
        client.send_binary(b"1zzzz")
        client.input(b"abcd")
        client.read_until(b"61 62 63 64")

    @pytest.mark.parametrize("frame", ["", "0", "0abc", "9x", "\x00"])
    def test_unknown_or_empty_frame_ends_the_session(self, gotty: Gotty, frame: str) -> None:
        frame_ends_session(gotty, frame)


class TestInit:
    @pytest.mark.parametrize("frame", ["not json", "[]", '{"AuthToken": 1}'])
    def test_malformed_init_starts_nothing(self, gotty: Gotty, tmp_path: Path,
                                           frame: str) -> None:
        marker = tmp_path / "started"
        client = Client(gotty("touch", str(marker)).ws_url)
        client.send_text(frame)
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1002
        assert not marker.exists()

    def test_binary_init_starts_nothing(self, gotty: Gotty, tmp_path: Path) -> None:
        marker = tmp_path / "started"
        client = Client(gotty("touch", str(marker)).ws_url)
        client.send_binary(b'{"Arguments":"","AuthToken":""}')
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1002
        assert not marker.exists()

    def test_subprotocol_negotiation(self, gotty: Gotty) -> None:
        server = gotty("true")
        asked = Client(server.ws_url, subprotocols=["webtty"])
        assert asked.ws.getsubprotocol() == "webtty"
        plain = Client(server.ws_url)  # gotty-client asks for none and still gets 101
        assert plain.ws.getsubprotocol() is None
        asked.close(), plain.close()


class TestArguments:
    CMD = ("sh", "-c", 'for a in "$@"; do printf "<%s>" "$a"; done', "a0")

    def test_arguments_are_ignored_by_default(self, gotty: Gotty) -> None:
        """Deviation from yudai's GoTTY, where permit-arguments defaults to true."""
        client = open_session(gotty(*self.CMD), "?arg=evil")
        client.frames_until_close()
        assert b"evil" not in client.output

    def test_permitted_arguments_are_appended(self, gotty: Gotty) -> None:
        client = open_session(gotty("--permit-arguments", *self.CMD),
                              "http://x/p?arg=a&arg=b%20c&ARG=no&arg=%ZZ&arg=d+e")
        client.frames_until_close()
        assert bytes(client.output) == b"<a><b c><d e>"


class TestProcess:
    def test_child_environment_and_session(self, gotty: Gotty) -> None:
        script = 'echo "T=$TERM G=${GOTTY_CREDENTIAL-unset} S=$(ps -o pid=,sid=,pgid= -p $$)"'
        server = gotty("sh", "-c", script, env={"GOTTY_TITLE_FORMAT": "x", "TERM": "dumb"})
        client = open_session(server)
        client.frames_until_close()
        text = client.output.decode()
        assert "T=xterm-256color" in text
        assert "G=unset" in text
        pid, sid, pgid = text.split("S=")[1].split()
        assert pid == sid == pgid  # a session and process-group leader

    def test_client_close_sends_the_close_signal(self, gotty: Gotty, tmp_path: Path) -> None:
        log = tmp_path / "signal"
        script = f"trap 'echo TERM > {log}; exit 0' TERM; echo PID=$$; while :; do sleep 0.1; done"
        server = gotty("--close-signal", "15", "sh", "-c", script)
        client = open_session(server)
        pid = read_pid(client)
        client.close()
        wait_for(lambda: not pid_alive(pid), 10, message="the process to end")
        assert log.read_text() == "TERM\n"

    def test_a_child_ignoring_the_signal_is_killed_after_close_timeout(
            self, gotty: Gotty) -> None:
        script = "trap '' HUP; echo PID=$$; while :; do sleep 0.1; done"
        server = gotty("--close-timeout", "1", "sh", "-c", script)
        client = open_session(server)
        pid = read_pid(client)
        client.abort()
        wait_for(lambda: not pid_alive(pid), 10, message="SIGKILL after the close timeout")
        server.wait_for_line("Connection closed by client-closed")

    def test_bad_session_does_not_harm_others(self, gotty: Gotty) -> None:
        server = gotty("-w", "sh", "-c", "while read l; do echo got-$l; done")
        good = open_session(server)
        for frame in ["", "0", "3{", "1"]:
            bad = open_session(server)
            bad.send_text(frame) if frame != "1" else bad.send_binary(b"\x00")
        good.input("one\r")
        good.read_until(b"got-one")
        assert os.path.exists(f"/proc/{server.pid}")


class TestHostileArguments:
    @pytest.mark.parametrize("query", ["?arg=%00", "?arg=a%00b&arg=x"])
    def test_nul_in_an_argument_is_refused_before_forking(self, gotty: Gotty, query: str) -> None:
        """A NUL byte used to leave ptyprocess's forked child running a copy of the server."""
        server = gotty("--permit-arguments", "echo")
        client = open_session(server, query)
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1011
        assert "NUL byte" in client.closed.reason
        assert b"Traceback" not in client.output
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert [int(c) for c in children if int(c) != server.watchdog_pid] == [], \
            "a forked child survived"
