"""Echo latency and output throughput into a pod: the native kubernetes backend beside the
kubectl recipe (examples/kubernetes/kube-exec.sh), against the simulated API server.

Both servers talk to one simulator (a child process, https with a bearer token) in the
same run, sessions alternating, so the ratio compares the two paths on the same machine:
native = gotty-py -> WebSocket -> API server; kubectl = gotty-py -> PTY -> kubectl ->
WebSocket -> API server. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.gotty import ROOT, Client, GottyProcess, start_gotty
from tests.jwt_keys import claims, hs256, write_secret
from tests.k8s import SimPod, SimulatorSubprocess, write_kubeconfig

PROMPT = re.compile(rb"[#$] $")


def _shell(server: GottyProcess, arguments: str) -> Client:
    client = Client(server.ws_url, subprotocols=["webtty"])
    client.init(arguments)
    client.read_while(lambda out: not PROMPT.search(out), 60, "the pod's prompt")
    return client


def _echo(client: Client, rounds: int) -> list[float]:
    client.input("stty raw -echo; exec cat\r")
    samples = []
    for i in range(rounds + 10):
        token = f"<{i}>".encode()
        start = time.perf_counter()
        client.input(token)
        client.read_until(token, 30)
        if i >= 10:  # after a warm-up
            samples.append((time.perf_counter() - start) * 1e6)
    return sorted(samples)


def _throughput(client: Client, mib: int) -> float:
    """MB/s of `head -c` output through the whole path, until the session closes."""
    before = len(client.output)
    start = time.perf_counter()
    client.input(f"stty raw -echo; head -c {mib * 1024 * 1024} /dev/zero; exit\r")
    client.frames_until_close()
    return (len(client.output) - before) / 1024 / 1024 / (time.perf_counter() - start)


def run(quick: bool) -> None:
    """Print the native and kubectl rows and their ratio."""
    if shutil.which("kubectl") is None:
        print("kubernetes exec:   skipped, kubectl is not installed (the yardstick)")
        return
    rounds, mib, repeats = (100, 8, 1) if quick else (300, 32, 3)
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimulatorSubprocess([SimPod("default", "demo", ("main",))]).start()
        try:
            kubeconfig = write_kubeconfig(Path(tmp) / "kubeconfig", sim.url, token=sim.token,
                                          ca_pem=Path(sim.info["ca_file"]).read_bytes())
            secret = write_secret(Path(tmp) / "secret")
            common = ("-a", "127.0.0.1", "-p", "0", "-w", "--jwt-secret-file", f"{tmp}/secret")
            native = start_gotty(*common, "--backend", "kubernetes", "--k8s-kubeconfig",
                                 str(kubeconfig), "--k8s-namespaces", "default",
                                 "--k8s-impersonate=false", "sh")
            kubectl = start_gotty(*common, str(ROOT / "examples/kubernetes/kube-exec.sh"),
                                  env={"KUBECONFIG": str(kubeconfig), "HOME": tmp})
            servers = {"native": native, "kubectl": kubectl}

            def arguments(name: str) -> str:
                if name == "native":
                    token = claims(aud=None, iss=None, k8s={"namespace": "default",
                                                            "pod": "demo"})
                else:
                    token = claims(aud=None, iss=None, args=["default", "demo", "main", "sh"])
                return f"?jwt={hs256(secret, token)}"

            echo: dict[str, list[float]] = {n: [] for n in servers}
            rate: dict[str, list[float]] = {n: [] for n in servers}
            try:
                for _ in range(repeats):
                    for name, server in servers.items():
                        client = _shell(server, arguments(name))
                        echo[name] += _echo(client, rounds)
                        client.close()
                        rate[name].append(_throughput(_shell(server, arguments(name)), mib))
            finally:
                for server in servers.values():
                    server.stop()
        finally:
            sim.stop()
    for name in servers:
        samples = sorted(echo[name])
        print(f"kubernetes exec, {name:7}: echo median {statistics.median(samples):6.0f} µs, "
              f"p99 {samples[int(len(samples) * 0.99)]:6.0f} µs; output "
              f"{statistics.median(rate[name]):6.1f} MB/s ({len(samples)} keystrokes, "
              f"{mib} MiB x {repeats})")
    latency = statistics.median(echo["native"]) / statistics.median(echo["kubectl"])
    output = statistics.median(rate["native"]) / statistics.median(rate["kubectl"])
    print(f"kubernetes exec, native / kubectl: echo {latency:.2f}x the latency, "
          f"{output:.2f}x the throughput")


if __name__ == "__main__":
    run(quick=True)
