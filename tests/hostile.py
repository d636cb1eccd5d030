"""Test helpers for hostile clients: raw WebSocket frames, a responsiveness probe, and what
a server process holds (resident memory, descriptors, CPU time).

The probe is a real session running `cat` on a raw, non-echoing terminal: each probe sends
a unique token as input and times until the command's output carries it back, so it
measures the whole path (event loop, PTY, command) another user's keystroke takes.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field

from tests.gotty import Client, GottyProcess, open_session

# A command that echoes its input exactly once (raw mode, no terminal echo); given an
# argument N (--permit-arguments, `?arg=N`), it first swallows N bytes and says DONE.
ECHO_COMMAND = ["sh", "-c", 'stty raw -echo; echo READY; if [ -n "$1" ]; then '
                'head -c "$1" >/dev/null; echo DONE; fi; exec cat', "sh"]
ZERO_MASK = b"\0\0\0\0"  # masking with a zero key leaves the payload as it is


def frame_header(length: int, *, opcode: int = 0x1, final: bool = True) -> bytes:
    """A client frame's header for a payload of `length` bytes, masked with a zero key so
    that the payload can be sent as it is (a 48 MiB message costs the client nothing)."""
    first = (0x80 if final else 0) | opcode
    if length < 126:
        head = bytes([first, 0x80 | length])
    elif length < 1 << 16:
        head = bytes([first, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + length.to_bytes(8, "big")
    return head + ZERO_MASK


def send_large_message(sock: socket.socket, prefix: bytes, length: int, *,
                       suffix: bytes = b"", fill: bytes = b"A", chunk: int = 1 << 20) -> int:
    """Send one text message of `length` bytes, `prefix`, filler, `suffix`; returns how
    many payload bytes went out before the server closed the connection."""
    sent = 0
    try:
        sock.sendall(frame_header(length) + prefix)
        sent = len(prefix)
        block = fill * chunk
        body = length - len(suffix)
        while sent < body:
            piece = block[: min(chunk, body - sent)]
            sock.sendall(piece)
            sent += len(piece)
        sock.sendall(suffix)
        sent += len(suffix)
    except OSError:
        pass
    return sent


@dataclass
class EchoProbe:
    """Measures a surviving session's echo round trip in a thread, until stopped."""

    client: Client
    latencies: list[float] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def start(cls, server: GottyProcess, arguments: str = "") -> EchoProbe:
        client = open_session(server, arguments, size=(80, 24))
        client.read_until(b"READY", 15)
        probe = cls(client)
        probe.measure_once()  # the path works before anything is measured
        probe.latencies.clear()
        probe._thread = threading.Thread(target=probe._run, daemon=True)
        probe._thread.start()
        return probe

    def measure_once(self) -> float:
        token = f"<{len(self.client.output)}:{time.monotonic_ns()}>".encode()
        began = time.monotonic()
        self.client.input(token)
        self.client.read_until(token, 30)
        elapsed = time.monotonic() - began
        self.latencies.append(elapsed)
        return elapsed

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.measure_once()
                self._stop.wait(0.01)
        except BaseException as exc:  # reported by stop()
            self.errors.append(exc)

    def stop(self) -> list[float]:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)
        assert not self._thread.is_alive(), "the probe is stuck"
        if self.errors:
            raise self.errors[0]
        return sorted(self.latencies)

    def __enter__(self) -> EchoProbe:
        return self

    def __exit__(self, *_: object) -> None:
        if not self._stop.is_set():
            self._stop.set()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """The process's resident set size (VmRSS), or its peak so far (VmHWM)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
