"""The admin view of live sessions end to end: a real server, real sessions over real
WebSockets, real HTTP to the admin routes, and the real `gotty-py-admin`.

One server for the module (JWT launch tokens, so sessions have a user and token arguments,
and an event log); each test opens its own sessions and finds them by the client address.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gotty_py.audit.reader import read_event_log
from gotty_py.config import ConfigError, load_options
from gotty_py.server.commandline import command_line
from tests.gotty import (
    ROOT,
    Client,
    GottyProcess,
    basic,
    http_request,
    job_pids,
    open_session,
    pid_alive,
    run_gotty,
    start_gotty,
    wait_for,
)
from tests.jwt_keys import claims, hs256, write_secret
from tests.test_audit import local_addr
from tests.test_jwt_sessions import POLICY

ADMIN = "admin:s3cret"
# A background job and the shell print their PIDs, then every line typed is echoed back.
SCRIPT = ('sleep 1000 & echo JOB=$!; echo SHELL=$$; '
          'while read -r line; do echo "got:$line"; done')
API_POST = {**basic(ADMIN), "X-GoTTY-Admin": "1"}


class AdminServer:
    def __init__(self, server: GottyProcess, secret: bytes, event_log: Path) -> None:
        self.server = server
        self.secret = secret
        self.event_log = event_log

    def open(self, *args: str, sub: str = "alice") -> tuple[Client, str]:
        """A session for `sub` with token arguments `args`; the client and its address."""
        token = hs256(self.secret, claims(sub=sub, args=list(args)))
        client = open_session(self.server, f"?jwt={token}")
        job_pids(client)  # running, with its PIDs printed
        return client, local_addr(client)

    def sessions(self) -> list[dict[str, Any]]:
        response = http_request(self.server.url + "admin/api/sessions", headers=basic(ADMIN))
        assert response.status == 200, response.text
        assert response.headers["Content-Type"] == "application/json"
        listed: list[dict[str, Any]] = json.loads(response.body)["sessions"]
        return listed

    def session(self, client: str) -> dict[str, Any] | None:
        return next((s for s in self.sessions() if s["client"] == client), None)

    def end(self, session_id: str, headers: dict[str, str] | None = None) -> Any:
        return http_request(self.server.url + f"admin/api/sessions/{session_id}/end",
                            "POST", headers=API_POST if headers is None else headers)

    def end_line(self, session_id: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((r for r in read_event_log(self.event_log)
                         if r.get("event") == "end" and r.get("session") == session_id), None)
        line: dict[str, Any] = wait_for(find, 15, message=f"the end line of {session_id}")
        return line


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminServer]:
    directory = tmp_path_factory.mktemp("admin")
    secret = write_secret(directory / "secret")
    event_log = directory / "sessions.jsonl"
    server = start_gotty("--address", "127.0.0.1", "--port", "0", "-w",
                         "--admin-credential", ADMIN, "--audit-event-log", str(event_log),
                         "--jwt-secret-file", str(directory / "secret"), *POLICY,
                         "sh", "-c", SCRIPT)
    yield AdminServer(server, secret, event_log)
    server.stop()


def test_lists_a_live_session_with_user_argv_and_growing_byte_counts(
        admin_server: AdminServer) -> None:
    client, address = admin_server.open("one", "two words\x1b[2J")
    listed = admin_server.session(address)
    assert listed is not None, admin_server.sessions()
    argv = ["sh", "-c", SCRIPT, "one", "two words\x1b[2J"]
    assert (listed["user"], listed["argv"]) == ("alice", argv)
    assert listed["command"] == command_line(argv) and "\\E[2J" in listed["command"]
    assert (listed["observers"], listed["detached"], listed["target"]) == (0, False, None)
    assert listed["bytes_in"] == 0 and listed["bytes_out"] >= len(b"JOB=1\r\nSHELL=1\r\n")
    client.input("hello\n")
    client.read_until(b"got:hello")
    again = admin_server.session(address)
    assert again is not None
    assert again["bytes_in"] == len("hello\n")
    assert again["bytes_out"] >= listed["bytes_out"] + len(b"hello\r\ngot:hello\r\n")
    # The page lists it too, escaped, with an End button.
    page = http_request(admin_server.server.url + "admin/", headers=basic(ADMIN))
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert f'data-session="{listed["id"]}"' in page.text and "alice" in page.text
    assert "\x1b" not in page.text and f"sessions/{listed['id']}/end?token=" in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    client.close()
    wait_for(lambda: admin_server.session(address) is None, message="the session gone")


def test_end_closes_the_client_ends_the_process_tree_and_logs_who(
        admin_server: AdminServer) -> None:
    client, address = admin_server.open()
    pids = job_pids(client)
    listed = admin_server.session(address)
    assert listed is not None
    response = admin_server.end(listed["id"])
    assert response.status == 200, response.text
    assert json.loads(response.body) == {"id": listed["id"], "ended": True,
                                         "outcome": "admin-ended"}
    client.frames_until_close()
    assert client.closed is not None
    assert (client.closed.code, client.closed.reason) == (1008, "ended by an administrator")
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), message="the process tree gone")
    end = admin_server.end_line(listed["id"])
    assert (end["outcome"], end["cause"], end["ended_by"], end["close_code"]) == (
        "admin-ended", "admin-ended", "admin", 1008)
    assert end["user"] == "alice" and end["remote_addr"] == address
    admin_server.server.wait_for_line(
        rf"Session {listed['id']} ended by administrator admin from 127\.0\.0\.1:\d+")
    assert admin_server.session(address) is None
    assert admin_server.end(listed["id"]).status == 404  # no such session any more


def test_refused_without_the_admin_credential_or_from_another_site(
        admin_server: AdminServer) -> None:
    client, address = admin_server.open()
    listed = admin_server.session(address)
    assert listed is not None
    url = admin_server.server.url
    session_id = listed["id"]
    for headers in ({}, basic("admin:wrong"), basic("alice:s3cret")):
        for path in ("admin/", "admin/api/sessions"):
            response = http_request(url + path, headers=headers)
            assert response.status == 401, (path, headers)
            assert response.headers["WWW-Authenticate"] == 'Basic realm="gotty-py admin"'
        assert admin_server.end(session_id, {**headers, "X-GoTTY-Admin": "1"}).status == 401
    host = admin_server.server.host
    cross_site = [
        basic(ADMIN),  # no X-GoTTY-Admin: what a form on another site can send
        {**API_POST, "Origin": "http://evil.example"},
        {**API_POST, "Origin": "null"},
        {**API_POST, "Sec-Fetch-Site": "cross-site"},
        {**API_POST, "Sec-Fetch-Site": "same-site", "Origin": f"http://{host}"},
    ]
    for headers in cross_site:
        response = admin_server.end(session_id, headers)
        assert response.status == 403, headers
        assert "another site's page" in response.text
    # The page's form without its token, or with another one; another site's GET.
    form = url + f"admin/sessions/{session_id}/end"
    for target in (form, form + "?token=guess"):
        assert http_request(target, "POST", headers=basic(ADMIN)).status == 403
    listing = http_request(url + "admin/api/sessions",
                           headers={**basic(ADMIN), "Sec-Fetch-Site": "cross-site"})
    assert listing.status == 403
    assert admin_server.session(address) is not None  # none of them ended it
    # Our own page's POST (same origin) with the token goes through: 303 back to the page.
    page = http_request(url + "admin/", headers=basic(ADMIN)).text
    token = page.split(f"sessions/{session_id}/end?token=", 1)[1].split('"', 1)[0]
    response = http_request(f"{form}?token={token}", "POST", headers={
        **basic(ADMIN), "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"})
    assert response.status == 303
    assert response.headers["Location"] == f"/admin/?ended={session_id}"
    client.frames_until_close()
    assert client.closed is not None and client.closed.code == 1008


def admin_cli(*args: str, credential: str = ADMIN) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gotty_py.admin_cli", *args],
                          capture_output=True, text=True, timeout=30, cwd=ROOT,
                          stdin=subprocess.DEVNULL,
                          env={"GOTTY_ADMIN_CREDENTIAL": credential, "PATH": "/usr/bin:/bin"})


def test_the_cli_lists_and_ends_sessions(admin_server: AdminServer) -> None:
    client, address = admin_server.open(sub="bob")
    listed = admin_server.session(address)
    assert listed is not None
    url = admin_server.server.url
    table = admin_cli("list", "--url", url)
    assert table.returncode == 0, table.stderr
    [row] = [line for line in table.stdout.splitlines() if line.startswith(listed["id"])]
    assert row.split()[1] == "bob" and address in row and row.endswith(listed["command"])
    as_json = admin_cli("list", "--json", "--url", url)
    assert any(s["id"] == listed["id"] for s in json.loads(as_json.stdout)["sessions"])
    wrong = admin_cli("list", "--url", url, credential="admin:nope")
    assert (wrong.returncode, wrong.stderr.strip()) == (
        1, "Error: the server refused the admin credential (401)")
    nowhere = admin_cli("list", "--url", url + "elsewhere/")  # the terminal page answers
    assert nowhere.returncode == 1 and "no admin endpoint" in nowhere.stderr
    ended = admin_cli("end", listed["id"], "--url", url)
    assert (ended.returncode, ended.stdout.strip()) == (
        0, f"session {listed['id']} ended (admin-ended)")
    client.frames_until_close()
    assert client.closed is not None
    assert (client.closed.code, client.closed.reason) == (1008, "ended by an administrator")
    again = admin_cli("end", listed["id"], "--url", url)
    assert (again.returncode, again.stderr.strip()) == (
        1, f"Error: no running session {listed['id']}")
    assert admin_cli("end", "not-an-id", "--url", url).returncode == 2


def test_no_admin_routes_unless_configured() -> None:
    server = start_gotty("--address", "127.0.0.1", "--port", "0", "sh")
    try:
        response = http_request(server.url + "admin/api/sessions", headers=basic(ADMIN))
        assert response.status == 200 and "<html" in response.text  # GoTTY's index, as ever
        assert "Admin view" not in server.output()
        posted = http_request(server.url + "admin/api/sessions/0123456789abcdef/end", "POST",
                              headers=API_POST)
        assert "application/json" not in posted.headers.get("Content-Type", "")
    finally:
        server.stop()


def test_an_admin_credential_that_cannot_work_is_refused_at_start(tmp_path: Path) -> None:
    for args, expected in (
            (["--admin-credential", "justapassword"], "--admin-credential: expected user:"),
            (["--admin-credential", "admin:"], "--admin-credential: expected user:"),
            (["--admin-credential", "same:one", "--credential", "same:one"],
             "is the same as credential")):
        result = run_gotty("--address", "127.0.0.1", "--port", "0", *args, "sh")
        output = result.stdout + result.stderr
        assert result.returncode == 2, output
        assert expected in output and "listening at" not in output
        assert "justapassword" not in output  # a secret is never repeated
    config = tmp_path / "gotty.hcl"
    config.write_text('port = "0"\nadmin_credential = "nocolon"\n')
    with pytest.raises(ConfigError) as caught:
        load_options({"config": str(config)}, {}, home="/nonexistent")
    assert "line 2" in str(caught.value) and "nocolon" not in str(caught.value)
