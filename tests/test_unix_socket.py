"""`--address unix:/path` and systemd socket activation (issue 12, point 13).

Real servers, real clients: the page over raw HTTP on the Unix socket, a webtty session
with websocket-client speaking over a connected Unix socket, and servers started as systemd
starts them, with a socket this test bound passed as descriptor 3 (`tests/socket_activation`).
"""

from __future__ import annotations

import grp
import http.client
import os
import re
import socket
import stat
from pathlib import Path

import pytest

from gotty_py.webtty.protocol import encode_title
from tests.gotty import Client, http_request, open_session, run_gotty, start_gotty, wait_for


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket (curl --unix-socket)."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(self._path)
        self.sock = sock


def get(path: Path, target: str = "/") -> tuple[int, str]:
    connection = UnixHTTPConnection(path)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def unix_session(path: Path, arguments: str = "") -> Client:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(15)
    sock.connect(str(path))
    return Client("ws://localhost/ws", subprotocols=["webtty"], sock=sock).init(arguments)


def me() -> str:
    """How the server names this process as a Unix-socket peer."""
    return f"unix:uid={os.getuid()},pid={os.getpid()}"


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "gotty.sock"


def test_page_and_session_over_a_unix_socket(sock_path: Path) -> None:
    server = start_gotty("--address", f"unix:{sock_path}", "--title-format",
                         "from {{ .remote_addr }}", "sh", "-c", "echo hello-unix")
    try:
        assert server.url == f"unix:{sock_path}"
        server.wait_for_line(rf"curl --unix-socket {re.escape(str(sock_path))} "
                             r"http://localhost/\)")
        mode = os.stat(sock_path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600  # the default
        status, page = get(sock_path)
        assert status == 200 and f"<title>from {me()}</title>" in page
        client = unix_session(sock_path)
        frames = client.frames_until_close()
        assert b"hello-unix" in client.output
        assert encode_title(f"from {me()}") in frames
        server.wait_for_line(rf"Command is running for client {re.escape(me())} with")
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert not sock_path.exists()  # removed at the end: it was ours


def test_mode_and_group_are_applied(sock_path: Path) -> None:
    others = [g for g in grp.getgrall() if g.gr_gid != os.getgid()]
    if os.getuid() != 0 or not others:
        pytest.skip("giving the socket to another group needs root and another group")
    group = others[0]
    server = start_gotty("--address", f"unix:{sock_path}", "--unix-socket-mode", "660",
                         "--unix-socket-group", group.gr_name, "true")
    try:
        info = os.stat(sock_path)
        assert stat.S_IMODE(info.st_mode) == 0o660 and info.st_gid == group.gr_gid
    finally:
        server.stop()


def test_a_stale_socket_is_replaced_and_a_live_one_refused(sock_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # the file stays; nothing accepts on it any more
    assert sock_path.exists()
    server = start_gotty("--address", f"unix:{sock_path}", "sh", "-c", "echo replaced")
    try:
        server.wait_for_line("Removing the stale socket")
        assert get(sock_path)[0] == 200
        # While it serves, a second server must not take the path from it.
        second = run_gotty("--address", f"unix:{sock_path}", "true")
        assert second.returncode == 8
        assert f"failed to listen at unix:{sock_path}: address already in use" in second.stderr
        assert get(sock_path)[0] == 200
    finally:
        server.stop()


def test_a_file_that_is_not_a_socket_is_refused(sock_path: Path) -> None:
    sock_path.write_text("precious")
    result = run_gotty("--address", f"unix:{sock_path}", "true")
    assert result.returncode == 2
    assert "the path exists and is not a socket" in result.stderr
    assert sock_path.read_text() == "precious"


@pytest.mark.parametrize(("args", "message"), [
    (["--unix-socket-mode", "0999"], "flag --unix-socket-mode: expected octal permissions"),
    (["--unix-socket-group", "no-such-group-here"], "no group named 'no-such-group-here'"),
])
def test_bad_socket_options_exit_2(sock_path: Path, args: list[str], message: str) -> None:
    result = run_gotty("--address", f"unix:{sock_path}", *args, "true")
    assert result.returncode == 2
    assert message in result.stderr
    assert not sock_path.exists()


def test_socket_activation_with_a_tcp_socket() -> None:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    port = listening.getsockname()[1]
    # --port 1 could never be bound by this test's user if it were used: it is not.
    server = start_gotty(str(listening.fileno()), "--port", "1", "sh", "-c",
                         'echo "fds=${LISTEN_FDS-unset} pid=${LISTEN_PID-unset}"; '
                         'ls -l /proc/$$/fd | grep -c socket: || true',
                         module="tests.socket_activation", pass_fds=[listening.fileno()])
    listening.close()  # the server holds its own copy
    try:
        assert server.url == f"http://127.0.0.1:{port}/"
        server.wait_for_line(r"Using 1 listening socket\(s\) from systemd socket activation")
        assert http_request(server.url).status == 200
        client = open_session(server)
        client.frames_until_close()
        output = client.output.decode().replace("\r\n", "\n")
        # Neither the variables nor the listening socket reach the session's processes.
        assert "fds=unset pid=unset" in output
        assert re.search(r"^0$", output, re.M), output
    finally:
        server.stop()


def test_socket_activation_with_a_unix_socket(sock_path: Path) -> None:
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(sock_path))
    listening.listen(16)
    server = start_gotty(str(listening.fileno()), "--address", "unix:/nonexistent/x.sock",
                         "sh", "-c", "echo activated", module="tests.socket_activation",
                         pass_fds=[listening.fileno()])
    listening.close()
    try:
        assert server.url == f"unix:{sock_path}"
        client = unix_session(sock_path)
        client.frames_until_close()
        assert b"activated" in client.output
    finally:
        server.stop()
    assert sock_path.exists()  # systemd's socket: never removed by the server


def test_listen_variables_for_another_process_are_ignored() -> None:
    server = start_gotty("--address", "127.0.0.1", "--port", "0", "true",
                         env={"LISTEN_FDS": "1", "LISTEN_PID": "1"})
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert http_request(server.url).status == 200
        wait_for(lambda: "socket activation" not in server.output(), message="no activation")
    finally:
        server.stop()
