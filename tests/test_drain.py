"""SIGTERM drains: clients are told (1001 and a reason), every session ends with its cleanup
and audit inside --drain-timeout, and the server exits 0 before Kubernetes' grace period.

Real server processes, real shells with background jobs, real cleanup hooks; the audit trail
is checked with `gotty-py-audit verify`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.gotty import (
    BIN,
    Gotty,
    http_request,
    job_pids,
    open_session,
    proc_start,
    run_gotty,
    wait_for,
)

SESSIONS = 50
SHELL = "sleep 1000 & echo JOB=$!; echo SHELL=$$; wait"


def events(path: Path, kind: str) -> list[dict[str, object]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["event"] == kind]


def test_sigterm_drains_fifty_sessions(gotty: Gotty, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    cleaned = tmp_path / "cleaned"
    cleaned.mkdir()
    hook = tmp_path / "cleanup.sh"
    hook.write_text(f'#!/bin/sh\ntouch "{cleaned}/$1"\n')
    hook.chmod(0o755)
    server = gotty("--audit-dir", str(audit), "--cleanup-command", f"{hook} {{session}}",
                   "--close-timeout", "2", "--drain-timeout", "20", "sh", "-c", SHELL)
    clients = [open_session(server) for _ in range(SESSIONS)]
    processes: dict[int, str] = {}
    for client in clients:
        processes.update(job_pids(client))
    assert len(processes) == 2 * SESSIONS

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for client in clients:
        client.frames_until_close()
        assert client.closed is not None
        assert (client.closed.code, client.closed.reason) == (1001, "server shutting down")
    assert server.wait_exit(timeout=25) == 0
    elapsed = time.monotonic() - signalled
    assert elapsed < 20, f"the drain took {elapsed:.1f} s, past --drain-timeout"

    left = [pid for pid, start in processes.items() if proc_start(pid) == start]
    assert not left, f"processes left running: {left}"
    log = audit / "sessions.jsonl"
    ends = events(log, "end")
    assert len(ends) == SESSIONS and {e["outcome"] for e in ends} == {"shutdown"}
    cleanups = events(log, "cleanup")
    assert len(cleanups) == SESSIONS and all(c["ok"] for c in cleanups)
    assert {c["session"] for c in cleanups} == {e["session"] for e in ends} \
        == {p.name for p in cleaned.iterdir()}
    verified = subprocess.run([str(BIN / "gotty-py-audit"), "--event-log", str(log), "verify"],
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert len(re.findall(r"^OK +\S+ ", verified.stdout, re.MULTILINE)) == SESSIONS


def test_past_the_deadline_a_slow_cleanup_is_killed_and_recorded(gotty: Gotty,
                                                                 tmp_path: Path) -> None:
    pid_file = tmp_path / "hook-pid"
    hook = tmp_path / "slow-cleanup.sh"
    hook.write_text(f"#!/bin/sh\necho $$ > {pid_file}.new; mv {pid_file}.new {pid_file}\n"
                    "exec sleep 600\n")
    hook.chmod(0o755)
    log = tmp_path / "events.jsonl"
    server = gotty("--audit-event-log", str(log), "--cleanup-command", str(hook),
                   "--cleanup-timeout", "600", "--close-timeout", "1", "--drain-timeout", "8",
                   "--ops-port", "0", "sh", "-c", SHELL)
    server.wait_for_line("at shutdown a slow cleanup hook is killed")
    ops = server.ops_url
    assert http_request(ops + "readyz").status == 200
    client = open_session(server)
    job_pids(client)
    server.process.send_signal(signal.SIGTERM)
    wait_for(pid_file.exists, 10, message="the cleanup hook to start")
    # While the drain waits for the hook: not ready (the Service sends nobody new here),
    # yet alive (the kubelet must not restart a pod that is ending properly).
    ready = http_request(ops + "readyz")
    assert ready.status == 503 and ready.text.startswith("draining")
    assert http_request(ops + "healthz").status == 200
    hook_pid = int(pid_file.read_text())
    hook_start = proc_start(hook_pid)
    assert server.wait_exit(timeout=20) == 0
    assert proc_start(hook_pid) != hook_start, "the hook outlived the server"
    server.wait_for_line(r"Drain timeout \(8 s\) passed: cutting short CleanupHooks")
    cleanup = events(log, "cleanup")[0]
    assert cleanup["ok"] is False
    assert str(cleanup["outcome"]).startswith("killed at shutdown after ")
    assert str(cleanup["outcome"]).endswith("the drain timeout passed")


def test_a_drain_shorter_than_a_sessions_end_is_refused() -> None:
    result = run_gotty("--close-timeout", "10", "--drain-timeout", "12", "true")
    assert result.returncode == 2
    assert ("drain_timeout (--drain-timeout) is 12 s, but ending a session may take 15 s "
            "(close_timeout, then the kill)") in result.stderr
