"""Signed checkpoints and retention end to end: a real server process, real sessions, real
files, `gotty-py-audit keygen` and `verify --public-key` as an auditor runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gotty_py.audit.checkpoints import split_notes
from gotty_py.audit.events import utc_iso
from gotty_py.audit.rolled import chain_files
from tests.gotty import BIN, Gotty, GottyProcess, open_session, run_gotty, wait_for

AUDIT_CLI = BIN / "gotty-py-audit"


def audit_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUDIT_CLI), *args], capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A key pair made as the docs say: `gotty-py-audit keygen`."""
    directory = tmp_path_factory.mktemp("keys")
    result = audit_cli("keygen", "--out", str(directory / "audit.key"), "--name", "console-1")
    assert result.returncode == 0, result.stderr
    private, public = directory / "audit.key", directory / "audit.key.pub"
    assert private.stat().st_mode & 0o777 == 0o600
    assert public.read_text().startswith("console-1+")
    again = audit_cli("keygen", "--out", str(private))
    assert again.returncode == 2 and "File exists" in again.stderr  # never overwritten
    return private, public


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_session(server: GottyProcess) -> None:
    client = open_session(server)
    client.frames_until_close()


def stop(server: GottyProcess) -> None:
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit(20) == 0, server.output()


@pytest.mark.parametrize(("setup", "args", "message"), [
    ("mode-644", ["--audit-checkpoint-key", "{key}"], "permissions 0644 let other users"),
    ("public", ["--audit-checkpoint-key", "{key}"], "not a signing key"),
    ("", ["--audit-checkpoint-key", "{dir}/missing"], "No such file"),
    ("", ["--audit-checkpoint-copy", "{dir}/copy"], "needs audit_checkpoint_key"),
    ("", ["--audit-checkpoint-command", "true"], "needs audit_checkpoint_key"),
    ("", ["--audit-retention", "30 days"], "invalid audit_retention"),
])
def test_checkpoint_and_retention_options_that_cannot_work_are_refused(
        keys: tuple[Path, Path], tmp_path: Path, setup: str, args: list[str],
        message: str) -> None:
    key = tmp_path / "audit.key"
    key.write_bytes(keys[1 if setup == "public" else 0].read_bytes())
    key.chmod(0o644 if setup == "mode-644" else 0o600)
    values = {"key": str(key), "dir": str(tmp_path)}
    result = run_gotty("--audit-dir", str(tmp_path / "audit"),
                       *[a.format(**values) for a in args], "true")
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr + result.stdout


def test_checkpoints_copy_command_and_shutdown_then_verify_catches_a_cut(
        gotty: Gotty, keys: tuple[Path, Path], tmp_path: Path) -> None:
    audit, shipped = tmp_path / "audit", tmp_path / "shipped"
    copy = tmp_path / "other-volume" / "checkpoints"
    events = audit / "sessions.jsonl"
    server = gotty("--audit-dir", str(audit), "--audit-checkpoint-key", str(keys[0]),
                   "--audit-checkpoint-lines", "2", "--audit-checkpoint-seconds", "1",
                   "--audit-checkpoint-copy", str(copy),
                   "--audit-checkpoint-command", f"sh -c 'cat >> {shipped}; echo >> {shipped}'",
                   "echo", "hi")
    run_session(server)
    run_session(server)

    # Every 2 lines, and every second while idle: the timer's checkpoint after the sessions.
    def periodic_after_sessions() -> bool:
        lines = lines_of(events)
        ends = [i for i, r in enumerate(lines) if r["event"] == "end"]
        return len(ends) == 2 and any(r.get("kind") == "periodic" for r in lines[ends[-1]:])
    wait_for(periodic_after_sessions, 10, message="a periodic checkpoint after the sessions")
    stop(server)

    lines = lines_of(events)
    assert lines[0]["kind"] == "start" and lines[-1]["kind"] == "final"
    inline = [r["note"] for r in lines if r["event"] == "checkpoint"]
    assert split_notes(copy.read_text()) == inline  # the copy has every one, in order
    assert copy.stat().st_mode & 0o777 == 0o600
    assert split_notes(shipped.read_text())[-1] == inline[-1]  # the final one shipped

    ok = audit_cli("--event-log", str(events), "verify", "--public-key", str(keys[1]),
                   "--checkpoints", str(copy), "--max-age", "1h")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "SEALED" in ok.stdout and "COPY-OK" in ok.stdout

    # Someone cuts the end of the log (the last session's end line and what follows).
    text = events.read_text().splitlines(keepends=True)
    last_end = max(i for i, r in enumerate(lines) if r["event"] == "end")
    events.write_text("".join(text[:last_end]))
    cut = audit_cli("--event-log", str(events), "verify", "--public-key", str(keys[1]),
                    "--checkpoints", str(copy))
    assert cut.returncode == 1, cut.stdout
    assert "TRUNCATED" in cut.stdout and "lines were cut from its end" in cut.stdout
    # Without the key, the chain alone is content: that is what checkpoints add.
    assert "CHAIN-OK" in cut.stdout
    plain = audit_cli("--event-log", str(events), "verify")
    assert "TRUNCATED" not in plain.stdout


