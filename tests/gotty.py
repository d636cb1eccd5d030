"""Test helpers: a real gotty-py server process and a real WebSocket client.

The server runs as `python -m gotty_py` in its own process, exactly as a user starts it;
the client is websocket-client, an implementation independent of the server's Tornado.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import websocket

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
T = TypeVar("T")
# The URL stops at a quote too: under --log-format json the line is a JSON object.
URL_LINE = re.compile(r"HTTP server is listening at: ([^\s\"]+)")
WATCHDOG_LINE = re.compile(r"Watchdog started \(pid (\d+)\)")
OPS_URL_LINE = re.compile(r"Operations listening at: (http://[^\s\"]+)")


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
             message: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def run_async(coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """asyncio.run in a thread of its own: Playwright's sync API (browser tests in the same
    pytest process) keeps an event loop running in the main thread."""
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(asyncio.run(coroutine))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the coroutine did not finish within {timeout} s"
    if errors:
        raise errors[0]
    return results[0]


def run_in_main_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in the main thread, for code that installs signal handlers (the child
    reaper behind asyncio subprocesses). Playwright's sync API leaves its loop marked as
    running in this thread between calls; it is set aside for the run and put back."""
    playwright_loop = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        return asyncio.run(coroutine)
    finally:
        asyncio.events._set_running_loop(playwright_loop)


