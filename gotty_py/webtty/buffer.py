"""A session's recent output, kept for replay and read by each attached client at its pace.

Rules of this module: it is pure (no I/O, no asyncio, no clock) and holds output frames
as the session sent them, in order, numbered from 0 for the whole session. It keeps at
least the last `capacity` bytes (the replay a reattaching owner or a new observer gets)
and never more than `capacity` bytes beyond what a *holding* reader still needs. A holding
reader (a detached owner) pins what it has not read: when that reaches `capacity` the
buffer is `full` and the producer must stop reading the PTY (no output lost, memory
bounded). A non-holding reader (an observer) pins nothing: when the frames it has not read
are trimmed it is reported as lagging and must be dropped; it can never slow the producer
or the other readers. Each `read` returns at most `limit` bytes, so one reader's turn is
bounded however much is waiting (fairness among readers sharing one loop).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


class Lagging(Exception):
    """The reader fell so far behind that frames it had not read were dropped."""


@dataclass(eq=False)
class Reader:
    """One client's place in the output: the number of the next frame it reads."""

    position: int
    holds: bool
    lagging: bool = False


class OutputBuffer:
    """Output frames in order, with one cursor per reader (see the module's rules)."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._frames: deque[str] = deque()
        # Bytes of the whole session's output up to and including each kept frame, so
        # that what a reader has left is one subtraction, not a walk over the frames.
        self._ends: deque[int] = deque()
        self._first = 0  # the number of the oldest frame kept
        self._bytes = 0  # bytes of the frames kept
        self._total = 0  # bytes of every frame ever appended
        self._readers: list[Reader] = []

    # --- what is kept ------------------------------------------------------------------

    @property
    def start(self) -> int:
        """The number of the oldest frame kept."""
        return self._first

    @property
    def end(self) -> int:
        """The number the next appended frame will have."""
        return self._first + len(self._frames)

    @property
    def size(self) -> int:
        """Bytes held now (what this buffer costs in memory, beyond a few objects)."""
        return self._bytes

    @property
    def full(self) -> bool:
        """A holding reader has `capacity` bytes or more unread: stop producing."""
        return any(reader.holds and self.unread(reader) >= self.capacity
                   for reader in self._readers)

    def unread(self, reader: Reader) -> int:
        """Bytes of frames the reader has not read yet."""
        index = reader.position - self._first
        if index <= 0:
            return self._bytes
        return self._total - self._ends[index - 1]

    # --- producing -----------------------------------------------------------------------

    def append(self, frame: str) -> list[Reader]:
        """Keep `frame`; returns the readers that have just started lagging (their unread
        frames were trimmed), which the caller drops."""
        self._frames.append(frame)
        self._bytes += len(frame)
        self._total += len(frame)
        self._ends.append(self._total)
        return self._trim()

    def _trim(self) -> list[Reader]:
        pinned = min((r.position for r in self._readers if r.holds), default=self.end)
        newly_lagging: list[Reader] = []
        while self._bytes > self.capacity and len(self._frames) > 1 and self._first < pinned:
            self._bytes -= len(self._frames.popleft())
            self._ends.popleft()
            self._first += 1
        for reader in self._readers:
            if not reader.lagging and reader.position < self._first:
                reader.lagging = True
                newly_lagging.append(reader)
        return newly_lagging

    # --- reading -------------------------------------------------------------------------

    def open(self, *, holds: bool, replay: bool = True) -> Reader:
        """A new reader: from the oldest frame kept (`replay`), or from now on."""
        reader = Reader(self._first if replay else self.end, holds)
        self._readers.append(reader)
        return reader

    def close(self, reader: Reader) -> None:
        """The reader is gone; what it pinned may be trimmed."""
        if reader in self._readers:
            self._readers.remove(reader)
            self._trim()

    def read(self, reader: Reader, limit: int) -> list[str]:
        """The reader's next frames, at most `limit` bytes of them (but at least one frame
        when any is waiting); `Lagging` once it has fallen behind what is kept."""
        if reader.lagging or reader.position < self._first:
            reader.lagging = True
            raise Lagging(f"fell more than {self.capacity} bytes behind the output")
        frames: list[str] = []
        taken = 0
        index = reader.position - self._first
        while index < len(self._frames):
            frame = self._frames[index]
            if frames and taken + len(frame) > limit:
                break
            frames.append(frame)
            taken += len(frame)
            index += 1
        reader.position += len(frames)
        if frames and reader.holds:
            self._trim()
        return frames

    def readers(self) -> tuple[Reader, ...]:
        return tuple(self._readers)
