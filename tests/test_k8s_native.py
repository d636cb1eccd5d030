"""The kubernetes backend end to end: gotty-py -> pods/exec over WebSocket -> simulated API
server -> "pod", with no kubectl anywhere.

The simulator (tests/k8s/) is a real HTTPS server with a real bearer-token check; like a
kubelet it leaves exec'd processes running when the stream drops, it authorizes every
request by the test's RBAC rule (as the impersonated user when the console may impersonate
them) and answers SubjectAccessReviews by the same rule. One simulator and one server serve
most tests (the rule is set per test); those that need another configuration start their
own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.gotty import (
    Client,
    Closed,
    GottyProcess,
    open_session,
    proc_start,
    run_gotty,
    start_gotty,
    wait_for,
)
from tests.jwt_keys import claims, hs256, write_secret
from tests.k8s import K8sSimulator, SimPod
from tests.k8s.handlers import Attributes, allow_all

PROMPT = re.compile(rb"[#$] $")


@dataclass
class Cluster:
    sim: K8sSimulator
    server: GottyProcess
    secret: bytes
    events: Path
    state: Path  # the pods' GOTTY_STATE_DIR: where the record of each session is kept

    def token(self, pod: str = "web-0", namespace: str = "team-a", *,
              command: list[str] | None = None, **overrides: Any) -> str:
        target: dict[str, Any] = {"namespace": namespace, "pod": pod, "container": "app"}
        if command is not None:
            target["command"] = command
        return hs256(self.secret, claims(**{"k8s": target, "groups": ["dev"], **overrides}))

    def event_lines(self) -> list[dict[str, Any]]:
        text = self.events.read_text() if self.events.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def event(self, kind: str, session: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.event_lines()
                         if e.get("event") == kind and e.get("session") == session), None)
        return wait_for(found, 15, message=f"the {kind} line of session {session}")


def no_bash_path(directory: Path) -> Path:
    """A container PATH with sh and the tools the record and the cleanup use, no bash."""
    directory.mkdir()
    for tool in ("sh", "cat", "mkdir", "rm", "sleep", "kill", "echo"):
        found = next((Path(p) / tool for p in ("/usr/bin", "/bin") if (Path(p) / tool).exists()),
                     None)
        if found is not None:
            (directory / tool).symlink_to(found.resolve())
    return directory


def server_args(kubeconfig: Path, secret_file: Path, events: Path, *extra: str) -> list[str]:
    return ["-w", "--backend", "kubernetes", "--k8s-kubeconfig", str(kubeconfig),
            "--k8s-namespaces", "team-a", "--k8s-pod-selector", "app=web",
            "--k8s-commands", "sh, bash", "--jwt-secret-file", str(secret_file),
            "--jwt-audience", "console", "--jwt-issuer", "portal",
            "--audit-event-log", str(events), "--k8s-cleanup-timeout", "10",
            "--address", "127.0.0.1", "--port", "0", *extra, "sh"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("k8s-native")
    state = tmp / "pod-state"
    web = (("app", "web"),)
    env = (("GOTTY_STATE_DIR", str(state)),)
    pods = [SimPod("team-a", "web-0", ("app",), env=env, labels=web),
            SimPod("team-a", "web-1", ("app",), env=env, labels=web),
            SimPod("team-a", "nobash-0", ("app",), labels=web,
                   env=(*env, ("PATH", str(no_bash_path(tmp / "nobash-bin"))))),
            SimPod("team-a", "db-0", ("app",), env=env, labels=(("app", "db"),)),
            SimPod("team-b", "web-0", ("app",), env=env, labels=web)]
    with K8sSimulator(pods, workdir=tmp / "sim") as sim:
        kubeconfig = sim.write_kubeconfig(tmp / "kubeconfig", namespace="team-a")
        secret_file = tmp / "secret"
        secret = write_secret(secret_file)
        events = tmp / "events.jsonl"
        server = start_gotty(*server_args(kubeconfig, secret_file, events))
        try:
            yield Cluster(sim, server, secret, events, state)
        finally:
            server.stop()


@pytest.fixture
def rule(cluster: Cluster) -> Iterator[Callable[[Callable[[Attributes], bool]], None]]:
    """Set the cluster's RBAC for one test; allow-all again afterwards."""
    yield cluster.sim.set_authorizer
    cluster.sim.set_authorizer(allow_all)