def asciinema_cat(path: Path) -> bytes:
    """The output events as read by asciinema's own (independent) asciicast v2 reader."""
    result = subprocess.run([str(BIN / "asciinema"), "cat", str(path)], capture_output=True,
                            timeout=60, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def proc_start(pid: int) -> str | None:
    """The start time of `pid` (to tell it from a recycled PID), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


@dataclass
class GottyProcess:
    """A running `gotty-py` and what it printed."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return re.sub(r"^http", "ws", self.url) + "ws"

    @property
    def host(self) -> str:
        return self.url.split("/")[2]

    @property
    def ops_url(self) -> str:
        """The operations listener's URL (`--ops-port`), from its start-up line."""
        line = self.wait_for_line(OPS_URL_LINE.pattern)
        match = OPS_URL_LINE.search(line)
        assert match is not None
        return match.group(1)

    def output(self) -> str:
        return "".join(self.lines)

    @property
    def watchdog_pid(self) -> int | None:
        """The PID of the server's watchdog (`Watchdog started (pid N)`), None without one.
        The start-up line comes before the URL line, so it is there once the server is."""
        match = next((WATCHDOG_LINE.search(ln) for ln in list(self.lines)
                      if WATCHDOG_LINE.search(ln)), None)
        return int(match.group(1)) if match else None

    def wait_for_line(self, pattern: str, timeout: float = 10.0) -> str:
        """The first line matching `pattern`, waited for; a timeout shows the server's last
        lines, since a CI failure is read from its output alone."""
        regex = re.compile(pattern)
        try:
            return str(wait_for(
                lambda: next((ln for ln in list(self.lines) if regex.search(ln)), None),
                timeout, message=f"log line {pattern!r}"))
        except AssertionError as missing:
            raise AssertionError(f"{missing}; the server's last lines:\n"
                                 f"{self.last_lines()}") from None

    def last_lines(self, count: int = 30) -> str:
        """What the server printed last, for a failure's message."""
        return "".join(list(self.lines)[-count:])

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.process.wait(timeout=timeout)

    def stop_and_read_all(self, timeout: float = 20.0) -> list[str]:
        """Stops the server and returns every line it printed, its last included: for a test
        that counts lines, which `lines` alone cannot promise while the server runs."""
        self.stop()
        if self.pump is not None:
            self.pump.join(timeout)
            assert not self.pump.is_alive(), "the server's output did not reach its end"
        return list(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# The type of the `gotty` fixture of tests/conftest.py: `gotty("-w", "bash")` starts a server.
Gotty = Callable[..., GottyProcess]


def _pump(stream: Iterable[str], lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def start_gotty(*args: str, env: Mapping[str, str] | None = None, expect_url: bool = True,
                cwd: str | os.PathLike[str] | None = None, home: str | None = None,
                module: str = "gotty_py", pass_fds: Sequence[int] = ()) -> GottyProcess:
    """Start `python -m gotty_py ARGS` (or another entry module) and wait for its URL line;
    `pass_fds` stay open in the child (socket activation)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GOTTY_")}
    full_env["HOME"] = home or str(Path(os.environ.get("TMPDIR", "/tmp")) / "gotty-test-home")
    Path(full_env["HOME"]).mkdir(parents=True, exist_ok=True)
    full_env["PYTHONUNBUFFERED"] = "1"
    if env:
        full_env.update(env)
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, cwd=cwd or ROOT, env=full_env, pass_fds=tuple(pass_fds),
    )
    handle = GottyProcess(process)
    assert process.stdout is not None
    handle.pump = threading.Thread(target=_pump, args=(process.stdout, handle.lines), daemon=True)
    handle.pump.start()
    if expect_url:
        def url() -> str | None:
            if process.poll() is not None:
                raise AssertionError(f"gotty-py exited early:\n{handle.output()}")
            match = next((URL_LINE.search(ln) for ln in list(handle.lines) if URL_LINE.search(ln)),
                         None)
            return match.group(1) if match else None
        handle.url = wait_for(url, 15, message="the URL line")
    return handle


def run_gotty(*args: str, env: Mapping[str, str] | None = None, timeout: float = 15,
              home: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run gotty-py to completion (for exit-code and message checks)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GOTTY_")}
    full_env["HOME"] = home or str(Path(os.environ.get("TMPDIR", "/tmp")) / "gotty-test-home")
    Path(full_env["HOME"]).mkdir(parents=True, exist_ok=True)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "gotty_py", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=ROOT,
                          stdin=subprocess.DEVNULL)


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


class Client:
    """A webtty client over a real WebSocket (websocket-client)."""

    def __init__(self, url: str, *, subprotocols: list[str] | None = None,
                 headers: list[str] | None = None, origin: str | None = None,
                 timeout: float = 15.0, sslopt: dict[str, Any] | None = None,
                 host: str | None = None,
                 sockopt: list[tuple[int, int, int]] | None = None,
                 sock: socket.socket | None = None) -> None:
        """`host` replaces the Host header; `sockopt` (level, name, value) are set before the
        connect: e.g. a small SO_RCVBUF, for a client whose kernel holds little of what it
        has not read; `sock` is a connected socket to speak over (a Unix socket)."""
        self.ws = websocket.WebSocket(skip_utf8_validation=True, sslopt=sslopt,
                                      sockopt=sockopt)
        options: dict[str, Any] = {"timeout": timeout, "header": headers or []}
        if host is not None:  # the Host header, instead of the URL's host:port
            options["host"] = host
        if subprotocols is not None:
            options["subprotocols"] = subprotocols
        if sock is not None:
            options["socket"] = sock
        if origin is not None:
            options["origin"] = origin
        else:
            options["suppress_origin"] = True
        self.ws.connect(url, **options)
        self.closed: Closed | None = None
        self.output = bytearray()

    def init(self, arguments: str = "", token: str = "", *, size: tuple[int, int] | None = None,
             **extra: Any) -> Client:
        """Send the init message; with `size`, the first resize in the same TCP segment, as
        a page's two first frames arrive, so the server starts the PTY at that size."""
        init = json.dumps({"Arguments": arguments, "AuthToken": token, **extra})
        frames = [init] if size is None else [init, self._resize_frame(*size)]
        wire = b"".join(websocket.ABNF.create_frame(frame.encode(), websocket.ABNF.OPCODE_TEXT)
                        .format() for frame in frames)
        self.ws.sock.sendall(wire)
        return self

    def send_text(self, data: str | bytes) -> None:
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self.ws.send(payload, opcode=websocket.ABNF.OPCODE_TEXT)

    def send_binary(self, data: bytes) -> None:
        self.ws.send(data, opcode=websocket.ABNF.OPCODE_BINARY)

    def input(self, data: str | bytes) -> None:
        self.send_text(b"1" + (data.encode() if isinstance(data, str) else data))

    def resize(self, columns: int, rows: int) -> None:
        self.send_text(self._resize_frame(columns, rows))

    @staticmethod
    def _resize_frame(columns: int, rows: int) -> str:
        return "3" + json.dumps({"columns": columns, "rows": rows})

    def recv(self) -> str:
        """The next text frame; raises Closed on a close frame or a dropped connection."""
        if self.closed:
            raise self.closed
        while True:
            try:
                opcode, frame = self.ws.recv_data_frame(control_frame=True)
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                self.closed = Closed(None, "connection dropped")
                raise self.closed from None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                self.closed = Closed(code, data[2:].decode("utf-8", "replace"))
                raise self.closed
            if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                continue
            text: str = frame.data.decode("utf-8")
            if text.startswith("1"):
                self.output += base64.b64decode(text[1:])
            return text

    def frames_until_close(self) -> list[str]:
        frames: list[str] = []
        try:
            while True:
                frames.append(self.recv())
        except Closed:
            return frames

    def read_until(self, needle: bytes, timeout: float = 10.0) -> bytes:
        return self.read_while(lambda output: needle not in output, timeout, repr(needle))

    def read_while(self, keep_reading: Callable[[bytes], bool], timeout: float = 10.0,
                   what: str = "the expected output") -> bytes:
        """Receive frames while `keep_reading(output so far)` holds, within `timeout`."""
        deadline = time.monotonic() + timeout
        while keep_reading(bytes(self.output)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not in output {bytes(self.output)[-500:]!r}")
            self.recv()
        return bytes(self.output)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            self.ws.shutdown()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.ws.shutdown()


def job_pids(client: Client, timeout: float = 15.0) -> dict[int, str]:
    """The PIDs a session's shell printed as `JOB=<pid>` (a background job) and
    `SHELL=<pid>` (itself), with their start times, once both are there."""
    output = client.read_while(lambda out: not re.search(rb"SHELL=\d+", out), timeout,
                               "the shell's PIDs")
    pids = [int(p) for p in re.findall(rb"(?:JOB|SHELL)=(\d+)", output)]
    found = {pid: proc_start(pid) for pid in pids}
    assert len(found) == 2 and all(found.values()), found
    return {pid: start for pid, start in found.items() if start}


def session_info(client: Client) -> dict[str, object]:
    """The session-info message (7) our page gets: the frames up to it are read and dropped."""
    while True:
        frame = client.recv()
        if frame.startswith("7"):
            info: dict[str, object] = json.loads(frame[1:])
            return info


def open_session(server: GottyProcess, arguments: str = "", token: str = "", *,
                 size: tuple[int, int] | None = None, headers: list[str] | None = None,
                 sockopt: list[tuple[int, int, int]] | None = None, **extra: Any) -> Client:
    """A webtty session as the page opens one: a WebSocket with subprotocol webtty, the init
    message (`arguments`, `token`, then any `extra` keys such as GottyPy=1), then a resize to
    `size` (columns, rows) when one is given."""
    client = Client(server.ws_url, subprotocols=["webtty"], headers=headers, sockopt=sockopt)
    return client.init(arguments, token, size=size, **extra)


@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def http_request(url: str, method: str = "GET", headers: Mapping[str, str] | None = None,
                 body: bytes | None = None, context: Any = None) -> Response:
    """One HTTP request that neither follows redirects nor raises on error statuses."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.netloc, timeout=10, context=context)
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


def basic(credential: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode()}
