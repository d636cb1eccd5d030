"""Hostile input against a real server: every malformed frame, init, token or path ends in
its documented close code or HTTP status, with one log line and no traceback.

Each case here was found by an adversarial black-box test (issue 11, point 6) or belongs
to the same class: deep nesting and huge numbers in JSON, lone surrogates, numeric claims
beyond any float, NUL bytes and broken URLs in headers and paths, and random frames.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
from collections.abc import Iterator

import pytest
import websocket

from tests.gotty import Client, Closed, GottyProcess, http_request, start_gotty, wait_for
from tests.jwt_keys import claims, hs256, write_secret

DEEP = 100_000  # far beyond Python's recursion limit
# Deep enough for any recursive parser, small enough to pass --init-message-limit (64 KiB),
# which would otherwise answer first (1009, tests/test_preauth_limits.py).
DEEP_INIT = 20_000
# Sent before the session has started, a resize too must pass the init limit; 2000 levels
# (4000 bytes, within the resize message's 4096) still defeat any recursive parser.
DEEP_RESIZE = 2_000
INIT = json.dumps({"Arguments": "", "AuthToken": ""})
TRACE_MARKS = ("Traceback", "Uncaught exception", "RecursionError", "OverflowError",
               "UnicodeEncodeError", "session task failed")


def no_traceback(server: GottyProcess, since: int = 0) -> None:
    lines = server.lines[since:]
    bad = [line for line in lines if any(mark in line for mark in TRACE_MARKS)]
    assert not bad, "".join(lines)


def closed_by(server: GottyProcess, frames: list[str]) -> Closed:
    """Open a WebSocket, send `frames` and return how the server closed it."""
    client = Client(server.ws_url, subprotocols=["webtty"])
    for frame in frames:
        try:
            client.send_text(frame)
        except (OSError, websocket.WebSocketException):
            break
    client.frames_until_close()
    assert client.closed is not None
    return client.closed


def one_line(server: GottyProcess, start: int, needle: str) -> None:
    """Exactly one log line (after `start`) says `needle`, and there is no traceback."""
    wait_for(lambda: any(needle in line for line in server.lines[start:]), 10,
             message=f"the log line {needle!r}")
    matching = [line for line in server.lines[start:] if needle in line]
    assert len(matching) == 1, matching
    no_traceback(server, start)


@pytest.fixture(scope="module")
def server() -> Iterator[GottyProcess]:
    handle = start_gotty("--address", "127.0.0.1", "--port", "0", "-w", "cat")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GottyProcess, bytes]]:
    directory = tmp_path_factory.mktemp("hostile-jwt")
    secret = write_secret(directory / "secret")
    handle = start_gotty("--address", "127.0.0.1", "--port", "0",
                         "--jwt-secret-file", str(directory / "secret"),
                         "--jwt-audience", "console", "--jwt-issuer", "portal", "cat")
    yield handle, secret
    handle.stop()


RUNNING_FRAMES = {
    "deep array resize": "3" + "[" * DEEP_RESIZE + "]" * DEEP_RESIZE,
    "deep value in resize": '3{"columns":' + "[" * DEEP_RESIZE + "]" * DEEP_RESIZE + "}",
    "400-digit columns": '3{"columns":' + "9" * 400 + ',"rows":24}',
    "400-digit rows": '3{"columns":80,"rows":-' + "9" * 400 + "}",
    "lone surrogate key": '3{"\\ud800":1,"columns":80,"rows":24}',
}


@pytest.mark.parametrize("frame", RUNNING_FRAMES.values(), ids=RUNNING_FRAMES.keys())
def test_malformed_resize_is_a_protocol_error(server: GottyProcess, frame: str) -> None:
    """Before the fix: RecursionError (no close frame), OverflowError (1011), traceback."""
    start = len(server.lines)
    closed = closed_by(server, [INIT, frame])
    assert (closed.code, closed.reason.startswith("malformed resize message")) == (1002, True)
    one_line(server, start, "Connection closed by protocol-error: malformed resize")


def test_malformed_resize_in_a_running_session(server: GottyProcess) -> None:
    """Once the process runs (output seen), a bad resize still gets its close frame."""
    start = len(server.lines)
    client = Client(server.ws_url, subprotocols=["webtty"])
    client.send_text(INIT)
    client.input("hello\r")
    client.read_until(b"hello")
    client.send_text("3" + "[" * DEEP + "]" * DEEP)
    client.frames_until_close()
    assert client.closed is not None and client.closed.code == 1002
    one_line(server, start, "Connection closed by protocol-error: malformed resize")


INITS = {
    "deep AuthToken": '{"AuthToken":' + "[" * DEEP_INIT + "]" * DEEP_INIT + "}",
    "deep object": '{"Arguments":' + '{"a":' * (DEEP_INIT // 5) + "1" + "}" * (DEEP_INIT // 5)
                   + "}",
    "lone surrogate AuthToken": '{"AuthToken":"\\ud800"}',
    "lone low surrogate Arguments": '{"Arguments":"?arg=\\udc00x"}',
    "400-digit GottyPy": '{"GottyPy":' + "1" * 400 + "}",
}


@pytest.mark.parametrize("init", INITS.values(), ids=INITS.keys())
def test_malformed_init_is_a_protocol_error(server: GottyProcess, init: str) -> None:
    """Before the fix: 1011 "internal error" and a traceback for each."""
    start = len(server.lines)
    closed = closed_by(server, [init])
    assert (closed.code, closed.reason.startswith("malformed init message")) == (1002, True)
    one_line(server, start, "Connection closed by protocol-error: malformed init")


def test_malformed_init_in_jwt_mode(jwt_server: tuple[GottyProcess, bytes]) -> None:
    """Reachable without a token: before the fix, one traceback per connection."""
    server, _ = jwt_server
    start = len(server.lines)
    closed = closed_by(server, ['{"AuthToken":' + "[" * DEEP_INIT + "]" * DEEP_INIT + "}"])
    assert closed.code == 1002
    one_line(server, start, "Connection closed by protocol-error")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [10**400, -(10**400), 10**30, 1e308, 2**53 + 1],
                         ids=["10**400", "-10**400", "10**30", "1e308", "2**53+1"])
def test_huge_numeric_claim_is_refused(jwt_server: tuple[GottyProcess, bytes], claim: str,
                                       value: float) -> None:
    """A validly signed token whose exp/iat/nbf no float holds: 1008 with a reason.

    Before the fix: 1011 "internal error" and an OverflowError traceback (10**400)."""
    server, secret = jwt_server
    start = len(server.lines)
    payload = claims()
    payload[claim] = value
    closed = closed_by(server, [json.dumps({"Arguments": "?jwt=" + hs256(secret, payload)})])
    assert closed.code == 1008, closed
    assert closed.reason == f"invalid claims: {claim} out of range", closed
    one_line(server, start, "Refused session from")


def test_a_valid_token_still_runs(jwt_server: tuple[GottyProcess, bytes]) -> None:
    """The refusals above are not the server refusing everything."""
    server, secret = jwt_server
    client = Client(server.ws_url, subprotocols=["webtty"])
    client.send_text(json.dumps({"Arguments": "?jwt=" + hs256(secret, claims())}))
    assert client.recv().startswith("3")  # the title: the session runs
    client.close()


def _segment(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("where", ["header", "payload"])
def test_deep_token_json_is_an_invalid_token(jwt_server: tuple[GottyProcess, bytes],
                                             where: str) -> None:
    """An unsigned token whose header (or payload) is 2000 nested arrays: PyJWT's own
    json.loads raised RecursionError before the signature was checked (1011)."""
    server, _ = jwt_server
    deep = ("[" * 2000 + "]" * 2000).encode()
    header = _segment(deep) if where == "header" else _segment({"alg": "HS256"})
    payload = _segment(deep) if where == "payload" else _segment(claims())
    token = f"{header}.{payload}.{_segment(b'x' * 32)}"
    start = len(server.lines)
    closed = closed_by(server, [json.dumps({"Arguments": "?jwt=" + token})])
    assert (closed.code, closed.reason) == (1008, "invalid token")
    one_line(server, start, "Refused session from")


@pytest.mark.parametrize("claim", ["sub", "jti", "args"])
def test_lone_surrogate_in_a_signed_claim(jwt_server: tuple[GottyProcess, bytes],
                                          claim: str) -> None:
    """A signed `sub` (GOTTY_USER), `jti` or `args` value no exec or store can encode."""
    server, secret = jwt_server
    payload = claims()
    payload[claim] = ["\ud800"] if claim == "args" else "\ud800"
    # PyJWT's json.dumps escapes the surrogate as \\ud800, as a careless issuer would.
    token = hs256(secret, payload)
    start = len(server.lines)
    closed = closed_by(server, [json.dumps({"Arguments": "?jwt=" + token})])
    assert (closed.code, closed.reason) == (1008, "invalid token"), closed
    one_line(server, start, "Refused session from")


STATIC_PATHS = {
    "NUL in static path": "js/gotty-bundle.js%00.png",
    "NUL alone": "js/%00",
    "NUL in css": "css/%00x.css",
    "bad UTF-8": "js/%ff%fe.js",
    "long name": "js/" + "a" * 5000 + ".js",
    "traversal": "js/..%2f..%2f..%2fetc%2fpasswd",
}


@pytest.mark.parametrize("path", STATIC_PATHS.values(), ids=STATIC_PATHS.keys())
def test_hostile_static_path_is_a_client_error(server: GottyProcess, path: str) -> None:
    """Before the fix: the NUL paths gave 500 and a ValueError traceback."""
    start = len(server.lines)
    response = http_request(server.url + path)
    assert 400 <= response.status < 500, (response.status, response.text)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    no_traceback(server, start)


@pytest.mark.parametrize("origin", ["http://[", "http://[::1", "http://a]b:1", "://", "null"])
def test_unparsable_origin_is_refused(server: GottyProcess, origin: str) -> None:
    """`urlsplit` raises ValueError for a broken IPv6 literal: a 500 and a traceback."""
    start = len(server.lines)
    response = http_request(server.ws_url.replace("ws://", "http://"), headers={
        "Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 403, (response.status, response.text)
    no_traceback(server, start)


def _random_frame(rng: random.Random) -> str | bytes:
    kind = rng.choice("0123456789")
    choice = rng.randrange(10)
    if choice == 0:
        return kind + "[" * rng.randrange(1, 5000)
    if choice == 1:
        return kind + json.dumps({"columns": rng.choice([10**rng.randrange(400), -1, 1.5e300,
                                                         "x", None, [], {}]),
                                  "rows": rng.randrange(-5, 70000)})
    if choice == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    if choice == 3:
        return kind + rng.choice(["base64", "null", "%%", "AAAA", "\\ud800", "{}", ""])
    if choice == 4:
        return rng.choice(["", INIT, '{"AuthToken":"\\udfff"}', "{}", "null"])
    return kind + "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(30)))


def test_random_frames_never_raise(server: GottyProcess) -> None:
    """A few thousand random frames over many connections, as the black-box test sent
    them (before the fix: about 70 "Uncaught exception GET /ws" lines): every connection
    ends with a close frame from the server, and the log holds no traceback."""
    rng = random.Random(11)
    start = len(server.lines)
    sent = connections = 0
    while sent < 3000:
        connections += 1
        client = Client(server.ws_url, subprotocols=["webtty"], timeout=20)
        first = INIT if rng.random() < 0.8 else _random_frame(rng)
        client.send_text(first)
        if first == INIT and rng.random() < 0.5:
            client.recv()  # the title: the rest reaches a running session, not the queue
        frames = [_random_frame(rng) for _ in range(rng.randrange(1, 60))]
        for frame in frames:
            try:
                if isinstance(frame, bytes) and rng.random() < 0.5:
                    client.send_binary(frame)
                else:
                    client.send_text(frame)
            except (OSError, websocket.WebSocketException):
                break
            sent += 1
        with contextlib.suppress(OSError, websocket.WebSocketException):
            client.send_text("9end")  # an unknown type: every session still running ends
        client.frames_until_close()
        assert client.closed is not None
        assert client.closed.code in (1000, 1002, 1008), (client.closed, frames)
    wait_for(lambda: sum("Connection closed by" in line for line in server.lines[start:])
             >= connections, 30, message="every connection's end")
    no_traceback(server, start)
