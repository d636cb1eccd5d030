"""`--auth-proxy-header` (ttyd's -H; issue 12, point 14): the proxy names the user.

Real servers on loopback: the test's client on 127.0.0.1 is the authenticating proxy when
127.0.0.1/32 is in `--trusted-proxies`, and an ordinary client going around it when only
10.0.0.0/8 is. The user must reach GOTTY_USER, the session's title and the audit event
log; every other request is refused with 403, counted in the metrics and logged.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import websocket

from gotty_py.options import parse_networks
from gotty_py.server.auth_proxy import MAX_USER_LENGTH, AuthProxy, AuthProxyRefused
from gotty_py.server.proxies import TrustedProxies
from gotty_py.webtty.protocol import encode_title
from tests.gotty import Gotty, GottyProcess, http_request, open_session, run_gotty
from tests.jwt_keys import claims, hs256, write_secret
from tests.ops_client import metric
from tests.test_audit import local_addr, wait_line

HEADER = "X-Forwarded-User"
SHOW = 'echo "user=${GOTTY_USER-unset}"'
PROXY = AuthProxy(HEADER, TrustedProxies(parse_networks("10.0.0.0/8")))


@pytest.mark.parametrize(("peer", "values", "expected"), [
    ("10.1.2.3", ["alice"], "alice"),
    ("10.1.2.3", ["zo\u00eb".encode().decode("latin-1")], "zo\u00eb"),  # UTF-8 on the wire
    ("10.1.2.3", ["a" * MAX_USER_LENGTH], "a" * MAX_USER_LENGTH),
    ("10.1.2.3", [], "auth-proxy-user"),
    ("10.1.2.3", ["alice", "bob"], "auth-proxy-user"),
    ("10.1.2.3", [""], "auth-proxy-user"),
    ("10.1.2.3", ["a" * (MAX_USER_LENGTH + 1)], "auth-proxy-user"),
    ("10.1.2.3", ["al\x1bice"], "auth-proxy-user"),
    ("10.1.2.3", ["\xff\xfe"], "auth-proxy-user"),  # not UTF-8
    ("192.0.2.1", ["alice"], "auth-proxy-untrusted"),
    ("192.0.2.1", [], "auth-proxy-untrusted"),
    (None, ["alice"], "auth-proxy-untrusted"),  # a Unix-socket peer
])
def test_the_rule(peer: str | None, values: list[str], expected: str) -> None:
    answer = PROXY.user(peer, values)
    if isinstance(answer, AuthProxyRefused):
        assert answer.reason.value == expected
    else:
        assert answer == expected


def proxied(user: str | None) -> list[str]:
    return [f"{HEADER}: {user}"] if user is not None else []


def refused_upgrade(server: GottyProcess, headers: list[str]) -> int:
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        open_session(server, headers=headers)
    return caught.value.status_code


def test_the_proxy_user_is_the_session_user(gotty: Gotty, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    server = gotty("--trusted-proxies", "127.0.0.1/32", "--auth-proxy-header", HEADER,
                   "--audit-event-log", str(events), "--title-format",
                   "{{ .user }}@{{ .hostname }}", "sh", "-c", SHOW)
    client = open_session(server, headers=proxied("alice"))
    peer = local_addr(client)
    frames = client.frames_until_close()
    assert b"user=alice" in client.output
    assert encode_title(f"alice@{socket.gethostname()}") in frames
    start = wait_line(events, peer, "start")
    assert start["user"] == "alice"
    assert wait_line(events, peer)["user"] == "alice"
    assert http_request(server.url, headers={HEADER: "alice"}).status == 200


def test_from_any_other_peer_everything_is_refused(gotty: Gotty) -> None:
    server = gotty("--trusted-proxies", "10.0.0.0/8", "--auth-proxy-header", HEADER,
                   "--ops-port", "0", "sh", "-c", SHOW)
    assert refused_upgrade(server, proxied("alice")) == 403
    assert refused_upgrade(server, []) == 403  # around the proxy: nobody authenticated it
    page = http_request(server.url, headers={HEADER: "alice"})
    assert page.status == 403 and "only through its authenticating proxy" in page.text
    assert http_request(server.url).status == 403
    server.wait_for_line(f"{HEADER} sent by a peer that is not a trusted proxy")
    server.wait_for_line("not a trusted proxy .* only the proxy may connect")
    assert metric(server, "gotty_py_connection_refusals_total",
                  reason="auth-proxy-untrusted") == 4


def test_the_proxy_must_name_one_valid_user(gotty: Gotty) -> None:
    server = gotty("--trusted-proxies", "127.0.0.1/32", "--auth-proxy-header", HEADER,
                   "--ops-port", "0", "sh", "-c", SHOW)
    assert refused_upgrade(server, []) == 403
    assert refused_upgrade(server, [f"{HEADER}: alice", f"{HEADER}: bob"]) == 403
    assert refused_upgrade(server, proxied("a" * (MAX_USER_LENGTH + 1))) == 403
    page = http_request(server.url)
    assert page.status == 403 and "named no valid user" in page.text
    server.wait_for_line(f"the trusted proxy sent 2 {HEADER} headers, expected one")
    server.wait_for_line(f"{HEADER} from the trusted proxy is longer than")
    assert metric(server, "gotty_py_connection_refusals_total",
                  reason="auth-proxy-user") == 4


def test_with_launch_tokens_the_sub_must_be_the_proxy_user(gotty: Gotty, tmp_path: Path
                                                           ) -> None:
    secret = write_secret(tmp_path / "secret")
    server = gotty("--trusted-proxies", "127.0.0.1/32", "--auth-proxy-header", HEADER,
                   "--jwt-secret-file", str(tmp_path / "secret"), "--jwt-audience", "console",
                   "--jwt-issuer", "portal", "sh", "-c", SHOW)
    alice = hs256(secret, claims(sub="alice"))
    client = open_session(server, f"?jwt={alice}", headers=proxied("alice"))
    client.frames_until_close()
    assert b"user=alice" in client.output
    stolen = hs256(secret, claims(sub="alice"))
    client = open_session(server, f"?jwt={stolen}", headers=proxied("mallory"))
    client.frames_until_close()
    assert client.closed is not None and client.closed.reason == "launch token is for another user"
    assert b"user=" not in client.output
    server.wait_for_line("Launch token refused: it is for user 'alice', the authenticating "
                         "proxy says 'mallory'")


@pytest.mark.parametrize(("args", "message"), [
    (["--auth-proxy-header", HEADER],
     "auth_proxy_header (--auth-proxy-header) is set, but trusted_proxies"),
    (["--auth-proxy-header", "X Forwarded User", "--trusted-proxies", "10.0.0.1"],
     "flag --auth-proxy-header: expected an HTTP header name"),
    (["--auth-proxy-header", "Authorization", "--trusted-proxies", "10.0.0.1"],
     "'Authorization' is a header with another meaning"),
])
def test_unusable_settings_exit_2(args: list[str], message: str) -> None:
    result = run_gotty("--port", "0", *args, "true")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
