"""The simulated Kubernetes API server (tests/k8s) against the real kubectl.

These tests pin down what later tests rely on: the real ``kubectl exec -it`` works against
the simulator (output, exit codes, environment, resizes, errors), and -- the crucial part --
a killed kubectl leaves the shell running "in the pod", as on a real cluster
(landscape.md §4.1), until something kills it: here the simulator's own shutdown, or a
second exec as the project's cleanup will do.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TypeAlias

import pytest

from tests.k8s import K8sSimulator, ProcessInfo, SimPod, SimulatorSubprocess
from tests.k8s.kubeconfig import write_kubeconfig
from tests.k8s.terminal import PtyCommand, pid_alive, wait_for

KUBECTL = Path("/usr/bin/kubectl")
pytestmark = pytest.mark.skipif(
    not os.access(KUBECTL, os.X_OK),
    reason=f"{KUBECTL} is not installed; these tests drive the real kubectl",
)

NS, POD = "team-a", "web-0"
PODS = [SimPod(NS, POD, ("app", "sidecar"))]
PROMPT = r"[$#] $"  # sh's prompt, at the end of the output so far
AnySim: TypeAlias = K8sSimulator | SimulatorSubprocess


def _all_pids(sim: AnySim) -> set[int]:
    """Every exec'd process and live descendant the simulator knows of."""
    return {pid for info in sim.processes() for pid in (info.pid, *info.pids)}


def _stop_and_check(sim: AnySim) -> None:
    """Stop the simulator and prove that it left none of its processes behind."""
    if not sim.running:  # the test stopped it and checked itself
        return
    pids = _all_pids(sim)
    sim.stop()
    assert wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5)


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[AnySim]:
    """The simulator, in-process by default; ``indirect`` param "subprocess" for the CLI."""
    mode = getattr(request, "param", "thread")
    simulator: AnySim = (
        SimulatorSubprocess(PODS) if mode == "subprocess" else K8sSimulator(PODS)
    )
    simulator.start()
    try:
        yield simulator
    finally:
        _stop_and_check(simulator)


