"""A real `redis-server` (Debian's) for the tests of the shared store.

It listens on a free port of 127.0.0.1 only, keeps nothing on disk (no RDB, no AOF) in a
directory of its own, is known to be up once it answers PING, and is ended by its PID.
`stop()` and `start()` keep the port, so a test can take Redis away and bring it back
where the gotty-py servers expect it; `pause()` (SIGSTOP) makes it a black hole: the kernel
still accepts connections, nothing answers. Given a `Pki` (tests/certs.py) it speaks TLS
only and requires a client certificate signed by the test CA.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
from pathlib import Path

from tests.certs import Pki
from tests.gotty import wait_for

REDIS_SERVER = Path("/usr/bin/redis-server")
MISSING = ("Debian's redis-server is not installed (/usr/bin/redis-server); "
           "run scripts/ensure-system-packages.sh (make test does)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pong(port: int, timeout: float = 0.5, pki: Pki | None = None) -> bool:
    """True when a Redis on `port` answers PING (spoken by hand: RESP inline command)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            sock = raw
            if pki is not None:
                context = ssl.create_default_context(cafile=str(pki.ca_crt))
                context.load_cert_chain(pki.client_crt, pki.client_key)
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process at a time, always on the same port."""

    def __init__(self, directory: Path, pki: Pki | None = None) -> None:
        self.directory = directory
        self.pki = pki
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._paused = False

    @property
    def url(self) -> str:
        if self.pki is None:
            return f"redis://127.0.0.1:{self.port}/0"
        pki = self.pki
        return (f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={pki.ca_crt}"
                f"&ssl_certfile={pki.client_crt}&ssl_keyfile={pki.client_key}")

    def _listen_args(self) -> list[str]:
        if self.pki is None:
            return ["--port", str(self.port)]
        return ["--port", "0", "--tls-port", str(self.port),
                "--tls-cert-file", str(self.pki.server_crt),
                "--tls-key-file", str(self.pki.server_key),
                "--tls-ca-cert-file", str(self.pki.ca_crt), "--tls-auth-clients", "yes"]

    def _cli_args(self) -> list[str]:
        args = ["/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        if self.pki is not None:
            args += ["--tls", "--cacert", str(self.pki.ca_crt), "--cert",
                     str(self.pki.client_crt), "--key", str(self.pki.client_key)]
        return args

    def start(self) -> None:
        assert self.process is None, "already running"
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 (lives with the process)
        self.process = subprocess.Popen(
            [str(REDIS_SERVER), "--bind", "127.0.0.1", *self._listen_args(),
             "--dir", str(self.directory), "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        process = self.process

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"redis-server exited with {process.returncode}: "
                                     + (self.directory / "redis.log").read_text())
            return pong(self.port, pki=self.pki)

        wait_for(up, 10, message=f"redis-server to answer on port {self.port}")

    def stop(self) -> None:
        """End it by its PID (SIGTERM, then SIGKILL) and wait until the port is free."""
        process, self.process = self.process, None
        if process is None:
            return
        if self._paused:
            self.resume_process(process)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        wait_for(lambda: not pong(self.port, 0.2, self.pki), 5,
                 message="redis-server to be gone")

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel, nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        assert self.process is not None
        self.resume_process(self.process)

    def resume_process(self, process: subprocess.Popen[bytes]) -> None:
        os.kill(process.pid, signal.SIGCONT)
        self._paused = False

    def command(self, *args: str) -> str:
        """One command through Debian's redis-cli (an independent client), its output."""
        result = subprocess.run([*self._cli_args(), "--no-raw", *args],
                                capture_output=True, text=True, timeout=10,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def stored_keys(self, pattern: str = "*") -> list[str]:
        result = subprocess.run([*self._cli_args(), "--raw", "KEYS", pattern],
                                capture_output=True, text=True, timeout=10,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
        return sorted(line for line in result.stdout.splitlines() if line)
