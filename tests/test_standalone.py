"""The project stands alone: a clone has every page its documents link to, and a `pip
install` ships the licence and the notices of what the browser bundle contains."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".git", ".venv", "node_modules", ".pytest_cache", ".mypy_cache",
                ".ruff_cache", ".hypothesis", "test-artifacts", "build", "dist"}
# A markdown link or image: [text](target) with the target's anchor or title left off.
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)")


def documents() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.md")
                  if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts))


def test_the_documents_are_found() -> None:
    names = {str(path.relative_to(ROOT)) for path in documents()}
    assert {"README.md", "docs/architecture.md", "tests/k8s/README.md"} <= names


def test_no_document_points_outside_the_repository() -> None:
    """No `../shared` (a clone does not have it), no path of the machine it was written on,
    and every relative link names a file or directory of the repository."""
    problems = []
    for path in documents():
        text = path.read_text()
        name = path.relative_to(ROOT)
        for marker in ("../shared", "/work/"):
            if marker in text:
                problems.append(f"{name}: mentions {marker}")
        for match in LINK.finditer(text):
            target = match.group(1).split("#", 1)[0]
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # an anchor in the same page, or a URL
            resolved = (path.parent / target).resolve()
            if target.startswith("/") or not resolved.is_relative_to(ROOT):
                problems.append(f"{name}: link {target!r} leaves the repository")
            elif not resolved.exists():
                problems.append(f"{name}: link {target!r} names nothing")
    assert problems == []


def test_license_is_mit_for_the_project() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The gotty-py authors" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


def test_notices_name_every_bundled_package_with_its_version() -> None:
    manifest = json.loads((ROOT / "frontend/package.json").read_text())
    lock = json.loads((ROOT / "frontend/package-lock.json").read_text())
    notices = (ROOT / "THIRD_PARTY_NOTICES").read_text()
    dependencies = manifest["dependencies"]
    assert "@xterm/xterm" in dependencies
    for package in dependencies:
        locked = lock["packages"][f"node_modules/{package}"]
        row = re.search(rf"^\| {re.escape(package)} +\| ([^ |]+) +\| ([^ |]+) +\|$", notices,
                        re.MULTILINE)
        assert row is not None, f"THIRD_PARTY_NOTICES does not list {package}"
        assert row.groups() == (locked["version"], locked["license"]), package


def test_the_wheel_ships_the_license_and_the_notices(tmp_path: Path) -> None:
    """What `pip install` installs: the wheel, built as pip builds it (with the venv's
    setuptools, no download), carries both files in its .dist-info/licenses/. It is built
    from a copy, as setuptools leaves build/ and *.egg-info in the tree it builds."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*SKIPPED_DIRS, "*.egg-info"))
    wheels = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(source)],
        capture_output=True, text=True, timeout=110, check=False)
    assert result.returncode == 0, result.stderr
    (wheel,) = wheels.glob("gotty_py-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licenses = {name.rsplit("/", 1)[-1]: archive.read(name) for name in names
                    if re.match(r"^gotty_py-[^/]+\.dist-info/licenses/[^/]+$", name)}
    assert set(licenses) == {"LICENSE", "THIRD_PARTY_NOTICES"}
    assert licenses["THIRD_PARTY_NOTICES"] == (ROOT / "THIRD_PARTY_NOTICES").read_bytes()
    assert "gotty_py/static/js/gotty-bundle.js" in names
