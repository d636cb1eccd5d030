"""No leftover processes: a session's whole process tree ends with it, and nothing else does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gotty import Client, Gotty, GottyProcess, open_session, pid_alive, proc_start, wait_for

# Background job, nohup (ignores HUP), setsid (new session), a double fork (orphaned: the
# server adopts it as subreaper) and an env-scrubbed job; each prints its PID.
TREE = ("sleep 1000 & echo P=$!; "
        "nohup sleep 1001 >/dev/null 2>&1 & echo P=$!; "
        "setsid sleep 1002 & echo P=$!; "
        "(sleep 1003 & echo P=$!) ; "
        "env -i sleep 1005 & echo P=$!; "
        "echo ID=$GOTTY_SESSION_ID; echo P=$$; wait")


_recorded: list[dict[int, str]] = []


@pytest.fixture(autouse=True)
def _kill_survivors() -> Iterator[None]:
    """When a test fails, the processes it recorded must not outlive it (killed by PID)."""
    yield
    for processes in _recorded:
        for pid, start in processes.items():
            if proc_start(pid) == start:
                os.kill(pid, signal.SIGKILL)
    _recorded.clear()


def start_tree(server: GottyProcess, script: str = TREE) -> tuple[Client, dict[int, str], str]:
    client = open_session(server)
    expected = script.count("echo P=")
    client.read_while(lambda out: not re.search(rb"ID=\w+\r?\n", out)
                      or len(re.findall(rb"P=\d+\r?\n", out)) < expected,
                      what=f"{expected} PIDs and the session id")
    pids = [int(p) for p in re.findall(rb"P=(\d+)", bytes(client.output))]
    session_id = re.search(rb"ID=([0-9a-f]+)", bytes(client.output))
    assert session_id is not None
    started = {pid: proc_start(pid) for pid in pids}
    assert all(started.values()), f"not all started: {started}"
    processes = {p: s for p, s in started.items() if s}
    _recorded.append(processes)
    return client, processes, session_id.group(1).decode()


def all_gone(processes: dict[int, str]) -> bool:
    return all(proc_start(pid) != start for pid, start in processes.items())


def zombies_of(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(int(name))
    return found


class TestLocalTree:
    def test_abrupt_disconnect_ends_the_whole_tree(self, gotty: Gotty) -> None:
        server = gotty("--close-timeout", "1", "sh", "-c", TREE)
        client, processes, _ = start_tree(server)
        assert len(processes) == 6
        client.abort()
        wait_for(lambda: all_gone(processes), 1 + 5, message="every session process to end")
        wait_for(lambda: not zombies_of(server.pid), 5, message="no zombies left")

    def test_a_child_ignoring_hup_is_killed_with_its_children(self, gotty: Gotty) -> None:
        script = "trap '' HUP; sleep 1000 & echo P=$!; echo ID=$GOTTY_SESSION_ID; echo P=$$; wait"
        server = gotty("--close-timeout", "1", "sh", "-c", script)
        client, processes, _ = start_tree(server, script)
        client.close()
        wait_for(lambda: all_gone(processes), 1 + 5, message="SIGKILL after the close timeout")

    def test_background_jobs_end_when_the_command_exits(self, gotty: Gotty) -> None:
        script = ("nohup sleep 1000 >/dev/null 2>&1 & echo P=$!; setsid sleep 1001 & echo P=$!; "
                  "echo ID=$GOTTY_SESSION_ID; echo P=$$; read x")
        server = gotty("-w", "--close-timeout", "1", "sh", "-c", script)
        client, processes, _ = start_tree(server, script)
        client.input("\r")
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1000
        wait_for(lambda: all_gone(processes), 1 + 5, message="leftovers of an exited command")

    def test_server_shutdown_ends_every_tree(self, gotty: Gotty) -> None:
        server = gotty("--close-timeout", "1", "sh", "-c", TREE)
        _, first, _ = start_tree(server)
        _, second, _ = start_tree(server)
        server.process.send_signal(signal.SIGTERM)
        assert server.wait_exit(20) == 0
        assert all_gone(first) and all_gone(second)

    def test_unrelated_processes_are_never_touched(self, gotty: Gotty, tmp_path: Path) -> None:
        """Not even one outside the server that forges the session's marker."""
        server = gotty("--close-timeout", "1", "sh", "-c", TREE)
        client, processes, session_id = start_tree(server)
        env = dict(os.environ, GOTTY_SESSION_ID=session_id)
        forged = subprocess.Popen(["sleep", "1000"], env=env)
        bystander = subprocess.Popen(["sleep", "1000"])
        other_client, other_session, _ = start_tree(server)
        try:
            client.abort()
            wait_for(lambda: all_gone(processes), 6, message="the session's processes to end")
            assert forged.poll() is None and bystander.poll() is None
            assert not all_gone(other_session), "another session's processes were touched"
            assert pid_alive(server.pid)
        finally:
            for process in (forged, bystander):
                process.kill()
                process.wait()
        other_client.close()
        wait_for(lambda: all_gone(other_session), 6, message="the other session to end")


class TestDeadClients:
    def test_silent_client_is_detected_by_pings(self, gotty: Gotty) -> None:
        """A client that stops answering (lid closed, network cut) loses its session."""
        server = gotty("--ws-ping-interval", "1", "--ws-ping-timeout", "1", "--close-timeout",
                       "1", "sh", "-c", "echo ID=$GOTTY_SESSION_ID; echo P=$$; wait; read x")
        client, processes, _ = start_tree(server, "echo P=$$")
        # From here on the client reads nothing, so it answers no ping: a half-open peer.
        wait_for(lambda: all_gone(processes), 1 + 1 + 5 + 5, message="the dead client's end")
        server.wait_for_line("Connection closed by client-closed: connection lost")
        client.abort()

    def test_client_without_init_is_dropped_before_any_process(self, gotty: Gotty,
                                                               tmp_path: Path) -> None:
        marker = tmp_path / "started"
        server = gotty("--init-timeout", "1", "touch", str(marker))
        client = Client(server.ws_url, subprotocols=["webtty"])
        client.frames_until_close()
        assert client.closed is not None
        assert (client.closed.code, client.closed.reason) == (1008, "no init message within 1 s")
        assert not marker.exists()

    @pytest.mark.parametrize("args", [["--ws-ping-interval", "5", "--ws-ping-timeout", "9"]])
    def test_ping_timeout_above_interval_is_refused(self, args: list[str]) -> None:
        from tests.gotty import run_gotty
        result = run_gotty(*args, "true")
        assert result.returncode == 2 and "ws_ping_timeout" in result.stderr