def launch(server: GottyProcess, token: str, **extra: Any) -> Client:
    """A session as the portal's link opens one: the launch token in the page's URL."""
    return open_session(server, f"?jwt={token}", **extra)


def refusal(client: Client) -> Closed:
    client.frames_until_close()
    assert client.closed is not None
    return client.closed


def session_id(cluster: Cluster, pod: str, before: int) -> str:
    """The session id the exec into `pod` impersonated with (its user extra)."""
    def exec_request() -> str | None:
        for record in cluster.sim.requests()[before:]:
            if record.path.endswith(f"/pods/{pod}/exec") and "gotty-session" in record.query:
                return dict(record.impersonate_extra)["gotty-session-id"]
        return None
    return str(wait_for(exec_request, 10, message=f"the exec into {pod}"))


def live_shells(cluster: Cluster, session: str) -> list[int]:
    return [p.pid for p in cluster.sim.processes()
            if p.alive and "gotty-session" in p.command and session in p.command]


def test_a_session_execs_as_the_user_with_v5(cluster: Cluster) -> None:
    before = len(cluster.sim.requests())
    client = launch(cluster.server, cluster.token(command=["sh"]), size=(100, 30))
    client.read_while(lambda out: not PROMPT.search(out), 15, "the pod's shell prompt")
    session = session_id(cluster, "web-0", before)
    # Exec as the token's subject, its groups, and the session id for the API audit.
    exec_request = next(r for r in cluster.sim.requests()[before:] if r.path.endswith("/exec"))
    assert exec_request.impersonate_user == "alice"
    assert exec_request.impersonate_groups == ("dev",)
    assert exec_request.impersonate_extra == (("gotty-session-id", session),)
    assert exec_request.subprotocols == "v5.channel.k8s.io,v4.channel.k8s.io"
    assert exec_request.authorization == "bearer-ok"
    # The access review came first and asked exactly about this exec.
    review = cluster.sim.reviews()[-1]
    assert review["user"] == "alice" and review["groups"] == ["dev", "system:authenticated"]
    assert review["resourceAttributes"] == {"namespace": "team-a", "verb": "create",
                                            "group": "", "resource": "pods",
                                            "subresource": "exec", "name": "web-0"}
    paths = [r.path for r in cluster.sim.requests()[before:]]
    assert paths.index("/apis/authorization.k8s.io/v1/subjectaccessreviews") < paths.index(
        "/api/v1/namespaces/team-a/pods/web-0/exec")
    # The record of the session's shell is in the pod before the user has it.
    record = cluster.state / session
    leader, start = record.read_text().split()
    assert proc_start(int(leader)) == start
    # Resize on channel 4 reaches the pod's terminal; the started size too.
    pty = next(p for p in cluster.sim.processes() if p.pid == int(leader))
    assert pty.winsize == [30, 100]
    client.resize(120, 40)
    wait_for(lambda: next(p for p in cluster.sim.processes() if p.pid == int(leader)).winsize
             == [40, 120], 10, message="the resize in the pod")
    client.input("echo IN=$K8S_SIM_POD; exit 3\r")
    closed = refusal(client)
    assert b"IN=team-a/web-0/app" in client.output
    assert (closed.code, closed.reason) == (1000, "process exited with status 3")
    end = cluster.event("end", session)
    assert end["exit_status"] == 3 and end["cleanup_expected"] is True
    cleanup = cluster.event("cleanup", session)
    assert cleanup["ok"] is True and cleanup["argv"][-1] == session
    assert not record.exists()
    assert re.search(rf"Cleanup for session {session} in pod team-a/web-0/app: exit status 0",
                     cluster.server.output())


