"""`gotty-client --v2` (moul) end to end, emulated step by step from gotty-spec §7.

gotty-client is a Go program not packaged here, so this test replays exactly what it sends
over a real WebSocket: the token scraped from auth_token.js, no subprotocol and no Origin,
Basic auth from the URL, a ping right after the init, `{"rows","columns"}` resizes and raw
stdin in pieces of at most 128 bytes (which split UTF-8 characters across frames).
"""

from __future__ import annotations

import hashlib
import re

from tests.gotty import Client, Gotty, basic, http_request


def test_gotty_client_v2_session(gotty: Gotty) -> None:
    text = "中文字符" * 40  # 480 bytes of 3-byte characters: 128-byte pieces split them
    data = text.encode()
    script = (f"stty raw -echo; head -c 1 >/dev/null; stty size; head -c {len(data)} | sha256sum;"
              ' echo "$@"')
    server = gotty("-w", "-c", "user:pw", "--permit-arguments", "sh", "-c", script, "a0")
    auth = basic("user:pw")

    body = http_request(server.url + "auth_token.js", headers=auth).text
    token = re.search(r"var gotty_auth_token = '(.*)'", body)
    assert token is not None and token.group(1) == "user:pw"

    client = Client(server.ws_url, headers=[f"Authorization: {auth['Authorization']}"])
    assert client.ws.getsubprotocol() is None
    client.send_text('{"AuthToken":"' + token.group(1) + '","Arguments":"?arg=x1&arg=y2"}')
    client.send_text("2")
    client.send_text('3{"rows":33,"columns":111}')
    title = client.recv()
    assert title.startswith("3sh@")
    client.input(b".")  # the command reports its size after this byte, so after the resize
    client.read_until(b"33 111")
    for offset in range(0, len(data), 128):
        client.input(data[offset : offset + 128])
    client.frames_until_close()
    assert hashlib.sha256(data).hexdigest().encode() in client.output
    assert b"x1 y2" in client.output
    assert client.closed is not None and client.closed.code == 1000
