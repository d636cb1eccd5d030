"""The generated documents match the option declarations, and the example config loads."""

from __future__ import annotations

import re
from pathlib import Path

from gotty_py.config import load_options
from gotty_py.docs import example_config, options_markdown
from gotty_py.options import Options

ROOT = Path(__file__).resolve().parent.parent


def test_options_table_is_current() -> None:
    assert (ROOT / "docs/options.md").read_text() == options_markdown(), "run `make docs`"


def test_example_config_is_current() -> None:
    assert (ROOT / "config/gotty.example.hcl").read_text() == example_config(), "run `make docs`"


def test_example_config_uncommented_loads_to_the_defaults(tmp_path: Path) -> None:
    lines = []
    for line in example_config().splitlines():
        body = line.removeprefix("// ")
        if re.match(r"^\s*(\w+ = .*|preferences \{|\})$", body):
            lines.append(body)
    config = tmp_path / "all.hcl"
    config.write_text("\n".join(lines) + "\n")
    loaded = load_options({"config": str(config)}, {}, home="/nonexistent")
    assert loaded.warnings == []
    expected = Options(config=str(config))
    expected.preferences = loaded.options.preferences
    assert loaded.options == expected
    assert loaded.options.preferences["font_size"] == 15


def test_every_shipped_config_loads_cleanly() -> None:
    """The configs in config/ use only known keys with values of the right type."""
    for path in sorted((ROOT / "config").glob("*.hcl")):
        loaded = load_options({"config": str(path)}, {}, home="/nonexistent")
        assert loaded.warnings == [], path
