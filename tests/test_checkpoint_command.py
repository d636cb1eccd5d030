"""`--audit-checkpoint-command` (gotty_py/server/checkpoint_command.py): real commands on a
real event loop; each note on stdin, one run at a time, the newest waiting note kept,
failures and timeouts logged and counted."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gotty_py.server import checkpoint_command
from gotty_py.server.checkpoint_command import CheckpointCommand, CheckpointCommandError
from tests.gotty import run_in_main_thread


def test_each_note_reaches_the_command_and_a_busy_one_keeps_only_the_newest(
        tmp_path: Path) -> None:
    out = tmp_path / "shipped"
    gate = tmp_path / "gate"

    async def scenario() -> CheckpointCommand:
        # The first run waits for the gate, so the next notes queue up behind it.
        command = CheckpointCommand(
            f"sh -c 'while [ ! -e {gate} ]; do sleep 0.01; done; cat >> {out}; echo >> {out}'",
            {"PATH": "/usr/bin:/bin"})
        command.offer("note 1\n")
        await asyncio.sleep(0)  # one loop turn: the task takes note 1 and starts its run
        for n in (2, 3, 4):
            command.offer(f"note {n}\n")
        gate.touch()
        await command.aclose()
        return command

    command = run_in_main_thread(scenario())
    assert out.read_text() == "note 1\n\nnote 4\n\n"
    assert (command.runs, command.failures, command.superseded) == (2, 0, 2)


def test_failures_and_timeouts_are_logged_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint_command, "CHECKPOINT_COMMAND_TIMEOUT", 0.5)

    async def scenario(source: str) -> CheckpointCommand:
        command = CheckpointCommand(source, {"PATH": "/usr/bin:/bin"})
        command.offer("note\n")
        await command.aclose()
        return command

    with caplog.at_level(logging.ERROR, logger="gotty_py.audit"):
        failing = run_in_main_thread(scenario("sh -c 'echo refused >&2; exit 3'"))
        hung = run_in_main_thread(scenario("sleep 30"))
    assert (failing.runs, failing.failures) == (1, 1)
    assert (hung.runs, hung.failures) == (1, 1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("failed (1 of 1 runs): exit status 3" in m and "refused" in m for m in messages)
    assert any("sleep 30 failed (1 of 1 runs): timed out" in m for m in messages)


@pytest.mark.parametrize(("source", "message"), [
    ("", "is empty"), ("'unclosed", "No closing quotation"),
    ("/nonexistent/ship", "/nonexistent/ship"),
])
def test_a_command_that_cannot_run_is_refused_at_start_up(source: str, message: str) -> None:
    with pytest.raises(CheckpointCommandError, match=message):
        CheckpointCommand(source, {"PATH": "/usr/bin:/bin"})
