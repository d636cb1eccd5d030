"""The native kubernetes backend in the browser: a minted link opens a shell in a simulated
pod, as the token's user, and closing the tab ends everything the shell started in the pod
(the simulator, like a kubelet, would leave it running)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gotty_harness import ServerFactory
from playwright.sync_api import Page
from terminal_page import TerminalPage

from tests.gotty import proc_start, wait_for
from tests.jwt_keys import claims, hs256, write_secret
from tests.k8s import K8sSimulator, SimPod

pytestmark = pytest.mark.browser


def test_closing_the_tab_leaves_nothing_in_the_pod(gotty_server: ServerFactory, page: Page,
                                                   tmp_path: Path) -> None:
    state = tmp_path / "pod-state"
    pod = SimPod("team-a", "web-0", ("app",), env=(("GOTTY_STATE_DIR", str(state)),))
    with K8sSimulator([pod], workdir=tmp_path / "sim") as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        secret = write_secret(tmp_path / "secret")
        server = gotty_server("sh", options=[
            "-w", "--backend", "kubernetes", "--k8s-kubeconfig", str(kubeconfig),
            "--k8s-namespaces", "team-a", "--jwt-secret-file", str(tmp_path / "secret"),
            "--title-format", "{{ .user }}: {{ .namespace }}/{{ .pod }}"])
        token = hs256(secret, claims(aud=None, iss=None, groups=["dev"],
                                     k8s={"namespace": "team-a", "pod": "web-0"}))
        term = TerminalPage(page).open(f"{server.url}?jwt={token}")
        wait_for(lambda: page.title() == "alice: team-a/web-0", 15, message="the title")
        term.type_line("nohup sleep 1000 >/dev/null 2>&1 & echo NOHUP=$!; echo SHELL=$$; "
                       "echo IN=$K8S_SIM_POD")
        pattern = re.compile(r"(?:NOHUP|SHELL)=(\d+)")

        def two_pids() -> list[str] | None:
            ids = pattern.findall(term.buffer_text())
            return ids if len(ids) == 2 else None

        pids = [int(p) for p in wait_for(two_pids, 15, message="the two PIDs on screen")]
        assert "IN=team-a/web-0/app" in term.buffer_text()
        processes = {pid: proc_start(pid) for pid in pids}
        assert len(processes) == 2 and all(processes.values()), processes
        assert len(list(state.iterdir())) == 1  # the record of the pod's shell

        page.close()  # the user closes the tab

        wait_for(lambda: all(proc_start(pid) != start for pid, start in processes.items()),
                 20, message="every process of the closed tab's session to end in the pod")
        server.wait_for_line(r"Cleanup for session \w+ in pod team-a/web-0: exit status 0", 15)
        assert list(state.iterdir()) == []
        execs = [r for r in sim.requests() if r.path.endswith("/exec")]
        assert [r.impersonate_user for r in execs] == ["alice", "alice"]
