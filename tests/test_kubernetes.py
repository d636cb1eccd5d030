"""The Kubernetes path end to end: gotty-py -> real kubectl -> simulated API server -> "pod".

The "pod" is the simulated API server running the exec'd shell under a PTY on this machine
and, like a real kubelet, leaving it running when the exec stream drops. These tests show
that the problem is real without the cleanup hook, and that the recipe in
examples/kubernetes/ leaves nothing behind however the session ends.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gotty import (
    ROOT,
    Client,
    Gotty,
    GottyProcess,
    job_pids,
    open_session,
    proc_start,
    wait_for,
)
from tests.k8s import K8sSimulator, SimPod

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is missing")

EXEC = str(ROOT / "examples/kubernetes/kube-exec.sh")
CLEANUP = str(ROOT / "examples/kubernetes/kube-cleanup.sh")
CLEANUP_COMMAND = f"{CLEANUP} {{arg0}} {{arg1}} {{arg2}} {{session}}"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[K8sSimulator, dict[str, str], Path]]:
    """A simulated cluster with one pod, and the environment gotty-py needs to reach it."""
    state = tmp_path / "pod-state"
    pod = SimPod("team-a", "web-0", ("app",), env=(("GOTTY_STATE_DIR", str(state)),))
    with K8sSimulator([pod], workdir=tmp_path / "sim") as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", namespace="team-a")
        yield sim, {"KUBECONFIG": str(kubeconfig)}, state


def open_shell(server: GottyProcess) -> tuple[Client, dict[int, str]]:
    """Start a session, and in the pod's shell a background job; their PIDs in the pod."""
    client = open_session(server)
    return client, start_job(client)


def start_job(client: Client) -> dict[int, str]:
    """In the session's pod shell, a background job; the shell's and the job's PIDs (in the
    pod) with their start times."""
    client.read_while(lambda out: not re.search(rb"[#$] $", out), 20, "the pod's shell prompt")
    client.input("sleep 1000 & echo JOB=$!; echo SHELL=$$\r")
    return job_pids(client, 10)


def all_gone(processes: dict[int, str]) -> bool:
    return all(proc_start(pid) != start for pid, start in processes.items())


def test_without_cleanup_the_shell_stays_in_the_pod(gotty: Gotty, cluster) -> None:  # type: ignore[no-untyped-def]
    """The problem is real: the local kubectl ends with the session, the pod's shell does not."""
    sim, env, _ = cluster
    server = gotty("-w", "--close-timeout", "1", EXEC, "team-a", "web-0", "app", "sh", env=env)
    client, processes = open_shell(server)
    kubectl = [p for p in sim.processes() if p.alive]
    assert kubectl, "the shell runs in the pod"
    client.abort()
    server.wait_for_line("Connection closed by client-closed")
    wait_for(lambda: any(not p.attached for p in sim.processes()), 10,
             message="kubectl's stream to drop")
    assert not all_gone(processes), "the shell should have been left running in the pod"
    assert all(proc_start(pid) == start for pid, start in processes.items())


@pytest.mark.parametrize("ending", ["tab closed", "network dropped", "server shutdown"])
def test_the_recipe_leaves_nothing_in_the_pod(gotty: Gotty, cluster, ending: str,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:
    sim, env, state = cluster
    events = tmp_path / "events.jsonl"
    server = gotty("-w", "--close-timeout", "1", "--cleanup-command", CLEANUP_COMMAND,
                   "--audit-event-log", str(events), EXEC, "team-a", "web-0", "app", "sh",
                   env=env)
    client, processes = open_shell(server)
    records = list(state.iterdir())
    assert len(records) == 1  # the preamble recorded the shell
    if ending == "tab closed":
        client.close()
    elif ending == "network dropped":
        client.abort()
    else:
        server.process.send_signal(signal.SIGTERM)
        assert server.wait_exit(60) == 0  # exits only after the cleanup hook has run
    wait_for(lambda: all_gone(processes), 30, message="the pod's shell and its job to end")
    line = server.wait_for_line(r"Cleanup for session \w+: ", 30)
    assert "exit status 0" in line, line
    assert not records[0].exists()

    def cleanup_line() -> dict[str, object] | None:
        text = events.read_text() if events.exists() else ""
        lines = [json.loads(ln) for ln in text.splitlines()]
        return next((ln for ln in lines if ln.get("event") == "cleanup"), None)

    line_in_log = wait_for(cleanup_line, 10, message="the cleanup outcome in the event log")
    assert line_in_log["ok"] is True and line_in_log["argv"][-1] == records[0].name
    assert not [p for p in sim.processes() if p.alive and p.command[:1] == ["sh"]
                and "gotty-session" in p.command]