class Kubectl:
    """Runs the real kubectl for one test; :meth:`close_all` ends each one by PID."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        home.mkdir(exist_ok=True)  # kubectl caches discovery under $HOME/.kube
        self.kubeconfig = kubeconfig
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
        self.started: list[PtyCommand] = []

    def argv(self, *args: str) -> list[str]:
        return [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "-n", NS, *args]

    def exec_it(
        self, *command: str, pod: str = POD, container: str = "app",
        dimensions: tuple[int, int] = (24, 80),
    ) -> PtyCommand:
        """``kubectl exec -it`` under a real PTY (kubectl requires a terminal for -t)."""
        argv = self.argv("exec", "-it", pod, "-c", container, "--", *command)
        term = PtyCommand(argv, env=self.env, dimensions=dimensions)
        self.started.append(term)
        return term

    def run(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        """A non-interactive kubectl command, bounded by a timeout."""
        return subprocess.run(
            self.argv(*args), input=stdin, capture_output=True, env=self.env, timeout=30
        )

    def close_all(self) -> None:
        for term in self.started:
            term.close()


@pytest.fixture
def kubectl(sim: AnySim, tmp_path: Path) -> Iterator[Kubectl]:
    runner = Kubectl(sim.write_kubeconfig(tmp_path / "kubeconfig", NS), tmp_path / "home")
    try:
        yield runner
    finally:
        runner.close_all()


def _process(sim: AnySim, pid: int) -> ProcessInfo:
    [info] = [p for p in sim.processes() if p.pid == pid]
    return info


def _only_process(sim: AnySim) -> ProcessInfo:
    [info] = sim.processes()
    return info


def _shell_pid(term: PtyCommand) -> int:
    """Ask the shell for its PID (``$$``; the echoed command line itself cannot match)."""
    term.expect(PROMPT)
    term.send("echo PID=$$\r")
    return int(term.expect(r"PID=(\d+)").group(1))


def test_exec_prints_output_and_exits_with_the_command_code(
    kubectl: Kubectl, sim: K8sSimulator
) -> None:
    term = kubectl.exec_it("sh", "-c", "echo hi-$((40+2)); exit 3")
    term.expect(r"hi-42")
    assert term.wait_exit() == 3

    [exec_request] = [r for r in sim.requests() if r.path.endswith("/exec")]
    assert exec_request.method == "GET" and exec_request.upgrade.lower() == "websocket"
    assert exec_request.subprotocols == "v5.channel.k8s.io"
    assert "tty=true" in exec_request.query and "container=app" in exec_request.query
    assert exec_request.authorization == "bearer-ok"  # https: kubectl sent the token
    assert _only_process(sim).exit_code == 3


def test_interactive_shell_runs_in_the_pod(kubectl: Kubectl) -> None:
    term = kubectl.exec_it("sh", container="sidecar")
    term.expect(PROMPT)
    term.send('echo "<$K8S_SIM_POD>"\r')
    term.expect(rf"<{NS}/{POD}/sidecar>")
    term.send("exit\r")
    assert term.wait_exit() == 0


def test_resize_reaches_the_process(kubectl: Kubectl, sim: K8sSimulator) -> None:
    term = kubectl.exec_it("sh", dimensions=(30, 100))
    term.expect(PROMPT)
    assert wait_for(lambda: _only_process(sim).winsize == [30, 100], timeout=5)
    term.send("stty size\r")
    term.expect(r"\n30 100\r?\n")

    term.set_size(40, 120)  # SIGWINCH to kubectl, which sends a resize message
    assert wait_for(lambda: _only_process(sim).winsize == [40, 120], timeout=5)
    term.send("stty size\r")
    term.expect(r"\n40 120\r?\n")


def test_unknown_pod_is_not_found(kubectl: Kubectl, sim: K8sSimulator) -> None:
    term = kubectl.exec_it("sh", pod="no-such-pod")
    output = term.read_to_eof()
    assert term.wait_exit() != 0
    assert 'Error from server (NotFound): pods "no-such-pod" not found' in output
    assert sim.processes() == []


def test_unknown_container_is_a_bad_request(kubectl: Kubectl) -> None:
    result = kubectl.run("exec", POD, "-c", "nope", "--", "true")
    assert result.returncode == 1
    assert b"container nope is not valid for pod web-0" in result.stderr


def test_non_tty_exec_gets_stdin_eof_and_separate_stderr(kubectl: Kubectl) -> None:
    result = kubectl.run(
        "exec", "-i", POD, "-c", "app", "--", "sh", "-c", "cat; echo done >&2; exit 5",
        stdin=b"hello\n",
    )
    assert (result.returncode, result.stdout, result.stderr.splitlines()[0]) == (
        5, b"hello\n", b"done"
    )


def test_wrong_token_is_unauthorized(kubectl: Kubectl, sim: K8sSimulator) -> None:
    assert sim.tls is not None
    write_kubeconfig(kubectl.kubeconfig, sim.url, token="wrong", ca_pem=sim.tls.ca_pem)
    result = kubectl.run("exec", POD, "--", "true")
    assert result.returncode == 1
    assert b"error: You must be logged in to the server" in result.stderr
    assert {r.authorization for r in sim.requests()} == {"bearer-wrong"}


@pytest.mark.parametrize("sim", ["thread", "subprocess"], indirect=True)
def test_killed_kubectl_leaves_the_shell_running(kubectl: Kubectl, sim: AnySim) -> None:
    """The leftover problem is real: only the simulator's shutdown ends the shell."""
    term = kubectl.exec_it("sh")
    pid = _shell_pid(term)
    assert _process(sim, pid).attached

    term.kill()  # SIGKILL by PID: the stream drops without any goodbye
    assert term.wait_exit() == 128 + signal.SIGKILL
    assert wait_for(lambda: not _process(sim, pid).attached, timeout=5)

    info = _process(sim, pid)
    assert info.alive and info.exit_code is None
    os.kill(pid, 0)  # raises if the shell were gone
    # Not merely slow to die: no SIGHUP and no EOF ever reach it, it blocks in read().
    assert not wait_for(lambda: not pid_alive(pid), timeout=1.0)

    sim.stop()
    assert wait_for(lambda: not pid_alive(pid), timeout=5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_second_exec_can_end_the_leftover_shell(kubectl: Kubectl, sim: K8sSimulator) -> None:
    """What the cleanup will do (landscape.md §4.2, 2): signal the shell from a new exec."""
    term = kubectl.exec_it("sh")
    pid = _shell_pid(term)
    term.send("sleep 1000 & echo job-$((1+1))\r")  # a job in its own process group
    term.expect(r"job-2")
    term.kill()
    assert wait_for(lambda: not _process(sim, pid).attached, timeout=5)
    [sleeper] = set(_process(sim, pid).pids) - {pid}

    result = kubectl.run("exec", POD, "-c", "app", "--", "sh", "-c", f"kill -HUP {pid}")
    assert result.returncode == 0, result.stderr
    assert wait_for(lambda: not _process(sim, pid).alive, timeout=5)
    assert _process(sim, pid).exit_code == 128 + signal.SIGHUP
    # Ending the shell did not end its job (own process group): cleanup must cover those.
    assert pid_alive(sleeper)
