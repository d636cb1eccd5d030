"""What `verify --public-key` catches (gotty_py/audit/sealcheck.py), on real event-log files
written by the real `EventLog` and `Checkpointer` (a fake clock, no writer thread), then
tampered with as someone with write access but without the key would.

The attacker here recomputes the hash chain after each change (anyone can: it has no key),
so the chain alone says nothing; each case must be caught by the checkpoints, with its own
finding.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from gotty_py.audit import checkpoints
from gotty_py.audit.checkpoints import Checkpointer, CheckpointKind, split_notes
from gotty_py.audit.events import EventLog, utc_iso
from gotty_py.audit.reader import verify_chain
from gotty_py.audit.rolled import chain_files
from gotty_py.audit.sealcheck import Finding, Seal, allowance, check, number_lines
from gotty_py.audit.signing import Signer
from gotty_py.audit.writer import BackgroundWriter

T0 = 1_767_225_600.0
SIGNER = Signer.generate("test-log")
VERIFIERS = (SIGNER.verifier,)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Copy:
    """A publisher that keeps every note, as --audit-checkpoint-copy would."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def __call__(self, note: str, _checkpoint: object) -> None:
        self.notes.append(note)


def run_epoch(path: Path, clock: Clock, sessions: int, *, final: bool = True,
              copy: Copy | None = None, signer: Signer = SIGNER) -> EventLog:
    """One server run: open (start checkpoint), `sessions` lines a second apart
    (a checkpoint every 3 lines), and the final checkpoint."""
    checkpoints = Checkpointer(signer, 3, 60, clock=clock,
                               publishers=[copy] if copy is not None else [])
    log = EventLog(str(path), BackgroundWriter(), checkpoints)
    log.open()
    for n in range(sessions):
        clock.now += 1
        log.append({"event": "start", "time": utc_iso(clock.now), "session": f"s{n}"})
    if final:
        clock.now += 1
        log.checkpoint(CheckpointKind.FINAL, False)
    log.close()
    return log


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def rewrite(path: Path, lines: list[dict[str, Any]]) -> None:
    """Write `lines` with a freshly computed hash chain: what anyone with write access can."""
    previous: str | None = None
    out = []
    for record in lines:
        text = json.dumps({**record, "prev_sha256": previous}, ensure_ascii=True) + "\n"
        previous = hashlib.sha256(text.encode()).hexdigest()
        out.append(text)
    path.write_text("".join(out))
    assert verify_chain(path).intact  # the chain alone is satisfied


def findings(path: Path, now: float, **kwargs: Any) -> list[Finding]:
    files = [(str(p), p.read_bytes().split(b"\n")[:-1]) for p in chain_files(path)]
    return check(number_lines(files), VERIFIERS, now, **kwargs)


def seals(found: list[Finding]) -> list[Seal]:
    return [f.seal for f in found]


def bad(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.seal.bad]


def test_an_intact_log_is_sealed_and_a_live_one_open(tmp_path: Path) -> None:
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 7)
    kinds = [r.get("kind") for r in records(events) if r["event"] == "checkpoint"]
    assert kinds == ["start", "periodic", "periodic", "final"]  # every 3 other lines
    assert seals(findings(events, clock.now + 3600)) == [Seal.SEALED]

    live, clock = tmp_path / "live.jsonl", Clock()
    run_epoch(live, clock, 2, final=False)
    assert seals(findings(live, clock.now + 5)) == [Seal.OPEN]
    late = findings(live, clock.now + allowance(60) + 1)
    assert seals(late) == [Seal.UNSEALED] and "no final checkpoint" in late[0].message


def test_a_line_changed_and_the_chain_recomputed_is_caught(tmp_path: Path) -> None:
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 5)
    lines = records(events)
    lines[2]["session"] = "someone-else"
    rewrite(events, lines)
    found = bad(findings(events, clock.now))
    # Every checkpoint after the change: each line's hash covers the chain before it.
    assert found and {f.seal for f in found} == {Seal.REWRITTEN}
    assert found[0].where.endswith(":5")
    assert "does not match the line: the log was changed" in found[0].message