def test_a_dropped_browser_leaves_nothing_in_the_pod(cluster: Cluster) -> None:
    before = len(cluster.sim.requests())
    client = launch(cluster.server, cluster.token("web-1", command=["sh"]))
    client.read_while(lambda out: not PROMPT.search(out), 15, "the pod's shell prompt")
    client.input("sleep 1000 & echo JOB=$!; echo SHELL=$$\r")
    client.read_while(lambda out: not re.search(rb"SHELL=\d+", out), 10, "the PIDs")
    pids = [int(p) for p in re.findall(rb"(?:JOB|SHELL)=(\d+)", bytes(client.output))]
    started = {pid: proc_start(pid) for pid in pids}
    assert len(started) == 2 and all(started.values())
    session = session_id(cluster, "web-1", before)
    client.abort()  # no close frame: the network is gone
    wait_for(lambda: all(proc_start(pid) != start for pid, start in started.items()), 20,
             message="the pod's shell and its job to end")
    cleanup = cluster.event("cleanup", session)
    assert cleanup["ok"] is True, cleanup
    assert "SIGHUP to" in cleanup["output"]
    assert not (cluster.state / session).exists()
    assert not live_shells(cluster, session)
    # The stream was half-closed (v5 CLOSE of stdin) before it was dropped.
    assert any(session in command for command in cluster.sim.stdin_closes())


def test_an_access_review_denial_starts_nothing(cluster: Cluster, rule: Any) -> None:
    rule(lambda a: not (a.user == "bob" and a.subresource == "exec"))
    before = len(cluster.sim.requests())
    client = launch(cluster.server, cluster.token(sub="bob"))
    closed = refusal(client)
    assert closed.code == 1008
    assert closed.reason.startswith("bob may not exec into pod team-a/web-0 (access review "
                                    "denied")
    assert not [r for r in cluster.sim.requests()[before:] if r.path.endswith("/exec")]
    review = cluster.sim.reviews()[-1]
    assert review["user"] == "bob"
    end = wait_for(lambda: next((e for e in reversed(cluster.event_lines())
                                 if e.get("event") == "end" and e.get("user") == "bob"), None),
                   10, message="bob's end line")
    assert end["cause"] == "refused" and "access review denied" in end["detail"]


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"k8s": None}, "launch token has no 'k8s' claim naming the pod"),
    ({"k8s": {"namespace": "team-b", "pod": "web-0"}},
     "namespace 'team-b' is not allowed on this console"),
    ({"k8s": {"namespace": "team-a", "pod": "web-0", "command": ["python3"]}},
     "command ['python3'] is not allowed on this console"),
    ({"k8s": {"namespace": "team-a", "pod": "Web_0"}},
     "launch token claim k8s.pod must be a Kubernetes name, got 'Web_0'"),
    ({"sub": "system:admin"}, "system: names are not impersonated"),
])
def test_targets_outside_the_policy_never_reach_the_api(cluster: Cluster,
                                                        overrides: dict[str, Any],
                                                        reason: str) -> None:
    before = len(cluster.sim.requests())
    token = hs256(cluster.secret, claims(**{"k8s": {"namespace": "team-a", "pod": "web-0"},
                                            **overrides}))
    closed = refusal(launch(cluster.server, token))
    assert closed.code == 1008 and reason in closed.reason, closed
    assert cluster.sim.requests()[before:] == []


def test_a_pod_outside_the_selector_is_refused_after_reading_it(cluster: Cluster) -> None:
    before = len(cluster.sim.requests())
    closed = refusal(launch(cluster.server, cluster.token("db-0")))
    assert (closed.code, closed.reason) == (
        1008, "pod team-a/db-0 does not match this console's pod selector 'app=web'")
    assert [r.path for r in cluster.sim.requests()[before:]] == [
        "/api/v1/namespaces/team-a/pods/db-0"]


