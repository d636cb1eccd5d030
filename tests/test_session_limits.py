"""ttyd's operational flags, with real servers: --cwd, --exit-no-conn, --idle-timeout and
--max-session-time (each end with a close reason the page shows)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.gotty import Client, Gotty, open_session, run_gotty, wait_for


def closed_lines(server_output: str) -> int:
    return server_output.count("Connection closed by ")


class TestCwd:
    def test_the_command_runs_in_it(self, gotty: Gotty, tmp_path: Path) -> None:
        work = tmp_path / "work dir"
        work.mkdir()
        server = gotty("--cwd", str(work), "sh", "-c", "pwd")
        client = open_session(server)
        client.frames_until_close()
        assert f"{work}\r\n".encode() in client.output

    def test_relative_to_the_config_file(self, gotty: Gotty, tmp_path: Path) -> None:
        (tmp_path / "conf" / "work").mkdir(parents=True)
        config = tmp_path / "conf" / "gotty.hcl"
        config.write_text('cwd = "work"\n')
        server = gotty("--config", str(config), "sh", "-c", "pwd")  # the server runs in ROOT
        client = open_session(server)
        client.frames_until_close()
        assert f"{tmp_path / 'conf' / 'work'}\r\n".encode() in client.output

    def test_a_missing_directory_is_refused_at_start_up(self, tmp_path: Path) -> None:
        result = run_gotty("--cwd", str(tmp_path / "nonesuch"), "true")
        assert result.returncode == 2
        assert f"cwd (--cwd) '{tmp_path / 'nonesuch'}' does not exist" in result.stderr

    def test_a_file_is_refused_at_start_up(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("")
        result = run_gotty("--cwd", str(tmp_path / "file"), "true")
        assert result.returncode == 2
        assert "is not a directory" in result.stderr


class TestExitNoConn:
    def test_exits_when_the_last_client_leaves_after_a_session(self, gotty: Gotty) -> None:
        server = gotty("--exit-no-conn", "sh", "-c", "read x")
        # A connection that never starts a session (a scanner, a refused token) does not
        # count: the server stays, as a session opened afterwards shows.
        Client(server.ws_url, subprotocols=["webtty"]).close()
        wait_for(lambda: closed_lines(server.output()) == 1, 10, message="the first close")
        first = open_session(server)
        assert first.recv().startswith("3")  # the title: it is running
        second = open_session(server)
        assert second.recv().startswith("3")
        first.close()
        wait_for(lambda: closed_lines(server.output()) == 2, 10, message="the second close")
        assert server.process.poll() is None  # one client is still there
        second.close()
        assert server.wait_exit(15) == 0
        assert any("The last client has left; exiting (--exit-no-conn)" in line
                   for line in server.stop_and_read_all())

    def test_off_by_default(self, gotty: Gotty) -> None:
        server = gotty("sh", "-c", "read x")
        client = open_session(server)
        assert client.recv().startswith("3")
        client.close()
        wait_for(lambda: closed_lines(server.output()) == 1, 10, message="the close")
        again = open_session(server)
        assert again.recv().startswith("3")


def ends(client: Client) -> tuple[int | None, str]:
    client.frames_until_close()
    assert client.closed is not None
    return client.closed.code, client.closed.reason


class TestIdleTimeout:
    def test_no_input_ends_the_session_with_a_reason(self, gotty: Gotty) -> None:
        server = gotty("-w", "--idle-timeout", "1", "sh", "-c", "read x")
        client = open_session(server)
        started = time.monotonic()
        assert ends(client) == (1008, "idle for 1 s (no input)")
        assert time.monotonic() - started >= 0.9
        wait_for(lambda: "Connection closed by idle-timeout: idle for 1 s (no input)"
                 in server.output(), 10, message="the end logged with its cause")

    def test_input_keeps_it_open_and_pings_do_not(self, gotty: Gotty) -> None:
        server = gotty("-w", "--idle-timeout", "2", "sh", "-c",
                       "while read line; do echo got-$line; done")
        client = open_session(server)
        # A person typing every half second for 3 s: longer than the idle timeout in all.
        # (The pauses pace the typing; each keystroke's echo is waited for.)
        deadline = time.monotonic() + 3
        count, last_input = 0, 0.0
        while time.monotonic() < deadline:
            count += 1
            client.input(f"k{count}\r")
            last_input = time.monotonic()
            client.read_until(f"got-k{count}".encode())
            time.sleep(0.5)
        # Now only pings, as the page sends them: they are no sign of a person.
        client.send_text("2")
        assert ends(client) == (1008, "idle for 2 s (no input)")
        assert time.monotonic() - last_input >= 1.8
        assert count >= 5

    def test_read_only_input_counts_as_presence(self, gotty: Gotty) -> None:
        """A viewer's keys are not written, but they show someone is there."""
        server = gotty("--idle-timeout", "2", "sh", "-c", "read x")
        client = open_session(server)
        assert client.recv().startswith("3")
        started = time.monotonic()
        while time.monotonic() - started < 3:
            client.input("x")
            time.sleep(0.3)
        assert client.closed is None
        assert ends(client) == (1008, "idle for 2 s (no input)")


class TestMaxSessionTime:
    def test_ends_even_a_busy_session(self, gotty: Gotty) -> None:
        server = gotty("-w", "--max-session-time", "2", "sh", "-c",
                       "while read line; do echo got-$line; done")
        client = open_session(server)
        started = time.monotonic()
        count = 0
        try:
            while True:
                count += 1
                client.input(f"k{count}\r")
                client.read_until(f"got-k{count}".encode())
        except Exception:
            pass
        assert client.closed is not None
        assert (client.closed.code, client.closed.reason) == (
            1008, "session time limit of 2 s reached")
        assert 1.9 <= time.monotonic() - started < 10
        assert count > 5
        wait_for(lambda: "Connection closed by time-limit: session time limit of 2 s reached"
                 in server.output(), 10, message="the end logged with its cause")

    def test_negative_values_are_refused(self) -> None:
        for flag in ("--max-session-time", "--idle-timeout"):
            result = run_gotty(flag, "-1", "true")
            assert result.returncode == 2, flag
            assert f"flag {flag}: expected at least 0, got -1" in result.stderr

