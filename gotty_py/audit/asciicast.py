"""asciicast recordings (v2, or v3 with `--audit-format`): the UTF-8 decoder, the file
(writer thread) and the recorder (loop).

Rules of this module: `SessionRecorder` is used on the event loop and only takes
timestamps and enqueues; `CastFile` belongs to the writer thread and owns the file
descriptor, the decoders, the SHA-256 and the byte count. A write error is reported once,
to the loop, and stops the recording: the file then holds what was written before it,
whole lines at most cut short by the failing write.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .castformat import EXIT, CastFormat, EventClock, build_header, event_line, exit_code_text
from .naming import create_recording_file
from .writer import BackgroundWriter, Backlog

# build_header lives in castformat; callers of the v2-only days import it from here.
__all__ = ["CastFile", "RecordingSummary", "SessionRecorder", "Utf8Decoder", "build_header"]

REPLACEMENT = "\ufffd"
# surrogateescape turns each undecodable byte into one of these; valid UTF-8 never yields them.
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")
FLUSH_BYTES = 1024 * 1024  # write to the kernel within a batch once this much is buffered


def _complete_length(data: bytes) -> int:
    """`len(data)` less a trailing UTF-8 sequence that more bytes could still complete."""
    size = len(data)
    for back in range(1, min(4, size) + 1):
        byte = data[size - back]
        if byte < 0x80:
            return size
        if byte >= 0xC0:  # a lead byte: how long its sequence is
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return size if back >= need else size - back
    return size  # only continuation bytes: not a sequence more bytes could complete


class Utf8Decoder:
    """Bytes to text across reads: a character split between two reads stays whole.

    Invalid bytes (and a sequence still incomplete at the end) become U+FFFD, one per byte,
    and are counted in `invalid_bytes`: the recording stays valid UTF-8 JSON, what a
    terminal would have shown is kept, and the count says that the bytes were not text.
    Valid input (the usual case) takes one strict decode; only invalid input pays for the
    search and replace.
    """

    def __init__(self) -> None:
        self._pending = b""  # the start of a character whose other bytes have not come yet
        self.invalid_bytes = 0

    def decode(self, data: bytes, final: bool = False) -> str:
        if self._pending:
            data = self._pending + data
        cut = len(data) if final else _complete_length(data)
        self._pending = data[cut:]
        head = data[:cut] if cut < len(data) else data
        try:
            return head.decode("utf-8")
        except UnicodeDecodeError:
            pass
        text = head.decode("utf-8", "surrogateescape")
        text, count = _ESCAPED_BYTES.subn(REPLACEMENT, text)
        self.invalid_bytes += count
        return text


@dataclass(frozen=True)
class RecordingSummary:
    """A finished recording, for the event log: `size` and `sha256` detect later tampering."""

    path: str
    size: int
    sha256: str
    events: int
    invalid_utf8_bytes: int
    error: str | None = None

    def fields(self) -> dict[str, Any]:
        """The event log's names for these values."""
        return {"recording": self.path, "recording_size": self.size,
                "recording_sha256": self.sha256, "recording_events": self.events,
                "invalid_utf8_bytes": self.invalid_utf8_bytes, "recording_error": self.error}


class CastFile:
    """One open recording. Every method runs in the writer thread."""

    def __init__(self, fd: int, path: str, on_error: Callable[[str], None],
                 fmt: CastFormat = CastFormat.V2) -> None:
        self.fd = fd
        self._clock = EventClock(fmt)
        self.path = path
        self._on_error = on_error
        stat = os.fstat(fd)
        self._identity = (stat.st_dev, stat.st_ino)  # to tell a deleted or replaced file
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._hash = hashlib.sha256()
        self.size = 0
        self.events = 0
        self.output_decoder = Utf8Decoder()
        self.input_decoder = Utf8Decoder()
        self.error: str | None = None
        self.closed = False

    # --- lines ---------------------------------------------------------------------------

    def header(self, header: Mapping[str, Any]) -> None:
        # ASCII-escaped: metadata may hold lone surrogates (from JSON), never valid UTF-8.
        self._line(json.dumps(header, ensure_ascii=True))

    def output(self, t: float, data: bytes) -> None:
        text = self.output_decoder.decode(data)
        if text:
            self._event(t, "o", text, ascii_only=False)

    def input(self, t: float, data: bytes) -> None:
        text = self.input_decoder.decode(data)
        if text:
            self._event(t, "i", text, ascii_only=False)

    def resize(self, t: float, columns: int, rows: int) -> None:
        self._event(t, "r", f"{columns}x{rows}")

    def marker(self, t: float, label: str) -> None:
        self._event(t, "m", label)

    def _event(self, t: float, code: str, text: str, *, ascii_only: bool = True) -> None:
        # Decoded text has no surrogates, so it can be written as UTF-8 unescaped.
        self.events += 1
        self._line(event_line(self._clock.stamp(t), code, text, ascii_only=ascii_only))

    def _line(self, line: str) -> None:
        if self.error is not None or self.closed:
            return
        data = line.encode("utf-8") + b"\n"
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= FLUSH_BYTES:
            self.flush()

    # --- I/O -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand the buffered lines to the kernel: they survive a crash of the server."""
        if not self._buffer or self.error is not None or self.closed:
            return
        moved = self._moved()
        if moved is not None:  # writing on would put the session's output nowhere
            self._fail(f"the recording file {moved} while in use")
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                self._hash.update(view[:written])
                self.size += written
                view = view[written:]
        except OSError as exc:
            self._fail(f"write failed: {exc.strerror or exc}")

    def _moved(self) -> str | None:
        """"was deleted" or "was replaced by another file" when the path no longer names
        the open file (a stat per flush, in the writer thread); else None."""
        try:
            stat = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return "was deleted"
        except OSError:
            return None  # cannot tell: the write will say
        if (stat.st_dev, stat.st_ino) != self._identity:
            return "was replaced by another file"
        return None

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
            self._buffer.clear()
            self._on_error(message)

    def close(self, t: float, final_marker: str | None,
              exit_status: int | None = None) -> RecordingSummary:
        """Write what the decoders still hold, the final marker and (v3) the exit event,
        fsync, close."""
        if not self.closed:
            tail = self.output_decoder.decode(b"", final=True)
            if tail:
                self._event(t, "o", tail, ascii_only=False)
            tail = self.input_decoder.decode(b"", final=True)
            if tail:
                self._event(t, "i", tail, ascii_only=False)
            if final_marker is not None:
                invalid = self.output_decoder.invalid_bytes
                if invalid:
                    final_marker += f" ({invalid} invalid UTF-8 output bytes shown as U+FFFD)"
                self.marker(t, final_marker)
            if exit_status is not None and self._clock.format is CastFormat.V3:
                self._event(t, EXIT, exit_code_text(exit_status))  # v3: the last event
            self.flush()
            try:
                if self.error is None:
                    os.fsync(self.fd)
            except OSError as exc:
                self._fail(f"fsync failed: {exc.strerror or exc}")
            finally:
                self.closed = True
                try:
                    os.close(self.fd)
                except OSError as exc:
                    self._fail(f"close failed: {exc.strerror or exc}")
        return RecordingSummary(
            path=self.path, size=self.size, sha256=self._hash.hexdigest(), events=self.events,
            invalid_utf8_bytes=self.output_decoder.invalid_bytes, error=self.error)


