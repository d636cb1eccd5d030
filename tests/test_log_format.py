"""`--log-format json` end to end: a real server's whole output, line by line.

Every line must be one JSON object; the lines about a session carry its id, user and client
address, checked against what the session itself saw (its GOTTY_SESSION_ID, the token's
`sub`, the client socket's own address). The text format is checked to be GoTTY's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.gotty import Gotty, GottyProcess, open_session, run_gotty, wait_for
from tests.jwt_keys import claims, hs256, write_secret


def json_lines(server: GottyProcess) -> list[dict[str, Any]]:
    records = []
    for line in server.output().splitlines():
        record = json.loads(line)  # every line, not only ours
        assert isinstance(record, dict), line
        records.append(record)
    return records


def find(server: GottyProcess, pattern: str) -> dict[str, Any]:
    regex = re.compile(pattern)
    found: dict[str, Any] = wait_for(
        lambda: next((r for r in json_lines(server) if regex.search(r["message"])), None),
        message=f"a JSON line {pattern!r}")
    return found


def test_json_lines_carry_session_user_and_client(gotty: Gotty, tmp_path: Path) -> None:
    secret = write_secret(tmp_path / "secret")
    server = gotty("--log-format", "json", "--jwt-secret-file", str(tmp_path / "secret"),
                   "--jwt-audience", "console", "--jwt-issuer", "portal",
                   "--cleanup-command", "true {session}", "--audit-dir", str(tmp_path / "a"),
                   "sh", "-c", 'echo "id=$GOTTY_SESSION_ID"')
    client = open_session(server, f"?jwt={hs256(secret, claims(sub='alice'))}")
    client.frames_until_close()
    session_id = re.search(rb"id=([0-9a-f]{16})", client.output)
    assert session_id is not None
    local = "{}:{}".format(*client.ws.sock.getsockname()[:2])
    expected = {"session": session_id.group(1).decode(), "user": "alice", "client": local}
    for pattern in ("^Command is running for client", "^Connection closed by process-exited",
                    "^Cleanup for session"):
        record = find(server, pattern)
        assert {key: record.get(key) for key in expected} == expected, record
        assert record["level"] == "info" and record["logger"].startswith("gotty_py")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    accepted = find(server, "^Launch token accepted for user 'alice'")
    assert (accepted["user"], accepted["client"]) == ("alice", local)
    # Lines about no session carry no session fields at all (never null).
    start = find(server, "^HTTP server is listening at: ")
    assert not {"session", "user", "client"} & set(start)


def test_json_failed_audit_lines(gotty: Gotty, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    server = gotty("--log-format", "json", "--audit-dir", str(blocker), "--audit-required",
                   "true")
    client = open_session(server)
    client.frames_until_close()
    local = "{}:{}".format(*client.ws.sock.getsockname()[:2])
    failed = find(server, "^Audit: cannot open a recording")
    assert failed["level"] == "error" and failed["client"] == local
    assert re.fullmatch(r"[0-9a-f]{16}", failed["session"]) and "user" not in failed
    closed = find(server, "^Connection closed by refused")
    assert (closed["session"], closed["client"]) == (failed["session"], local)


def test_text_format_is_gottys(gotty: Gotty) -> None:
    server = gotty("true")
    open_session(server).frames_until_close()
    server.wait_for_line("Connection closed by")
    for line in server.output().splitlines():
        assert re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d [^{]", line), line


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["--log-format", "xml"], {}, "flag --log-format: expected one of text, json, got 'xml'"),
    ([], {"GOTTY_LOG_FORMAT": "JSON"},
     "environment variable GOTTY_LOG_FORMAT: expected one of text, json, got 'JSON'"),
])
def test_bad_log_format_exits_2(args: list[str], env: dict[str, str], expected: str) -> None:
    result = run_gotty("--port", "0", *args, "true", env=env)
    assert result.returncode == 2
    assert expected in result.stderr


def test_bad_log_format_in_a_config_file_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "gotty.hcl"
    config.write_text('log_format = "yaml"\n')
    result = run_gotty("--config", str(config), "--port", "0", "true")
    assert result.returncode == 2
    assert (f"config file {config} line 1: key 'log_format': expected one of text, json"
            in result.stderr)


def test_a_fatal_start_up_error_is_a_json_line_too(tmp_path: Path) -> None:
    result = run_gotty("--log-format", "json", "--port", "0", "--index",
                       str(tmp_path / "missing.html"), "true")
    assert result.returncode == 3
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines[-1]["level"] == "critical"
    assert lines[-1]["message"].startswith("Error: failed to read index file")