def test_api_errors_404_403_401(cluster: Cluster, rule: Any) -> None:
    closed = refusal(launch(cluster.server, cluster.token("web-9")))
    assert (closed.code, closed.reason) == (1011, "failed to start command: pod "
                                                  "team-a/web-9 not found")
    # The console may not impersonate the group: the exec itself is forbidden (403).
    rule(lambda a: not (a.verb == "impersonate" and a.resource == "groups"))
    closed = refusal(launch(cluster.server, cluster.token()))
    assert closed.code == 1008  # the close reason is the API server's text, cut to 123 bytes
    assert closed.reason.startswith('forbidden: groups "dev" is forbidden: User "system:'
                                    'serviceaccount:gotty:gotty-py" cannot impersonate')
    # A stale token: 401 for everything.
    token = cluster.sim.token
    assert token is not None
    cluster.sim.set_token("rotated-elsewhere")
    try:
        closed = refusal(launch(cluster.server, cluster.token()))
    finally:
        cluster.sim.set_token(token)
    assert (closed.code, closed.reason) == (1011, "failed to start command: the API server "
                                                  "refused the console's credentials (401 "
                                                  "Unauthorized)")


def test_a_container_without_bash_gets_sh(cluster: Cluster) -> None:
    client = launch(cluster.server, cluster.token("nobash-0", command=["bash"]))
    client.read_while(lambda out: not PROMPT.search(out), 15, "the pod's shell prompt")
    client.input("echo SHELL_IS=$0; exit\r")
    closed = refusal(client)
    assert b"bash is not in this container; starting sh" in client.output
    assert b"SHELL_IS=sh" in client.output
    assert (closed.code, closed.reason) == (1000, "process exited with status 0")


def test_a_pod_deleted_mid_session(cluster: Cluster, tmp_path: Path) -> None:
    before = len(cluster.sim.requests())
    client = launch(cluster.server, cluster.token("web-1", command=["sh"]))
    client.read_while(lambda out: not PROMPT.search(out), 15, "the pod's shell prompt")
    session = session_id(cluster, "web-1", before)
    cluster.sim.delete_pod("team-a", "web-1")
    try:
        closed = refusal(client)
        assert (closed.code, closed.reason) == (1000, "process exited with status 137")
        cleanup = cluster.event("cleanup", session)
        assert cleanup["ok"] is True and "is gone" in cleanup["output"], cleanup
    finally:
        cluster.sim.restore_pod(SimPod("team-a", "web-1", ("app",),
                                       env=(("GOTTY_STATE_DIR", str(cluster.state)),),
                                       labels=(("app", "web"),)))


def test_v4_without_impersonation(tmp_path: Path) -> None:
    """A server that offers no v5 gets v4 (no CLOSE); with impersonation off the console's
    own account execs: no impersonation headers, no access review."""
    state = tmp_path / "state"
    pod = SimPod("team-a", "web-0", ("app",), env=(("GOTTY_STATE_DIR", str(state)),),
                 labels=(("app", "web"),))
    with K8sSimulator([pod], workdir=tmp_path / "sim",
                      subprotocols=("v4.channel.k8s.io",)) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        secret = write_secret(tmp_path / "secret")
        server = start_gotty(*server_args(kubeconfig, tmp_path / "secret",
                                          tmp_path / "events", "--k8s-impersonate=false"))
        try:
            token = hs256(secret, claims(k8s={"namespace": "team-a", "pod": "web-0"}))
            client = launch(server, token)
            client.read_while(lambda out: not PROMPT.search(out), 15, "the prompt")
            client.input("exit 7\r")
            closed = refusal(client)
            assert (closed.code, closed.reason) == (1000, "process exited with status 7")
            line = server.wait_for_line(r"Cleanup for session \w+ in pod team-a/web-0:", 15)
            assert ": exit status 0" in line, server.output()
            assert server.wait_for_line(r"pod team-a/web-0 \(v4.channel.k8s.io\)")
        finally:
            server.stop()
        execs = [r for r in sim.requests() if r.path.endswith("/exec")]
        assert len(execs) == 2  # the session and its cleanup
        assert all(r.impersonate_user == "" and r.impersonate_extra == () for r in execs)
        assert sim.reviews() == [] and sim.stdin_closes() == []
        assert "Warning: --k8s-impersonate is off" in server.output()


