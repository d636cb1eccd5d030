"""Is the client still reading? Output delivery, pings and the no-progress deadline.

A WebSocket connection's output passes two queues before the client has it: the stream's
buffer (bytes `write_message` queued that the kernel has not taken yet) and the kernel's
send queue (bytes sent that the peer has not acknowledged, `TIOCOUTQ`). A client that reads
slowly drains them slowly, and a ping queued behind them reaches it late, so "no pong
within the ping timeout" alone would take a slow reader for a dead one; a close frame
queued behind them, with Tornado's 5-second close timer, would cut off the last output.
`DeliveryWatch` decides from those two numbers, sampled by the caller, what to do next.

Rules of this module: pure decisions on numbers and a clock the caller passes in; no
Tornado, no sockets, no asyncio. Bytes are counted as they go on the wire. A client is
dropped for one of two reasons only: it made no progress for `send_timeout` seconds while
output waited for it (`Verdict.STALLED`), or a ping it had already received stayed
unanswered for `ping_timeout` seconds (`Verdict.UNRESPONSIVE`). While the output ahead of
a ping is still being read, the ping's clock does not run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

# Bytes sent outside the counted output (ping, pong and close frames) and the estimate's
# error under TLS (record overhead in the kernel's count): below this much unacknowledged,
# a ping is taken to have arrived, and a running session is not called stalled.
CONTROL_SLACK = 512
TICK = 0.25  # seconds between two samples while output is on its way or a ping is due back


@dataclass(frozen=True)
class Liveness:
    """The per-server deadlines, from the options."""

    ping_interval: float  # seconds between pings; 0: no pings
    ping_timeout: float  # seconds a received ping may stay unanswered
    send_timeout: float  # seconds without progress while output waits, before a drop


class Verdict(Enum):
    """What the connection should do after a sample."""

    WAIT = "wait"  # nothing to do; sample again after `next_sample`
    PING = "ping"  # send a ping now, then call `ping_sent`
    DELIVERED = "delivered"  # closing, and everything queued reached the client: send the close
    STALLED = "stalled"  # the client read nothing for send_timeout while output waited
    UNRESPONSIVE = "unresponsive"  # a ping that reached the client was not answered in time


@dataclass
class _Ping:
    sent_at: float
    ahead: int  # bytes on their way to the client when the ping was sent
    delivered_at_send: int
    arrived_at: float | None = None


class DeliveryWatch:
    """One connection's output accounting and deadlines (event-loop thread only)."""

    def __init__(self, liveness: Liveness, now: float) -> None:
        self.liveness = liveness
        self.queued = 0  # wire bytes of every frame queued, ever
        self.buffered = 0  # of those, not yet handed to the kernel
        self.closing = False
        self.undelivered = 0  # at the last sample: buffered + the kernel's unacknowledged
        self._delivered_mark = 0
        self._progress_at = now
        self._ping: _Ping | None = None
        self._next_ping = now + liveness.ping_interval if liveness.ping_interval else math.inf

    # --- what the connection reports -------------------------------------------------------

    def frame_queued(self, size: int) -> None:
        self.queued += size
        self.buffered += size

    def frame_written(self, size: int) -> None:
        self.buffered -= size

    def ping_sent(self, now: float) -> None:
        self._ping = _Ping(sent_at=now, ahead=self.undelivered,
                           delivered_at_send=self.queued - self.undelivered)
        self._next_ping = now + self.liveness.ping_interval

    def pong(self) -> None:
        self._ping = None

    def stalled_for(self, now: float) -> float:
        """Seconds since the client last took any output."""
        return now - self._progress_at

    # --- the decision ----------------------------------------------------------------------

    def sample(self, now: float, in_kernel: int) -> Verdict:
        """Decide, given the bytes the kernel still holds unacknowledged (`TIOCOUTQ`)."""
        undelivered = self.undelivered = self.buffered + max(0, in_kernel)
        delivered = self.queued - undelivered
        if undelivered == 0 or delivered > self._delivered_mark:
            self._progress_at = now
        self._delivered_mark = max(self._delivered_mark, delivered)
        if self.closing and undelivered == 0:
            return Verdict.DELIVERED
        waiting = undelivered > (0 if self.closing else CONTROL_SLACK)
        if waiting and now - self._progress_at >= self.liveness.send_timeout:
            return Verdict.STALLED
        ping = self._ping
        if ping is not None:
            if ping.arrived_at is None and (
                    delivered - ping.delivered_at_send >= ping.ahead - _slack(ping.ahead)):
                ping.arrived_at = now if ping.ahead > CONTROL_SLACK else ping.sent_at
            if ping.arrived_at is not None and now - ping.arrived_at >= self.liveness.ping_timeout:
                return Verdict.UNRESPONSIVE
        elif not self.closing and now >= self._next_ping:
            return Verdict.PING
        return Verdict.WAIT

    def next_sample(self, now: float) -> float:
        """Seconds until the next sample is needed (the caller may sample earlier)."""
        if self.closing or self.undelivered > 0 or self.buffered > 0:
            return TICK
        if self._ping is not None:
            ping = self._ping
            if ping.arrived_at is not None:
                return max(0.0, min(TICK * 4, ping.arrived_at + self.liveness.ping_timeout
                                    - now))
            return TICK
        return max(0.0, self._next_ping - now) if self._next_ping != math.inf else math.inf


def _slack(ahead: int) -> int:
    return CONTROL_SLACK + ahead // 64


def frame_size(payload: int) -> int:
    """Wire bytes of one unmasked server frame with `payload` bytes (RFC 6455 5.2)."""
    if payload < 126:
        return payload + 2
    if payload <= 0xFFFF:
        return payload + 4
    return payload + 10
