"""What an unauthenticated client can make the server read, hold or do (issue 11, point 4).

Real servers, real WebSocket clients on loopback. Large messages are sent with a zero
masking key (tests/hostile.py) so that the client side costs nothing; what is measured is
the server: a surviving session's echo round trip while the attack runs, its resident
memory, and what it answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.gotty import Client, Closed, Gotty, GottyProcess, basic, http_request, wait_for
from tests.hostile import (
    ECHO_COMMAND,
    EchoProbe,
    frame_header,
    percentile,
    rss_bytes,
    send_large_message,
)
from tests.jwt_keys import claims, hs256, write_secret

MiB = 1024 * 1024
POLICY = ["--jwt-audience", "console", "--jwt-issuer", "portal"]


def jwt_server(gotty: Gotty, tmp_path: Path, *args: str) -> tuple[GottyProcess, bytes]:
    secret = write_secret(tmp_path / "secret")
    server = gotty("-w", "--jwt-secret-file", str(tmp_path / "secret"), *POLICY, *args,
                   *ECHO_COMMAND)
    return server, secret


def connect(server: GottyProcess) -> Client:
    return Client(server.ws_url, subprotocols=["webtty"])


def close_of(client: Client, timeout: float = 20) -> Closed:
    client.ws.settimeout(timeout)
    client.frames_until_close()
    assert client.closed is not None
    return client.closed


class TestInitLimit:
    def test_a_big_init_is_closed_at_its_header_unread(self, gotty: Gotty,
                                                       tmp_path: Path) -> None:
        server, _ = jwt_server(gotty, tmp_path)
        attacker = connect(server)
        # The header announces 48 MiB; only the first bytes follow. The server must decide
        # from the header: reading on would wait for the rest.
        attacker.ws.sock.sendall(frame_header(48 * MiB) + b'{"Arguments":"?jwt=')
        closed = close_of(attacker, timeout=10)
        assert (closed.code, closed.reason) == (1009, "message too big")
        server.wait_for_line(r"Refused WebSocket from 127\.0\.0\.1:\d+: a message over "
                             r"--init-message-limit \(65536 bytes\) before its session started")
        assert server.output().count("a message over --init-message-limit") == 1

    @pytest.mark.serial
    def test_a_48_mib_init_freezes_nobody(self, gotty: Gotty, tmp_path: Path) -> None:
        server, secret = jwt_server(gotty, tmp_path)
        probe = EchoProbe.start(server, f"?jwt={hs256(secret, claims())}")
        before = rss_bytes(server.pid)
        attacker = connect(server)
        prefix = b'{"AuthToken":"","Arguments":"?jwt='
        sent = send_large_message(attacker.ws.sock, prefix, 48 * MiB, suffix=b'"}')
        close_of(attacker)
        grown = rss_bytes(server.pid) - before
        latencies = probe.stop()
        print(f"48 MiB init: {sent / MiB:.0f} MiB sent before the close, resident memory "
              f"+{grown / MiB:.1f} MiB, other session's echo p99 "
              f"{percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
              f"over {len(latencies)}")
        assert max(latencies) < 0.5
        assert grown < 16 * MiB

    def test_four_16_mib_inits_leave_no_memory_behind(self, gotty: Gotty,
                                                      tmp_path: Path) -> None:
        server, _ = jwt_server(gotty, tmp_path)
        before = rss_bytes(server.pid)
        attackers = [connect(server) for _ in range(4)]
        threads = [threading.Thread(target=send_large_message,
                                    args=(a.ws.sock, b'{"Arguments":"?jwt=', 16 * MiB),
                                    kwargs={"suffix": b'"}'})
                   for a in attackers]
        for thread in threads:
            thread.start()
        for attacker in attackers:
            close_of(attacker)  # a close frame, or the reset of a connection closed unread
        for thread in threads:
            thread.join(30)
        grown = rss_bytes(server.pid) - before
        print(f"four 16 MiB inits: resident memory +{grown / MiB:.1f} MiB")
        assert grown < 16 * MiB
        wait_for(lambda: server.output().count("a message over --init-message-limit") == 4)

    def test_a_fragmented_init_counts_every_fragment(self, gotty: Gotty,
                                                     tmp_path: Path) -> None:
        server, _ = jwt_server(gotty, tmp_path)
        attacker = connect(server)
        piece = b"A" * (40 * 1024)
        attacker.ws.sock.sendall(frame_header(len(piece), final=False) + piece)
        # The second fragment's header makes 80 KiB: closed there, its payload unread.
        attacker.ws.sock.sendall(frame_header(len(piece), opcode=0, final=False) + b"AAAA")
        assert close_of(attacker).code == 1009

    def test_an_init_at_the_limit_is_read_and_refused_for_its_token(
            self, gotty: Gotty, tmp_path: Path) -> None:
        server, _ = jwt_server(gotty, tmp_path, "--init-message-limit", "4096")
        init = json.dumps({"Arguments": "?jwt=" + "A" * 3000, "AuthToken": ""})
        client = connect(server)
        client.send_text(init)
        assert (close_of(client).code, client.closed.reason if client.closed else "") == (
            1008, "invalid token")

    def test_after_the_start_a_paste_may_be_large(self, gotty: Gotty, tmp_path: Path) -> None:
        server, secret = jwt_server(gotty, tmp_path, "--init-message-limit", "1024")
        client = Client(server.ws_url, subprotocols=["webtty"]).init(
            f"?jwt={hs256(secret, claims())}", size=(80, 24))
        client.read_until(b"READY", 15)
        paste = b"x" * (2 * MiB)
        client.input(paste)
        client.read_while(lambda out: out.count(b"x") < len(paste), 30, "the echoed paste")

    def test_the_limit_is_an_option_with_a_floor(self, gotty: Gotty) -> None:
        from tests.gotty import run_gotty
        result = run_gotty("--init-message-limit", "100", "true")
        assert result.returncode == 2
        assert "init_message_limit (--init-message-limit)" in result.stderr


class TestBodyLimits:
    @pytest.mark.parametrize("path", ["/", "/js/gotty-bundle.js", "/config.js", "/ws"])
    def test_a_large_body_gets_413_before_it_is_read(self, gotty: Gotty, path: str) -> None:
        server = gotty("-c", "user:pass", "true")
        before = rss_bytes(server.pid)
        host, port = server.host.split(":")
        sock = socket.create_connection((host, int(port)), timeout=20)
        length = 90_000_000
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Length: "
                     f"{length}\r\n\r\n".encode())
        sent = [0]

        def flood() -> None:
            block = b"B" * MiB
            try:
                while sent[0] < length:
                    sock.sendall(block)
                    sent[0] += len(block)
            except OSError:
                pass

        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        response = b""
        try:
            while b"\r\n\r\n" not in response:
                data = sock.recv(65536)
                if not data:
                    break
                response += data
        finally:
            answered_after = sent[0]
            sock.close()
            thread.join(30)
        grown = rss_bytes(server.pid) - before
        status = response.split(b"\r\n", 1)[0]  # "413 Request Entity Too Large"
        print(f"90 MB body to {path}: {status!r} after {answered_after / MiB:.0f} MiB sent, "
              f"resident memory +{grown / MiB:.1f} MiB")
        assert status.startswith(b"HTTP/1.1 413 ")
        assert answered_after < 16 * MiB
        assert grown < 16 * MiB

    def test_a_chunked_body_is_cut_off_too(self, gotty: Gotty) -> None:
        server = gotty("true")
        host, port = server.host.split(":")
        sock = socket.create_connection((host, int(port)), timeout=20)
        sock.sendall(f"POST / HTTP/1.1\r\nHost: {server.host}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        response = b""
        try:
            for _ in range(64):
                sock.sendall(b"10000\r\n" + b"C" * 0x10000 + b"\r\n")
                sock.settimeout(0.05)
                try:
                    response += sock.recv(65536)
                except TimeoutError:
                    continue
                if response:
                    break
            sock.settimeout(10)
            while b"\r\n\r\n" not in response:
                data = sock.recv(65536)
                if not data:
                    break
                response += data
        except OSError:
            pass
        finally:
            sock.close()
        assert response.startswith(b"HTTP/1.1 413 ")

    def test_a_small_body_is_still_served(self, gotty: Gotty) -> None:
        server = gotty("true")
        response = http_request(server.url, "POST", body=b"x" * 1000)
        assert response.status == 200

    def test_oversized_headers_are_dropped(self, gotty: Gotty) -> None:
        """Tornado closes a connection whose headers pass max_header_size, unanswered."""
        server = gotty("-c", "user:pass", "true")
        with pytest.raises(ConnectionError):
            http_request(server.url, headers={**basic("user:pass"), "X-Big": "h" * (40 * 1024)})
        big_but_fine = {**basic("user:pass"), "Cookie": "c" * (16 * 1024)}
        assert http_request(server.url, headers=big_but_fine).status == 200


class TestHandshakeLimits:
    def test_concurrent_unauthenticated_handshakes_per_address(self, gotty: Gotty) -> None:
        server = gotty("--handshake-concurrency", "4", "--handshake-rate", "1000", "true")
        held = [connect(server) for _ in range(4)]
        response = http_request(server.ws_url.replace("ws://", "http://"), headers={
            "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        print(f"fifth handshake while four wait: {response.status} "
              f"Retry-After={response.headers.get('Retry-After')}")
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1
        server.wait_for_line(r"Refused WebSocket from 127\.0\.0\.1: 4 connections without a "
                             r"session \(--handshake-concurrency\)")
        for client in held:
            client.close()
        # Once their sessions have ended, the address may handshake again.
        wait_for(lambda: _upgrade_status(server) == 101, 15,
                 message="a handshake accepted again")

    def test_the_handshake_rate_per_address(self, gotty: Gotty) -> None:
        server = gotty("--handshake-rate", "5", "--handshake-concurrency", "100",
                       "sh", "-c", "read x")
        statuses = [_upgrade_status(server) for _ in range(12)]
        print(f"12 quick handshakes at --handshake-rate 5: {statuses}")
        assert statuses[:5] == [101] * 5
        assert 429 in statuses[5:]
        # Logged once per interval per address: counted in all the server printed, read to
        # its end (the line may still be on its way when the last 429 arrives).
        refusals = [ln for ln in server.stop_and_read_all() if "--handshake-rate" in ln]
        assert len(refusals) == 1, refusals

    def test_a_started_session_no_longer_counts(self, gotty: Gotty) -> None:
        server = gotty("--handshake-concurrency", "2", "sh", "-c", "echo UP; read x")
        sessions = [Client(server.ws_url, subprotocols=["webtty"]).init() for _ in range(5)]
        for session in sessions:
            session.read_until(b"UP", 15)
        assert len(sessions) == 5


def _upgrade_status(server: GottyProcess) -> int:
    sock = socket.create_connection(tuple(server.host.split(":")), timeout=10)  # type: ignore[arg-type]
    try:
        sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {server.host}\r\nConnection: Upgrade\r\n"
                     "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
        response = b""
        while b"\r\n" not in response:
            data = sock.recv(4096)
            if not data:
                break
            response += data
        return int(response.split(b" ", 2)[1])
    finally:
        sock.close()


class TestLargeInputIsChunked:
    @pytest.mark.serial
    def test_a_48_mib_paste_does_not_stall_another_session(self, gotty: Gotty) -> None:
        server = gotty("-w", "--permit-arguments", *ECHO_COMMAND)
        probe = EchoProbe.start(server)
        length = 48 * MiB
        paster = Client(server.ws_url, subprotocols=["webtty"]).init(
            f"?arg={length}", size=(80, 24))
        paster.read_until(b"READY", 15)
        peak_before = rss_bytes(server.pid, "VmHWM")
        began = time.monotonic()
        send_large_message(paster.ws.sock, b"1", length + 1, fill=b"p")
        paster.read_until(b"DONE", 120)
        elapsed = time.monotonic() - began
        latencies = probe.stop()
        peak = rss_bytes(server.pid, "VmHWM") - peak_before
        print(f"48 MiB paste into head -c >/dev/null took {elapsed:.1f} s; other session's "
              f"echo p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max "
              f"{max(latencies) * 1000:.0f} ms over {len(latencies)} probes; peak resident "
              f"memory +{peak / MiB:.0f} MiB")
        # Tornado still reads, copies and unmasks the message in one piece (about three
        # times its size, tens of milliseconds); the session adds no copy of its own.
        assert peak < 2.5 * length
        assert percentile(latencies, 0.99) < 0.25
