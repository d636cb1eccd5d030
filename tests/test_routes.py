"""HTTP routes, headers, Basic auth, TLS and start-up errors (gotty-spec §1, §3.4, §9)."""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path

import pytest
import websocket

from tests.certs import make_pki
from tests.gotty import Client, Gotty, basic, http_request, run_gotty


class TestRoutes:
    def test_index_has_the_escaped_title(self, gotty: Gotty) -> None:
        server = gotty("--title-format", "<b>{{ .command }}&{{ .argv }}</b>", "echo", "x y")
        response = http_request(server.url)
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<title>&lt;b&gt;echo&amp;[x y]&lt;/b&gt;</title>" in response.text
        assert '<div id="terminal">' in response.text

    def test_index_scripts_are_relative(self, gotty: Gotty) -> None:
        page = http_request(gotty("true").url).text
        scripts = re.findall(r'<script src="([^"]+)"', page)
        assert scripts[:2] == ["./auth_token.js", "./config.js"]
        assert all(s.startswith("./") for s in scripts)

    def test_unknown_paths_under_base_serve_the_index(self, gotty: Gotty) -> None:
        server = gotty("--path", "base", "true")
        assert server.url.endswith("/base/")
        for path in ("foo", "index.html", "deep/er/path"):
            response = http_request(server.url + path)
            assert response.status == 200 and "<title>" in response.text

    def test_paths_outside_base_are_404_and_base_without_slash_is_301(self, gotty: Gotty) -> None:
        server = gotty("--path", "/base/", "true")
        root = server.url.removesuffix("base/")
        missing = http_request(root + "elsewhere")
        assert (missing.status, missing.text) == (404, "404 page not found\n")
        redirect = http_request(root + "base")
        assert redirect.status == 301 and redirect.headers["Location"] == "/base/"

    @pytest.mark.parametrize("method", ["POST", "PUT", "HEAD"])
    def test_index_ignores_the_method(self, gotty: Gotty, method: str) -> None:
        response = http_request(gotty("true").url, method=method)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")

    def test_auth_token_and_config_js(self, gotty: Gotty) -> None:
        server = gotty("--term", "hterm", "--ws-query-args", "a=b", "true")
        token = http_request(server.url + "auth_token.js")
        assert token.headers["Content-Type"] == "application/javascript"
        assert token.text == "var gotty_auth_token = '';"
        config = http_request(server.url + "config.js").text
        assert config.startswith("var gotty_term = 'hterm';\nvar gotty_ws_query_args = 'a=b';\n")

    def test_js_values_are_escaped(self, gotty: Gotty) -> None:
        server = gotty("--term", "x';alert(1)//", "true")
        assert "var gotty_term = 'x\\';alert(1)//';" in http_request(server.url + "config.js").text

    def test_site_headers(self, gotty: Gotty) -> None:
        server = gotty("true")
        response = http_request(server.url, headers={"Accept-Encoding": "gzip"})
        assert response.headers["Server"] == "GoTTY"
        assert "Accept-Encoding" in response.headers["Vary"]
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"].split(
            "script-src")[1].split(";")[0]
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"

    def test_ws_response_has_no_server_header(self, gotty: Gotty) -> None:
        server = gotty("true")
        client = Client(server.ws_url, subprotocols=["webtty"])
        assert "server" not in {k.lower() for k in client.ws.getheaders()}
        client.close()

    def test_random_url(self, gotty: Gotty) -> None:
        server = gotty("-r", "--random-url-length", "12", "true")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/[0-9a-z]{12}/", server.url)
        root = server.url.rsplit("/", 2)[0] + "/"
        assert http_request(root).status == 404
        assert http_request(server.url).status == 200


class TestBasicAuth:
    def test_site_routes_need_the_credential(self, gotty: Gotty) -> None:
        server = gotty("-c", "user:pass", "true")
        for path in ("", "auth_token.js", "config.js", "unknown"):
            response = http_request(server.url + path)
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == 'Basic realm="GoTTY"'
        wrong = http_request(server.url, headers=basic("user:nope"))
        assert (wrong.status, wrong.text) == (401, "authorization failed\n")
        ok = http_request(server.url + "auth_token.js", headers=basic("user:pass"))
        assert (ok.status, ok.text) == (200, "var gotty_auth_token = 'user:pass';")
        outside = http_request(server.url + "../x")
        assert outside.status == 401

    def test_undecodable_header_is_401_not_500(self, gotty: Gotty) -> None:
        """Deviation: GoTTY answers 500 to bad base64; it is the client's error."""
        response = http_request(gotty("-c", "u:p", "true").url,
                                headers={"Authorization": "Basic !!!"})
        assert response.status == 401

    def test_ws_needs_the_same_authorization(self, gotty: Gotty) -> None:
        """Deviation: GoTTY leaves /ws open and relies on the init token only."""
        server = gotty("-c", "user:pass", "true")
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            Client(server.ws_url)
        assert info.value.status_code == 401
        client = Client(server.ws_url, headers=["Authorization: " + basic("user:pass")[
            "Authorization"]])
        client.init(token="user:pass")
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1000

    def test_wrong_token_is_refused_without_a_process(self, gotty: Gotty,
                                                      tmp_path: Path) -> None:
        marker = tmp_path / "started"
        server = gotty("-c", "user:pass", "touch", str(marker))
        client = Client(server.ws_url, headers=[
            "Authorization: " + basic("user:pass")["Authorization"]])
        client.init(token="user:wrong")
        client.frames_until_close()
        assert client.closed is not None
        assert (client.closed.code, client.closed.reason) == (1008, "unauthorized")
        assert not marker.exists()

    def test_credential_in_config_file_turns_basic_auth_on(self, gotty: Gotty,
                                                           tmp_path: Path) -> None:
        """Deviation: yudai's GoTTY ignores it and publishes the credential in auth_token.js."""
        config = tmp_path / "c.hcl"
        config.write_text('credential = "admin:secret"\n')
        server = gotty("--config", str(config), "true")
        response = http_request(server.url + "auth_token.js")
        assert response.status == 401
        assert b"secret" not in response.body


