"""Session audit end to end: a real server process, real PTYs, real WebSocket clients.

Recordings are checked against what the client received, byte for byte, through
asciinema's own asciicast reader (`asciinema cat`, an independent implementation) as well
as ours; every way a session can end must leave a valid file and an event-log line.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gotty_py.audit.reader import Cast, read_cast, read_event_log
from gotty_py.webtty.session import FIRST_RESIZE_WAIT
from tests.gotty import (
    BIN,
    Client,
    Gotty,
    GottyProcess,
    asciinema_cat,
    basic,
    open_session,
    run_gotty,
    wait_for,
)

AUDIT_CLI = BIN / "gotty-py-audit"


# --- helpers -------------------------------------------------------------------------------

def local_addr(client: Client) -> str:
    host, port = client.ws.sock.getsockname()[:2]
    return f"{host}:{port}"


def connect(server: GottyProcess, arguments: str = "", token: str = "",
            size: tuple[int, int] | None = (120, 40),
            headers: list[str] | None = None) -> tuple[Client, str]:
    client = open_session(server, arguments, token, size=size, headers=headers)
    return client, local_addr(client)


def records(event_log: Path) -> list[dict[str, Any]]:
    try:
        return read_event_log(event_log)
    except FileNotFoundError:
        return []


def wait_line(event_log: Path, remote: str, event: str = "end",
              timeout: float = 20) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((r for r in records(event_log)
                     if r.get("event") == event and r.get("remote_addr") == remote), None)
    line: dict[str, Any] = wait_for(find, timeout, message=f"the {event} line of {remote}")
    return line


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_end_line(end: dict[str, Any]) -> Cast:
    """The recording named by an end line is whole, untampered and readable by asciinema."""
    path = Path(end["recording"])
    assert end["recording_size"] == path.stat().st_size
    assert end["recording_sha256"] == sha256(path)
    cast = read_cast(path)
    assert not cast.truncated
    assert asciinema_cat(path) == cast.text().encode()
    return cast


def record_script(gotty: Gotty, audit: Path, script: str) -> tuple[Client, dict[str, Any], Cast]:
    """Runs `sh -c script` in a recorded session until it ends: the client, the session's
    end line, and its recording (already checked whole by `check_end_line`)."""
    server = gotty("--audit-dir", str(audit), "sh", "-c", script)
    client, remote = connect(server)
    client.frames_until_close()
    end = wait_line(audit / "sessions.jsonl", remote)
    return client, end, check_end_line(end)


def complete_lines_parse(path: Path) -> bytes:
    """Every complete line is JSON; returns the complete part (a crash may cut the last)."""
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.splitlines():
        json.loads(line)
    return complete


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- the recording is what the client received ------------------------------------------------

class TestRecordingContent:
    def test_output_is_byte_for_byte_what_the_client_received(self, gotty: Gotty,
                                                             tmp_path: Path) -> None:
        rng = random.Random(3)
        alphabet = ["a", "b", " ", "é", "€", "𝄞", "中", "🙂", "\r\n", "\x1b[1m", "\x1b[0m"]
        text = "".join(rng.choice(alphabet) for _ in range(300_000)).encode()
        source = tmp_path / "text"
        source.write_bytes(text)
        audit = tmp_path / "audit"
        # Raw mode: the PTY passes the bytes through untouched, in reads of up to 64 KiB that
        # split multibyte characters wherever they fall.
        client, end, cast = record_script(gotty, audit, f"stty raw -echo; cat {source}")
        assert client.closed is not None and client.closed.code == 1000
        assert bytes(client.output) == text

        assert asciinema_cat(Path(end["recording"])) == bytes(client.output)
        assert cast.text().encode() == bytes(client.output)
        assert sum(1 for _, code, _ in cast.events if code == "o") > 4  # many PTY reads
        assert end["bytes_out"] == len(text) and end["invalid_utf8_bytes"] == 0
        assert (end["outcome"], end["cause"], end["exit_status"], end["close_code"]) == (
            "exited", "process-exited", 0, 1000)

    def test_header_markers_and_resizes(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "-w", "sh", "-c", "read x; echo done")
        client, remote = connect(server, size=(132, 43))
        assert client.recv().startswith("3")  # the title: the session has started
        client.resize(100, 30)
        client.input("\r")
        client.frames_until_close()
        start = wait_line(audit / "sessions.jsonl", remote, "start")
        end = wait_line(audit / "sessions.jsonl", remote)
        cast = check_end_line(end)
        header = cast.header
        assert (header["version"], header["width"], header["height"]) == (2, 132, 43)
        assert abs(header["timestamp"] - time.time()) < 60
        assert header["command"] == "sh -c 'read x; echo done'"
        assert header["title"].startswith("sh@")
        assert header["env"] == {"TERM": "xterm-256color"}
        meta = header["x-gotty-py"]
        assert meta["session"] == end["session"] == start["session"]
        assert meta["remote_addr"] == remote and meta["argv"] == ["sh", "-c", "read x; echo done"]
        assert meta["user"] is None and meta["claims"] == {} and meta["pid"] == start["pid"]
        assert meta["input_recorded"] is False
        assert cast.events[0][1:] == ("m", f"connect {remote}")
        assert ("r", "100x30") in [(code, data) for _, code, data in cast.events]
        assert cast.events[-1][1:] == ("m", "disconnect: process-exited: process exited with "
                                            "status 0")
        assert start["recording"] == end["recording"] and start["size"] == "132x43"

    def test_a_character_split_across_pty_reads_stays_whole(self, gotty: Gotty,
                                                            tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        client, end, cast = record_script(
            gotty, audit, r"stty raw -echo; printf 'x\342\202'; sleep 0.5; printf '\254y'")
        assert bytes(client.output) == "x€y".encode()
        outputs = [data for _, code, data in cast.events if code == "o"]
        assert outputs == ["x", "€y"]  # two reads; the split character is whole in the second
        assert end["invalid_utf8_bytes"] == 0

    def test_invalid_utf8_is_replaced_counted_and_flagged(self, gotty: Gotty,
                                                          tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        client, end, cast = record_script(gotty, audit, r"stty raw -echo; printf 'a\377\376b\303'")
        assert bytes(client.output) == b"a\xff\xfeb\xc3"
        assert cast.text() == "a\ufffd\ufffdb\ufffd"  # one U+FFFD per invalid byte
        assert end["invalid_utf8_bytes"] == 3
        assert cast.events[-1][2].endswith("(3 invalid UTF-8 output bytes shown as U+FFFD)")


class TestInput:
    CMD = ("sh", "-c", "stty -echo; echo ready; read secret; echo ok")

    def test_input_is_not_recorded_by_default(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "-w", *self.CMD)
        client, remote = connect(server)
        client.read_until(b"ready")  # echo is off from here: typing does not show
        client.input("hunter2\r")
        client.frames_until_close()
        end = wait_line(audit / "sessions.jsonl", remote)
        cast = check_end_line(end)
        assert b"ok" in client.output and end["bytes_in"] == 8
        assert [e for e in cast.events if e[1] == "i"] == []
        assert "hunter2" not in Path(end["recording"]).read_text()
        assert end["input_recorded"] is False

    def test_input_is_recorded_with_the_option(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "--audit-input", "-w",
                       "sh", "-c", "echo ready; read line; echo ok")
        client, remote = connect(server)
        client.read_until(b"ready")  # echo on: what is typed shows, and is recorded
        client.input("ls -l\r")
        client.frames_until_close()
        end = wait_line(audit / "sessions.jsonl", remote)
        cast = check_end_line(end)
        assert cast.text("i") == "ls -l\r"
        assert end["input_recorded"] is True and cast.metadata["input_recorded"] is True
        assert end["input_hidden_runs"] == 0

    def converse(self, gotty: Gotty, tmp_path: Path, command: tuple[str, ...],
                 steps: list[tuple[bytes, str]]) -> tuple[Client, dict[str, Any], Cast, str]:
        """Runs `command` with --audit-input, typing each step's text once its prompt has
        shown since the text before: the client, the end line, the recording (checked
        whole) and its raw text."""
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "--audit-input", "-w", *command)
        client, remote = connect(server)
        for prompt, text in steps:
            typed_at = len(client.output)
            client.read_while(lambda out, p=prompt, at=typed_at: p not in out[at:],
                              what=repr(prompt))
            client.input(text)
        client.frames_until_close()
        end = wait_line(audit / "sessions.jsonl", remote)
        return client, end, check_end_line(end), Path(end["recording"]).read_text()

    @staticmethod
    def hidden_markers(cast: Cast) -> int:
        return [data for _, code, data in cast.events if code == "m"].count(
            "input hidden (echo off)")

    # A `sudo -S`-style prompt: echo off, the prompt printed after it (as sudo and ssh do),
    # the line read, echo back on; then an ordinary line, which is recorded.
    PROMPT = ("sh", "-c", "stty -echo; printf '[sudo] password for root: '; read pw; "
              "stty echo; printf '\\nName: '; read name; echo \"hello $name\"")

    def test_input_at_a_prompt_without_echo_is_left_out(self, gotty: Gotty,
                                                        tmp_path: Path) -> None:
        client, end, cast, text = self.converse(gotty, tmp_path, self.PROMPT, [
            (b"password for root: ", "hun"), (b"", "ter2\r"),  # in pieces: one run, one marker
            (b"Name: ", "alice\r")])
        assert b"hello alice" in client.output
        assert "hun" not in text and "ter2" not in text
        assert cast.text("i") == "alice\r" and self.hidden_markers(cast) == 1
        assert end["input_hidden_runs"] == 1 and end["bytes_in"] == 14

    def test_read_s_is_left_out(self, gotty: Gotty, tmp_path: Path) -> None:
        command = ("bash", "--norc", "-c", "read -r -s -p 'Secret: ' pw; echo; "
                   "read -r -p 'Again: ' x; read -r -s -p 'Secret: ' pw2; "
                   "echo \"${#pw}/$x/${#pw2}\"")
        client, end, cast, text = self.converse(gotty, tmp_path, command, [
            (b"Secret: ", "s3cr3t\r"), (b"Again: ", "shown\r"), (b"Secret: ", "t0p\r")])
        assert b"6/shown/3" in client.output
        assert "s3cr3t" not in text and "t0p" not in text
        assert cast.text("i") == "shown\r"
        assert self.hidden_markers(cast) == end["input_hidden_runs"] == 2  # two prompts


# --- every kind of end leaves a valid file ---------------------------------------------------

STREAM = "i=0; while :; do echo line-$i; i=$((i+1)); sleep 0.002; done"


def expected_stream(count: int = 200_000) -> bytes:
    return b"".join(f"line-{i}\r\n".encode() for i in range(count))


class TestEnds:
    @pytest.mark.parametrize(("how", "detail", "outcome"), [
        ("abort", "connection lost", "network-lost"),
        ("close", "client closed the connection", "client-closed"),
    ])
    def test_client_leaving(self, gotty: Gotty, tmp_path: Path, how: str, detail: str,
                            outcome: str) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "sh", "-c", STREAM)
        client, remote = connect(server)
        client.read_until(b"line-100\r\n")
        getattr(client, how)()
        end = wait_line(audit / "sessions.jsonl", remote)
        assert (end["cause"], end["detail"], end["outcome"]) == ("client-closed", detail,
                                                                 outcome)
        cast = check_end_line(end)
        recorded = cast.text().encode()
        assert recorded.startswith(bytes(client.output))  # it may hold a last unsent read
        assert expected_stream().startswith(recorded)
        assert cast.events[-1][1:] == ("m", f"disconnect: client-closed: {detail}")

    def test_server_sigterm_closes_every_recording(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "sh", "-c", STREAM)
        clients = [connect(server) for _ in range(5)]
        for client, _ in clients:
            client.read_until(b"line-20\r\n")
        server.process.send_signal(signal.SIGTERM)
        for client, _ in clients:
            client.frames_until_close()
            assert client.closed is not None and client.closed.code == 1001
        assert server.wait_exit(30) == 0
        # The server has exited: everything must be on disk already, no waiting.
        ends = {r["remote_addr"]: r for r in records(audit / "sessions.jsonl")
                if r["event"] == "end"}
        assert len(ends) == 5
        for client, remote in clients:
            end = ends[remote]
            assert (end["cause"], end["outcome"]) == ("shutdown", "shutdown")
            cast = check_end_line(end)
            assert cast.events[-1][1:] == ("m", "disconnect: shutdown: server shutting down")
            recorded = cast.text().encode()
            assert recorded.startswith(bytes(client.output))
            assert expected_stream().startswith(recorded)

    def test_server_sigkill_leaves_a_valid_prefix(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "sh", "-c", STREAM)
        client, remote = connect(server)
        client.read_until(b"line-50\r\n")
        received_early = len(client.output)
        early = time.monotonic()
        while time.monotonic() - early < 1.5:  # output keeps coming; flushes must happen
            client.recv()
        server.process.kill()
        server.process.wait(10)
        start = wait_line(audit / "sessions.jsonl", remote, "start", timeout=1)
        assert [r for r in records(audit / "sessions.jsonl") if r["event"] == "end"] == []
        path = Path(start["recording"])
        complete = complete_lines_parse(path)
        copy = tmp_path / "complete.cast"
        copy.write_bytes(complete)
        cast = read_cast(copy)
        recorded = asciinema_cat(copy)
        assert recorded == cast.text().encode()
        assert expected_stream().startswith(recorded)
        # Output received more than a second before the kill was on disk.
        assert len(recorded) >= received_early
        assert cast.header["x-gotty-py"]["session"] == start["session"]


# --- file names ------------------------------------------------------------------------------

def _query(*values: str) -> str:
    from urllib.parse import quote

    return "?" + "&".join("arg=" + quote(v, safe="") for v in values)


class TestHostileNames:
    VALUES: tuple[str, ...] = ("../../etc", "a/b", "/etc/passwd", "..", ".hidden", "x" * 10_240,
                               "../" * 3_400, "é\\..\\x")

    def test_hostile_arguments_stay_inside_and_never_collide(self, gotty: Gotty,
                                                             tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        events = tmp_path / "events.jsonl"
        # No {session} in the template: identical values give identical names.
        server = gotty("--audit-dir", str(audit), "--audit-event-log", str(events),
                       "--permit-arguments", "--audit-file-name", "{arg0}/{arg1}.cast", "true")
        remotes = []
        for value in (*self.VALUES, *self.VALUES[:3]):
            client, remote = connect(server, _query(value, value))
            client.frames_until_close()
            remotes.append((remote, value))
        casts = []
        for remote, value in remotes:
            end = wait_line(events, remote)
            path = Path(end["recording"])
            assert path.resolve().is_relative_to(audit.resolve())
            cast = check_end_line(end)
            assert cast.metadata["argv"] == ["true", value, value]
            casts.append(path)
        assert len(set(casts)) == len(remotes)  # distinct files, none overwritten
        assert files_under(tmp_path) == sorted([*casts, events])

    def test_hostile_user_and_claims_stay_inside(self, gotty: Gotty, tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "--audit-file-name",
                       "{user}/{claim.ns}/{claim.pod}-{remote_addr}.cast", "true",
                       module="tests.audit_launch_stub")
        user = "../../../../tmp/evil\0x/" + "y" * 10_240
        claims = {"ns": "/etc", "pod": "../" * 4_000}
        seen = []
        for _ in range(2):
            client, remote = connect(server, token=json.dumps({"user": user, "claims": claims}))
            client.frames_until_close()
            end = wait_line(audit / "sessions.jsonl", remote)
            assert end["user"] == user and end["claims"] == claims
            path = Path(end["recording"])
            assert path.resolve().is_relative_to(audit.resolve())
            cast = check_end_line(end)
            assert cast.metadata["user"] == user  # the metadata keeps the real value
            seen.append(path)
        assert seen[0] != seen[1]
        assert files_under(tmp_path) == sorted([*seen, audit / "sessions.jsonl"])

    def test_unknown_template_field_is_a_startup_error(self, tmp_path: Path) -> None:
        result = run_gotty("--audit-dir", str(tmp_path), "--audit-file-name", "{usr}.cast",
                           "true")
        assert result.returncode == 2
        assert "--audit-file-name" in result.stderr and "unknown field {usr}" in result.stderr


# --- fail closed -----------------------------------------------------------------------------

def _unusable_dir(tmp_path: Path, kind: str) -> Path:
    # Tests run as root, which ignores permissions: use failures root cannot override.
    if kind == "file":
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        return blocker
    return Path("/proc/self/gotty-audit-test")


class TestFailClosed:
    @pytest.mark.parametrize("kind", ["file", "proc"])
    def test_required_recording_refuses_the_session(self, gotty: Gotty, tmp_path: Path,
                                                    kind: str) -> None:
        events = tmp_path / "events.jsonl"
        marker = tmp_path / "started"
        server = gotty("--audit-dir", str(_unusable_dir(tmp_path, kind)), "--audit-required",
                       "--audit-event-log", str(events), "sh", "-c", f"touch {marker}")
        client, remote = connect(server)
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1008
        assert client.closed.reason.startswith("recording unavailable: ")
        assert str(tmp_path) not in client.closed.reason  # no server paths to the client
        end = wait_line(events, remote)
        assert (end["cause"], end["outcome"]) == ("refused", "refused")
        assert end["detail"] == client.closed.reason and end["recording"] is None
        assert not marker.exists()  # nothing was started
        assert end["pid"] is None

    def test_a_file_in_place_of_the_directory_is_not_a_directory(self, gotty: Gotty,
                                                                  tmp_path: Path) -> None:
        """The docs promise `Not a directory`, with the path in the server log (makedirs
        alone says `File exists`, which hides what is wrong)."""
        blocker = _unusable_dir(tmp_path, "file")
        server = gotty("--audit-dir", str(blocker), "--audit-required", "true")
        server.wait_for_line(rf"Audit directory {blocker} is not usable \(Not a directory\)")
        client, _ = connect(server)
        client.frames_until_close()
        assert client.closed is not None
        assert client.closed.reason == "recording unavailable: Not a directory"
        line = server.wait_for_line("cannot open a recording")
        assert str(blocker) in line and "Not a directory" in line

    def test_optional_recording_lets_the_session_run(self, gotty: Gotty, tmp_path: Path) -> None:
        events = tmp_path / "events.jsonl"
        marker = tmp_path / "started"
        server = gotty("--audit-dir", str(_unusable_dir(tmp_path, "file")),
                       "--audit-event-log", str(events), "sh", "-c", f"touch {marker}")
        client, remote = connect(server)
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1000
        assert marker.exists()
        end = wait_line(events, remote)
        assert end["cause"] == "process-exited" and end["recording"] is None
        assert end["recording_error"].startswith("recording unavailable: ")
        assert wait_line(events, remote, "start")["recording_error"] == end["recording_error"]

    @pytest.mark.parametrize("required", [True, False])
    def test_a_write_failure_mid_session(self, gotty: Gotty, tmp_path: Path,
                                         required: bool) -> None:
        audit = tmp_path / "audit"
        events = tmp_path / "events.jsonl"
        server = gotty("--audit-dir", str(audit), "--audit-event-log", str(events),
                       *(["--audit-required"] if required else []), "sh", "-c",
                       "stty raw -echo; sleep 0.5; head -c 3000000 /dev/zero | tr '\\0' a"
                       # Required: only the audit failure can end the session.
                       + ("; sleep 60" if required else ""))
        # Files of the server may not grow past 200 kB from now on: the recording's writes
        # fail with EFBIG (Python ignores SIGXFSZ), the small event log's do not.
        limit = 200_000
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (limit, limit))
        client, remote = connect(server)
        client.frames_until_close()
        end = wait_line(events, remote)
        assert client.closed is not None
        assert "File too large" in end["recording_error"]
        assert end["recording_size"] <= limit
        assert end["recording_sha256"] == sha256(Path(end["recording"]))
        if required:
            assert client.closed.code == 1011
            assert client.closed.reason == "recording failed: write failed: File too large"
            assert (end["cause"], end["outcome"]) == ("audit-failed", "audit-failed")
        else:
            assert client.closed.code == 1000
            assert end["cause"] == "process-exited" and len(client.output) == 3_000_000
        server.wait_for_line(r"recording.*failed|failed.*recording")


# --- many sessions, the event log and the audit command --------------------------------------

def test_concurrent_sessions_each_get_their_own_complete_file(gotty: Gotty,
                                                              tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    script = ('i=0; while [ $i -lt 300 ]; do echo "$GOTTY_SESSION_ID $i"; i=$((i+1)); done')
    server = gotty("--audit-dir", str(audit), "sh", "-c", script)

    def one(_: int) -> tuple[bytes, str]:
        client, remote = connect(server)
        client.frames_until_close()
        return bytes(client.output), remote

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    paths = set()
    for output, remote in results:
        end = wait_line(audit / "sessions.jsonl", remote)
        session = end["session"]
        assert output == b"".join(f"{session} {i}\r\n".encode() for i in range(300))
        cast = check_end_line(end)
        assert cast.text().encode() == output
        assert cast.metadata["session"] == session
        paths.add(end["recording"])
    assert len(paths) == 20
    lines = records(audit / "sessions.jsonl")
    assert sorted(r["event"] for r in lines) == ["end"] * 20 + ["start"] * 20


def audit_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUDIT_CLI), *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_audit_command_lists_dumps_and_detects_tampering(gotty: Gotty, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    events = audit / "sessions.jsonl"
    server = gotty("--audit-dir", str(audit), "sh", "-c", "printf 'héllo\\n'; exit 3")
    client, remote = connect(server)
    client.frames_until_close()
    end = wait_line(events, remote)
    session = end["session"]

    listing = audit_cli("--event-log", str(events), "list")
    assert listing.returncode == 0, listing.stderr
    row = next(ln for ln in listing.stdout.splitlines() if session in ln)
    assert "exited 3" in row and remote in row and end["recording"] in row

    shown = audit_cli("--event-log", str(events), "show", session[:6])
    assert shown.returncode == 0 and shown.stdout.count('"session"') == 2

    for target in (session, end["recording"]):
        dumped = subprocess.run([str(AUDIT_CLI), "--event-log", str(events), "dump", target],
                                capture_output=True, timeout=30)
        assert dumped.returncode == 0 and dumped.stdout == bytes(client.output)

    played = subprocess.run([str(AUDIT_CLI), "--event-log", str(events), "replay", session,
                             "--speed", "100"], capture_output=True, timeout=30)
    assert played.returncode == 0 and played.stdout == bytes(client.output)

    good = audit_cli("--event-log", str(events), "verify")
    assert good.returncode == 0 and f"OK           {session}" in good.stdout

    path = Path(end["recording"])
    path.write_bytes(path.read_bytes().replace("héllo".encode(), b"hallo"))
    bad = audit_cli("--event-log", str(events), "verify", session)
    assert bad.returncode == 1 and "MODIFIED" in bad.stdout

    path.unlink()
    gone = audit_cli("--event-log", str(events), "verify")
    assert gone.returncode == 1 and "MISSING" in gone.stdout

    env_found = subprocess.run([str(AUDIT_CLI), "list"], capture_output=True, text=True,
                               timeout=30, env={**os.environ, "GOTTY_AUDIT_DIR": str(audit)})
    assert env_found.returncode == 0 and session in env_found.stdout


def test_refused_sessions_are_in_the_event_log(gotty: Gotty, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    server = gotty("--audit-dir", str(audit), "-c", "u:p", "true")
    client, remote = connect(server, token="u:wrong",
                             headers=["Authorization: " + basic("u:p")["Authorization"]])
    client.frames_until_close()
    end = wait_line(audit / "sessions.jsonl", remote)
    assert (end["cause"], end["detail"], end["recording"]) == ("refused", "unauthorized", None)
    assert [p.name for p in files_under(audit)] == ["sessions.jsonl"]  # no recording opened


def test_event_log_only(gotty: Gotty, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    server = gotty("--audit-event-log", str(events), "echo", "hi")
    client, remote = connect(server)
    client.frames_until_close()
    end = wait_line(events, remote)
    assert end["recording"] is None and end["recording_error"] is None
    assert end["argv"] == ["echo", "hi"] and end["bytes_out"] == len(client.output) == 4
    assert files_under(tmp_path) == [events]


def test_once_exit_leaves_the_recording_closed(gotty: Gotty, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    server = gotty("--audit-dir", str(audit), "--once", "echo", "bye")
    client, remote = connect(server)
    client.frames_until_close()
    assert server.wait_exit() == 0
    end = next(r for r in records(audit / "sessions.jsonl") if r["event"] == "end")
    assert end["remote_addr"] == remote
    assert check_end_line(end).text().encode() == bytes(client.output) == b"bye\r\n"


def test_launch_token_user_and_claims(gotty: Gotty, tmp_path: Path) -> None:
    """With real JWT launch tokens: `sub` and claims name the file (sanitized) and are
    logged as they are; the token itself lands nowhere in the audit trail."""
    from tests.jwt_keys import claims, hs256, write_secret

    secret = write_secret(tmp_path / "secret")
    audit = tmp_path / "audit"
    server = gotty("--jwt-secret-file", str(tmp_path / "secret"), "--jwt-audience", "console",
                   "--jwt-issuer", "portal", "--audit-dir", str(audit), "--audit-file-name",
                   "{user}/{claim.ns}/{claim.pod}/{arg0}-{session}.cast", "echo")
    user = "../../../tmp/evil/" + "y" * 200
    token = hs256(secret, claims(sub=user, ns="/etc", pod="../" * 1000, args=["../../x"]))
    client, remote = connect(server, f"?jwt={token}")
    client.frames_until_close()
    assert bytes(client.output) == b"../../x\r\n"
    end = wait_line(audit / "sessions.jsonl", remote)
    assert (end["user"], end["claims"]["ns"], end["argv"]) == (user, "/etc", ["echo", "../../x"])
    path = Path(end["recording"])
    assert path.resolve().is_relative_to(audit.resolve())
    assert check_end_line(end).metadata["user"] == user
    assert files_under(tmp_path) == sorted([path, audit / "sessions.jsonl", tmp_path / "secret"])
    for written in (path, audit / "sessions.jsonl"):
        assert token.split(".")[2] not in written.read_text()


class TestHeaderSize:
    """Issue 12 point 9: the header carries the size the session really started at, also
    when the page's first resize arrives a moment after its init."""

    SCRIPT = "stty size; read x"

    def _late_resize(self, gotty: Gotty, tmp_path: Path, *, ours: bool) -> tuple[Cast, bytes]:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "-w", "sh", "-c", self.SCRIPT)
        # The init alone, without the size in its TCP segment.
        client = open_session(server, **({"GottyPy": 1} if ours else {}))
        remote = local_addr(client)
        if ours:
            # Not synchronisation: the delay IS the case, a first resize that comes a
            # moment after the init (another TCP segment), as a browser's sometimes does.
            time.sleep(0.05)
            client.resize(109, 27)
            client.read_until(b"\n")
        else:
            client.read_until(b"\n")  # started and printed its size without any resize
            client.resize(109, 27)
        client.input("\r")
        client.frames_until_close()
        cast = check_end_line(wait_line(audit / "sessions.jsonl", remote))
        return cast, bytes(client.output)

    def test_our_pages_late_first_resize_is_the_starting_size(self, gotty: Gotty,
                                                              tmp_path: Path) -> None:
        cast, output = self._late_resize(gotty, tmp_path, ours=True)
        assert (cast.header["width"], cast.header["height"]) == (109, 27)
        assert output.startswith(b"27 109")  # the process started at that size too
        assert not [data for _, code, data in cast.events if code == "r"]  # no resize event

    def test_other_clients_do_not_wait(self, gotty: Gotty, tmp_path: Path) -> None:
        """GoTTY's page and gotty-client may send no size: they start at once at 80x24,
        and the late resize is an event, with the header still true to the start."""
        cast, output = self._late_resize(gotty, tmp_path, ours=False)
        assert (cast.header["width"], cast.header["height"]) == (80, 24)
        assert output.startswith(b"24 80")
        assert [data for _, code, data in cast.events if code == "r"] == ["109x27"]

    def test_our_page_without_a_resize_starts_within_the_bound(self, gotty: Gotty,
                                                               tmp_path: Path) -> None:
        audit = tmp_path / "audit"
        server = gotty("--audit-dir", str(audit), "sh", "-c", "stty size")
        began = time.monotonic()
        client = open_session(server, GottyPy=1)
        client.frames_until_close()
        elapsed = time.monotonic() - began
        assert client.output.startswith(b"24 80")
        assert FIRST_RESIZE_WAIT <= elapsed < FIRST_RESIZE_WAIT + 5
