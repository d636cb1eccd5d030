"""Run the simulator as a child process (``python -m tests.k8s.apiserver``).

Useful when a test also runs other servers, or wants the exec'd "container" processes to
belong to another process tree than pytest's.  The child stops (killing everything it
started) on SIGTERM, and also when its stdin pipe closes, i.e. if the test process dies.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from . import procfs
from .kubeconfig import write_kubeconfig
from .objects import SimPod
from .processes import EXEC_MARKER_VAR, ProcessInfo

#: The directory holding the ``tests`` package, which ``-m tests.k8s.apiserver`` needs.
REPO_ROOT = Path(__file__).resolve().parents[2]


def _pod_arg(pod: SimPod) -> str:
    if pod.env:
        raise ValueError("per-pod env is only supported by the in-process K8sSimulator")
    return f"{pod.namespace}/{pod.name}:{','.join(pod.containers)}"


class SimulatorSubprocess:
    """Start/stop the simulator CLI and query its ``/_sim`` endpoints over HTTP(S)."""

    def __init__(
        self,
        pods: Iterable[SimPod] = (SimPod("default", "demo"),),
        *,
        tls: bool = True,
        token: str | None = None,
        extra_args: Iterable[str] = (),
    ) -> None:
        self.argv = [sys.executable, "-m", "tests.k8s.apiserver", "--port", "0",
                     "--exit-on-stdin-eof"]
        self.argv += [a for p in pods for a in ("--pod", _pod_arg(p))]
        self.argv += ["--no-tls"] if not tls else []
        self.argv += ["--token", token] if token else []
        self.argv += list(extra_args)
        self.popen: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def token(self) -> str | None:
        return self.info.get("token")

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def running(self) -> bool:
        """True while the child process runs."""
        return self.popen is not None and self.popen.poll() is None

    def start(self, timeout: float = 15.0) -> SimulatorSubprocess:
        """Spawn the CLI and wait (bounded) for the JSON line with its connection details."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p))
        self.popen = subprocess.Popen(
            self.argv, cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            self.info = json.loads(self._read_line(timeout))
        except BaseException:
            self.stop()
            raise
        return self

    def _read_line(self, timeout: float) -> bytes:
        assert self.popen is not None and self.popen.stdout is not None
        fd, line, deadline = self.popen.stdout.fileno(), b"", time.monotonic() + timeout
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError(f"simulator printed no URL within {timeout}s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"simulator exited early (rc={self.popen.wait()})")
            line += chunk
        return line

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM by PID (the child kills and reaps its exec'd processes), then wait.

        If the child had to be SIGKILLed (or died), processes it started may be left: they
        are found by the instance's environment marker and killed here.
        """
        popen = self.popen
        if popen is None:
            return
        if popen.poll() is None:
            os.kill(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(popen.pid, signal.SIGKILL)
                popen.wait()
        if self.info.get("instance"):
            procfs.kill_marked(EXEC_MARKER_VAR, f"{self.info['instance']}-", prefix=True)
        if self.info.get("workdir") and "--workdir" not in self.argv:
            shutil.rmtree(self.info["workdir"], ignore_errors=True)  # its temp dir, if killed
        for stream in (popen.stdin, popen.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> SimulatorSubprocess:
        return self.start() if self.popen is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _get(self, path: str) -> Any:
        ctx = None
        if self.info.get("ca_file"):
            ctx = ssl.create_default_context(cafile=self.info["ca_file"])
        with urllib.request.urlopen(self.url + path, context=ctx, timeout=10) as resp:
            return json.load(resp)

    def processes(self) -> list[ProcessInfo]:
        """``GET /_sim/processes``, as the same dataclass the in-process API returns."""
        return [ProcessInfo(**item) for item in self._get("/_sim/processes")["items"]]

    def requests(self) -> list[dict[str, str]]:
        """``GET /_sim/requests``: every request the simulator received."""
        return list(self._get("/_sim/requests")["items"])

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig for this simulator (URL, CA if https, token)."""
        ca_file = self.info.get("ca_file")
        ca_pem = Path(ca_file).read_bytes() if ca_file else None
        return write_kubeconfig(
            path, self.url, token=self.token, ca_pem=ca_pem, namespace=namespace
        )
