"""A configuration that cannot work is refused at start-up, not found by the first user.

The command and the cleanup program must be runnable when the server starts; relative paths
in a config file mean files next to it; a recipe that needs launch tokens refuses to start
without a key. A cleanup that fails later is logged with its full path, written to the
event log as failed, and shown by `gotty-py-audit list` and `verify`, as is one that never
ran because the server was killed first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from gotty_py.audit.signing import Signer
from gotty_py.config import load_options
from tests.gotty import BIN, ROOT, Gotty, open_session, run_gotty, start_gotty, wait_for
from tests.jwt_keys import es256, write_jwks

AUDIT_CLI = BIN / "gotty-py-audit"


def script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return path


def refused(*args: str, env: dict[str, str] | None = None) -> str:
    """Run gotty-py, expect exit 2 before it listens, and return what it said."""
    result = run_gotty("--address", "127.0.0.1", "--port", "0", *args, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "listening at" not in output
    return output


class TestTheCommand:
    def test_a_missing_file_is_refused_with_its_path(self) -> None:
        assert "Error: command /no/such/command: no such file" in refused("/no/such/command")

    def test_a_name_not_on_path_is_refused_naming_the_path(self) -> None:
        output = refused("no-such-program-here", env={"PATH": "/usr/bin:/bin"})
        assert "'no-such-program-here' is not an executable file on PATH (/usr/bin:/bin)" \
            in output

    def test_a_file_that_is_not_executable_is_refused(self, tmp_path: Path) -> None:
        target = script(tmp_path / "tool.sh", "echo hi", mode=0o644)
        assert f"command {target}: not executable" in refused(str(target))

    def test_a_directory_is_refused(self, tmp_path: Path) -> None:
        assert f"command {tmp_path}: is a directory" in refused(str(tmp_path))

    def test_a_command_gone_after_start_still_gives_the_user_a_reason(
            self, gotty: Gotty, tmp_path: Path) -> None:
        target = script(tmp_path / "tool.sh", "echo hi")
        server = gotty(str(target))
        target.unlink()
        client = open_session(server)
        client.frames_until_close()
        assert client.closed is not None and client.closed.code == 1011
        assert client.closed.reason.startswith(f"failed to start command: {target}")


class TestTheCleanupProgram:
    def test_a_missing_cleanup_program_is_refused(self, tmp_path: Path) -> None:
        output = refused("--cleanup-command", f"{tmp_path}/gone.sh {{session}}", "true")
        assert f"Error: cleanup_command: {tmp_path}/gone.sh: no such file" in output

    def test_a_program_with_a_field_is_checked_only_when_it_runs(self, gotty: Gotty) -> None:
        server = gotty("--cleanup-command", "/opt/{user}/hook", "true")
        assert server.process.poll() is None


class TestJwtRequired:
    def test_without_a_key_the_start_is_refused_naming_the_keys(self) -> None:
        output = refused("--jwt-required", "true")
        assert "jwt_required (--jwt-required) is set, but no launch-token key is: set " \
            "jwt_jwks_file" in output

    def test_from_a_config_file_too(self, tmp_path: Path) -> None:
        config = tmp_path / "console.hcl"
        config.write_text('jwt_required = true\n// jwt_jwks_file = "/etc/keys.json"\n')
        assert "jwt_required" in refused("--config", str(config), "true")


class TestPathsInAConfigFile:
    def test_file_options_resolve_against_the_config_files_directory(
            self, tmp_path: Path) -> None:
        config = tmp_path / "etc" / "gotty.hcl"
        config.parent.mkdir()
        config.write_text('audit_dir = "recordings"\naudit_event_log = "/var/log/x.jsonl"\n'
                          'index_file = "~/index.html"\n'
                          'cleanup_command = "hooks/end.sh {session} \'a b\'"\n')
        options = load_options({"config": str(config)}, {}).options
        assert options.audit_dir == str(tmp_path / "etc" / "recordings")
        assert options.audit_event_log == "/var/log/x.jsonl"  # absolute: as given
        assert options.index_file == "~/index.html"  # the home directory: as given
        assert options.cleanup_command == f"{tmp_path}/etc/hooks/end.sh '{{session}}' 'a b'"

    def test_a_bare_program_name_stays_a_path_lookup(self, tmp_path: Path) -> None:
        config = tmp_path / "gotty.hcl"
        config.write_text('cleanup_command = "kubectl delete pod x"\n')
        options = load_options({"config": str(config)}, {}).options
        assert options.cleanup_command == "kubectl delete pod x"

    def test_flags_stay_relative_to_the_working_directory(self, tmp_path: Path) -> None:
        config = tmp_path / "gotty.hcl"
        config.write_text('audit_dir = "from-file"\n')
        options = load_options({"config": str(config), "audit_dir": "from-flag"}, {}).options
        assert options.audit_dir == "from-flag"

    def test_the_server_finds_the_hook_next_to_its_config_from_anywhere(
            self, tmp_path: Path) -> None:
        etc = tmp_path / "etc"
        marker = tmp_path / "cleaned"
        script(etc / "hooks" / "end.sh", f'echo "$1" > {marker}')
        config = etc / "gotty.hcl"
        config.write_text('cleanup_command = "hooks/end.sh {session}"\n'
                          'audit_event_log = "events.jsonl"\n')
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        server = start_gotty("--address", "127.0.0.1", "--port", "0", "--config",
                             str(config), "true", cwd=elsewhere)
        try:
            client = open_session(server)
            client.frames_until_close()
            wait_for(marker.exists, 10, message="the cleanup hook to run")
            ends = [json.loads(line) for line in (etc / "events.jsonl").read_text().splitlines()]
            session = next(r["session"] for r in ends if r["event"] == "end")
            assert marker.read_text().strip() == session
        finally:
            server.stop()


def audit_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUDIT_CLI), *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def events_of(path: Path, kind: str) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["event"] == kind]


class TestCleanupFailuresAreVisible:
    def test_a_hook_that_cannot_start_is_logged_with_its_path_and_audited(
            self, gotty: Gotty, tmp_path: Path) -> None:
        hook = script(tmp_path / "hooks" / "end.sh", "exit 0")
        events = tmp_path / "events.jsonl"
        server = gotty("--cleanup-command", f"{hook} {{session}}", "--audit-event-log",
                       str(events), "true")
        hook.unlink()  # an image upgrade, a volume unmounted: gone after the start-up check
        client = open_session(server)
        client.frames_until_close()
        line = server.wait_for_line("Cleanup for session")
        assert f"failed to start: {hook}: No such file or directory" in line
        cleanup = wait_for(lambda: events_of(events, "cleanup"), 10, message="cleanup line")[0]
        assert cleanup["ok"] is False and cleanup["exit_status"] is None
        assert cleanup["outcome"] == f"failed to start: {hook}: No such file or directory"

        listing = audit_cli("--event-log", str(events), "list")
        row = next(ln for ln in listing.stdout.splitlines() if str(cleanup["session"]) in ln)
        assert " FAILED " in row
        verified = audit_cli("--event-log", str(events), "verify")
        assert verified.returncode == 1
        assert f"CLEANUP-FAIL {cleanup['session']}  failed to start: {hook}" in verified.stdout

    def test_a_hook_that_never_ran_is_reported(self, gotty: Gotty, tmp_path: Path) -> None:
        """The server is killed (SIGKILL) while the hook runs: the end line expects a cleanup
        line that never comes."""
        started = tmp_path / "hook-pid"
        hook = script(tmp_path / "end.sh", f"echo $$ > {started}.new; mv {started}.new "
                      f"{started}; exec sleep 60")
        events = tmp_path / "events.jsonl"
        server = gotty("--cleanup-command", str(hook), "--audit-event-log", str(events),
                       "true")
        client = open_session(server)
        client.frames_until_close()
        wait_for(started.exists, 10, message="the hook to start")
        server.process.send_signal(signal.SIGKILL)
        server.wait_exit()
        os.kill(int(started.read_text()), signal.SIGKILL)  # the orphaned hook, by its PID
        end = events_of(events, "end")[0]
        assert end["cleanup_expected"] is True and not events_of(events, "cleanup")
        listing = audit_cli("--event-log", str(events), "list")
        assert "NEVER RAN" in listing.stdout
        verified = audit_cli("--event-log", str(events), "verify")
        assert verified.returncode == 1 and f"NO-CLEANUP   {end['session']}" in verified.stdout

    def test_a_good_cleanup_verifies(self, gotty: Gotty, tmp_path: Path) -> None:
        hook = script(tmp_path / "end.sh", "exit 0")
        audit = tmp_path / "audit"
        server = gotty("--cleanup-command", str(hook), "--audit-dir", str(audit), "true")
        client = open_session(server)
        client.frames_until_close()
        events = audit / "sessions.jsonl"
        wait_for(lambda: events_of(events, "cleanup"), 10, message="cleanup line")
        listing = audit_cli("--event-log", str(events), "list")
        assert "CLEANUP" in listing.stdout.splitlines()[0]
        assert " ok " in listing.stdout.splitlines()[1]
        assert audit_cli("--event-log", str(events), "verify").returncode == 0


class TestTheShippedKubernetesConfig:
    """config/kubernetes.hcl names the JWKS and the audit signing key the README's first
    step writes; until they are there, and whenever no key is set, the server refuses to
    start."""

    CONFIG = str(ROOT / "config" / "kubernetes.hcl")
    EXEC = str(ROOT / "examples" / "kubernetes" / "kube-exec.sh")
    LISTEN = ("--address", "127.0.0.1", "--port", "0", "--ops-port", "0")

    def test_with_its_key_cleared_it_refuses_to_start(self) -> None:
        output = refused("--config", self.CONFIG, self.EXEC, env={"GOTTY_JWT_JWKS_FILE": "",
                                                           "GOTTY_JWT_ALGORITHMS": ""})
        assert "jwt_required (--jwt-required) is set, but no launch-token key is" in output

    def test_with_a_key_it_starts_from_any_directory(self, tmp_path: Path) -> None:
        jwks = write_jwks(tmp_path / "jwks.json", {"k1": es256(tmp_path)})
        signing_key = tmp_path / "audit-checkpoint.key"  # deploy/keys/README.md's second key
        signing_key.write_text(Signer.generate("test").text() + "\n")
        signing_key.chmod(0o600)
        server = start_gotty("--config", self.CONFIG, *self.LISTEN, "--audit-dir",
                             str(tmp_path / "audit"), self.EXEC, cwd=tmp_path,
                             env={"GOTTY_JWT_JWKS_FILE": str(jwks),
                                  "GOTTY_AUDIT_CHECKPOINT_KEY": str(signing_key)})
        try:
            assert server.process.poll() is None
        finally:
            server.stop()
