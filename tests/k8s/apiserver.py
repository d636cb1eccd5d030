"""A simulated Kubernetes API server that the real ``kubectl exec`` can talk to.

Exec'd commands run on this machine under a PTY, "as if inside the container", and --
like a real kubelet and container runtime -- they keep running when the exec stream drops.
That is the behaviour the project's session cleanup has to be proven against.

Python API (in-process, server on a background thread)::

    with K8sSimulator([SimPod("ns", "pod", ("c",))]) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", namespace="ns")
        ...  # run kubectl --kubeconfig ...
        sim.processes()  # what was exec'd, alive or not
    # leaving the block killed every process the simulator started

CLI (prints one JSON line with url, kubeconfig, token, pid; stops on SIGTERM/SIGINT, or on
stdin EOF with --exit-on-stdin-eof, killing every process it started)::

    python -m tests.k8s.apiserver --port 0 --pod ns/pod:c1,c2 [--no-tls] [--token T]

See ``tests/k8s/README.md`` for the protocol details and the requests kubectl makes.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import logging
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from .certs import TlsMaterial, generate_tls
from .handlers import SUBPROTOCOLS, Authorizer, RequestRecord, SimState, allow_all, make_app
from .kubeconfig import write_kubeconfig
from .objects import DEFAULT_GIT_VERSION, SimPod
from .processes import EXEC_MARKER_VAR, ExecSpec, ProcessInfo

log = logging.getLogger("k8s_sim")
T = TypeVar("T")

DEFAULT_PODS = (SimPod("default", "demo"),)
#: The PATH of a typical container image; tests needing more can set it per pod.
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_STOP_REAP_TIMEOUT = 5.0


class K8sSimulator:
    """The simulated API server; :meth:`start` runs it on a background thread.

    With ``tls=True`` (default) it serves https with a fresh CA and checks the bearer
    token (random unless given); with ``tls=False`` it serves http and checks nothing,
    because kubectl never sends a token over plain http.
    """

    def __init__(
        self,
        pods: Iterable[SimPod] = DEFAULT_PODS,
        *,
        tls: bool = True,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        workdir: Path | None = None,
        git_version: str = DEFAULT_GIT_VERSION,
        subprotocols: tuple[str, ...] = SUBPROTOCOLS,
        authorize: Authorizer = allow_all,
    ) -> None:
        self.pods = {(p.namespace, p.name): p for p in pods}
        self.subprotocols = subprotocols
        self.authorize = authorize
        self.tls_enabled = tls
        self.token = (token or secrets.token_urlsafe(24)) if tls else None
        self.host, self._port = host, port
        self.git_version = git_version
        self.instance = secrets.token_hex(6)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.workdir = workdir or self._make_tmp()
        self.tls: TlsMaterial | None = None
        self.url = ""
        self._exec_count = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._state: SimState | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> K8sSimulator:
        """Bind 127.0.0.1 (port 0 = random), start the loop thread, wait until serving."""
        if self.tls_enabled:
            self.tls = generate_tls(self.workdir / "tls")
        sockets = bind_sockets(self._port, self.host)
        port = sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://{self.host}:{port}"
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sockets, ready), name="k8s-sim", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("k8s simulator did not start in time")
        log.info("k8s simulator serving at %s (pid dir %s)", self.url, self.workdir)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Kill every process the simulator started (SIGKILL, reaped), then stop serving."""
        if self._loop is None or self._thread is None:
            return
        loop, stop_event = self._loop, self._stop_event
        assert stop_event is not None
        if self._thread.is_alive():
            loop.call_soon_threadsafe(stop_event.set)
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("k8s simulator thread did not stop")
        self._loop = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._loop is not None and self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> K8sSimulator:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test API --------------------------------------------------------------------

    def processes(self) -> list[ProcessInfo]:
        """Every process started by an exec (alive or not), with its live descendants."""
        return self._call(lambda state: [p.info() for p in state.processes])

    def requests(self) -> list[RequestRecord]:
        """Every request received so far, in order."""
        return self._call(lambda state: list(state.requests))

    def reviews(self) -> list[dict[str, Any]]:
        """Every SubjectAccessReview spec received, in order."""
        return self._call(lambda state: list(state.reviews))

    def stdin_closes(self) -> list[tuple[str, ...]]:
        """The command of every exec whose client sent v5's CLOSE of stdin, in order."""
        return self._call(lambda state: list(state.stdin_closes))

    def restore_pod(self, pod: SimPod) -> None:
        """Add (back) a pod, e.g. after `delete_pod`."""
        def add(state: SimState) -> None:
            state.pods[(pod.namespace, pod.name)] = pod
        self._call(add)

    def set_token(self, token: str) -> None:
        """Accept only `token` from now on (a rotated service-account token)."""
        def change(state: SimState) -> None:
            state.token = token
        self._call(change)
        self.token = token

    def set_authorizer(self, authorize: Authorizer) -> None:
        """Answer every authorization question (RBAC) with `authorize` from now on."""
        def change(state: SimState) -> None:
            state.authorize = authorize
        self._call(change)
        self.authorize = authorize

    def delete_pod(self, namespace: str, name: str) -> None:
        """The pod is deleted: it is gone from the API (404) and every process exec'd into
        it is killed, as the kubelet kills its containers; open execs see the exit."""
        def delete(state: SimState) -> None:
            del state.pods[(namespace, name)]
            for proc in state.processes:
                if (proc.spec.namespace, proc.spec.pod) == (namespace, name):
                    proc.kill()
        self._call(delete)

    def pod_dir(self, namespace: str, pod: str) -> Path:
        """The working directory (and HOME) of processes exec'd into the pod."""
        return self.workdir / "pods" / namespace / pod

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig for this simulator: URL, CA (https) and token, default namespace."""
        return write_kubeconfig(
            path, self.url, token=self.token, namespace=namespace,
            ca_pem=self.tls.ca_pem if self.tls else None,
        )

    # -- internals -------------------------------------------------------------------

    def _make_tmp(self) -> Path:
        self._tmp = tempfile.TemporaryDirectory(prefix="k8s-sim-")
        return Path(self._tmp.name)

    def _call(self, fn: Callable[[SimState], T], timeout: float = 10.0) -> T:
        """Run ``fn(state)`` on the loop thread (state is only touched there)."""
        if self._loop is None or self._state is None:
            raise RuntimeError("k8s simulator is not running")
        state = self._state

        async def run() -> T:
            return fn(state)

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def _exec_spec(
        self, pod: SimPod, container: str, command: tuple[str, ...], flags: dict[str, bool]
    ) -> ExecSpec:
        """Where and how an exec runs: pod dir as cwd/HOME, container-like environment."""
        self._exec_count += 1
        exec_id = f"{self.instance}-{self._exec_count}"
        cwd = self.pod_dir(pod.namespace, pod.name)
        cwd.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": CONTAINER_PATH,
            "HOME": str(cwd),
            "HOSTNAME": pod.name,
            "K8S_SIM_POD": f"{pod.namespace}/{pod.name}/{container}",
            EXEC_MARKER_VAR: exec_id,
        }
        if flags["tty"]:
            env["TERM"] = "xterm"  # container runtimes set this for tty execs
        env.update(dict(pod.env))
        return ExecSpec(
            namespace=pod.namespace, pod=pod.name, container=container, command=command,
            tty=flags["tty"], stdin=flags["stdin"], stdout=flags["stdout"],
            stderr=flags["stderr"] and not flags["tty"], cwd=cwd, env=env, exec_id=exec_id,
        )

    def _run(self, sockets: list[Any], ready: threading.Event) -> None:
        asyncio.run(self._serve(sockets, ready))

    async def _serve(self, sockets: list[Any], ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._state = SimState(
            pods=self.pods, token=self.token, git_version=self.git_version,
            server_address=self.url.split("://", 1)[1], spawn_spec=self._exec_spec,
            subprotocols=self.subprotocols, authorize=self.authorize,
        )
        server = HTTPServer(
            make_app(self._state), ssl_options=self.tls.server_context() if self.tls else None
        )
        server.add_sockets(sockets)
        ready.set()
        try:
            await self._stop_event.wait()
        finally:  # whatever happens, the exec'd processes must not outlive the simulator
            server.stop()
            await self._kill_all(self._state)
            await server.close_all_connections()

    async def _kill_all(self, state: SimState) -> None:
        """SIGKILL each exec's process tree, wait (bounded) for the pidfds to reap."""
        for proc in state.processes:
            proc.kill()
        deadline = time.monotonic() + _STOP_REAP_TIMEOUT
        while any(p.alive for p in state.processes) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # lets the pidfd handlers run and reap
        for proc in state.processes:
            proc.reap_blocking()
            proc.kill()  # stragglers that forked while we were killing
            proc.release()
        for sock in list(state.sockets):
            sock.close(1000)
        killed = [p.pid for p in state.processes]
        log.info("k8s simulator stopped; killed and reaped %s", killed)


