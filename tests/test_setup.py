"""The two commands a newcomer runs: `make run` sets up only the runtime, `make test` the
test tools too, and the Debian packages the tests need are installed even while another apt
holds the package lock (a fresh cloud machine's unattended upgrades).

The apt tests put a fake `apt-get` first on PATH: the real lock cannot be held here safely
(it would stop every other apt on the machine, and needs root), so the fake answers with
apt's own lock message for its first calls, as apt-get does while the lock is held.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAITING = ROOT / "scripts/apt-get-waiting.sh"
LOCK_MESSAGE = ("E: Could not get lock /var/lib/apt/lists/lock. It is held by process 2770 "
                "(apt-get)\nE: Unable to lock directory /var/lib/apt/lists/")


def dry_run(target: str) -> list[str]:
    """The commands `make TARGET` would run from nothing (-B: as if no stamp existed),
    into a venv path that does not exist, so nothing here is touched."""
    # Run as a make of its own even under `make test`: a sub-make would inherit MAKEFLAGS
    # and print "Entering/Leaving directory" lines among the commands.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "--no-print-directory", "-n", "-B", target,
                             "VENV=/nonexistent/venv"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.splitlines()


def installs(commands: list[str]) -> list[str]:
    return [line for line in commands if re.search(r"\bpip install\b.* -e ", line)]


def test_make_run_installs_the_runtime_only() -> None:
    commands = dry_run("run")
    assert installs(commands) == ["/nonexistent/venv/bin/pip install --quiet -e ."]
    assert not any("[test" in line or "playwright" in line for line in commands)
    assert commands[-1].startswith("/nonexistent/venv/bin/gotty-py --address 127.0.0.1")


def test_make_test_installs_the_test_extra_and_the_system_packages() -> None:
    commands = dry_run("test")
    assert installs(commands) == ["/nonexistent/venv/bin/pip install --quiet -e .",
                                  "/nonexistent/venv/bin/pip install --quiet -e '.[test,bench]'"]
    assert "scripts/ensure-system-packages.sh" in commands
    # The last recipe: the parallel pass, then the serial one, failing if either failed.
    passes = " ".join(commands[-2:])
    assert passes.startswith('/nonexistent/venv/bin/pytest -n 3 -m "not serial"; parallel=$?;')
    assert '/nonexistent/venv/bin/pytest -m "serial"; serial=$?;' in passes
    assert passes.endswith("exit $(( parallel || serial ))")


def test_the_test_passes_report_a_failure_of_either() -> None:
    """The shell arithmetic the recipe ends with, run by /bin/sh as make runs it."""
    for parallel, serial, expected in ((0, 0, 0), (1, 0, 1), (0, 2, 1), (5, 1, 1)):
        result = subprocess.run(["/bin/sh", "-c", f"parallel={parallel}; serial={serial}; "
                                 "exit $(( parallel || serial ))"], timeout=10)
        assert result.returncode == expected


def test_the_two_stamps_are_separate() -> None:
    """A venv made by `make run` is not taken for a test venv: each extra has its stamp."""
    run, test = dry_run("run"), dry_run("test")
    assert "touch /nonexistent/venv/.installed-runtime" in run
    assert not any(".installed-test" in line for line in run)
    assert "touch /nonexistent/venv/.installed-test" in test


def test_lint_uses_the_test_tools() -> None:
    assert ("/nonexistent/venv/bin/pip install --quiet -e '.[test,bench]'"
            in installs(dry_run("lint")))


# --- waiting for the apt lock ------------------------------------------------------------

def fake_apt(tmp_path: Path, locked_calls: int, *, other_failure: bool = False) -> dict[str, str]:
    """An environment whose `apt-get` fails with the lock message `locked_calls` times
    (or with another error, always), then succeeds; each call's arguments are logged."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    fail = ('echo "E: Unable to locate package nonesuch" >&2; exit 100' if other_failure else
            f'if [ "$n" -le {locked_calls} ]; then printf "%s\\n" "{LOCK_MESSAGE}" >&2; '
            "exit 100; fi")
    script = bin_dir / "apt-get"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nn=$(wc -l < "{log}")\n{fail}\n'
                      'echo "fake apt-get done"\n')
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "APT_LOCK_RETRY_INTERVAL": "0.05"}


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls").read_text().splitlines()


def test_apt_get_is_retried_while_the_lists_lock_is_held(tmp_path: Path) -> None:
    env = fake_apt(tmp_path, locked_calls=3)
    result = subprocess.run([str(WAITING), "update", "-qq"], env=env, capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fake apt-get done\n"
    made = calls(tmp_path)
    assert len(made) == 4
    # Every attempt also asks apt itself to wait for dpkg's locks, with what is left.
    for line in made:
        match = re.fullmatch(r"-o DPkg::Lock::Timeout=(\d+) update -qq", line)
        assert match is not None and 590 <= int(match.group(1)) <= 600, line
    assert "holds the package lock; retrying" in result.stderr


def test_apt_get_gives_up_at_the_deadline(tmp_path: Path) -> None:
    env = {**fake_apt(tmp_path, locked_calls=10**6), "APT_LOCK_WAIT": "1"}
    started = time.monotonic()
    result = subprocess.run([str(WAITING), "install", "-y", "chromium"], env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 100  # apt-get's own status
    assert "still holds the package lock after 1 s (APT_LOCK_WAIT); giving up" in result.stderr
    assert len(calls(tmp_path)) >= 2
    assert elapsed < 10


def test_other_apt_failures_are_not_retried(tmp_path: Path) -> None:
    env = fake_apt(tmp_path, locked_calls=0, other_failure=True)
    result = subprocess.run([str(WAITING), "install", "-y", "nonesuch"], env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 100
    assert "Unable to locate package nonesuch" in result.stderr
    assert len(calls(tmp_path)) == 1


def test_system_packages_script_runs_apt_get_only_through_the_wait() -> None:
    script = (ROOT / "scripts/ensure-system-packages.sh").read_text()
    commands = [line.strip() for line in script.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert not [line for line in commands if re.match(r"^apt-get\b", line)]
    assert '"$apt_get" update -qq' in commands
    assert any(line.startswith('"$apt_get" install -y') for line in commands)
