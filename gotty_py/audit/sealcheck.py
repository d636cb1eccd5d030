"""Checking an event log against its signed checkpoints (`gotty-py-audit verify --public-key`).

Rules of this module: pure: it is given the chain's lines (every file, oldest first), the
public keys, the notes of any copies and the time, and returns findings; it reads no file.
What it decides, in order (docs/audit.md "What verify checks"):

1. every checkpoint line is signed by a key given (else FOREIGN-KEY, or BAD-SIGNATURE for
   a signature that does not verify: the note was changed);
2. it covers exactly the lines before it: its size is its own position minus one and its
   hash is the hash of that line (else REWRITTEN: lines were changed, added, removed, or
   the log was written anew);
3. checkpoints follow each other: one log id, (epoch, sequence) increasing by one within
   an epoch, each new epoch opened by a `start` checkpoint after a `final` one (else
   REORDERED, or UNSEALED for an epoch that ended without its final checkpoint: a crash,
   or a cut followed by a restart, CVE-2023-31438's lesson);
4. no line is written later than its server's checkpoint timer allows after the newest
   checkpoint before it (LATE: lines cut back to an old checkpoint and others appended by
   someone without the key, CVE-2023-31439's lesson);
5. the end: a log whose last line is a `final` checkpoint is SEALED; otherwise it is OPEN
   (a live server) while its newest checkpoint is younger than the timer allows, and
   UNSEALED after that (killed, crashed, or lines cut from the end);
6. every checkpoint of a copy (`--checkpoints FILE`) is signed and is covered by the log:
   a copy covering more lines than the log has is TRUNCATED; one whose hash differs,
   REWRITTEN;
7. with a maximum age, the newest checkpoint (log or copy) older than it is STALE: an old,
   valid, sealed log is not accepted as the log of a server that should still be writing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .checkpoints import (
    CHECKPOINT_EVENT,
    ZERO_HASH,
    Checkpoint,
    CheckpointError,
    CheckpointKind,
    parse_time,
)
from .rolled import ROLLED_EVENT
from .signing import NoteError, UnknownKey, Verifier, open_note

SLACK = 60.0  # seconds beyond twice the interval: writer backlog, a loaded host


def allowance(interval_seconds: int) -> float:
    """The longest a live log may go without a checkpoint: the timer asks every quarter
    interval, so twice the interval plus SLACK is generous and still bounded."""
    return 2 * interval_seconds + SLACK


class Seal(StrEnum):
    """What verify says of the checkpoints; `bad` ones make it exit 1."""

    SEALED = "SEALED"
    OPEN = "OPEN"
    UNSEALED = "UNSEALED"
    NO_CHECKPOINT = "NO-CHECKPOINT"
    BAD_SIGNATURE = "BAD-SIGNATURE"
    FOREIGN_KEY = "FOREIGN-KEY"
    REWRITTEN = "REWRITTEN"
    REORDERED = "REORDERED"
    LATE = "LATE"
    TRUNCATED = "TRUNCATED"
    STALE = "STALE"
    COPY_OK = "COPY-OK"

    @property
    def bad(self) -> bool:
        return self not in (Seal.SEALED, Seal.OPEN, Seal.COPY_OK)


@dataclass(frozen=True)
class Finding:
    seal: Seal
    where: str
    message: str


@dataclass(frozen=True)
class ChainLine:
    """One line of the chain: its number across every file, and where it is."""

    number: int
    where: str  # FILE:LINE
    raw: bytes  # without the newline

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw + b"\n").digest()

    def record(self) -> dict[str, Any]:
        try:
            value = json.loads(self.raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


def number_lines(files: Sequence[tuple[str, Sequence[bytes]]]) -> list[ChainLine]:
    """Number the lines of the chain's files (oldest first) from the first file's
    `log-rolled` line (the lines of files removed by retention come before it)."""
    number = 0
    if files and files[0][1]:
        first = ChainLine(0, "", files[0][1][0]).record()
        if first.get("event") == ROLLED_EVENT and isinstance(first.get("lines_before"), int):
            number = first["lines_before"]
    out: list[ChainLine] = []
    for name, lines in files:
        for index, raw in enumerate(lines, start=1):
            number += 1
            out.append(ChainLine(number, f"{name}:{index}", raw))
    return out


def _open(note: Any, verifiers: tuple[Verifier, ...], where: str
          ) -> tuple[Checkpoint | None, Finding | None]:
    if not isinstance(note, str):
        return None, Finding(Seal.BAD_SIGNATURE, where, "a checkpoint line without a note")
    try:
        opened = open_note(note, verifiers)
    except UnknownKey as exc:
        return None, Finding(Seal.FOREIGN_KEY, where, f"checkpoint {exc}")
    except NoteError as exc:
        return None, Finding(Seal.BAD_SIGNATURE, where, f"checkpoint: {exc}")
    try:
        return Checkpoint.parse(opened.text), None
    except CheckpointError as exc:
        return None, Finding(Seal.BAD_SIGNATURE, where, f"signed, but not a checkpoint: {exc}")


def check(lines: Sequence[ChainLine], verifiers: tuple[Verifier, ...], now: float, *,
          copies: Sequence[tuple[str, str]] = (), max_age: float | None = None
          ) -> list[Finding]:
    """Every finding about the chain `lines` and the copy notes `(where, note)`."""
    findings: list[Finding] = []
    by_number = {line.number: line for line in lines}
    first = lines[0].number if lines else 1
    last: tuple[ChainLine, Checkpoint] | None = None
    newest: Checkpoint | None = None
    for line in lines:
        record = line.record()
        if record.get("event") != CHECKPOINT_EVENT:
            _check_late(line, record, last, findings)
            continue
        checkpoint, problem = _open(record.get("note"), verifiers, line.where)
        if problem is not None or checkpoint is None:
            findings.append(problem or Finding(Seal.BAD_SIGNATURE, line.where, "?"))
            continue
        _check_covers(line, checkpoint, by_number, first, findings)
        if last is not None:
            _check_order(last[1], checkpoint, line.where, findings)
        last = (line, checkpoint)
        newest = checkpoint
    if last is None:
        findings.append(Finding(Seal.NO_CHECKPOINT, lines[-1].where.split(":")[0] if lines
                                else "-", "no checkpoint signed by the key given"))
    else:
        findings.append(_end(lines[-1], *last, now))
    total = lines[-1].number if lines else 0
    covered: list[Finding] = []
    for where, note in copies:
        checkpoint, problem = _open(note, verifiers, where)
        if problem is not None or checkpoint is None:
            findings.append(problem or Finding(Seal.BAD_SIGNATURE, where, "?"))
            continue
        finding = _check_copy(where, checkpoint, by_number, first, total, last)
        (findings if finding.seal.bad else covered).append(finding)
        if newest is None or checkpoint.time > newest.time:
            newest = checkpoint
    if covered:  # one line for all that agree: the newest, and how many
        findings.append(Finding(Seal.COPY_OK, covered[-1].where,
                                f"{len(covered)} checkpoint(s) of the copy covered by the log; "
                                f"the newest: {covered[-1].message}"))
    if max_age is not None and newest is not None and now - newest.time > max_age:
        findings.append(Finding(Seal.STALE, "-", f"the newest checkpoint is "
                                f"{now - newest.time:.0f} s old, more than the {max_age:.0f} s "
                                "allowed: the log (and its copies) stopped being checkpointed, "
                                "or an old log stands in for the current one"))
    return findings


def _covered_hash(size: int, by_number: dict[int, ChainLine]) -> bytes | None:
    """The hash a checkpoint of `size` lines must carry, None if that line is gone."""
    if size == 0:
        return ZERO_HASH
    line = by_number.get(size)
    return line.digest if line is not None else None


def _check_covers(line: ChainLine, checkpoint: Checkpoint, by_number: dict[int, ChainLine],
                  first: int, findings: list[Finding]) -> None:
    if checkpoint.size != line.number - 1:
        findings.append(Finding(Seal.REWRITTEN, line.where, (
            f"the checkpoint covers {checkpoint.size} line(s) but stands after line "
            f"{line.number - 1}: lines were added or removed before it")))
        return
    wanted = _covered_hash(checkpoint.size, by_number)
    if wanted is None and checkpoint.size < first:
        return  # the line it names is in a file retention removed
    if wanted != checkpoint.last_hash:
        findings.append(Finding(Seal.REWRITTEN, line.where, (
            f"the checkpoint's hash of line {checkpoint.size} does not match the line: "
            "the log was changed or written anew")))


def _check_order(before: Checkpoint, after: Checkpoint, where: str,
                 findings: list[Finding]) -> None:
    if after.log_id != before.log_id:
        findings.append(Finding(Seal.REORDERED, where, (
            f"checkpoint of another log ({after.log_id[:12]}…, before: "
            f"{before.log_id[:12]}…): files of two logs were joined")))
    elif after.epoch == before.epoch:
        if after.sequence != before.sequence + 1 or after.kind is CheckpointKind.START:
            findings.append(Finding(Seal.REORDERED, where, (
                f"checkpoint {after.epoch}.{after.sequence} follows "
                f"{before.epoch}.{before.sequence}: checkpoints were removed or reordered")))
    elif after.epoch != before.epoch + 1 or after.kind is not CheckpointKind.START:
        findings.append(Finding(Seal.REORDERED, where, (
            f"checkpoint {after.epoch}.{after.sequence} ({after.kind}) follows "
            f"{before.epoch}.{before.sequence}: epochs out of order")))
    elif before.kind is not CheckpointKind.FINAL:
        findings.append(Finding(Seal.UNSEALED, where, (
            f"epoch {before.epoch} ended without its final checkpoint (its newest is "
            f"{before.epoch}.{before.sequence} at line {before.size + 1}): the server was "
            "killed or crashed, or lines were cut and the server restarted")))
    if after.time < before.time or after.size <= before.size:
        findings.append(Finding(Seal.REORDERED, where, (
            "the checkpoint is older, or covers fewer lines, than the one before it")))


def _check_late(line: ChainLine, record: dict[str, Any],
                last: tuple[ChainLine, Checkpoint] | None, findings: list[Finding]) -> None:
    if last is None or not isinstance(record.get("time"), str):
        return
    try:
        written = parse_time(record["time"])
    except CheckpointError:
        return
    checkpoint = last[1]
    late = written - checkpoint.time
    if late > allowance(checkpoint.interval_seconds):
        findings.append(Finding(Seal.LATE, line.where, (
            f"written {late:.0f} s after the newest checkpoint before it "
            f"({checkpoint.epoch}.{checkpoint.sequence}); its server makes one every "
            f"{checkpoint.interval_seconds} s: the log was cut back and continued by "
            "someone without the key")))


def _end(tail: ChainLine, line: ChainLine, checkpoint: Checkpoint, now: float) -> Finding:
    after = tail.number - line.number
    if after == 0 and checkpoint.kind is CheckpointKind.FINAL:
        return Finding(Seal.SEALED, line.where, (
            f"ends with the final checkpoint of epoch {checkpoint.epoch}, signed, covering "
            f"{checkpoint.size} line(s)"))
    age = now - checkpoint.time
    if age <= allowance(checkpoint.interval_seconds):
        return Finding(Seal.OPEN, line.where, (
            f"{after} line(s) after the newest checkpoint, {age:.0f} s old: a live log"))
    return Finding(Seal.UNSEALED, line.where, (
        f"{after} line(s) after the newest checkpoint, {age:.0f} s old, and no final "
        "checkpoint: the server was killed or crashed, or lines were cut from the end"))


def _check_copy(where: str, checkpoint: Checkpoint, by_number: dict[int, ChainLine],
                first: int, total: int, last: tuple[ChainLine, Checkpoint] | None) -> Finding:
    if last is not None and checkpoint.log_id != last[1].log_id:
        return Finding(Seal.FOREIGN_KEY, where, "the copy's checkpoint is of another log")
    if checkpoint.size > total:
        return Finding(Seal.TRUNCATED, where, (
            f"checkpoint {checkpoint.epoch}.{checkpoint.sequence} covers "
            f"{checkpoint.size} line(s); the log has {total}: lines were cut from its end"))
    wanted = _covered_hash(checkpoint.size, by_number)
    if wanted is None and checkpoint.size < first:
        return Finding(Seal.COPY_OK, where, (
            f"checkpoint {checkpoint.epoch}.{checkpoint.sequence} covers lines in files "
            "retention removed"))
    if wanted != checkpoint.last_hash:
        return Finding(Seal.REWRITTEN, where, (
            f"checkpoint {checkpoint.epoch}.{checkpoint.sequence}'s hash of line "
            f"{checkpoint.size} does not match the log: the log was changed or written anew"))
    return Finding(Seal.COPY_OK, where, (
        f"checkpoint {checkpoint.epoch}.{checkpoint.sequence} ({checkpoint.size} lines) "
        "covered by the log"))
