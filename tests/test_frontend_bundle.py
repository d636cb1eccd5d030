"""The committed frontend build matches its sources, and the index page keeps GoTTY's
contract. No Node needed: `frontend/build.mjs` writes a hash of its inputs next to the
bundle, and this test recomputes it the same way.

If `test_bundle_is_built_from_the_current_sources` fails, run `make frontend` (or
`cd frontend && npm ci && npm run build`) and commit gotty_py/static/.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRONTEND = REPO / "frontend"
STATIC = REPO / "gotty_py" / "static"
INDEX = REPO / "gotty_py" / "templates" / "index.html"

# Keep in sync with HASHED_FILES / HASHED_DIRS in frontend/build.mjs.
HASHED_FILES = ("package.json", "package-lock.json", "build.mjs", "tsconfig.json")
HASHED_DIRS = ("src",)


def sources_digest() -> str:
    """SHA-256 of a `sha256sum`-style manifest ("<hex>  <path>\\n", sorted by path)."""
    paths = list(HASHED_FILES)
    for directory in HASHED_DIRS:
        paths += [
            p.relative_to(FRONTEND).as_posix()
            for p in (FRONTEND / directory).rglob("*")
            if p.is_file()
        ]
    manifest = "".join(
        f"{hashlib.sha256((FRONTEND / p).read_bytes()).hexdigest()}  {p}\n" for p in sorted(paths)
    )
    return hashlib.sha256(manifest.encode()).hexdigest()


def test_bundle_is_built_from_the_current_sources() -> None:
    recorded = (STATIC / "BUNDLE_SOURCES_SHA256").read_text().strip()
    assert recorded == sources_digest(), (
        "gotty_py/static is older than frontend/: run `make frontend` and commit the result"
    )


def test_build_outputs_are_present() -> None:
    bundle = (STATIC / "js" / "gotty-bundle.js").read_text(encoding="utf-8")
    css = (STATIC / "css" / "index.css").read_text(encoding="utf-8")
    assert len(bundle) > 100_000 and "webtty" in bundle
    assert ".xterm-helper-textarea" in css, "xterm.js's own CSS must be bundled"
    assert ".gotty-badge" in css, "the page's own styles must be bundled"
    for legacy in ("xterm.css", "xterm_customize.css"):
        assert (STATIC / "css" / legacy).is_file(), f"custom GoTTY index pages link {legacy}"
    png = (STATIC / "favicon.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_package_versions_are_pinned_exactly() -> None:
    text = (FRONTEND / "package.json").read_text()
    versions = re.findall(r'"(@xterm/[\w-]+|esbuild|typescript)": "([^"]+)"', text)
    assert len(versions) == 7
    for name, version in versions:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} must be pinned: {version}"
    lock = (FRONTEND / "package-lock.json").read_text()
    assert '"resolved"' not in lock, "the lockfile must not name a registry (.npmrc)"


def test_index_page_keeps_gottys_contract() -> None:
    """Relative links only, the three scripts in GoTTY's order, #terminal, the title
    variable, and nothing inline that the server's CSP (script-src 'self') would block."""
    html = INDEX.read_text(encoding="utf-8")
    assert "<title>{{ .title }}</title>" in html
    assert '<div id="terminal"></div>' in html
    assert '<meta name="viewport"' in html

    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    sources = [re.findall(r'src="([^"]+)"', attrs) for attrs, _ in scripts]
    assert sources == [["./auth_token.js"], ["./config.js"], ["./js/gotty-bundle.js"]]
    assert all(body.strip() == "" for _, body in scripts), "no inline script"
    assert "<style" not in html and " style=" not in html, "no inline style"
    assert not re.search(r"\son\w+=", html), "no inline event handler"

    links = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert "./css/index.css" in links and "./favicon.png" in links
    for link in links:
        assert link.startswith("./"), f"links must be relative to the base path: {link}"
