"""examples/portal: the example portal's links open a real gotty-py that holds only its JWKS.

The portal runs as its README says (keygen, jwks, serve); the test logs in as a demo user,
launches a pod from the allow-list and follows the redirect into a WebSocket session.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.gotty import ROOT, Gotty, basic, http_request, open_session, wait_for

PORTAL = ROOT / "examples" / "portal" / "portal.py"


def portal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PORTAL), *args], capture_output=True, text=True,
                          timeout=30, check=True)


@pytest.fixture
def running_portal(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    processes: list[subprocess.Popen[str]] = []

    def start(console_url: str) -> str:
        process = subprocess.Popen(
            [sys.executable, str(PORTAL), "serve", "--private-key", str(tmp_path / "key.pem"),
             "--kid", "2025-01", "--console-url", console_url, "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"Portal listening at (\S+)", line)
        assert match, line
        return match.group(1)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def launch(portal_url: str, user: str, password: str, target: str) -> tuple[int, str]:
    """Log in, read the form's XSRF token, press the button; (status, Location)."""
    auth = basic(f"{user}:{password}")
    page = http_request(portal_url, headers=auth)
    assert page.status == 200, page.text
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert xsrf is not None
    body = urllib.parse.urlencode({"_xsrf": xsrf.group(1), "target": target}).encode()
    response = http_request(portal_url + "launch", "POST", body=body, headers={
        **auth, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    return response.status, response.headers.get("Location", "")


def test_portal_link_opens_the_pod_it_allows(gotty: Gotty, tmp_path: Path,
                                             running_portal: Callable[[str], str]) -> None:
    portal("keygen", "--out", str(tmp_path / "key.pem"))
    assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0
    jwks = portal("jwks", "--private-key", str(tmp_path / "key.pem"), "--kid", "2025-01")
    (tmp_path / "jwks.json").write_text(jwks.stdout)
    assert "PRIVATE" not in jwks.stdout and '"d"' not in jwks.stdout
    # The console: `kubectl` stands in for a command that shows its arguments.
    console = gotty("--jwt-jwks-file", str(tmp_path / "jwks.json"), "--jwt-audience",
                    "console", "--jwt-issuer", "portal", "--title-format",
                    "{{ .user }}: {{ .claims.ns }}/{{ .claims.pod }}",
                    "sh", "-c", 'printf "[%s]" "$@"; echo', "kubectl")
    portal_url = running_portal(console.url)

    status, location = launch(portal_url, "alice", "alice-demo", "prod/web-2")
    assert status == 303
    assert location.startswith(console.url + "?jwt=")
    # The arguments are the page's location.search.
    client = open_session(console, "?" + urllib.parse.urlsplit(location).query)
    assert client.recv() == "3alice: prod/web-2"
    client.read_until(b"[exec][-it][web-2][-n][prod][-c][nginx][--][sh]")
    client.frames_until_close()

    # Not on bob's allow-list: nothing is signed.
    assert launch(portal_url, "bob", "bob-demo", "prod/web-1") == (403, "")
    assert http_request(portal_url, headers=basic("alice:wrong")).status == 401
    wait_for(lambda: "Launch token accepted for user 'alice'" in console.output(),
             message="the console's log line")


def test_recipe_style_needs_a_container_for_every_target(tmp_path: Path) -> None:
    """`--args kube-exec` signs NAMESPACE POD CONTAINER SHELL; a target without a container
    (as in the built-in demo lists) is refused at start-up, naming the target."""
    portal("keygen", "--out", str(tmp_path / "key.pem"))
    result = subprocess.run(
        [sys.executable, str(PORTAL), "serve", "--private-key", str(tmp_path / "key.pem"),
         "--kid", "k", "--console-url", "http://127.0.0.1:1/", "--args", "kube-exec"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "prod/web-1, staging/api-0 has none" in result.stderr, result.stderr
    bad = subprocess.run(
        [sys.executable, str(PORTAL), "serve", "--private-key", str(tmp_path / "key.pem"),
         "--kid", "k", "--console-url", "http://127.0.0.1:1/", "--target", "team-a/web-0"],
        capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "NAMESPACE/POD/CONTAINER" in bad.stderr, bad.stderr