class TestStartupErrors:
    def test_invalid_title_format_exits_3(self) -> None:
        result = run_gotty("--title-format", "{{ if .x }}", "true")
        assert result.returncode == 3 and "invalid title format" in result.stderr

    def test_invalid_ws_origin_exits_3(self) -> None:
        result = run_gotty("--ws-origin", "(", "true")
        assert result.returncode == 3 and "ws-origin" in result.stderr

    def test_unreadable_index_exits_3(self, tmp_path: Path) -> None:
        result = run_gotty("--index", str(tmp_path / "missing.html"), "true")
        assert result.returncode == 3 and "missing.html" in result.stderr

    def test_client_cert_without_tls_exits_6(self) -> None:
        result = run_gotty("--tls-ca-crt", "/tmp/ca.pem", "true")
        assert result.returncode == 6
        assert "TLS client authentication is enabled, but TLS is not enabled" in result.stderr

    def test_port_in_use_exits_8(self) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            result = run_gotty("-a", "127.0.0.1", "-p", str(port), "true")
        assert result.returncode == 8 and "address already in use" in result.stderr

    def test_missing_tls_files_exit_8(self, tmp_path: Path) -> None:
        result = run_gotty("-t", "--tls-crt", str(tmp_path / "no.crt"), "--tls-key",
                           str(tmp_path / "no.key"), "-a", "127.0.0.1", "-p", "0", "true")
        assert result.returncode == 8 and "no.crt" in result.stderr


class TestCustomIndex:
    def test_custom_index_template(self, gotty: Gotty, tmp_path: Path) -> None:
        index = tmp_path / "index.html"
        index.write_text("<html><title>{{ .title }}</title>custom</html>")
        server = gotty("--index", str(index), "--title-format", "T<{{ .command }}>", "true")
        assert http_request(server.url).text == "<html><title>T&lt;true&gt;</title>custom</html>"

    def test_old_bundle_names_are_served(self, gotty: Gotty) -> None:
        server = gotty("true")
        yudai = http_request(server.url + "js/gotty-bundle.js")
        soren = http_request(server.url + "js/gotty.js")
        assert yudai.status == soren.status == 200
        assert yudai.body == soren.body and len(yudai.body) > 1000


class TestTLS:
    def test_https_and_wss(self, gotty: Gotty, tmp_path: Path) -> None:
        pki = make_pki(tmp_path)
        server = gotty("-t", "--tls-crt", str(pki.server_crt), "--tls-key", str(pki.server_key),
                       "echo", "over-tls")
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(pki.ca_crt))
        assert http_request(server.url, context=context).status == 200
        client = Client(server.ws_url, sslopt={"ca_certs": str(pki.ca_crt)})
        client.init()
        client.frames_until_close()
        assert b"over-tls" in client.output

    def test_client_certificates(self, gotty: Gotty, tmp_path: Path) -> None:
        pki = make_pki(tmp_path)
        server = gotty("-t", "--tls-crt", str(pki.server_crt), "--tls-key", str(pki.server_key),
                       "--tls-ca-crt", str(pki.ca_crt), "echo", "cert-ok")
        anonymous = ssl.create_default_context(cafile=str(pki.ca_crt))
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            http_request(server.url, context=anonymous)
        with_cert = ssl.create_default_context(cafile=str(pki.ca_crt))
        with_cert.load_cert_chain(str(pki.client_crt), str(pki.client_key))
        assert http_request(server.url, context=with_cert).status == 200
        client = Client(server.ws_url, sslopt={"ca_certs": str(pki.ca_crt),
                                               "certfile": str(pki.client_crt),
                                               "keyfile": str(pki.client_key)})
        client.init()
        client.frames_until_close()
        assert b"cert-ok" in client.output
