"""The event log's hash chain: changed, inserted or deleted lines are detected."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gotty_py.audit.reader import verify_chain
from tests.gotty import BIN, Gotty, GottyProcess, open_session, wait_for

AUDIT_CLI = BIN / "gotty-py-audit"


def run_sessions(server: GottyProcess, count: int) -> None:
    for _ in range(count):
        client = open_session(server)
        client.frames_until_close()


def lines_of(events: Path) -> list[str]:
    return events.read_text().splitlines()


def verify(events: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUDIT_CLI), "--event-log", str(events), "verify"],
                          capture_output=True, text=True, timeout=30)


def logged_sessions(gotty: Gotty, events: Path, count: int) -> None:
    """Run `count` sessions on a new server and wait for their start and end lines."""
    before = len(lines_of(events)) if events.exists() else 0
    server = gotty("--audit-event-log", str(events), "echo", "hi")
    run_sessions(server, count)
    wait_for(lambda: events.exists() and len(lines_of(events)) == before + 2 * count, 10,
             message="start and end lines")
    server.stop()


def test_lines_are_chained_and_a_restart_continues_the_chain(gotty: Gotty,
                                                             tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    logged_sessions(gotty, events, 2)
    logged_sessions(gotty, events, 1)  # a second server appends to the same log
    records = [json.loads(line) for line in lines_of(events)]
    assert records[0]["prev_sha256"] is None
    assert all(isinstance(r["prev_sha256"], str) for r in records[1:])
    report = verify_chain(events)
    assert (report.lines, report.broken, report.damaged) == (len(records), [], [])
    result = verify(events)
    assert result.returncode == 0 and "CHAIN-OK" in result.stdout, result.stdout


def test_a_changed_or_deleted_line_breaks_the_chain(gotty: Gotty, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    logged_sessions(gotty, events, 3)
    original = lines_of(events)

    changed = list(original)
    changed[2] = changed[2].replace('"echo"', '"ecHo"')
    events.write_text("\n".join(changed) + "\n")
    assert verify_chain(events).broken == [4]
    result = verify(events)
    assert result.returncode == 1 and "CHAIN-BROKEN" in result.stdout

    events.write_text("\n".join(original[:1] + original[2:]) + "\n")
    assert verify_chain(events).broken == [2]


def test_a_line_cut_short_by_a_crash_is_ended_and_the_chain_goes_on(gotty: Gotty,
                                                                   tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    logged_sessions(gotty, events, 1)
    with events.open("a") as handle:
        handle.write('{"event": "start", "sess')  # the server died in the middle of a line
    server = gotty("--audit-event-log", str(events), "echo", "hi")
    run_sessions(server, 1)
    wait_for(lambda: len(lines_of(events)) == 5, 10, message="the new session's lines")
    server.stop()
    assert lines_of(events)[2] == '{"event": "start", "sess'  # not glued to the next line
    report = verify_chain(events)
    assert (report.broken, report.damaged) == ([], [3])
    result = verify(events)
    assert result.returncode == 0 and "DAMAGED" in result.stdout
