"""The operations listener end to end: real servers, real sessions, real HTTP probes.

`/healthz`, `/readyz` and `/metrics` live on `--ops-port` only; the metrics are read with
prometheus_client's own parser after real sessions, refusals, tokens and cleanup hooks.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import websocket

from gotty_py.auth.jwt import TokenFailure
from gotty_py.backend.hooks import HookResult
from gotty_py.options import Options
from gotty_py.server.app import GottyServer
from gotty_py.server.cleanup import CleanupResult, cleanup_result
from gotty_py.server.ops import DRAINING, Readiness
from tests.fakes import InMemoryBackend
from tests.gotty import (
    Client,
    Gotty,
    GottyProcess,
    http_request,
    open_session,
    run_async,
    run_gotty,
    wait_for,
)
from tests.jwt_keys import claims, hs256, now, write_secret
from tests.ops_client import metric, readyz, scrape, value


def refused_upgrade(server: GottyProcess, **options: Any) -> int:
    """The HTTP status of a /ws upgrade the server refuses."""
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        Client(server.ws_url, subprotocols=["webtty"], **options)
    return int(caught.value.status_code)


# --- where the routes are ----------------------------------------------------------------

class TestListener:
    def test_probes_on_the_ops_port_only(self, gotty: Gotty) -> None:
        server = gotty("--ops-port", "0", "--credential", "user:pass", "--path", "/console/",
                       "sh")
        assert server.ops_url.startswith("http://127.0.0.1:")
        # No Basic auth and no base path on the ops listener.
        healthz = http_request(server.ops_url + "healthz")
        assert (healthz.status, healthz.text) == (200, "ok\n")
        assert readyz(server) == (200, "ready\n")
        assert "gotty_py_sessions_active" in http_request(server.ops_url + "metrics").text
        # The site's routes are not served here.
        for path in ("", "console/", "console/ws", "ws", "auth_token.js", "js/gotty-bundle.js"):
            response = http_request(server.ops_url + path)
            assert response.status == 404, path
        # ... and the probes are not served by the site: behind Basic auth, the page.
        for path in ("metrics", "healthz", "readyz"):
            assert http_request(server.url + path).status == 401
            page = http_request(server.url + path,
                                headers={"Authorization": "Basic dXNlcjpwYXNz"})
            assert page.status == 200 and "<html" in page.text and "gotty_py" not in page.text

    def test_no_ops_listener_by_default(self, gotty: Gotty) -> None:
        server = gotty("sh")
        assert "Operations listening" not in server.output()
        response = http_request(server.url + "metrics")
        assert response.status == 200 and "<html" in response.text

    def test_ops_port_in_use_exits_8(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = run_gotty("--address", "127.0.0.1", "--port", "0", "--ops-port", str(port),
                               "sh")
        assert result.returncode == 8
        assert f"failed to listen for operations at 127.0.0.1:{port}: address already in use" \
            in result.stderr

    @pytest.mark.parametrize(("where", "expected"), [
        ("flag", "flag --ops-port: expected a port number (0-65535) or empty, got 'http'"),
        ("env", "environment variable GOTTY_OPS_PORT: expected a port number (0-65535) or "
                "empty, got 'http'"),
        ("file", "key 'ops_port': expected a port number (0-65535) or empty, got 'http'"),
    ])
    def test_invalid_ops_port_exits_2(self, tmp_path: Path, where: str, expected: str) -> None:
        config = tmp_path / "gotty.hcl"
        config.write_text('ops_port = "http"\n' if where == "file" else "")
        args = ["--config", str(config), "--port", "0"]
        if where == "flag":
            args += ["--ops-port", "http"]
        result = run_gotty(*args, "sh", env={"GOTTY_OPS_PORT": "http"} if where == "env" else {})
        assert result.returncode == 2
        assert expected in result.stderr
        if where == "file":
            assert f"config file {config}" in result.stderr

    def test_ops_port_out_of_range_exits_2(self) -> None:
        result = run_gotty("--port", "0", "--ops-port", "70000", "sh")
        assert result.returncode == 2 and "--ops-port" in result.stderr


# --- readiness ---------------------------------------------------------------------------

class TestReadiness:
    def test_unready_while_draining_alive_until_exit(self, gotty: Gotty) -> None:
        server = gotty("--ops-port", "0", "cat")
        client = open_session(server)
        server.wait_for_line("Command is running")
        assert readyz(server)[0] == 200
        server.process.send_signal(signal.SIGINT)  # stop admitting, let the session end
        server.wait_for_line("waiting for sessions to end")
        status, body = readyz(server)
        assert status == 503 and body.startswith("draining: ")
        assert http_request(server.ops_url + "healthz").status == 200
        assert metric(server, "gotty_py_sessions_active") == 1
        client.close()
        assert server.wait_exit() == 0

    def test_required_audit_unusable_is_unready_and_recovers(self, gotty: Gotty,
                                                             tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--ops-port", "0", "--audit-dir", str(audit), "--audit-required", "sh")
        wait_for(lambda: readyz(server)[0] == 200, message="ready at start")
        # Root ignores permissions: the directory is made unusable by a file in its place.
        shutil.rmtree(audit)
        audit.write_text("")
        status, body = readyz(server)
        assert status == 503
        assert body == f"audit: recording directory {audit} unusable: Not a directory\n"
        assert list(tmp_path.iterdir()) == [audit]  # the probe leaves nothing behind
        audit.unlink()
        assert readyz(server) == (200, "ready\n")
        # The event log went with the directory: the probe found it lost and opened a new
        # one at the path (before, its lines would have gone to the deleted file).
        assert [p.name for p in audit.iterdir()] == ["sessions.jsonl"]

    def test_optional_audit_unusable_stays_ready(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--ops-port", "0", "--audit-dir", str(audit), "sh")
        shutil.rmtree(audit, ignore_errors=True)
        audit.write_text("")
        assert readyz(server) == (200, "ready\n")  # sessions run unrecorded: still serving

    def test_required_event_log_unusable_is_unready(self, gotty: Gotty, tmp_path: Path) -> None:
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        server = gotty("--ops-port", "0", "--audit-event-log", str(blocker / "events.jsonl"),
                       "--audit-required", "sh")
        body = wait_for(lambda: (lambda r: r[1] if r[0] == 503 else None)(readyz(server)),
                        message="unready")
        assert body.startswith(f"audit: event log unusable: cannot open the audit event log "
                               f"{blocker}/events.jsonl")
        blocker.unlink()  # the probe's retry reopens it: ready without any session
        wait_for(lambda: readyz(server)[0] == 200, message="ready again")


# --- metrics after real sessions ---------------------------------------------------------

class TestMetrics:
    def test_sessions_bytes_and_refusals(self, gotty: Gotty) -> None:
        server = gotty("--ops-port", "0", "-w", "--max-connection", "1", "cat")
        before = scrape(server)
        assert value(before, "gotty_py_sessions_active") == 0
        assert value(before, "gotty_py_connection_refusals_total", reason="max-connection") == 0

        first = open_session(server, size=(80, 24))
        first.input("hello\n")
        first.read_until(b"hello\r\nhello\r\n")  # the terminal's echo, then cat's
        wait_for(lambda: metric(server, "gotty_py_sessions_active") == 1, message="active 1")
        # One session is the limit: a second connection is refused before any session.
        assert refused_upgrade(server) == 503
        assert refused_upgrade(server, origin="http://evil.example") == 403
        first.close()
        server.wait_for_line("Connection closed by client-closed")

        second = open_session(server)
        second.input("bye\n")
        second.read_until(b"bye\r\nbye\r\n")
        second.input("\x04")  # EOF: cat exits
        second.frames_until_close()
        server.wait_for_line("Connection closed by process-exited")

        after = scrape(server)
        assert value(after, "gotty_py_sessions_active") == 0
        assert value(after, "gotty_py_sessions_total", outcome="client-closed") == 1
        assert value(after, "gotty_py_sessions_total", outcome="exited") == 1
        assert value(after, "gotty_py_sessions_total", outcome="refused") == 0
        assert value(after, "gotty_py_session_duration_seconds_count") == 2
        assert value(after, "gotty_py_session_duration_seconds_sum") > 0
        assert value(after, "gotty_py_input_bytes_total") == len("hello\nbye\n\x04")
        assert value(after, "gotty_py_output_bytes_total") == \
            len(first.output) + len(second.output)
        assert value(after, "gotty_py_connection_refusals_total", reason="max-connection") == 1
        assert value(after, "gotty_py_connection_refusals_total", reason="origin") == 1
        assert value(after, "gotty_py_connection_refusals_total", reason="basic-auth") == 0

    def test_basic_auth_and_once_refusals(self, gotty: Gotty) -> None:
        server = gotty("--ops-port", "0", "--once", "--credential", "user:pass", "cat")
        assert refused_upgrade(server) == 401
        auth = ["Authorization: Basic dXNlcjpwYXNz"]
        client = Client(server.ws_url, subprotocols=["webtty"], headers=auth)
        client.init(token="user:pass")
        server.wait_for_line("Command is running")
        assert refused_upgrade(server, headers=auth) == 503  # --once is used up
        samples = scrape(server)
        assert value(samples, "gotty_py_connection_refusals_total", reason="basic-auth") == 1
        assert value(samples, "gotty_py_connection_refusals_total", reason="once-used") == 1
        assert value(samples, "gotty_py_connection_refusals_total",
                     reason="shutting-down") == 0
        client.close()
        assert server.wait_exit() == 0

    def test_launch_token_refusals_by_reason(self, gotty: Gotty, tmp_path: Path) -> None:
        secret = write_secret(tmp_path / "secret")
        server = gotty("--ops-port", "0", "--jwt-secret-file", str(tmp_path / "secret"),
                       "--jwt-audience", "console", "--jwt-issuer", "portal", "true")
        valid = hs256(secret, claims())
        tokens = {
            "expired": hs256(secret, claims(iat=now() - 200, exp=now() - 100)),
            "bad-signature": hs256(b"another-secret-of-32-bytes-or-more!!", claims()),
            "malformed": "not-a-token",
            "audience": hs256(secret, claims(aud="elsewhere")),
        }
        for token in [valid, *tokens.values(), valid]:  # the valid one again: replayed
            client = open_session(server, f"?jwt={token}")
            client.frames_until_close()
        wait_for(lambda: metric(server, "gotty_py_sessions_total", outcome="refused") == 5,
                 message="five refused sessions")
        samples = scrape(server)
        for reason in (*tokens, "replayed"):
            assert value(samples, "gotty_py_launch_token_refusals_total", reason=reason) == 1
        assert value(samples, "gotty_py_launch_token_refusals_total", reason="missing") == 0
        assert value(samples, "gotty_py_sessions_total", outcome="exited") == 1
        # Every label is one of a fixed set: nothing of a token ever becomes a label.
        labels = {dict(key[1])["reason"] for key in samples
                  if key[0] == "gotty_py_launch_token_refusals_total"}
        assert labels == {"missing", "malformed", "bad-signature", "unknown-key", "wrong-type",
                          "expired", "not-yet-valid", "audience", "issuer", "lifetime",
                          "claims", "replayed", "store-unavailable"}

    @pytest.mark.parametrize(("hook", "result"), [("true", "ok"), ("false", "failed")])
    def test_cleanup_results(self, gotty: Gotty, hook: str, result: str) -> None:
        server = gotty("--ops-port", "0", "--cleanup-command", f"{hook} {{session}}", "true")
        open_session(server).frames_until_close()
        server.wait_for_line("Cleanup for session")
        wait_for(lambda: metric(server, "gotty_py_cleanups_total", result=result) == 1,
                 message=f"a cleanup counted as {result}")
        samples = scrape(server)
        others = {"ok", "failed", "timed-out", "not-started", "interrupted"} - {result}
        assert all(value(samples, "gotty_py_cleanups_total", result=r) == 0 for r in others)

    def test_a_hook_killed_by_the_drain_deadline_is_interrupted_not_failed(self) -> None:
        """(The drain itself is in test_drain.py; the server has exited by then, so the
        label's mapping is checked here on the hook's result.)"""
        killed = HookResult(["hook"], -9, False, 3.0, "", interrupted=True)
        assert cleanup_result(killed) is CleanupResult.INTERRUPTED
        assert cleanup_result(HookResult(["hook"], -9, True, 30.0, "")) \
            is CleanupResult.TIMED_OUT

    def test_cleanup_timed_out(self, gotty: Gotty) -> None:
        server = gotty("--ops-port", "0", "--cleanup-timeout", "1", "--cleanup-command",
                       "sleep 30", "true")
        open_session(server).frames_until_close()
        server.wait_for_line("Cleanup for session .* timed out")
        assert metric(server, "gotty_py_cleanups_total", result="timed-out") == 1

    def test_audit_backlog_drains_to_zero(self, gotty: Gotty, tmp_path: Path) -> None:
        server = gotty("--ops-port", "0", "--audit-dir", str(tmp_path / "audit"), "sh", "-c",
                       "head -c 2000000 /dev/zero | tr '\\0' a")
        client = open_session(server)
        client.frames_until_close()
        server.wait_for_line("Connection closed by process-exited")
        wait_for(lambda: metric(server, "gotty_py_audit_backlog_bytes") == 0
                 and metric(server, "gotty_py_audit_backlog_jobs") == 0,
                 message="an empty audit backlog")
        assert metric(server, "gotty_py_output_bytes_total") == 2_000_000

    def test_no_audit_backlog_without_audit(self, gotty: Gotty) -> None:
        server = gotty("--ops-port", "0", "sh")
        assert not any(name.startswith("gotty_py_audit") for name, _ in scrape(server))

    def test_each_server_has_its_own_registry(self) -> None:
        """Two servers in one process (in-process tests) count apart, without colliding in
        prometheus_client's global registry."""
        servers = [GottyServer(Options(ops_port="0"), ["sh"], InMemoryBackend())
                   for _ in range(2)]
        metrics = [server.plugins.metrics for server in servers]
        assert metrics[0] is not None and metrics[1] is not None
        assert metrics[0].registry is not metrics[1].registry
        metrics[0].token_refused(TokenFailure.EXPIRED)
        counts = [m.registry.get_sample_value("gotty_py_launch_token_refusals_total",
                                              {"reason": "expired"}) for m in metrics]
        assert counts == [1.0, 0.0]

    def test_no_metrics_without_an_ops_port(self) -> None:
        assert GottyServer(Options(), ["sh"], InMemoryBackend()).plugins.metrics is None


