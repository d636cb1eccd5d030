"""Documents generated from the option declarations: the options table and the example config.

Rules of this module: it only formats `OPTION_SPECS`; the committed `docs/options.md` and
`config/gotty.example.hcl` are its output, and a test fails when they are stale
(`make docs` rewrites them).
"""

from __future__ import annotations

import json
import sys

from .options import OPTION_SPECS, OptionSpec, Section, format_default


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def options_markdown() -> str:
    lines = [
        "# gotty-py options",
        "",
        "Generated from `gotty_py/options.py` by `make docs`; do not edit by hand.",
        "Precedence: default < config file (HCL) < `GOTTY_*` environment < command-line flag.",
        "The same list, in the same sections, is printed by `gotty-py --help`; this file by",
        "`python -m gotty_py.docs` (and the example config by `python -m gotty_py.docs hcl`).",
        "A numeric option's range is in its `range` column: a value outside it is refused at",
        "start-up, naming where it came from.",
    ]
    for section in Section:
        specs = [spec for spec in OPTION_SPECS if spec.section is section]
        if specs:
            lines += ["", f"## {section.value}", "", *_table(specs)]
    return "\n".join(lines) + "\n"


def _range(spec: OptionSpec) -> str:
    if spec.minimum is None and spec.maximum is None:
        return ""
    if spec.maximum is None:
        return f"≥ {spec.minimum}"
    return f"{spec.minimum}–{spec.maximum}"


def _table(specs: list[OptionSpec]) -> list[str]:
    lines = [
        "| flag | short | HCL key | environment | type | default | range | origin | meaning |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for spec in specs:
        lines.append("| " + " | ".join(_cell(cell) for cell in (
            f"`--{spec.flag}`" if spec.flag else "—",
            f"`-{spec.short}`" if spec.short else "",
            f"`{spec.hcl}`" if spec.hcl else "—",
            f"`{spec.env}`" if spec.env else "—",
            spec.kind,
            f"`{format_default(spec)}`",
            _range(spec),
            spec.origin,
            spec.help,
        )) + " |")
    return lines


def _hcl_value(spec: OptionSpec) -> str:
    if spec.kind == "bool":
        return "true" if spec.default else "false"
    if spec.kind in ("int", "float"):
        return str(spec.default)
    return json.dumps(spec.default)


def example_config() -> str:
    lines = [
        "// gotty-py configuration (HCL). Read from ~/.gotty when present, or --config FILE.",
        "// Generated from gotty_py/options.py by `make docs`. Every option is listed with its",
        "// default; uncomment a line to change it. Keys are case-insensitive.",
        "// Environment variables (GOTTY_*) and flags override this file.",
        "",
    ]
    for spec in OPTION_SPECS:
        if spec.hcl is None:
            continue
        lines.append(f"// {spec.help}.")
        if spec.kind == "block":
            lines += [
                "// preferences {",
                "//   font_size = 15",
                '//   font_family = "monospace"',
                '//   foreground_color = "#d0d0d0"',
                '//   background_color = "#1c1c1c"',
                '//   cursor_color = "#ffffff"',
                "//   cursor_blink = true",
                "// }",
                "",
            ]
            continue
        lines += [f"// {spec.hcl} = {_hcl_value(spec)}", ""]
    return "\n".join(lines)


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "markdown"
    sys.stdout.write(options_markdown() if what == "markdown" else example_config())


if __name__ == "__main__":
    main()