def test_lines_removed_from_the_middle_are_caught(tmp_path: Path) -> None:
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 8)
    lines = records(events)
    assert lines[4]["event"] == "checkpoint"
    rewrite(events, lines[:3] + lines[6:])  # two sessions and a checkpoint gone
    found = bad(findings(events, clock.now))
    assert Seal.REWRITTEN in seals(found) and Seal.REORDERED in seals(found)
    assert any("covers 8 line(s) but stands after line 5" in f.message for f in found)
    assert any("checkpoint 1.2 follows 1.0" in f.message for f in found)


def test_a_log_written_anew_with_another_key_is_caught(tmp_path: Path) -> None:
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 4, signer=Signer.generate("test-log"))
    found = bad(findings(events, clock.now))
    assert found and {f.seal for f in found} == {Seal.FOREIGN_KEY, Seal.NO_CHECKPOINT}
    assert "not by the key given" in found[0].message


def test_a_changed_checkpoint_is_caught(tmp_path: Path) -> None:
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 4)
    lines = records(events)
    lines[-1]["note"] = lines[-1]["note"].replace("\n6\n", "\n5\n", 1)
    rewrite(events, lines)
    found = bad(findings(events, clock.now))
    assert found[0].seal is Seal.BAD_SIGNATURE and "the note was changed" in found[0].message


def test_lines_cut_from_the_end_are_caught(tmp_path: Path) -> None:
    events, clock, copy = tmp_path / "events.jsonl", Clock(), Copy()
    run_epoch(events, clock, 5, copy=copy)
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:-3]))  # the final checkpoint and two sessions
    # From the file alone: not sealed, and its newest checkpoint too old for a live log.
    assert seals(bad(findings(events, clock.now + allowance(60) + 1))) == [Seal.UNSEALED]
    # With the copy, at once: the copy's newest checkpoint covers lines the log lacks.
    notes = [(f"copy#{n}", note) for n, note in enumerate(copy.notes, 1)]
    found = bad(findings(events, clock.now, copies=notes))
    assert seals(found) == [Seal.TRUNCATED]
    assert "checkpoint 1.2 covers 7 line(s); the log has 5" in found[0].message


def test_an_old_sealed_log_standing_in_for_a_newer_one_is_caught(tmp_path: Path) -> None:
    """CVE-2023-31439's lesson: an old, valid checkpoint must not vouch for a log cut back
    to it. Cut back to the first server run's final checkpoint, the file alone looks sealed;
    the maximum age and the copy each catch it."""
    events, clock, copy = tmp_path / "events.jsonl", Clock(), Copy()
    run_epoch(events, clock, 4, copy=copy)
    first_run = len(events.read_text().splitlines())
    clock.now += 86_400
    run_epoch(events, clock, 4, copy=copy)
    epochs = [r["note"].split("\n")[4] for r in records(events) if r["event"] == "checkpoint"]
    assert epochs[0] == "epoch 1 0 start" and "epoch 2 0 start" in epochs
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:first_run]))
    assert seals(findings(events, clock.now)) == [Seal.SEALED]  # the file alone cannot tell
    stale = bad(findings(events, clock.now, max_age=3600))
    assert seals(stale) == [Seal.STALE] and "86" in stale[0].message
    notes = [(f"copy#{n}", note) for n, note in enumerate(copy.notes, 1)]
    assert Seal.TRUNCATED in seals(bad(findings(events, clock.now, copies=notes)))


def test_a_log_cut_back_and_continued_without_the_key_is_caught(tmp_path: Path) -> None:
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 7, final=False)
    lines = records(events)
    cut = max(i for i, r in enumerate(lines) if r["event"] == "checkpoint")
    forged = {"event": "start", "time": utc_iso(clock.now + 3 * 3600), "session": "forged"}
    rewrite(events, [*lines[:cut + 1], forged])
    found = bad(findings(events, clock.now + 3 * 3600 + 10))
    assert Seal.LATE in seals(found)
    assert any("written 108" in f.message and "without the key" in f.message for f in found)


