"""The recorder on its own: UTF-8 across reads, the asciicast file, the writer thread.

These drive `gotty_py.audit` directly in an event loop, with the real writer thread and
real files; the end-to-end behaviour with a server is in test_audit.py.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import json
import os
import random
import re
import threading
from pathlib import Path

import pytest

from gotty_py.audit.asciicast import (
    REPLACEMENT,
    RecordingSummary,
    SessionRecorder,
    Utf8Decoder,
    build_header,
)
from gotty_py.audit.events import EventLog
from gotty_py.audit.reader import file_digest, read_cast, read_event_log
from gotty_py.audit.writer import BackgroundWriter, Backlog
from tests.gotty import asciinema_cat, run_async

TEXT = "plain, é, €, 𝄞 (four bytes), 中文, and an emoji 🙂\r\n".encode()


def header() -> dict[str, object]:
    return build_header(width=80, height=24, timestamp=1_700_000_000, command=["sh", "-c", "x"],
                        title="t", env={"TERM": "xterm-256color"},
                        metadata={"session": "s1", "argv": ["sh", "\udcff"]})


class TestUtf8Decoder:
    def test_every_split_of_multibyte_characters_is_whole(self) -> None:
        for cut in range(1, len(TEXT)):
            decoder = Utf8Decoder()
            text = decoder.decode(TEXT[:cut]) + decoder.decode(TEXT[cut:])
            text += decoder.decode(b"", final=True)
            assert text == TEXT.decode() and decoder.invalid_bytes == 0

    def test_byte_by_byte(self) -> None:
        decoder = Utf8Decoder()
        assert "".join(decoder.decode(TEXT[i:i + 1]) for i in range(len(TEXT))) == TEXT.decode()

    @pytest.mark.parametrize(("data", "text", "invalid"), [
        (b"a\xffb", "a\ufffdb", 1),
        (b"\xc3\x28", "\ufffd(", 1),
        (b"\xed\xa0\x80", "\ufffd" * 3, 3),  # an encoded surrogate is not UTF-8
        (b"\xf8\x88\x80\x80\x80", "\ufffd" * 5, 5),
        (b"\x80\x80 ok \xc3\xa9", "\ufffd\ufffd ok é", 2),
    ])
    def test_invalid_bytes_are_replaced_one_each_and_counted(self, data: bytes, text: str,
                                                             invalid: int) -> None:
        decoder = Utf8Decoder()
        assert decoder.decode(data) + decoder.decode(b"", final=True) == text
        assert decoder.invalid_bytes == invalid

    def test_same_text_as_the_standard_library_decoder(self) -> None:
        """Differential: Python's incremental decoder, invalid bytes then replaced."""
        rng = random.Random(5)
        pool = [b"a", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9d\x84\x9e", b"\xff", b"\x80",
                b"\xe2\x82", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88", b"\xc0\xaf", b"\xf4\x90"]
        for _ in range(3000):
            data = b"".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
            cuts = sorted(rng.sample(range(len(data) + 1), rng.randint(0, min(5, len(data)))))
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
            reference = codecs.getincrementaldecoder("utf-8")("surrogateescape")
            expected = "".join(reference.decode(p) for p in pieces) + reference.decode(b"", True)
            expected, invalid = re.subn("[\udc80-\udcff]", REPLACEMENT, expected)
            decoder = Utf8Decoder()
            text = "".join(decoder.decode(p) for p in pieces) + decoder.decode(b"", final=True)
            assert (text, decoder.invalid_bytes) == (expected, invalid), pieces

    def test_incomplete_character_at_the_end_counts_as_invalid(self) -> None:
        decoder = Utf8Decoder()
        assert decoder.decode(b"ok\xe2\x82") == "ok"
        assert decoder.decode(b"", final=True) == REPLACEMENT * 2
        assert decoder.invalid_bytes == 2


async def recorded(tmp_path: Path, chunks: list[bytes]
                   ) -> tuple[SessionRecorder, Path, RecordingSummary]:
    writer = BackgroundWriter()
    writer.start()
    path = tmp_path / "r.cast"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    recorder = SessionRecorder(writer, fd, str(path))
    recorder.start(header())
    recorder.marker("connect 127.0.0.1:1")
    for chunk in chunks:
        recorder.output(chunk)
    recorder.resize(100, 40)
    recorder.input(b"typed")
    summary = await recorder.close("disconnect: test")
    await writer.aclose()
    return recorder, path, summary


class TestRecording:
    def test_output_is_byte_exact_for_asciinema_and_our_reader(self, tmp_path: Path) -> None:
        chunks = [TEXT[i:i + 7] for i in range(0, len(TEXT), 7)] * 50
        _, path, summary = run_async(recorded(tmp_path, chunks))
        expected = b"".join(chunks)
        assert asciinema_cat(path) == expected
        cast = read_cast(path)
        assert cast.text().encode() == expected and not cast.truncated
        assert cast.header["width"] == 80 and cast.header["x-gotty-py"]["session"] == "s1"
        codes = [code for _, code, _ in cast.events]
        assert codes[0] == "m" and codes[-1] == "m" and "r" in codes and "i" in codes
        times = [t for t, _, _ in cast.events]
        assert times == sorted(times) and times[0] >= 0
        assert cast.events[-1][2] == "disconnect: test"
        size, digest = file_digest(path)
        assert (summary.size, summary.sha256) == (size, digest)
        assert summary.invalid_utf8_bytes == 0

    def test_every_line_is_json_and_utf8(self, tmp_path: Path) -> None:
        _, path, _ = run_async(recorded(tmp_path, [b"a\"\\\x00\x1b[31m\xff\n", "é".encode()]))
        raw = path.read_bytes()
        raw.decode("utf-8")  # strict: never invalid UTF-8, whatever the output was
        lines = raw.split(b"\n")
        assert lines[-1] == b""
        for line in lines[:-1]:
            json.loads(line)
        assert read_cast(path).text() == "a\"\\\x00\x1b[31m\ufffd\né"

    def test_invalid_bytes_are_counted_in_the_summary_and_final_marker(self,
                                                                       tmp_path: Path) -> None:
        _, path, summary = run_async(recorded(tmp_path, [b"\xff\xfe", b"ok\xe2\x82"]))
        assert summary.invalid_utf8_bytes == 4
        cast = read_cast(path)
        assert cast.text() == "\ufffd\ufffdok\ufffd\ufffd"
        assert cast.events[-1][2] == ("disconnect: test (4 invalid UTF-8 output bytes shown as "
                                      "U+FFFD)")

    def test_calls_after_close_are_ignored(self, tmp_path: Path) -> None:
        async def scenario() -> None:
            recorder, path, _ = await recorded(tmp_path, [b"x"])
            recorder.output(b"late")
            assert read_cast(path).text() == "x"

        run_async(scenario())

    def test_write_failure_is_reported_once_on_the_loop(self, tmp_path: Path) -> None:
        async def scenario() -> None:
            writer = BackgroundWriter()
            writer.start()
            path = tmp_path / "ro.cast"
            path.write_bytes(b"")
            fd = os.open(path, os.O_RDONLY)  # every write fails with EBADF
            errors: list[tuple[str, bool]] = []
            loop_thread = threading.get_ident()
            recorder = SessionRecorder(
                writer, fd, str(path),
                on_error=lambda m: errors.append((m, threading.get_ident() == loop_thread)))
            recorder.start(header())
            for _ in range(5):
                recorder.output(b"data")
                await writer.barrier()
            summary = await recorder.close("end")
            await writer.aclose()
            assert errors == [("write failed: Bad file descriptor", True)]
            assert recorder.error == "write failed: Bad file descriptor"
            assert summary.error == "write failed: Bad file descriptor"
            assert summary.size == 0

        run_async(scenario())


class TestWriter:
    def test_backpressure_instead_of_dropping(self) -> None:
        async def scenario() -> None:
            writer = BackgroundWriter(high_water=1000, low_water=100, total_high_water=10**9,
                                      total_low_water=10**9)
            writer.start()
            gate = threading.Event()
            written: list[bytes] = []
            backlog = Backlog()
            writer.submit(gate.wait)  # the thread is stuck, like a stalled disk
            for i in range(20):
                writer.submit(written.append, bytes([i]) * 100, cost=100, backlog=backlog)
            wait = writer.room(backlog)
            assert wait is not None and backlog.pending == 2000
            await asyncio.sleep(0.05)
            assert isinstance(wait, asyncio.Future) and not wait.done()
            gate.set()
            await asyncio.wait_for(wait, 10)
            assert backlog.pending <= 100 and writer.room(backlog) is None
            await writer.aclose()
            assert written == [bytes([i]) * 100 for i in range(20)]  # nothing dropped
            assert writer.waits == 1

        run_async(scenario())

    def test_aclose_runs_everything_queued(self, tmp_path: Path) -> None:
        async def scenario() -> None:
            writer = BackgroundWriter()
            writer.start()
            out: list[int] = []
            for i in range(10_000):
                writer.submit(out.append, i)
            await writer.aclose()
            assert out == list(range(10_000))

        run_async(scenario())


class TestEventLog:
    def test_lines_and_modes(self, tmp_path: Path) -> None:
        async def scenario() -> None:
            writer = BackgroundWriter()
            writer.start()
            log = EventLog(str(tmp_path / "sub" / "events.jsonl"), writer)
            log.submit({"event": "start", "session": "a", "argv": ["\udcff"]})
            log.submit({"event": "end", "session": "a"}, sync=True)
            await writer.aclose()
            assert log.healthy
            records = read_event_log(tmp_path / "sub" / "events.jsonl")
            assert [r["event"] for r in records] == ["start", "end"]
            assert os.stat(tmp_path / "sub" / "events.jsonl").st_mode & 0o777 == 0o600

        run_async(scenario())

    def test_unwritable_log_is_unhealthy_then_recovers(self, tmp_path: Path) -> None:
        async def scenario() -> None:
            writer = BackgroundWriter()
            writer.start()
            blocker = tmp_path / "blocker"
            blocker.write_text("")
            log = EventLog(str(blocker / "events.jsonl"), writer)
            log.submit({"event": "start"})
            await writer.barrier()
            assert not log.healthy and "cannot open" in str(log.last_error)
            blocker.unlink()
            log.submit({"event": "end"})
            await writer.aclose()
            assert log.healthy
            assert read_event_log(blocker / "events.jsonl") == [
                {"event": "end", "prev_sha256": None}]

        run_async(scenario())


def test_summary_hash_is_of_the_file(tmp_path: Path) -> None:
    _, path, summary = run_async(recorded(tmp_path, [b"x" * 3_000_000]))
    assert summary.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
