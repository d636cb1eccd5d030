"""The event log deleted or replaced under a running server (issue 11, point 2).

Before, the server kept its descriptor of the deleted file: the next session ran and its
start and end lines went into the unlinked file, with nothing logged, even under
--audit-required. Now every line is preceded by a check that the open file is still the
file at its path (device and inode); a lost file is logged, never written to again, and
re-created with the chain continued from the last line written. Under --audit-required
the loss fails closed like any other audit failure: the session that finds it is refused,
and so is every session until a file at the path has taken a line again (the next line
written, or the readiness probe's retry).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gotty_py.audit.reader import read_event_log, verify_chain
from tests.gotty import Client, Gotty, GottyProcess, open_session, wait_for
from tests.ops_client import readyz


def delete_directory(audit: Path) -> None:
    shutil.rmtree(audit)


def delete_file(audit: Path) -> None:
    (audit / "sessions.jsonl").unlink()


def replace_file(audit: Path) -> None:
    """Another file renamed over the log (an intruder's, or a careless rotation)."""
    forged = audit / "forged.jsonl"
    forged.write_text(json.dumps({"event": "start", "session": "forged"}) + "\n")
    os.replace(forged, audit / "sessions.jsonl")


LOSSES: dict[str, tuple[Callable[[Path], None], str]] = {
    "directory-deleted": (delete_directory, "was deleted"),
    "file-deleted": (delete_file, "was deleted"),
    "file-replaced": (replace_file, "was replaced by another file"),
}


def session(server: GottyProcess) -> tuple[Client, str]:
    client = open_session(server, size=(80, 24))
    host, port = client.ws.sock.getsockname()[:2]
    return client, f"{host}:{port}"


def run_to_end(server: GottyProcess) -> tuple[Client, str]:
    client, remote = session(server)
    client.frames_until_close()
    return client, remote


def lines(event_log: Path) -> list[dict[str, Any]]:
    try:
        return read_event_log(event_log)
    except FileNotFoundError:
        return []


def line_of(event_log: Path, remote: str, event: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((r for r in lines(event_log)
                     if r.get("event") == event and r.get("remote_addr") == remote), None)
    found: dict[str, Any] = wait_for(find, 15, message=f"the {event} line of {remote}")
    return found


def line_of_event(event_log: Path, event: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: next((r for r in lines(event_log) if r.get("event") == event), None), 15,
        message=f"an {event} line")
    return found


@pytest.mark.parametrize("loss", list(LOSSES), ids=list(LOSSES))
def test_required_audit_fails_closed_when_the_event_log_is_lost(
        gotty: Gotty, tmp_path: Path, loss: str) -> None:
    lose, what = LOSSES[loss]
    audit = tmp_path / "audit"
    event_log = audit / "sessions.jsonl"
    server = gotty("--audit-dir", str(audit), "--audit-required", "--ops-port", "0",
                   "sh", "-c", "echo ready; read x")
    first, first_remote = session(server)
    first.read_until(b"ready")
    line_of(event_log, first_remote, "start")
    lose(audit)  # mid-session
    second, _ = run_to_end(server)
    assert second.closed is not None
    assert (second.closed.code, second.closed.reason) == (1008, "audit event log unavailable")
    assert b"ready" not in second.output  # nothing ran
    server.wait_for_line(rf"Audit: the audit event log {event_log} {what} while in use")
    server.wait_for_line(rf"Audit: event log {event_log} unusable \(the audit event log "
                         rf"{event_log} {what} while in use\); session \w+ refused")
    # Like after any audit failure, the next line (the refused session's own end line)
    # opens a new file at the path, which starts with a line that says what happened; from
    # there on sessions run and are recorded again.
    lost = line_of_event(event_log, "event-log-lost")
    assert lost["problem"] == what and lost["path"] == str(event_log)
    assert readyz(server) == (200, "ready\n")
    third, third_remote = session(server)
    third.read_until(b"ready")
    line_of(event_log, third_remote, "start")
    # The running session's end line is not thrown away: it goes to the new file too,
    # never into the lost one.
    first.close()
    line_of(event_log, first_remote, "end")
    if loss == "file-replaced":
        assert lines(event_log)[0] == {"event": "start", "session": "forged"}


@pytest.mark.parametrize("loss", list(LOSSES), ids=list(LOSSES))
def test_without_required_the_log_is_recreated_and_sessions_go_on(
        gotty: Gotty, tmp_path: Path, loss: str) -> None:
    lose, what = LOSSES[loss]
    audit = tmp_path / "audit"
    event_log = audit / "sessions.jsonl"
    server = gotty("--audit-dir", str(audit), "echo", "hi")
    _, first_remote = run_to_end(server)
    line_of(event_log, first_remote, "end")
    last_written = event_log.read_bytes().splitlines()[-1]
    lose(audit)
    second, second_remote = run_to_end(server)
    assert second.closed is not None and second.closed.code == 1000
    assert bytes(second.output) == b"hi\r\n"
    server.wait_for_line(rf"Audit: the audit event log {event_log} {what} while in use")
    start = line_of(event_log, second_remote, "start")
    line_of(event_log, second_remote, "end")
    written = lines(event_log)
    lost = next(r for r in written if r.get("event") == "event-log-lost")
    assert written.index(lost) < written.index(start)
    # The chain goes on from the last line written to the lost file: the seam is the one
    # break verify reports (the lost line before it is gone), nothing after it is.
    raw = event_log.read_bytes().splitlines()
    seam = next(i for i, line in enumerate(raw) if b'"event-log-lost"' in line)
    assert verify_chain(event_log).broken == [seam + 1]
    assert json.loads(raw[seam])["prev_sha256"] == hashlib.sha256(last_written + b"\n").hexdigest()


STREAM = "while :; do echo tick; sleep 0.05; done"


@pytest.mark.parametrize("required", [True, False], ids=["required", "optional"])
def test_a_recording_deleted_while_in_use_is_a_recording_failure(
        gotty: Gotty, tmp_path: Path, required: bool) -> None:
    """The same attack on a session's own recording: its output would go to an unlinked
    file. Found at the next flush, it is a write failure like any other: under
    --audit-required the session ends (1011), else it goes on, logged as unrecorded."""
    audit = tmp_path / "audit"
    event_log = audit / "sessions.jsonl"
    server = gotty("--audit-dir", str(audit), *(["--audit-required"] if required else []),
                   "sh", "-c", STREAM)
    client, remote = session(server)
    client.read_until(b"tick")
    recording = Path(line_of(event_log, remote, "start")["recording"])
    wait_for(lambda: recording.stat().st_size > 0, message="the recording's first flush")
    recording.unlink()
    reason = "recording failed: the recording file was deleted while in use"
    if required:
        client.frames_until_close()
        assert client.closed is not None
        assert (client.closed.code, client.closed.reason) == (1011, reason)
        end = line_of(event_log, remote, "end")
        assert (end["outcome"], end["detail"]) == ("audit-failed", reason)
    else:
        server.wait_for_line("was deleted while in use; THE SESSION CONTINUES UNRECORDED")
        ticks = bytes(client.output).count(b"tick")
        client.read_while(lambda output: output.count(b"tick") < ticks + 5)  # it goes on
        client.close()
        end = line_of(event_log, remote, "end")
        assert end["outcome"] == "client-closed" and end["recording_error"] == reason
    assert not recording.exists()  # nothing re-created it behind the session's back