def test_an_epoch_ended_without_its_final_checkpoint_is_reported(tmp_path: Path) -> None:
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 4, final=False)  # killed
    clock.now += 10
    run_epoch(events, clock, 2)  # restarted
    found = bad(findings(events, clock.now))
    assert seals(found) == [Seal.UNSEALED]
    assert "epoch 1 ended without its final checkpoint" in found[0].message
    assert Seal.SEALED in seals(findings(events, clock.now))  # the new run's end is fine


def test_a_roll_is_followed_across_files_and_after_the_oldest_is_removed(
        tmp_path: Path) -> None:
    events, clock, copy = tmp_path / "events.jsonl", Clock(), Copy()
    checkpoints = Checkpointer(SIGNER, 3, 60, clock=clock, publishers=[copy])
    log = EventLog(str(events), BackgroundWriter(), checkpoints)
    log.open()
    for n in range(4):
        clock.now += 1
        log.append({"event": "start", "time": utc_iso(clock.now), "session": f"a{n}"})
    rolled = log.roll()
    assert rolled is not None and Path(rolled).exists()
    for n in range(2):
        clock.now += 1
        log.append({"event": "start", "time": utc_iso(clock.now), "session": f"b{n}"})
    log.checkpoint(CheckpointKind.FINAL, False)
    log.close()
    new = records(events)
    assert new[0]["event"] == "log-rolled" and new[1]["kind"] == "roll"
    assert new[0]["lines_before"] == len(Path(rolled).read_text().splitlines())
    assert new[0]["prev_sha256"] == hashlib.sha256(
        Path(rolled).read_bytes().splitlines(keepends=True)[-1]).hexdigest()
    assert chain_files(events) == [Path(rolled), events]
    notes = [(f"copy#{n}", note) for n, note in enumerate(copy.notes, 1)]
    assert not bad(findings(events, clock.now, copies=notes))
    assert Seal.SEALED in seals(findings(events, clock.now))
    Path(rolled).unlink()  # retention removed the oldest file
    found = findings(events, clock.now, copies=notes)
    assert not bad(found), found
    assert any(f"{len(copy.notes)} checkpoint(s) of the copy covered" in f.message
               for f in found)
    assert len(split_notes("".join(n + "\n" for n in copy.notes))) == len(copy.notes)


def test_reordered_lines_are_caught(tmp_path: Path) -> None:
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 8)
    lines = records(events)
    lines[1], lines[2] = lines[2], lines[1]  # two sessions swapped
    lines[4], lines[8] = lines[8], lines[4]  # and two checkpoints
    rewrite(events, lines)
    found = bad(findings(events, clock.now))
    assert Seal.REORDERED in seals(found) and Seal.REWRITTEN in seals(found)
    assert any("checkpoint 1.2 follows 1.0" in f.message for f in found)
    assert any("checkpoint 1.1 follows 1.2" in f.message for f in found)


def test_scan_log_reads_in_bounded_chunks(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """What a server opening a log learns of it (the line count, the last checkpoint's log
    id and epoch) is the same whatever the chunk size, lines split across chunks."""
    events, clock = tmp_path / "events.jsonl", Clock()
    run_epoch(events, clock, 5)
    run_epoch(events, clock, 4, final=False)
    with events.open("a") as handle:
        handle.write('{"event": "start", "session": "cut sh')  # a crash's half line
    count = len(events.read_bytes().split(b"\n"))
    log_id = records_of_checkpoints(events)[0]
    states = []
    for chunk in (7, 64, 1 << 20):
        monkeypatch.setattr(checkpoints, "SCAN_CHUNK", chunk)
        fd = os.open(events, os.O_RDONLY)
        try:
            states.append(checkpoints.scan_log(fd))
        finally:
            os.close(fd)
    assert states == [checkpoints.LogState(count, log_id, 2)] * 3


def records_of_checkpoints(path: Path) -> list[str]:
    """The log ids the checkpoint lines name."""
    return [r["note"].split("\n")[0].rsplit(" ", 1)[1]
            for r in (json.loads(x) for x in path.read_text().splitlines()[:-1])
            if r["event"] == "checkpoint"]
