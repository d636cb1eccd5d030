"""No lost output: GoTTY lost the last output of 5 in 50 `echo hi` sessions; we lose none."""

from __future__ import annotations

import hashlib
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.gotty import Gotty, GottyProcess, open_session, wait_for


def run_session(server: GottyProcess) -> tuple[bytes, int | None, str]:
    client = open_session(server)
    client.frames_until_close()
    assert client.closed is not None
    return bytes(client.output), client.closed.code, client.closed.reason


def test_many_short_sessions_all_get_their_output(gotty: Gotty) -> None:
    server = gotty("echo", "hi")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: run_session(server), range(120)))
    assert [r for r in results if r != (b"hi\r\n", 1000, "process exited with status 0")] == []


def test_last_output_of_a_fast_exit_arrives(gotty: Gotty) -> None:
    """A burst written just before exit is delivered whole, then the close frame."""
    server = gotty("sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done")
    expected = b"".join(f"line-{i}\r\n".encode() for i in range(300))
    for _ in range(10):
        output, code, _ = run_session(server)
        assert (output, code) == (expected, 1000)


def test_multi_megabyte_output_every_byte(gotty: Gotty, tmp_path: Path) -> None:
    data = random.Random(7).randbytes(6 * 1024 * 1024)
    source = tmp_path / "blob"
    source.write_bytes(data)
    # Raw mode: the line discipline passes bytes through untouched (no \n -> \r\n).
    server = gotty("sh", "-c", f"stty raw -echo; cat {source}")
    output, code, reason = run_session(server)
    assert code == 1000, reason
    assert len(output) == len(data)
    assert hashlib.sha256(output).hexdigest() == hashlib.sha256(data).hexdigest()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        line = next(ln for ln in handle if ln.startswith("VmRSS:"))
    return int(line.split()[1])


def test_flow_control_stops_the_producer_instead_of_buffering(gotty: Gotty,
                                                              tmp_path: Path) -> None:
    """While the client reads nothing, the command blocks and the server's memory stays flat.

    Without flow control the server would read all 30 MB off the PTY into its write buffer
    and the command would finish (the marker would appear) before the client read a byte.
    """
    size = 30_000_000
    marker = tmp_path / "finished"
    server = gotty("sh", "-c", f"stty raw -echo; head -c {size} /dev/zero; touch {marker}; "
                               "read x")
    baseline = rss_kib(server.pid)
    client = open_session(server)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # a bounded observation that nothing runs away
        assert not marker.exists(), "the producer was not paused"
        assert rss_kib(server.pid) - baseline < 64 * 1024
        time.sleep(0.1)
    while len(client.output) < size:
        client.recv()
    assert bytes(client.output) == bytes(size)
    wait_for(marker.exists, 10, message="the producer to finish once drained")


def test_input_flow_control_holds_the_client_instead_of_buffering(gotty: Gotty,
                                                                  tmp_path: Path) -> None:
    """Input the command does not read yet stays in the client's socket, not server memory.

    The command reads nothing until the test creates `go`; meanwhile the client pushes 96 MiB.
    The server stops reading the WebSocket once 1 MiB is queued for the PTY, so its memory
    stays flat, and once the command reads, every byte arrives in order.
    """
    import threading

    go = tmp_path / "go"
    chunk = random.Random(9).randbytes(1024 * 1024).replace(b"\x03", b"x")
    count = 96
    script = (f"stty raw -echo; echo READY; while [ ! -e {go} ]; do sleep 0.05; done; "
              f"head -c {len(chunk) * count} | sha256sum")
    server = gotty("-w", "sh", "-c", script)
    baseline = rss_kib(server.pid)
    client = open_session(server)
    client.read_until(b"READY")
    sender = threading.Thread(target=lambda: [client.input(chunk) for _ in range(count)],
                              daemon=True)
    sender.start()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # a bounded observation that memory stays flat
        assert rss_kib(server.pid) - baseline < 48 * 1024
        time.sleep(0.1)
    assert sender.is_alive(), "the server read all input although the command read none"
    go.touch()
    expected = hashlib.sha256(chunk * count).hexdigest().encode()
    client.read_until(expected, timeout=60)
    sender.join(10)
