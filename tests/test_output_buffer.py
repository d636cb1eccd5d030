"""The session output buffer (gotty_py/webtty/buffer.py), pure: bounds, replay, fairness."""

from __future__ import annotations

import pytest

from gotty_py.webtty.buffer import Lagging, OutputBuffer


def frames(n: int, size: int = 10) -> list[str]:
    return [f"{i:0{size}d}"[-size:] for i in range(n)]


def test_keeps_the_last_capacity_bytes_for_replay() -> None:
    buffer = OutputBuffer(capacity=100)
    for frame in frames(25):  # 250 bytes through a 100-byte buffer, no reader
        buffer.append(frame)
    assert buffer.size == 100
    assert (buffer.start, buffer.end) == (15, 25)
    replay = buffer.read(buffer.open(holds=False), limit=1000)
    assert replay == frames(25)[15:]


def test_a_frame_larger_than_the_buffer_is_kept_whole() -> None:
    buffer = OutputBuffer(capacity=10)
    buffer.append("a" * 5)
    buffer.append("b" * 50)
    assert buffer.read(buffer.open(holds=False), limit=1) == ["b" * 50]


def test_a_holding_reader_pins_its_unread_output_and_fills_the_buffer() -> None:
    buffer = OutputBuffer(capacity=100)
    detached = buffer.open(holds=True, replay=False)
    for frame in frames(9):
        buffer.append(frame)
        assert not buffer.full
    buffer.append("x" * 10)
    assert buffer.full  # the producer must stop reading the PTY now
    buffer.append("y" * 10)  # one read in flight is still kept, nothing dropped
    assert buffer.start == 0 and buffer.size == 110
    # Everything the detached owner missed is still there, in order.
    assert buffer.read(detached, limit=10_000) == [*frames(9), "x" * 10, "y" * 10]
    assert not buffer.full
    buffer.close(detached)
    assert buffer.size <= 100


def test_memory_stays_bounded_whatever_is_written() -> None:
    buffer = OutputBuffer(capacity=1000)
    observer = buffer.open(holds=False)
    for _ in range(10_000):
        buffer.append("z" * 97)
        assert buffer.size <= 1000 + 97
    with pytest.raises(Lagging):
        buffer.read(observer, limit=100)


def test_a_lagging_observer_is_reported_once_by_the_append_that_trims_past_it() -> None:
    buffer = OutputBuffer(capacity=50)
    slow = buffer.open(holds=False)
    fast = buffer.open(holds=False)
    lagging: list[object] = []
    for frame in frames(10):
        lagging += buffer.append(frame)
        buffer.read(fast, limit=1000)
    assert lagging == [slow]
    assert not fast.lagging
    with pytest.raises(Lagging):
        buffer.read(slow, limit=1000)


def test_an_observer_never_holds_the_producer_back() -> None:
    buffer = OutputBuffer(capacity=50)
    buffer.open(holds=False)  # never reads
    for frame in frames(100):
        buffer.append(frame)
        assert not buffer.full


def test_reads_are_bounded_per_turn_so_readers_share_fairly() -> None:
    buffer = OutputBuffer(capacity=10_000)
    a = buffer.open(holds=False)
    b = buffer.open(holds=False)
    for frame in frames(100):
        buffer.append(frame)
    turns: dict[str, int] = {"a": 0, "b": 0}
    got: dict[str, list[str]] = {"a": [], "b": []}
    while buffer.unread(a) or buffer.unread(b):
        for name, reader in (("a", a), ("b", b)):
            chunk = buffer.read(reader, limit=95)
            assert sum(map(len, chunk)) <= 95
            if chunk:
                turns[name] += 1
                got[name] += chunk
    assert got["a"] == got["b"] == frames(100)
    assert turns["a"] == turns["b"] == 12  # nine frames a turn, 100 frames


def test_a_new_reader_from_now_on_sees_only_new_output() -> None:
    buffer = OutputBuffer(capacity=100)
    buffer.append("old")
    live = buffer.open(holds=False, replay=False)
    assert buffer.read(live, limit=100) == []
    buffer.append("new")
    assert buffer.read(live, limit=100) == ["new"]
    assert buffer.unread(live) == 0
