"""Test helper: deploy/Dockerfile's install steps, read and replayed in a temporary root.

No container engine can pull a base image here, so the tests check the image's contents by
running the Dockerfile's own marked steps (between `# >>> install steps` and
`# <<< install steps`) with every absolute path moved under a temporary directory: the
same files are copied from the repository, the same commands run. Only ENV, WORKDIR, COPY
(from the build context) and RUN (shell form) may appear there; anything else is refused,
so a new kind of step cannot be skipped silently.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tests.gotty import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BEGIN, END = "# >>> install steps", "# <<< install steps"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    text: str     # the rest, continuation lines joined


def instructions(text: str) -> list[Instruction]:
    """Every instruction of a Dockerfile (comments dropped, `\\` continuations joined)."""
    result: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, rest = whole.partition(" ")
        result.append(Instruction(keyword.upper(), rest.strip()))
    return result


def stages(text: str) -> list[list[Instruction]]:
    """The instructions of each build stage, FROM first."""
    found: list[list[Instruction]] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def install_steps(text: str | None = None) -> list[Instruction]:
    """The marked install steps of deploy/Dockerfile."""
    text = DOCKERFILE.read_text() if text is None else text
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "the install-step markers"
    marked = text.split(BEGIN, 1)[1].split(END, 1)[0]
    steps = instructions(marked.split("\n", 1)[1])
    for step in steps:
        assert step.keyword in {"ENV", "WORKDIR", "COPY", "RUN"}, f"unexpected step {step}"
        if step.keyword == "COPY":
            assert not step.text.startswith("--"), f"COPY flags are not replayed: {step}"
        if step.keyword == "RUN":
            assert not step.text.startswith("["), f"exec-form RUN is not replayed: {step}"
            # An absolute path in a command would escape the temporary root.
            assert not re.search(r"(^|[\s\"'=])/", step.text), f"absolute path in {step}"
    return steps


def env_pairs(text: str) -> dict[str, str]:
    """ENV KEY=VALUE [KEY=VALUE...] (the legacy `ENV KEY VALUE` form too)."""
    words = shlex.split(text)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def allowed_by_dockerignore(path: str) -> bool:
    """Whether .dockerignore lets `path` (relative to the context) into the build context.

    Docker's rules, for the patterns this repository uses: the last matching line wins, a
    `!` line re-includes, a pattern matching a parent directory matches its contents."""
    allowed = True
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        candidates = prefixes if not pattern.startswith("**/") else list(parts)
        pattern = pattern.removeprefix("**/")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            allowed = include
    return allowed


@dataclass
class Replay:
    """The result of replaying the install steps under `root`."""

    root: Path
    env: dict[str, str]

    def path(self, image_path: str) -> Path:
        """Where an absolute path of the image lies in the temporary root."""
        return self.root / image_path.lstrip("/")


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def replay(root: Path, *, run: bool = True, extra_env: Mapping[str, str] | None = None,
           timeout: float = 240) -> Replay:
    """Run the install steps with / moved to `root`; with `run=False` only the COPYs."""
    root.mkdir(parents=True, exist_ok=True)
    workdir = "/"
    image_env: dict[str, str] = {}
    # `python` of the image is its system interpreter: here the one this venv was made from.
    bin_dir = root / ".replay-bin"
    bin_dir.mkdir(exist_ok=True)
    base_python = getattr(sys, "_base_executable", sys.executable)
    (bin_dir / "python").symlink_to(base_python)
    for step in install_steps():
        if step.keyword == "ENV":
            for key, value in env_pairs(step.text).items():
                image_env[key] = str(root / value.lstrip("/")) if value.startswith("/") else value
        elif step.keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / step.text)
            (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        elif step.keyword == "COPY":
            *sources, dest = shlex.split(step.text)
            dest_abs = dest if dest.startswith("/") else str(PurePosixPath(workdir) / dest)
            target = root / dest_abs.lstrip("/")
            for source in sources:
                assert allowed_by_dockerignore(source), f"{source} is kept out by .dockerignore"
                origin = ROOT / source
                assert origin.exists(), f"COPY source {source} is missing"
                if dest.endswith("/") and not origin.is_dir():
                    _copy(origin, target / origin.name)
                elif dest.endswith("/") or len(sources) > 1:
                    _copy(origin, target if origin.is_dir() else target / origin.name)
                else:
                    _copy(origin, target)
        elif step.keyword == "RUN" and run:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("GOTTY_", "VIRTUAL_ENV"))}
            env.update(extra_env or {})
            env.update(image_env)
            env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
            result = subprocess.run(["sh", "-c", step.text], cwd=root / workdir.lstrip("/"),
                                    env=env, capture_output=True, text=True, timeout=timeout)
            assert result.returncode == 0, f"{step.text}\n{result.stdout}\n{result.stderr}"
    return Replay(root, image_env)
