"""`DeliveryWatch`'s decisions on made-up numbers (the real sockets: test_slow_client.py)."""

from __future__ import annotations

import pytest

from gotty_py.server.delivery import CONTROL_SLACK, DeliveryWatch, Liveness, Verdict, frame_size
from tests.gotty import run_gotty

LIVENESS = Liveness(ping_interval=10, ping_timeout=5, send_timeout=3)


def test_a_close_waits_until_everything_reached_the_client() -> None:
    watch = DeliveryWatch(LIVENESS, now=0)
    watch.frame_queued(1000)
    watch.frame_written(1000)  # in the kernel, not yet acknowledged
    watch.closing = True
    assert watch.sample(1, in_kernel=400) is Verdict.WAIT
    assert watch.sample(2, in_kernel=1) is Verdict.WAIT  # even one byte is owed
    assert watch.sample(2.5, in_kernel=0) is Verdict.DELIVERED


def test_a_reader_that_keeps_taking_bytes_is_never_stalled() -> None:
    watch = DeliveryWatch(LIVENESS, now=0)
    watch.frame_queued(10_000_000)
    watch.closing = True
    for second in range(1, 100):  # 100 s for 10 MB, a byte at a time would do too
        assert watch.sample(second, in_kernel=0) is Verdict.WAIT
        watch.frame_written(100_000)
    assert watch.sample(100, in_kernel=0) is Verdict.WAIT


def test_no_progress_for_the_send_timeout_is_a_stall() -> None:
    watch = DeliveryWatch(LIVENESS, now=0)
    watch.frame_queued(50_000)
    watch.frame_written(50_000)
    assert watch.sample(1, in_kernel=20_000) is Verdict.WAIT  # 30 000 taken: progress
    assert watch.sample(3.9, in_kernel=20_000) is Verdict.WAIT
    assert watch.sample(4, in_kernel=20_000) is Verdict.STALLED
    assert (watch.undelivered, watch.stalled_for(4)) == (20_000, 3)


def test_a_ping_behind_a_backlog_waits_for_it_then_must_be_answered() -> None:
    watch = DeliveryWatch(LIVENESS, now=0)
    assert watch.sample(10, in_kernel=0) is Verdict.PING
    watch.frame_queued(4_000_000)
    watch.frame_written(4_000_000)
    watch.sample(10, in_kernel=4_000_000)
    watch.ping_sent(10)
    # The client reads 100 KB/s: the ping reaches it after 40 s, far beyond its timeout.
    for step in range(1, 40):
        assert watch.sample(10 + step, in_kernel=4_000_000 - step * 100_000) is Verdict.WAIT
    assert watch.sample(50, in_kernel=0) is Verdict.WAIT  # arrived now: 5 s from here
    assert watch.sample(54.9, in_kernel=0) is Verdict.WAIT
    assert watch.sample(55, in_kernel=0) is Verdict.UNRESPONSIVE


def test_an_answered_ping_schedules_the_next() -> None:
    watch = DeliveryWatch(LIVENESS, now=0)
    assert watch.next_sample(0) == 10
    assert watch.sample(10, in_kernel=0) is Verdict.PING
    watch.ping_sent(10)
    assert watch.sample(10.25, in_kernel=2) is Verdict.WAIT  # the ping frame itself
    watch.pong()
    assert watch.sample(11, in_kernel=0) is Verdict.WAIT
    assert watch.next_sample(11) == pytest.approx(9)


def test_control_frames_alone_do_not_make_a_running_session_stalled() -> None:
    watch = DeliveryWatch(Liveness(ping_interval=0, ping_timeout=0, send_timeout=1), now=0)
    assert watch.sample(5, in_kernel=CONTROL_SLACK) is Verdict.WAIT  # pongs, a close frame
    assert watch.sample(9, in_kernel=CONTROL_SLACK) is Verdict.WAIT
    assert watch.sample(9, in_kernel=CONTROL_SLACK + 1) is Verdict.STALLED  # output, not taken


def test_frame_sizes_count_the_header() -> None:
    assert [frame_size(n) for n in (0, 125, 126, 65535, 65536)] == [2, 127, 130, 65539, 65546]


def test_a_send_timeout_below_one_second_is_refused() -> None:
    result = run_gotty("--ws-send-timeout", "0", "true")
    assert result.returncode == 2
    assert "flag --ws-send-timeout: expected at least 1, got 0" in result.stderr