def test_in_cluster_token_rotation(tmp_path: Path) -> None:
    """The projected token is re-read when the kubelet replaces it."""
    pod = SimPod("team-a", "web-0", ("app",), env=(("GOTTY_STATE_DIR", str(tmp_path / "s")),),
                 labels=(("app", "web"),))
    with K8sSimulator([pod], workdir=tmp_path / "sim") as sim:
        assert sim.tls is not None and sim.token is not None
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "ca.crt").write_bytes(sim.tls.ca_pem)
        (account / "token").write_text(sim.token)
        secret = write_secret(tmp_path / "secret")
        host, port = sim.url.removeprefix("https://").split(":")
        args = server_args(tmp_path / "unused", tmp_path / "secret", tmp_path / "events",
                           "--k8s-in-cluster", "--k8s-service-account-dir", str(account))
        server = start_gotty(*args, env={"KUBERNETES_SERVICE_HOST": host,
                                         "KUBERNETES_SERVICE_PORT": port})
        try:
            def session_runs() -> None:
                token = hs256(secret, claims(k8s={"namespace": "team-a", "pod": "web-0"}))
                client = launch(server, token)
                client.read_while(lambda out: not PROMPT.search(out), 15, "the prompt")
                client.input("exit\r")
                assert refusal(client).reason == "process exited with status 0"

            session_runs()
            server.wait_for_line(r"Cleanup for session \w+ in pod team-a/web-0: exit status 0")
            # The kubelet's rotation: a new file swapped in; the old token is dead at once.
            (account / "token.new").write_text("rotated-token")
            os.replace(account / "token.new", account / "token")
            sim.set_token("rotated-token")
            session_runs()
        finally:
            server.stop()
        assert [r.authorization for r in sim.requests()] and all(
            r.authorization == "bearer-ok" for r in sim.requests())


def test_an_unreachable_api_server(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    from tests.k8s import write_kubeconfig
    write_kubeconfig(kubeconfig, "http://127.0.0.1:9")  # discard port: nothing listens
    secret = write_secret(tmp_path / "secret")
    server = start_gotty(*server_args(kubeconfig, tmp_path / "secret", tmp_path / "events"))
    try:
        token = hs256(secret, claims(k8s={"namespace": "team-a", "pod": "web-0"}))
        closed = refusal(launch(server, token))
    finally:
        server.stop()
    assert closed.code == 1011
    assert closed.reason.startswith("failed to start command: the API server at "
                                    "http://127.0.0.1:9 is unreachable"), closed.reason


@pytest.mark.parametrize(("args", "message"), [
    (["--k8s-namespaces", "team-a"], "the kubernetes backend needs JWT launch tokens"),
    (["--jwt-secret-file", "SECRET"], "--k8s-namespaces: the kubernetes backend needs the "
                                      "namespaces"),
    (["--jwt-secret-file", "SECRET", "--k8s-namespaces", "a", "--k8s-pod-selector",
      "app in (web)"], "--k8s-pod-selector: set-based label selectors are not supported"),
    (["--jwt-secret-file", "SECRET", "--k8s-namespaces", "a", "--k8s-kubeconfig",
      "/nonexistent/kubeconfig"], "--k8s-kubeconfig: kubeconfig /nonexistent/kubeconfig is "
                                  "not readable"),
    (["--jwt-secret-file", "SECRET", "--k8s-namespaces", "a", "--k8s-in-cluster",
      "--k8s-service-account-dir", "/nonexistent"], "--k8s-in-cluster: in-cluster "
                                                    "configuration"),
])
def test_unusable_configuration_is_refused_at_start_up(tmp_path: Path, args: list[str],
                                                       message: str) -> None:
    write_secret(tmp_path / "secret")
    args = [str(tmp_path / "secret") if a == "SECRET" else a for a in args]
    result = run_gotty("--backend", "kubernetes", *args, "sh",
                       env={"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                            "KUBERNETES_SERVICE_PORT": "1"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stdout + result.stderr


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    result = run_gotty("--backend", "docker", "sh")
    assert result.returncode == 2
    assert "--backend: expected one of local, kubernetes, got 'docker'" in (result.stdout
                                                                            + result.stderr)