class SessionRecorder:
    """One session's recording, seen from the event loop.

    Each call takes its timestamp now (monotonic, seconds since `start`) and queues the
    work for the writer thread; none blocks. After `close`, or once the file failed, calls
    are ignored. `on_error` is called on the loop, once, when writing fails.
    """

    def __init__(self, writer: BackgroundWriter, fd: int, path: str, *,
                 on_error: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 fmt: CastFormat = CastFormat.V2) -> None:
        self.path = path
        self.error: str | None = None
        self._writer = writer
        self._clock = clock
        self._on_error = on_error
        self._file = CastFile(fd, path, self._error_in_thread, fmt)
        self._backlog = Backlog()
        self._t0 = clock()
        self.started = False
        self.closed = False

    @classmethod
    async def create(cls, writer: BackgroundWriter, directory: str, components: Sequence[str],
                     unique: str, **kwargs: Any) -> SessionRecorder:
        """Create the file (off the loop) and return its recorder; raises OSError."""
        fd, path = await asyncio.to_thread(create_recording_file, directory, components, unique)
        return cls(writer, fd, path, **kwargs)

    @property
    def active(self) -> bool:
        return not self.closed and self.error is None

    def elapsed(self) -> float:
        return max(0.0, self._clock() - self._t0)

    def start(self, header: Mapping[str, Any]) -> None:
        """Write the header; event times count from now."""
        if self.started or not self.active:
            return
        self.started = True
        self._t0 = self._clock()
        self._writer.submit(self._file.header, dict(header), sink=self._file)

    def output(self, data: bytes) -> None:
        if self.active:
            self._writer.submit(self._file.output, self.elapsed(), data, sink=self._file,
                                cost=len(data), backlog=self._backlog)

    def input(self, data: bytes) -> None:
        if self.active:
            self._writer.submit(self._file.input, self.elapsed(), data, sink=self._file,
                                cost=len(data), backlog=self._backlog)

    def resize(self, columns: int, rows: int) -> None:
        if self.active:
            self._writer.submit(self._file.resize, self.elapsed(), columns, rows,
                                sink=self._file)

    def marker(self, label: str) -> None:
        if self.active:
            self._writer.submit(self._file.marker, self.elapsed(), label, sink=self._file)

    def backlog(self) -> Awaitable[None] | None:
        """An awaitable while too much of this recording is queued (backpressure)."""
        return self._writer.room(self._backlog) if self.active else None

    def close(self, final_marker: str | None = None, *,
              then: Callable[[RecordingSummary], None] | None = None,
              exit_status: int | None = None) -> Awaitable[RecordingSummary]:
        """Finish the file (final marker, v3's exit event with `exit_status`, fsync, close)
        after everything queued before. `exit_status` is `Popen`'s (negative: a signal).

        `then` runs in the writer thread with the summary, before anything queued later
        (the event log's end line, so that it carries the finished file's SHA-256).
        """
        self.closed = True
        t = self.elapsed()
        file = self._file

        def finish() -> RecordingSummary:
            summary = file.close(t, final_marker, exit_status)
            if then is not None:
                then(summary)
            return summary

        return self._writer.call(finish)

    def _error_in_thread(self, message: str) -> None:
        self._writer.to_loop(self._error_on_loop, message)

    def _error_on_loop(self, message: str) -> None:
        if self.error is None:
            self.error = message
            if self._on_error is not None:
                self._on_error(message)

