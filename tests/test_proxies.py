"""`--trusted-proxies`: X-Forwarded-For names the client only when a trusted proxy says so.

The rule itself is checked on `TrustedProxies` directly (pure); end to end, a real server
sees a real WebSocket client on 127.0.0.1, which is the proxy when 127.0.0.1/32 is trusted
and an ordinary (lying) client when only 10.0.0.0/8 is: the event log's `remote_addr`, the
log line, the page title and the session title must follow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gotty_py.options import parse_networks
from gotty_py.server.proxies import TrustedProxies, parse_address
from gotty_py.webtty.protocol import encode_title
from tests.gotty import Gotty, http_request, open_session, run_gotty, wait_for
from tests.test_audit import local_addr, wait_line

PROXIES = TrustedProxies(parse_networks("10.0.0.0/8, 192.168.1.7, fd00::/8"))


@pytest.mark.parametrize(("peer", "headers", "client"), [
    # From a trusted proxy: the right-most hop that is not a trusted proxy.
    ("10.1.2.3", ["198.51.100.7"], "198.51.100.7"),
    ("10.1.2.3", ["203.0.113.9, 198.51.100.7"], "198.51.100.7"),  # the left one is a claim
    ("10.1.2.3", ["198.51.100.7, 10.9.9.9, 192.168.1.7"], "198.51.100.7"),  # proxy chain
    ("10.1.2.3", ["203.0.113.9", "198.51.100.7, 10.0.0.1"], "198.51.100.7"),  # two headers
    ("10.1.2.3", ["198.51.100.7:4711"], "198.51.100.7"),  # with a port
    ("10.1.2.3", ["[2001:db8::1]:4711"], "2001:db8::1"),
    ("fd00::1", ["2001:db8::2"], "2001:db8::2"),
    ("::ffff:10.1.2.3", ["198.51.100.7"], "198.51.100.7"),  # IPv4-mapped peer
    ("10.1.2.3", ["10.4.4.4, 10.5.5.5"], "10.4.4.4"),  # from inside: the left-most hop
    # Nothing to believe: the peer stands.
    ("10.1.2.3", [], None),
    ("10.1.2.3", [" , "], None),
    ("10.1.2.3", ["unknown"], None),
    ("10.1.2.3", ["198.51.100.7, bogus"], None),  # the chain breaks at a trusted proxy
    # From anyone else the header is ignored.
    ("198.51.100.50", ["203.0.113.9"], None),
    ("192.168.1.8", ["203.0.113.9"], None),
])
def test_forwarded_for_rule(peer: str, headers: list[str], client: str | None) -> None:
    assert PROXIES.client(peer, headers) == client


def test_nothing_trusted_believes_nobody() -> None:
    assert TrustedProxies().client("127.0.0.1", ["198.51.100.7"]) is None
    assert not TrustedProxies()


def test_parse_address() -> None:
    assert str(parse_address(" 198.51.100.7 ")) == "198.51.100.7"
    assert parse_address("_hidden") is None and parse_address("") is None


# --- end to end ----------------------------------------------------------------------------

def test_forwarded_for_from_a_trusted_peer(gotty: Gotty, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    server = gotty("--trusted-proxies", "127.0.0.1/32", "--audit-event-log", str(events),
                   "--title-format", "from {{ .remote_addr }}", "sh", "-c", "sleep 0.2")
    header = ["X-Forwarded-For: 203.0.113.9, 198.51.100.7"]
    client = open_session(server, headers=header)
    frames = client.frames_until_close()
    assert encode_title("from 198.51.100.7") in frames  # the session's title frame
    end = wait_line(events, "198.51.100.7")
    assert end["outcome"] == "exited"
    assert wait_line(events, "198.51.100.7", "start")["remote_addr"] == "198.51.100.7"
    server.wait_for_line("Command is running for client 198.51.100.7 with")
    server.wait_for_line(r"Connection closed by process-exited: .*: 198\.51\.100\.7,")
    page = http_request(server.url, headers={"X-Forwarded-For": "198.51.100.8"})
    assert "<title>from 198.51.100.8</title>" in page.text


def test_forwarded_for_from_anyone_else_is_ignored(gotty: Gotty, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    server = gotty("--trusted-proxies", "10.0.0.0/8", "--audit-event-log", str(events),
                   "--title-format", "from {{ .remote_addr }}", "--log-format", "json",
                   "sh", "-c", "sleep 0.2")
    client = open_session(server, headers=["X-Forwarded-For: 198.51.100.7"])
    peer = local_addr(client)
    frames = client.frames_until_close()
    assert encode_title(f"from {peer}") in frames
    end = wait_line(events, peer)
    assert end["outcome"] == "exited"

    def running() -> dict[str, str] | None:
        lines = [json.loads(line) for line in server.output().splitlines()]
        return next((r for r in lines if r["message"].startswith("Command is running")), None)
    line = wait_for(running, message="the Command is running line")
    assert line["client"] == peer and "198.51.100.7" not in line["message"]
    page = http_request(server.url, headers={"X-Forwarded-For": "198.51.100.8"})
    assert "<title>from 127.0.0.1:" in page.text


@pytest.mark.parametrize("value", ["10.0.0.0/33", "10.0.0.0/8,proxy.internal"])
def test_a_bad_entry_exits_2_naming_option_and_entry(value: str) -> None:
    result = run_gotty("--port", "0", "--trusted-proxies", value, "true")
    assert result.returncode == 2
    bad = value.split(",")[-1]
    assert f"flag --trusted-proxies: {bad!r} is not an IP address or CIDR" in result.stderr
