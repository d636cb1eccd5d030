"""The one thread that does every audit file operation, in order, off the event loop.

Rules of this module: the event loop only enqueues jobs (with their timestamps already
taken and their byte cost); the thread runs them in FIFO order, then flushes every sink
the batch touched to the kernel, then reports the bytes done back to the loop. Nothing is
ever dropped: a producer that runs ahead is made to wait (`room`), which stops its session
reading the PTY, so memory stays bounded. All accounting is done on the loop thread, so
it needs no locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

log = logging.getLogger("gotty_py.audit")

T = TypeVar("T")

# A producer (one recording) waits above HIGH until its backlog is down to LOW; all
# producers wait while the writer as a whole is above TOTAL_HIGH, until TOTAL_LOW.
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024
TOTAL_HIGH_WATER = 64 * 1024 * 1024
TOTAL_LOW_WATER = 16 * 1024 * 1024
MAX_BATCH = 512  # jobs run between two flushes and two reports to the loop
YIELD_EVERY = 0.0005  # seconds of writer work between two offers of the GIL to the loop


class Sink(Protocol):
    """Something the thread writes to and flushes after each batch."""

    def flush(self) -> None: ...


class Backlog:
    """Bytes one producer has queued and the thread has not written yet (loop thread only)."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = 0


_Job = tuple[Callable[..., None], tuple[Any, ...], "Sink | None", int, "Backlog | None"]


class BackgroundWriter:
    """One per server. `submit` from the loop; the jobs run in the writer thread."""

    def __init__(self, *, high_water: int = HIGH_WATER, low_water: int = LOW_WATER,
                 total_high_water: int = TOTAL_HIGH_WATER,
                 total_low_water: int = TOTAL_LOW_WATER) -> None:
        self.high_water = high_water
        self.low_water = low_water
        self.total_high_water = total_high_water
        self.total_low_water = total_low_water
        self.pending = 0  # bytes queued, all producers
        self.max_pending = 0
        self.waits = 0  # how often a producer had to wait (backpressure applied)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._waiters: list[tuple[Backlog, asyncio.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._after_flush: list[tuple[Callable[..., None], bool, Any]] = []  # thread only

    @property
    def queued_jobs(self) -> int:
        """Jobs (recording chunks, event-log lines) submitted and not yet run."""
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        """True from `start` until `aclose`, while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "the writer is not started"
        return self._loop

    def start(self) -> None:
        """Start the thread; call from the event loop the jobs report back to."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        # A daemon: a server that dies abnormally must not hang on it. Normal ends join it
        # through `aclose`, after the last recording is closed.
        self._thread = threading.Thread(target=self._run, name="gotty-py-audit-writer",
                                        daemon=True)
        self._thread.start()

    # --- the loop side -------------------------------------------------------------------

    def submit(self, fn: Callable[..., None], *args: Any, sink: Sink | None = None,
               cost: int = 0, backlog: Backlog | None = None) -> None:
        """Run `fn(*args)` in the thread after everything submitted before."""
        if cost:
            self.pending += cost
            self.max_pending = max(self.max_pending, self.pending)
            if backlog is not None:
                backlog.pending += cost
        self._queue.put((fn, args, sink, cost, backlog))

    def call(self, fn: Callable[..., T], *args: Any, sink: Sink | None = None
             ) -> asyncio.Future[T]:
        """Like `submit`, with the result (or exception) delivered to a loop future."""
        loop = self.loop
        future: asyncio.Future[T] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if future.done():
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        def job() -> None:
            # Settled after the batch's flush, so the caller sees the data in the file.
            try:
                result = fn(*args)
            except BaseException as exc:
                self._after_flush.append((settle, False, exc))
            else:
                self._after_flush.append((settle, True, result))

        self.submit(job, sink=sink)
        return future

    def room(self, backlog: Backlog) -> Awaitable[None] | None:
        """None while there is room; else a future that completes once the backlog drained."""
        if backlog.pending < self.high_water and self.pending < self.total_high_water:
            return None
        self.waits += 1
        future: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append((backlog, future))
        return future

    async def barrier(self) -> None:
        """Return once every job submitted so far has run and been flushed."""
        await self.call(lambda: None)

    async def aclose(self, timeout: float = 30.0) -> None:
        """Run every queued job, flush, and stop the thread (at server shutdown)."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        try:
            await asyncio.wait_for(asyncio.to_thread(thread.join), timeout)
        except TimeoutError:
            log.error("Audit writer did not finish within %.0f s: recordings may be incomplete",
                      timeout)
        self._thread = None

    def _release(self, done: dict[Backlog | None, int]) -> None:
        for backlog, cost in done.items():
            self.pending -= cost
            if backlog is not None:
                backlog.pending -= cost
        if not self._waiters:
            return
        total_ok = self.pending <= self.total_low_water
        still: list[tuple[Backlog, asyncio.Future[None]]] = []
        for backlog, future in self._waiters:
            if future.done():
                continue
            if total_ok and backlog.pending <= self.low_water:
                future.set_result(None)
            else:
                still.append((backlog, future))
        self._waiters = still

    # --- the thread side -----------------------------------------------------------------

    def to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` on the loop; safe from the writer thread."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(fn, *args)

    def _run(self) -> None:
        stop = False
        last_yield = time.perf_counter()
        while not stop:
            batch = [self._queue.get()]
            try:
                while len(batch) < MAX_BATCH:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            touched: dict[int, Sink] = {}
            done: dict[Backlog | None, int] = {}
            for item in batch:
                if item is None:
                    stop = True
                    continue
                fn, args, sink, cost, backlog = item
                try:
                    fn(*args)
                except Exception:
                    log.exception("audit writer job failed")
                # Offer the GIL to the event loop every YIELD_EVERY seconds of work: else it
                # may wait a whole switch interval (5 ms) while this thread encodes lines.
                now = time.perf_counter()
                if now - last_yield >= YIELD_EVERY:
                    time.sleep(0)
                    last_yield = time.perf_counter()
                if sink is not None:
                    touched[id(sink)] = sink
                if cost:
                    done[backlog] = done.get(backlog, 0) + cost
            for sink in touched.values():
                try:
                    sink.flush()
                except Exception:
                    log.exception("audit writer flush failed")
            if done:
                self.to_loop(self._release, done)
            after, self._after_flush = self._after_flush, []
            for settle, ok, value in after:
                self.to_loop(settle, ok, value)
