"""`--audit-retention`: the grammar, the choice (pure), and a pass of the server's own
retention service on real files (ages set through mtimes), in this process."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gotty_py.audit.events import utc_iso
from gotty_py.audit.reader import read_event_log
from gotty_py.audit.retention import (
    Candidate,
    Kind,
    Reason,
    RetentionError,
    RetentionPolicy,
    choose,
    parse_duration,
    scan,
)
from gotty_py.audit.rolled import chain_files
from gotty_py.options import Options
from gotty_py.server.audit_observer import AuditConfigError, AuditService
from tests.gotty import run_in_main_thread

DAY = 86400.0
GiB = 1 << 30


@pytest.mark.parametrize(("text", "age", "size"), [
    ("30d", 30 * DAY, None), ("10GiB", None, 10 * GiB), ("30d,10GiB", 30 * DAY, 10 * GiB),
    (" 12h , 512MiB ", 12 * 3600.0, 512 << 20), ("1w", 7 * DAY, None), ("90s", 90.0, None),
    ("100B", None, 100),
])
def test_the_grammar(text: str, age: float | None, size: int | None) -> None:
    assert RetentionPolicy.parse(text) == RetentionPolicy(age, size)


@pytest.mark.parametrize("text", ["", "30", "30x", "10GB", "0d", "30d,20d", "1GiB,2GiB",
                                  "30d,10GiB,1h", "-1d", "1.5d"])
def test_bad_values_are_refused(text: str) -> None:
    with pytest.raises(RetentionError):
        RetentionPolicy.parse(text)
    assert parse_duration("5m") == 300.0


def candidate(name: str, days_old: float, size: int, now: float) -> Candidate:
    return Candidate(name, Kind.RECORDING, size, now - days_old * DAY)


def test_choose_removes_by_age_then_oldest_first_by_size() -> None:
    now = 1_000_000_000.0
    files = [candidate("a", 40, 10, now), candidate("b", 20, 10, now),
             candidate("c", 10, 10, now), candidate("d", 1, 10, now)]
    by_age = choose(RetentionPolicy(30 * DAY, None), files, now)
    assert [(r.candidate.path, r.reason) for r in by_age] == [("a", Reason.AGE)]
    by_size = choose(RetentionPolicy(None, 25), files, now)
    assert [(r.candidate.path, r.reason) for r in by_size] == [("a", Reason.SIZE),
                                                               ("b", Reason.SIZE)]
    both = choose(RetentionPolicy(30 * DAY, 15), files, now)
    assert [(r.candidate.path, r.reason) for r in both] == [
        ("a", Reason.AGE), ("b", Reason.SIZE), ("c", Reason.SIZE)]
    assert choose(RetentionPolicy(None, 40), files, now) == []


def test_roll_is_due_after_a_day_or_past_the_size() -> None:
    policy = RetentionPolicy(30 * DAY, 10 * GiB)
    assert not policy.roll_due(1000, 3600)
    assert policy.roll_due(1000, DAY + 1)
    assert policy.roll_due(64 << 20, 60)
    assert not policy.roll_due(0, 2 * DAY)  # nothing to roll
    assert RetentionPolicy(None, 8 << 20).roll_size == 1 << 20  # an eighth of a small limit
    assert not RetentionPolicy(None, 8 << 20).roll_due(1000, None)


def make_file(path: Path, size: int, days_old: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    moment = time.time() - days_old * DAY
    os.utime(path, (moment, moment))
    return path


def test_scan_takes_only_recordings_and_rolled_logs(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    old = make_file(audit / "2026-01-01" / "bob" / "a.cast", 10, 40)
    live = make_file(audit / "2026-01-01" / "bob" / "live.cast", 10, 40)
    make_file(audit / "notes.txt", 10, 40)  # not a recording
    make_file(audit / ".gotty-py-ready-x.cast", 10, 40)  # hidden: a probe
    log = make_file(audit / "sessions.jsonl", 10, 40)
    rolled = make_file(audit / "sessions.jsonl.20260101T000000000000Z", 10, 40)
    make_file(audit / "new.cast", 10, -1)  # written after the pass began
    found = scan(str(audit), str(log), {str(live)}, time.time())
    assert sorted((c.path, c.kind) for c in found) == sorted(
        [(str(old), Kind.RECORDING), (str(rolled), Kind.EVENT_LOG)])


def test_a_pass_removes_logs_what_it_removed_rolls_and_spares_live_sessions(
        tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    old = [make_file(audit / "2026-01-01" / "bob" / f"old{n}.cast", 100, 40) for n in range(3)]
    live = make_file(audit / "2026-01-02" / "eve" / "running.cast", 100, 40)
    recent = [make_file(audit / "new" / f"n{n}.cast", 300, n / 24) for n in range(1, 5)]
    events = audit / "sessions.jsonl"
    events.write_text(json.dumps({"event": "start", "time": utc_iso(time.time() - 2 * DAY),
                                  "session": "s", "prev_sha256": None}) + "\n")
    options = Options(audit_dir=str(audit), audit_retention="30d,700B")
    service = AuditService(options, ["true"], "host")
    assert service.retention is not None

    async def one_pass() -> None:
        service.writer.start()
        service.live_recordings.add(str(live))  # a session still running
        await service.retention.run_pass()  # type: ignore[union-attr]
        await service.aclose()

    run_in_main_thread(one_pass())
    assert not any(p.exists() for p in old)
    assert not (audit / "2026-01-01").exists()  # emptied directories go too
    assert live.exists()
    assert [p.exists() for p in recent] == [True, True, False, False]  # 1200 B > 700 B
    files = chain_files(events)
    assert len(files) == 2  # rolled: its first line was two days old
    lines = [r for f in files for r in read_event_log(f)]
    retention = [r for r in lines if r["event"] == "retention"]
    assert len(retention) == 1
    removed = {(Path(r["path"]).name, r["reason"], r["kind"]) for r in retention[0]["removed"]}
    assert removed == {("old0.cast", "age", "recording"), ("old1.cast", "age", "recording"),
                       ("old2.cast", "age", "recording"), ("n4.cast", "size", "recording"),
                       ("n3.cast", "size", "recording")}
    assert read_event_log(events)[0]["event"] == "log-rolled"


def test_retention_without_an_audit_trail_or_with_a_bad_value_is_refused() -> None:
    with pytest.raises(AuditConfigError, match="needs audit_dir or audit_event_log"):
        AuditService(Options(audit_retention="30d"), ["true"], "host")
    with pytest.raises(AuditConfigError, match=r"invalid audit_retention.*'30 days'"):
        AuditService(Options(audit_dir="/tmp/x", audit_retention="30 days"), ["true"], "host")
