"""Browser-side attacks against a real server (issue 11, points 7 and 8).

DNS rebinding: a page on an attacker's name that resolves to this server sends its own
name as Host, and an Origin that matches it; only the Host check stops it. Cross-site
reads: another site's page including `/auth_token.js` as a script, or opening `/ws`,
is refused by its fetch metadata (`Sec-Fetch-Site`), and every site response carries
`Cross-Origin-Resource-Policy: same-origin`. Requests without fetch metadata, as
gotty-client, curl and kubectl send them, keep working.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import websocket

from tests.gotty import (
    Client,
    GottyProcess,
    http_request,
    open_session,
    run_gotty,
    start_gotty,
    wait_for,
)
from tests.ops_client import metric

ATTACKER = "rebind.attacker.example"
UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "webtty"}
SCRIPTS = ["auth_token.js", "config.js", "js/gotty-bundle.js", "js/gotty.js"]


def start(*args: str, address: str = "127.0.0.1") -> GottyProcess:
    return start_gotty("--address", address, "--port", "0", "--ops-port", "0", *args)


@pytest.fixture(scope="module")
def server() -> Iterator[GottyProcess]:
    handle = start("-w", "--credential", "", "cat")
    yield handle
    handle.stop()


def port_of(server: GottyProcess) -> int:
    return int(server.host.rsplit(":", 1)[1])


def refusals(server: GottyProcess, reason: str) -> float:
    try:
        return metric(server, "gotty_py_connection_refusals_total", reason=reason)
    except KeyError:
        return 0.0


def logged_once(server: GottyProcess, start: int, needle: str) -> str:
    """The one log line since `start` that says `needle` (waited for: stdout is a pipe)."""
    wait_for(lambda: any(needle in ln for ln in server.lines[start:]), 10,
             message=f"a log line with {needle!r}")
    lines = [ln for ln in server.lines[start:] if needle in ln]
    assert len(lines) == 1, lines
    return lines[0]


def shell_with_host(server: GottyProcess, host: str, origin: str | None = None) -> Client:
    """A session whose handshake names `host` (and `origin`), as a rebinding page's does;
    it proves the shell is writable by echoing input through `cat`."""
    client = Client(server.ws_url, subprotocols=["webtty"],
                    origin=origin or f"http://{host}", host=host)
    client.init()
    client.input("rebound\r")
    client.read_until(b"rebound")
    return client


# --- 7. DNS rebinding --------------------------------------------------------------------

class TestHostCheck:
    def test_rebinding_page_gets_no_shell(self, server: GottyProcess) -> None:
        """Before the fix: the handshake succeeded and input reached the shell."""
        host = f"{ATTACKER}:{port_of(server)}"
        before = refusals(server, "host")
        start_line = len(server.lines)
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            shell_with_host(server, host)
        assert refused.value.status_code == 403
        assert b"does not answer for the host" in (refused.value.resp_body or b"")
        wait_for(lambda: refusals(server, "host") == before + 1, 10, message="the count")
        assert "Refused WebSocket" in logged_once(server, start_line, ATTACKER)

    @pytest.mark.parametrize("path", ["", "auth_token.js", "config.js", "js/gotty-bundle.js",
                                      "nowhere", "ws"])
    def test_rebinding_page_gets_no_page(self, server: GottyProcess, path: str) -> None:
        """Before the fix: 200 for each (the credential in auth_token.js among them)."""
        before = refusals(server, "host")
        start_line = len(server.lines)
        response = http_request(server.url + path, headers={
            "Host": f"{ATTACKER}:{port_of(server)}"})
        assert response.status == 403, response.status
        assert "does not answer for the host" in response.text
        assert "gotty_auth_token" not in response.text
        wait_for(lambda: refusals(server, "host") == before + 1, 10, message="the count")
        assert "Refused " in logged_once(server, start_line, ATTACKER)

    @pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "127.0.0.1", "127.1.2.3",
                                      "[::1]", "console.localhost"])
    def test_loopback_names_are_served(self, server: GottyProcess, host: str) -> None:
        for with_port in (f"{host}:{port_of(server)}", host, f"{host}:18080"):
            assert http_request(server.url, headers={"Host": with_port}).status == 200
        shell_with_host(server, f"{host}:{port_of(server)}").close()

    @pytest.mark.parametrize("host", ["10.0.0.7", "[fd00::1]", socket.gethostname(),
                                      "localhost.attacker.example", "127.0.0.1.nip.io",
                                      "[::1", "host:99999", "a:b:c"])
    def test_other_hosts_are_not_served_on_loopback(self, server: GottyProcess,
                                                    host: str) -> None:
        assert http_request(server.url, headers={"Host": host}).status == 403

    def test_no_host_header_is_allowed(self, server: GottyProcess) -> None:
        """HTTP/1.0 tools send none; no browser omits it, so no rebinding without it."""
        with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            reply = conn.makefile("rb").readline()
        assert reply.split()[1] == b"200", reply

    def test_allowed_hosts_and_wildcards(self) -> None:
        server = start("--allowed-hosts", "Console.Example.com, *.apps.example.org, "
                       "pinned.example.net:8443", "-w", "cat")
        try:
            for host, status in [("console.example.com", 200), ("CONSOLE.example.com:443", 200),
                                 ("a.apps.example.org", 200), ("a.b.apps.example.org:80", 200),
                                 ("apps.example.org", 403), ("evilapps.example.org", 403),
                                 ("pinned.example.net:8443", 200),
                                 ("pinned.example.net:8444", 403), ("pinned.example.net", 403),
                                 ("localhost", 200), (ATTACKER, 403)]:
                response = http_request(server.url, headers={"Host": host})
                assert response.status == status, (host, response.status)
            shell_with_host(server, "x.apps.example.org").close()
        finally:
            server.stop()

    def test_wildcard_listener_serves_addresses_and_this_hosts_name(self) -> None:
        server = start("cat", address="0.0.0.0")
        try:
            port = port_of(server)
            for host, status in [("127.0.0.1", 200), ("10.1.2.3", 200), ("[fd00::7]", 200),
                                 ("localhost", 200), (socket.gethostname(), 200),
                                 (ATTACKER, 403), ("kubernetes.default.svc", 403)]:
                response = http_request(f"http://127.0.0.1:{port}/", headers={
                    "Host": f"{host}:{port}"})
                assert response.status == status, (host, response.status)
        finally:
            server.stop()

    def test_star_turns_the_check_off(self) -> None:
        server = start("--allowed-hosts", "*", "cat")
        try:
            assert http_request(server.url, headers={"Host": ATTACKER}).status == 200
        finally:
            server.stop()

    @pytest.mark.parametrize("value", ["exa mple.com", "*.10.0.0.1", "host:0", "-bad-.com",
                                       "[::1"])
    def test_a_bad_pattern_is_refused_at_start_up(self, value: str) -> None:
        result = run_gotty("--allowed-hosts", value, "true")
        assert result.returncode == 2, result
        assert "--allowed-hosts" in result.stderr or "allowed_hosts" in result.stderr


# --- 8. cross-site reads -----------------------------------------------------------------

class TestFetchMetadata:
    @pytest.mark.parametrize("path", ["", "auth_token.js", "config.js", "js/gotty-bundle.js",
                                      "css/index.css", "favicon.png", "nowhere"])
    def test_every_site_route_sends_corp(self, server: GottyProcess, path: str) -> None:
        """Before the fix: no Cross-Origin-Resource-Policy header on any route."""
        response = http_request(server.url + path)
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"

    @pytest.mark.parametrize("path", SCRIPTS)
    @pytest.mark.parametrize("site", ["cross-site", "same-site", "Cross-Site", "bogus"])
    def test_scripts_refused_to_another_site(self, server: GottyProcess, path: str,
                                             site: str) -> None:
        """Before the fix: 200 (auth_token.js with the credential) for every case."""
        before = refusals(server, "fetch-site")
        start_line = len(server.lines)
        response = http_request(server.url + path, headers={
            "Sec-Fetch-Site": site, "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"})
        assert response.status == 403, response.status
        assert response.text == "Forbidden: this resource is not served to another site's page\n"
        wait_for(lambda: refusals(server, "fetch-site") == before + 1, 10, message="the count")
        logged_once(server, start_line, "Sec-Fetch-Site")

    @pytest.mark.parametrize("path", SCRIPTS)
    @pytest.mark.parametrize("site", ["same-origin", "none", None])
    def test_scripts_served_to_the_page_and_to_tools(self, server: GottyProcess, path: str,
                                                     site: str | None) -> None:
        headers = {"Sec-Fetch-Site": site} if site else {}
        assert http_request(server.url + path, headers=headers).status == 200

    def test_the_page_itself_may_be_opened_from_another_site(self, server: GottyProcess) -> None:
        """A link from another site is a cross-site navigation: the index is served."""
        response = http_request(server.url, headers={"Sec-Fetch-Site": "cross-site",
                                                     "Sec-Fetch-Mode": "navigate"})
        assert response.status == 200

    @pytest.mark.parametrize("site", ["cross-site", "same-site"])
    def test_websocket_refused_to_another_site(self, server: GottyProcess, site: str) -> None:
        """Before the fix: the upgrade went through (101)."""
        before = refusals(server, "fetch-site")
        response = http_request(server.ws_url.replace("ws://", "http://"),
                                headers={**UPGRADE, "Sec-Fetch-Site": site})
        assert response.status == 403, response.status
        assert "another site" in response.text
        wait_for(lambda: refusals(server, "fetch-site") == before + 1, 10, message="the count")

    def test_gotty_client_style_session_still_works(self, server: GottyProcess) -> None:
        """No Origin, no fetch metadata (gotty-client): a writable session as before."""
        client = open_session(server)
        client.input("still here\r")
        client.read_until(b"still here")
        client.close()

    def test_same_origin_page_session_works(self, server: GottyProcess) -> None:
        client = Client(server.ws_url, subprotocols=["webtty"], origin=f"http://{server.host}",
                        headers=["Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: websocket"])
        client.init().input("page\r")
        client.read_until(b"page")
        client.close()

    def test_ws_origin_lets_its_origins_in(self) -> None:
        """--ws-origin is the operator's decision: a matching same-site or cross-site page
        may open /ws, and same-site pages may load the scripts."""
        server = start("--ws-origin", r"^https://portal\.example\.org$", "-w", "cat")
        try:
            client = Client(server.ws_url, subprotocols=["webtty"],
                            origin="https://portal.example.org",
                            headers=["Sec-Fetch-Site: cross-site"])
            client.init().input("portal\r")
            client.read_until(b"portal")
            client.close()
            assert http_request(server.url + "config.js",
                                headers={"Sec-Fetch-Site": "same-site"}).status == 200
            assert http_request(server.url + "auth_token.js",
                                headers={"Sec-Fetch-Site": "cross-site"}).status == 403
        finally:
            server.stop()