# --- the readiness rules on their own -----------------------------------------------------

class _Check:
    """A HealthCheck standing in for a part that is not built yet (the shared store) or a
    failure no real part here can be made to show on demand (a hang, a bug)."""

    def __init__(self, name: str, delay: float = 0.0, problem: str | None = None,
                 error: Exception | None = None) -> None:
        self.name = name
        self._delay, self._problem, self._error = delay, problem, error

    async def problem(self) -> str | None:
        await asyncio.sleep(self._delay)
        if self._error is not None:
            raise self._error
        return self._problem


class TestReadinessRules:
    @pytest.mark.serial
    def test_checks_run_concurrently_within_the_deadline(self) -> None:
        checks = [_Check("a", 0.3), _Check("b", 0.3, "down"), _Check("c", 0.3)]
        readiness = Readiness(lambda: False, checks, deadline=0.6)
        started = time.monotonic()
        assert run_async(readiness.problems()) == ["b: down"]
        assert time.monotonic() - started < 0.6  # not 0.9: one after the other

    def test_a_hanging_or_broken_check_is_not_ready(self) -> None:
        checks = [_Check("slow", 5.0), _Check("bug", error=RuntimeError("boom")), _Check("ok")]
        readiness = Readiness(lambda: True, checks, deadline=0.2)
        assert run_async(readiness.problems()) == [
            DRAINING, "slow: no answer within 0.2 s", "bug: check failed: RuntimeError: boom"]
