"""What the server says at start-up about its exposure: JWT policy warnings (issue 12
point 6) and the addresses a wildcard listener really serves (point 7).

Real servers on this host's real interfaces; each address printed is connected to.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.gotty import GottyProcess, http_request, start_gotty
from tests.jwt_keys import write_secret

ALTERNATIVE = re.compile(r"Alternative URL: (\S+)")


def _lines_until_url(server: GottyProcess) -> str:
    """Everything the server printed up to and including its URL lines."""
    server.wait_for_line("HTTP server is listening at: ")
    return server.output()


class TestJwtPolicyWarnings:
    def _server(self, tmp_path: Path, *args: str) -> GottyProcess:
        write_secret(tmp_path / "secret")
        return start_gotty("--address", "127.0.0.1", "--port", "0",
                           "--jwt-secret-file", str(tmp_path / "secret"), *args, "true")

    def test_each_missing_claim_check_is_a_warning(self, tmp_path: Path) -> None:
        server = self._server(tmp_path)
        try:
            output = _lines_until_url(server)
        finally:
            server.stop()
        assert "Warning: --jwt-audience is not set: any token this key signed without an " \
               "audience is accepted, including one meant for another console" in output
        assert "Warning: --jwt-issuer is not set: a token from any issuer" in output

    def test_only_the_missing_one_is_named(self, tmp_path: Path) -> None:
        server = self._server(tmp_path, "--jwt-audience", "console")
        try:
            output = _lines_until_url(server)
        finally:
            server.stop()
        assert "--jwt-audience is not set" not in output
        assert "Warning: --jwt-issuer is not set" in output

    def test_no_warning_with_both(self, tmp_path: Path) -> None:
        server = self._server(tmp_path, "--jwt-audience", "console", "--jwt-issuer", "portal")
        try:
            output = _lines_until_url(server)
        finally:
            server.stop()
        assert "is not set" not in output

    def test_no_warning_without_jwt(self) -> None:
        server = start_gotty("--address", "127.0.0.1", "--port", "0", "true")
        try:
            assert "--jwt-audience" not in _lines_until_url(server)
        finally:
            server.stop()


def _host_ipv4() -> str | None:
    """A non-loopback IPv4 address of this host, found independently of gotty-py: the
    source address of a (never sent) UDP route to a documentation address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


class TestWildcardAddresses:
    def test_all_interfaces_are_said_and_each_url_answers(self) -> None:
        server = start_gotty("--address", "0.0.0.0", "--port", "0", "true")
        try:
            output = _lines_until_url(server)
            lines = output.splitlines()
            first = next(i for i, ln in enumerate(lines) if "HTTP server is listening at:" in ln)
            # GoTTY's line, first, with the loopback URL that works on this machine.
            assert re.search(r"HTTP server is listening at: http://127\.0\.0\.1:\d+/$",
                             lines[first])
            assert ("Listening on all IPv4 interfaces (address 0.0.0.0): anyone who can reach "
                    "this host at any of its addresses can connect") in lines[first + 1]
            alternatives = ALTERNATIVE.findall(output)
            own = _host_ipv4()
            if own is None:
                pytest.skip("this host has no non-loopback IPv4 address")
            port = server.url.split(":")[2].rstrip("/")
            assert f"http://{own}:{port}/" in alternatives
            for url in alternatives:
                assert "127." not in url and "[" not in url  # IPv4 only, no loopback
                assert http_request(url).status == 200  # each address printed is served
        finally:
            server.stop()

    def test_ipv6_wildcard_prints_ipv6_urls_only(self) -> None:
        if not socket.has_ipv6 or not Path("/proc/net/if_inet6").exists():
            pytest.skip("no IPv6 on this host")
        server = start_gotty("--address", "::", "--port", "0", "true")
        try:
            output = _lines_until_url(server)
            # Tornado binds :: IPv6-only, so 127.0.0.1 would not answer: the URL is [::1].
            assert re.search(r"HTTP server is listening at: http://\[::1\]:\d+/", output)
            assert "Listening on all IPv6 interfaces (address ::)" in output
            assert http_request(server.url).status == 200
            for url in ALTERNATIVE.findall(output):
                assert url.startswith("http://[") and "[fe80" not in url  # no link-local
                assert http_request(url).status == 200
        finally:
            server.stop()

    def test_a_specific_address_prints_only_itself(self) -> None:
        server = start_gotty("--address", "127.0.0.1", "--port", "0", "true")
        try:
            output = _lines_until_url(server)
        finally:
            server.stop()
        assert "Listening on all" not in output and not ALTERNATIVE.search(output)
