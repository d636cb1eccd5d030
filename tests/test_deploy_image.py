"""deploy/Dockerfile: the image's contents, checked without a container engine.

buildah is installed but cannot pull the base image (no registry network here), so the
image itself is never built in the tests. Instead the Dockerfile's own marked install
steps run in a fresh temporary root (tests/dockerfile.py): the same COPYs from the
repository, the same `pip install` of deploy/requirements.txt into a new venv, the same
`pip check`. The install uses pip's cache and the configured index (PyPI), about 15-30 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

from tests.dockerfile import DOCKERFILE, allowed_by_dockerignore, env_pairs, replay, stages
from tests.gotty import ROOT, http_request, wait_for

REQUIREMENTS = ROOT / "deploy" / "requirements.txt"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    """name -> version of `name==version` lines (extras dropped, names normalized)."""
    found: dict[str, str] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"not pinned: {line!r}"
        found[normalized(name.split("[", 1)[0])] = version.strip()
    return found


def files_under(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")}


def test_the_install_steps_make_a_console_that_runs_from_a_read_only_tree(
        tmp_path: Path) -> None:
    image = replay(tmp_path / "root")
    prefix = image.path("/opt/gotty-py")
    venv = prefix / "venv"

    # Exactly the pinned packages, and gotty-py itself.
    freeze = subprocess.run([str(venv / "bin" / "pip"), "freeze", "--all"], capture_output=True,
                            text=True, timeout=60, check=True).stdout.splitlines()
    installed = pins([ln for ln in freeze if not ln.startswith(("gotty-py", "pip=="))])
    assert installed == pins(REQUIREMENTS.read_text().splitlines())
    # gotty-py itself installed into the venv (not editable: /src is not in the image).
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m, gotty_py; "
         "print(m.version('gotty-py'), gotty_py.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=True).stdout.split()
    assert where[0] == "0.1.0" and Path(where[1]).is_relative_to(venv), where

    # The recipe scripts at their absolute paths, executable, as in the repository.
    for name in ("kube-exec.sh", "kube-cleanup.sh"):
        script = prefix / "kubernetes" / name
        assert script.read_bytes() == (ROOT / "examples/kubernetes" / name).read_bytes()
        assert os.access(script, os.X_OK) and script.stat().st_mode & 0o222 == 0, name

    # The installed console runs and serves its page and bundle (package data included)
    # without writing anything into its tree: the root filesystem is read-only in the pod.
    before = files_under(prefix)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    (tmp_path / "home").mkdir()
    help_text = subprocess.run([str(venv / "bin" / "gotty-py"), "--help"], capture_output=True,
                               text=True, timeout=60, env=env, cwd=tmp_path)
    assert help_text.returncode == 0 and "--jwt-jwks-file" in help_text.stdout, help_text
    server = subprocess.Popen([str(venv / "bin" / "gotty-py"), "--address", "127.0.0.1",
                               "--port", "0", "sh", "-c", "echo hi"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        lines: list[str] = []

        def url() -> str | None:
            line = server.stdout.readline() if server.stdout else ""
            lines.append(line)
            match = re.search(r"HTTP server is listening at: (http[^\s\"]+)", line)
            if match is None and server.poll() is not None:
                raise AssertionError("".join(lines))
            return match.group(1) if match else None

        base = wait_for(url, 30, message="the installed console's URL line")
        assert http_request(base).status == 200
        bundle = http_request(base + "js/gotty-bundle.js")
        assert bundle.status == 200 and len(bundle.body) > 10_000
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert files_under(prefix) == before


def test_the_requirements_lock_pins_what_pyproject_pins() -> None:
    """deploy/requirements.txt is the closure of pyproject.toml's runtime dependencies:
    every pin of pyproject.toml appears in it with the same version."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = pins(project["dependencies"])
    locked = pins(REQUIREMENTS.read_text().splitlines())
    assert {name: locked.get(name) for name in declared} == declared


def test_the_image_is_pinned_non_root_and_starts_the_console() -> None:
    text = DOCKERFILE.read_text()
    all_stages = stages(text)
    bases = {ins.text for stage in all_stages for ins in stage if ins.keyword == "FROM"}
    args = {k: v for ins in all_stages[0] if ins.keyword == "ARG" and "=" in ins.text
            for k, v in [ins.text.split("=", 1)]}
    # One pinned base image (a full x.y.z tag), named once.
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.search(r":3\.\d+\.\d+-slim-\w+$", base.group(1)), base
    assert all(b.startswith("${PYTHON_IMAGE}") for b in bases), bases

    # kubectl: a pinned version, downloaded and checked against a fixed sha256 per arch,
    # the same minor version as the kubectl the tests run (tests/k8s).
    assert re.fullmatch(r"1\.32\.\d+", args["KUBECTL_VERSION"])
    for arch in ("AMD64", "ARM64"):
        assert re.fullmatch(r"[0-9a-f]{64}", args[f"KUBECTL_SHA256_{arch}"]), arch
    kubectl_run = next(ins.text for ins in all_stages[0] if ins.keyword == "RUN")
    assert 'sha256sum -c -' in kubectl_run and "${KUBECTL_VERSION}" in kubectl_run

    final = all_stages[-1]
    keywords = [ins.keyword for ins in final]
    user = next(ins.text for ins in final if ins.keyword == "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit(), user  # numeric, non-root
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k in {"COPY", "RUN"})
    assert 'ENTRYPOINT ["gotty-py"]' in text
    env = {k: v for ins in final if ins.keyword == "ENV" for k, v in env_pairs(ins.text).items()}
    assert env["PATH"].startswith("/opt/gotty-py/venv/bin:")
    assert env["HOME"] == "/tmp" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    copies = [ins.text for ins in final if ins.keyword == "COPY"]
    assert "--from=build /opt/gotty-py /opt/gotty-py" in copies
    assert "--from=kubectl /kubectl /usr/local/bin/kubectl" in copies


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    """.dockerignore is an allow-list: the keys, .venv and .git never reach the builder."""
    for path in ("deploy/keys/portal-es256.pem", "deploy/keys/console-jwks.json", ".venv/x",
                 ".git/config", "tests/gotty.py", "gotty_py/__pycache__/cli.cpython-311.pyc"):
        assert not allowed_by_dockerignore(path), path
    for path in ("gotty_py/cli.py", "gotty_py/static/index.html", "pyproject.toml",
                 "examples/kubernetes/kube-exec.sh", "deploy/requirements.txt"):
        assert allowed_by_dockerignore(path), path
