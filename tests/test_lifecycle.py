"""Server-wide behaviour: --once, --max-connection, --timeout, origins, signals."""

from __future__ import annotations

import re
import signal

import pytest
import websocket

from tests.gotty import (
    Client,
    Gotty,
    GottyProcess,
    basic,
    http_request,
    open_session,
    pid_alive,
    wait_for,
)


def started(server: GottyProcess, *, token: str = "", headers: list[str] | None = None
            ) -> Client:
    client = open_session(server, token=token, headers=headers)
    assert client.recv().startswith("3")
    return client


def status_of(server: GottyProcess, headers: list[str] | None = None) -> tuple[int, str]:
    try:
        Client(server.ws_url, headers=headers).close()
    except websocket.WebSocketBadStatusException as exc:
        body = exc.resp_body.decode() if isinstance(exc.resp_body, bytes) else str(exc.resp_body)
        return exc.status_code, body
    return 101, ""


class TestOnce:
    def test_one_session_then_exit(self, gotty: Gotty) -> None:
        server = gotty("--once", "sh", "-c", "read x")
        first = started(server)
        assert status_of(server) == (503, "Server is shutting down\n")
        first.close()
        assert server.wait_exit() == 0

    def test_only_authorized_sessions_count(self, gotty: Gotty) -> None:
        """Deviation: in GoTTY any request to /ws, even unauthenticated, uses up --once."""
        server = gotty("--once", "-c", "u:p", "sh", "-c", "echo done")
        auth = ["Authorization: " + basic("u:p")["Authorization"]]
        assert status_of(server)[0] == 401
        assert http_request(server.ws_url.replace("ws://", "http://")).status == 401
        bad = Client(server.ws_url, headers=auth)
        bad.init(token="u:wrong")
        bad.frames_until_close()
        assert bad.closed is not None and bad.closed.reason == "unauthorized"
        assert server.process.poll() is None
        good = started(server, token="u:p", headers=auth)
        good.frames_until_close()
        assert b"done" in good.output
        assert server.wait_exit() == 0


class TestMaxConnection:
    def test_refusal_is_a_clear_503(self, gotty: Gotty) -> None:
        """Deviation: GoTTY answers an empty 200 without upgrading."""
        server = gotty("--max-connection", "1", "-w", "sh", "-c", "read x")
        first = started(server)
        assert status_of(server) == (503, "Too many connections (at most 1)\n")
        first.input("\r")
        first.frames_until_close()
        wait_for(lambda: status_of(server)[0] == 101, 10, message="the slot to free up")


class TestTimeout:
    def test_exits_without_clients(self, gotty: Gotty) -> None:
        server = gotty("--timeout", "1", "true")
        assert server.wait_exit(10) == 0

    def test_a_client_holds_the_server_and_the_timer_rearms(self, gotty: Gotty) -> None:
        server = gotty("--timeout", "1", "-w", "sh", "-c", "read x")
        client = started(server)
        with pytest.raises(Exception, match="timed out"):
            wait_for(lambda: server.process.poll() is not None, 2.5, message="no exit")
        client.input("\r")
        client.frames_until_close()
        assert server.wait_exit(10) == 0


class TestOrigin:
    def test_same_origin_by_default(self, gotty: Gotty) -> None:
        server = gotty("true")
        assert status_of_origin(server, "http://evil.example")[0] == 403
        assert status_of_origin(server, f"http://{server.host}")[0] == 101
        assert status_of_origin(server, f"http://{server.host.upper()}")[0] == 101
        assert status_of(server)[0] == 101  # no Origin header: not a browser

    def test_ws_origin_regex_is_unanchored(self, gotty: Gotty) -> None:
        server = gotty("--ws-origin", r"trusted\.example", "true")
        assert status_of_origin(server, "https://trusted.example")[0] == 101
        assert status_of_origin(server, "https://trusted.example.evil")[0] == 101
        assert status_of_origin(server, f"http://{server.host}")[0] == 403
        assert status_of(server)[0] == 403  # a missing Origin is matched as ""


def status_of_origin(server: GottyProcess, origin: str) -> tuple[int, str]:
    try:
        Client(server.ws_url, origin=origin).close()
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code, ""
    return 101, ""


class TestSignals:
    def test_sigterm_ends_sessions_with_a_reason(self, gotty: Gotty) -> None:
        server = gotty("sh", "-c", "echo PID=$$; read x")
        client = started(server)
        pid = int(re.search(rb"PID=(\d+)", client.read_until(b"\n"))[1])  # type: ignore[index]
        server.process.send_signal(signal.SIGTERM)
        client.frames_until_close()
        assert client.closed is not None
        assert (client.closed.code, client.closed.reason) == (1001, "server shutting down")
        assert server.wait_exit() == 0
        assert not pid_alive(pid)

    def test_sigint_is_graceful(self, gotty: Gotty) -> None:
        server = gotty("-w", "sh", "-c", "read x; echo after-$x")
        client = started(server)
        server.process.send_signal(signal.SIGINT)
        server.wait_for_line("C-C to force close")
        with pytest.raises(ConnectionRefusedError):  # no longer accepting
            Client(server.ws_url)
        client.input("ok\r")
        client.read_until(b"after-ok")
        client.frames_until_close()
        assert server.wait_exit() == 0

    def test_second_sigint_forces(self, gotty: Gotty) -> None:
        server = gotty("sh", "-c", "read x")
        client = started(server)
        server.process.send_signal(signal.SIGINT)
        server.wait_for_line("C-C to force close")
        server.process.send_signal(signal.SIGINT)
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1001
        assert server.wait_exit() == 0