# -- CLI -------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--pod", action="append", default=[], metavar="NS/POD[:C1,C2]",
        help="a pod to simulate (repeatable; default: default/demo:main)",
    )
    parser.add_argument("--no-tls", action="store_true", help="plain http, no token check")
    parser.add_argument("--token", default=None, help="bearer token (random by default)")
    parser.add_argument("--namespace", default="default", help="kubeconfig's namespace")
    parser.add_argument("--kubeconfig", type=Path, default=None, help="where to write it")
    parser.add_argument("--workdir", type=Path, default=None, help="pod dirs, certs")
    parser.add_argument("--git-version", default=DEFAULT_GIT_VERSION)
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true",
        help="stop (killing all exec'd processes) when stdin closes, i.e. the parent died",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def _watch_stdin(done: threading.Event) -> None:
    """Set ``done`` when stdin reaches EOF (the parent holding the pipe has gone)."""
    def read_until_eof() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside the buffered reader
        # makes the interpreter abort at exit ("could not acquire lock for <stdin>").
        while os.read(0, 4096):
            pass
        done.set()

    threading.Thread(target=read_until_eof, name="stdin-eof", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT (or stdin EOF); print the connection details as JSON."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
        format="%(asctime)s k8s-sim %(levelname)s %(message)s",
    )
    pods = [SimPod.parse(p) for p in args.pod] or list(DEFAULT_PODS)
    sim = K8sSimulator(
        pods, tls=not args.no_tls, token=args.token, host=args.host, port=args.port,
        workdir=args.workdir, git_version=args.git_version,
    ).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if args.exit_on_stdin_eof:
        _watch_stdin(done)
    try:
        kubeconfig = sim.write_kubeconfig(
            args.kubeconfig or sim.workdir / "kubeconfig", namespace=args.namespace
        )
        info = {
            "url": sim.url, "pid": os.getpid(), "token": sim.token, "instance": sim.instance,
            "kubeconfig": str(kubeconfig), "workdir": str(sim.workdir),
            "ca_file": str(sim.tls.ca_file) if sim.tls else None,
        }
        print(json.dumps(info), flush=True)
        done.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
