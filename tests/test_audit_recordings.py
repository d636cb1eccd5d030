"""Recordings end to end: asciicast v3, `gotty-py-audit convert`, `search`, `replay --from`,
and the session-info `recorded` field the page's banner shows.

Real server, real PTYs, real WebSocket clients, the real `gotty-py-audit` command. v3 files
are held against `tests/asciicast_v3_spec.py` (asciinema 3's CLI installs from neither PyPI
nor Debian; the web player plays them in tests/browser/test_asciinema_player.py); v2 files
still go through asciinema 2 (`check_end_line`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from gotty_py.audit.reader import read_cast
from tests.asciicast_v3_spec import check_v3
from tests.gotty import Gotty, open_session, session_info
from tests.test_audit import AUDIT_CLI, audit_cli, connect, record_script, sha256, wait_line


class TestV3:
    def test_a_v3_session(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        events = audit / "sessions.jsonl"
        server = gotty("--audit-dir", str(audit), "--audit-format", "v3", "-w", "sh", "-c",
                       "echo ready; read x; printf 'h\\303\\251llo\\n'; exit 3")
        client, remote = connect(server)
        client.read_until(b"ready")
        client.resize(100, 33)
        client.input("go\r")
        client.frames_until_close()
        end = wait_line(events, remote)
        path = Path(end["recording"])
        assert (end["recording_size"], end["recording_sha256"]) == (path.stat().st_size,
                                                                    sha256(path))
        v3 = check_v3(path)  # the documented rules
        assert v3.header["term"] == {"cols": 120, "rows": 40, "type": "xterm-256color"}
        assert v3.header["x-gotty-py"]["session"] == end["session"]
        assert ("r", "100x33") in [(c, d) for _, c, d in v3.events]
        assert v3.events[-1][1:] == ("x", "3")
        cast = read_cast(path)  # ours: the same events, times since the start
        assert cast.text().encode() == bytes(client.output)
        assert [(c, d) for _, c, d in cast.events] == [(c, d) for _, c, d in v3.absolute()]

        played = subprocess.run([str(AUDIT_CLI), "--event-log", str(events), "replay",
                                 end["session"], "--speed", "100"], capture_output=True,
                                timeout=30)
        assert played.returncode == 0 and played.stdout == bytes(client.output)
        verified = audit_cli("--event-log", str(events), "verify")
        assert verified.returncode == 0 and f"OK           {end['session']}" in verified.stdout
        listed = audit_cli("--event-log", str(events), "list")
        assert "exited 3" in listed.stdout

    def test_a_signal_is_the_shells_exit_status(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "--audit-format", "v3", "sh", "-c",
                       "echo ready; kill -TERM $$")
        client, remote = connect(server)
        client.frames_until_close()
        end = wait_line(audit / "sessions.jsonl", remote)
        assert check_v3(Path(end["recording"])).events[-1][1:] == ("x", "143")

    def test_a_bad_format_is_refused_at_start_up(self, tmp_path: Path) -> None:
        from tests.gotty import run_gotty
        result = run_gotty("--audit-dir", str(tmp_path), "--audit-format", "v4", "true")
        assert result.returncode == 2 and "expected one of v2, v3, got 'v4'" in result.stderr


class TestConvert:
    def test_convert_a_v2_recording(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        events = audit / "sessions.jsonl"
        _, end, v2 = record_script(gotty, audit, "printf 'one\\r\\ntwo'")  # asciinema 2 read it
        out = tmp_path / "out.cast"
        done = audit_cli("--event-log", str(events), "convert", end["session"], "-o", str(out))
        assert done.returncode == 0, done.stderr
        v3 = check_v3(out)
        assert v3.header["x-gotty-py"] == v2.metadata
        assert read_cast(out).events == v2.events
        # The original is untouched: it still verifies against the event log.
        assert audit_cli("--event-log", str(events), "verify").returncode == 0

        again = audit_cli("convert", end["recording"], "-o", str(out))
        assert again.returncode == 2 and "exists; not overwritten" in again.stderr
        already = audit_cli("convert", str(out))
        assert already.returncode == 2 and "already asciicast v3" in already.stderr
        to_stdout = subprocess.run([str(AUDIT_CLI), "convert", end["recording"]],
                                   capture_output=True, timeout=30)
        assert to_stdout.returncode == 0 and to_stdout.stdout == out.read_bytes()


class TestSearchAndReplayFrom:
    def test_search_finds_the_session_and_the_offset(self, gotty: Gotty,
                                                     tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        events = audit / "sessions.jsonl"
        server = gotty("--audit-dir", str(audit), "-w", "sh", "-c",
                       "echo ready; read x; printf 'rm -rf \\033[1;31m%s\\033[0m\\n' \"$x\"")
        ends = []
        for path in ("/important", "/tmp/scratch"):  # the second session lacks the text
            client, remote = connect(server)
            client.read_until(b"ready")
            client.input(path + "\r")
            client.frames_until_close()
            ends.append(wait_line(events, remote))
        found_end = ends[0]

        cast = read_cast(found_end["recording"])
        times = [t for t, code, data in cast.events if code == "o" and "rm -rf" in data]
        for args in (["--event-log", str(events), "search"],
                     ["search", "--dir", str(audit)]):
            result = audit_cli(*args, "rm -rf /important")  # across the colour codes
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == [
                f"{found_end['session']}  {found_end['recording']}  {times[0]:.3f}"]
        nothing = audit_cli("search", "--dir", str(audit), "not in any session")
        assert nothing.returncode == 1 and nothing.stdout == ""
        folded = audit_cli("search", "--dir", str(audit), "-i", "RM -RF")
        assert folded.returncode == 0 and found_end["session"] in folded.stdout

    def test_replay_from_writes_what_came_before_at_once(self, tmp_path: Path) -> None:
        path = tmp_path / "long.cast"
        # 1000 s of silence: without --from, replay --max-wait 0 would sit through it.
        path.write_text('{"version": 3, "term": {"cols": 80, "rows": 24}}\n'
                        '[0.1, "o", "before "]\n[1000.0, "o", "after"]\n[0.5, "x", "0"]\n')
        played = subprocess.run([str(AUDIT_CLI), "replay", str(path), "--from", "999.9",
                                 "--max-wait", "0", "--speed", "100"], capture_output=True,
                                timeout=30)
        assert played.returncode == 0 and played.stdout == b"before after"
        bad = audit_cli("replay", str(path), "--from", "-1")
        assert bad.returncode == 2 and "--from must not be negative" in bad.stderr


class TestRecordedInfo:
    """The page's banner follows `recorded` in message 7: true only once a recording is open."""

    def test_recorded_when_the_recording_is_open(self, gotty: Gotty, tmp_path: Path) -> None:
        server = gotty("--audit-dir", str(tmp_path / "audit"), "cat")
        assert session_info(open_session(server, GottyPy=1))["recorded"] is True

    def test_not_recorded(self, gotty: Gotty, tmp_path: Path) -> None:
        blocked = tmp_path / "file"
        blocked.write_text("a file where the directory should be")
        for args in ((), ("--audit-event-log", str(tmp_path / "events.jsonl")),
                     ("--audit-dir", str(blocked))):  # optional recording that cannot open
            server = gotty(*args, "cat")
            info = session_info(open_session(server, GottyPy=1))
            assert "recorded" not in info and info["writable"] is False, args