def test_a_killed_server_leaves_an_unsealed_epoch_and_a_restart_goes_on(
        gotty: Gotty, keys: tuple[Path, Path], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    args = ("--audit-event-log", str(events), "--audit-checkpoint-key", str(keys[0]), "true")
    server = gotty(*args)
    run_session(server)
    wait_for(lambda: any(r["event"] == "end" for r in lines_of(events)), 10,
             message="the end line")
    server.process.kill()
    server.wait_exit()
    server = gotty(*args)
    wait_for(lambda: lines_of(events)[-1].get("kind") == "start", 10,
             message="the new epoch's start checkpoint")
    stop(server)
    result = audit_cli("--event-log", str(events), "verify", "-k", str(keys[1]))
    assert result.returncode == 1
    assert "UNSEALED" in result.stdout and "epoch 1 ended without its final" in result.stdout
    assert "SEALED       " in result.stdout  # the second run ended cleanly


def test_retention_rolls_the_log_at_start_and_verify_and_list_follow_the_roll(
        gotty: Gotty, keys: tuple[Path, Path], tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    events = audit / "sessions.jsonl"
    old = audit / "2026-01-01" / "bob" / "old.cast"
    old.parent.mkdir(parents=True)
    old.write_text("{}\n")
    moment = time.time() - 40 * 86400
    os.utime(old, (moment, moment))
    # A log whose first line is two days old: due to roll.
    events.write_text(json.dumps({"event": "start", "time": utc_iso(time.time() - 2 * 86400),
                                  "session": "yesterday", "argv": ["true"],
                                  "prev_sha256": None}) + "\n")
    server = gotty("--audit-dir", str(audit), "--audit-retention", "30d",
                   "--audit-checkpoint-key", str(keys[0]), "echo", "hi")
    wait_for(lambda: len(chain_files(events)) == 2, 10, message="the roll")
    run_session(server)
    wait_for(lambda: any(r["event"] == "end" for r in lines_of(events)), 10,
             message="the end line")
    stop(server)
    assert not old.exists()
    rolled, active = chain_files(events)
    removed = [r for r in lines_of(rolled) if r["event"] == "retention"]
    assert [Path(f["path"]).name for f in removed[0]["removed"]] == ["old.cast"]
    assert lines_of(active)[0]["event"] == "log-rolled"
    result = audit_cli("--event-log", str(events), "verify", "-k", str(keys[1]))
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("CHAIN-OK") == 2 and "SEALED" in result.stdout
    assert "CHAIN-BROKEN" not in result.stdout
    listed = audit_cli("--event-log", str(events), "list")
    assert "yesterday" in listed.stdout and listed.stdout.count("echo hi") == 1

    # A rolled file that vanished without a retention line saying so is reported...
    saved = rolled.read_bytes()
    rolled.unlink()
    gone = audit_cli("--event-log", str(events), "verify", "-k", str(keys[1]))
    assert gone.returncode == 1 and "ROLL-MISSING" in gone.stdout, gone.stdout
    # ...one retention removed (it is 40 days old at the next start) is not.
    rolled.write_bytes(saved)
    os.utime(rolled, (moment, moment))
    server = gotty("--audit-dir", str(audit), "--audit-retention", "30d",
                   "--audit-checkpoint-key", str(keys[0]), "echo", "hi")
    wait_for(lambda: not rolled.exists(), 10, message="the old rolled file removed")
    stop(server)
    assert chain_files(events) == [events]
    kept = audit_cli("--event-log", str(events), "verify", "-k", str(keys[1]))
    assert kept.returncode == 0, kept.stdout
    assert "goes on from a file removed by retention" in kept.stdout and "SEALED" in kept.stdout
