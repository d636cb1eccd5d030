"""Which room of gotty_py may import which (docs/architecture.md), and no import cycles.

Every import of a gotty_py module counts, wherever it stands (inside a function or under
`TYPE_CHECKING` too): a type-only import is still a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.gotty import ROOT

PACKAGE = ROOT / "gotty_py"

# A module's rules are those of the longest prefix that names it. An import is allowed when
# it is the module's own room or starts with one of the allowed prefixes. The bottom rooms
# (facts, options, webtty.protocol) import nothing of gotty_py.
ALLOWED: dict[str, tuple[str, ...]] = {
    "gotty_py.facts": (),
    "gotty_py.options": (),
    "gotty_py.logformat": (),
    # Bounded JSON for untrusted peers: used by the protocol and the token checks alike.
    "gotty_py.boundedjson": (),
    "gotty_py.fields": ("gotty_py.facts",),
    "gotty_py.config": ("gotty_py.options",),
    "gotty_py.docs": ("gotty_py.options",),
    "gotty_py.helptext": (),
    # A backend knows the session's facts (and the GOTTY_ prefix) and nothing above it.
    "gotty_py.backend": ("gotty_py.backend", "gotty_py.facts", "gotty_py.options"),
    # The protocol is pure; the session knows the backend's contract, not a backend.
    "gotty_py.webtty.protocol": ("gotty_py.boundedjson",),
    "gotty_py.webtty": ("gotty_py.webtty", "gotty_py.facts", "gotty_py.backend.base",
                        "gotty_py.boundedjson"),
    # auth and audit return plain values; the server turns them into sessions.
    "gotty_py.auth": ("gotty_py.auth", "gotty_py.options", "gotty_py.boundedjson"),
    # The `store` option's grammar is pure: the Redis client is imported only where used.
    "gotty_py.auth.store": (),
    "gotty_py.audit": ("gotty_py.audit", "gotty_py.facts", "gotty_py.fields", "gotty_py.config",
                       "gotty_py.options"),
    # The server is given its backend: it never names an implementation.
    "gotty_py.server": ("gotty_py.server", "gotty_py.webtty", "gotty_py.auth", "gotty_py.audit",
                        "gotty_py.facts", "gotty_py.fields", "gotty_py.options",
                        "gotty_py.config", "gotty_py.backend.base",
                        "gotty_py.backend.environment", "gotty_py.backend.hooks",
                        "gotty_py.backend.programs",
                        "gotty_py.backend.reaper", "gotty_py.__init__"),
    # The Launch codec knows what a grant is made of, and nothing else of the server.
    "gotty_py.server.launch_codec": ("gotty_py.webtty.session", "gotty_py.facts"),
    # The kubernetes backend: a backend room of its own (it knows the contract, the facts,
    # the hook result its cleanup reports, and bounded JSON for the API server's answers).
    "gotty_py.kubernetes": ("gotty_py.kubernetes", "gotty_py.backend.base",
                            "gotty_py.backend.hooks", "gotty_py.facts", "gotty_py.boundedjson"),
    # The codec and the target are pure.
    "gotty_py.kubernetes.channels": ("gotty_py.boundedjson",),
    "gotty_py.kubernetes.target": (),
    "gotty_py.backends": ("gotty_py.backend", "gotty_py.kubernetes", "gotty_py.options"),
    "gotty_py.token_cli": ("gotty_py.auth", "gotty_py.options", "gotty_py.helptext"),
    # gotty-py-admin only speaks HTTP to a server's admin routes.
    "gotty_py.admin_cli": (),
    "gotty_py.cli": ("gotty_py",),
    "gotty_py.__main__": ("gotty_py.cli",),
    "gotty_py.__init__": (),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The gotty_py modules `path` imports (a package import names its `__init__`)."""
    name = module_name(path)
    package = name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("gotty_py"):
                continue
            for alias in node.names:  # `from . import protocol` imports a module
                submodule = f"{target}.{alias.name}"
                if _exists(submodule):
                    found.add(submodule)
                else:
                    found.add(target if _exists(target) else f"{target}.__init__")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names
                         if alias.name.startswith("gotty_py"))
    found.discard(name)
    return {f"{t}.__init__" if (ROOT / t.replace(".", "/")).is_dir() else t for t in found}


def _exists(module: str) -> bool:
    path = ROOT / module.replace(".", "/")
    return path.with_suffix(".py").is_file()


MODULES = {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def rules_for(module: str) -> tuple[str, tuple[str, ...]]:
    if module.endswith(".__init__") and module != "gotty_py.__init__":
        module = module[: -len(".__init__")]
    room = max((prefix for prefix in ALLOWED if module == prefix
                or module.startswith(prefix + ".")), key=len)
    return room, ALLOWED[room]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_stay_in_the_allowed_rooms(module: str) -> None:
    room, allowed = rules_for(module)
    for target in sorted(MODULES[module]):
        ok = (target == room or target.startswith(room + ".")
              or any(target == prefix or target.startswith(prefix + ".")
                     for prefix in allowed))
        assert ok, f"{module} ({room}) may not import {target}; allowed: {allowed}"


def test_every_module_has_a_room() -> None:
    for module in MODULES:
        rules_for(module)  # raises ValueError (max of nothing) for an unplaced module


def test_no_import_cycles() -> None:
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module):], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in MODULES.get(module, ()):
            visit(target, [*path, module])
        done.add(module)

    for module in MODULES:
        visit(module, [])


def test_the_checker_sees_imports() -> None:
    """The checker itself: relative, from-package and function-level imports all count."""
    assert "gotty_py.webtty.protocol" in MODULES["gotty_py.webtty.session"]
    assert "gotty_py.backend.base" in MODULES["gotty_py.webtty.session"]
    assert "gotty_py.__init__" in MODULES["gotty_py.server.audit_observer"]  # __version__
    assert MODULES["gotty_py.facts"] == set()
