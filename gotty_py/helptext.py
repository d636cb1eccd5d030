"""Plain `--help` text for the project's commands: options in sections, value names, no
Python types.

Rules of this module: it only formats the help of a typer command (`SectionedCommand`, given
to `app.command(cls=...)`); which section an option is in comes from the subclass's
`section_of`, so the option declarations stay the one place that says it. It parses nothing
and changes no behaviour of the command.

Typer's own formatter prints `[COMMAND [ARGS]...]...` (the argument's `...` twice),
`<list[str]>` and `<str>` for every value, and one flat list: fine for a small tool, not for
seventy options.
"""

from __future__ import annotations

from typing import Any, ClassVar

from typer._click.core import Context
from typer._click.formatting import HelpFormatter
from typer.core import TyperArgument, TyperCommand, TyperOption

OTHER = "Other"


class SectionedCommand(TyperCommand):
    """A typer command whose help lists options under `section_of(parameter name)` titles,
    in the order of `section_order`, then the rest under "Other"."""

    section_order: ClassVar[tuple[str, ...]] = ()

    def section_of(self, name: str) -> str | None:
        """The section title of the option whose parameter is `name` (None: "Other")."""
        return None

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(param.metavar or param.name or "ARGS")
        return pieces

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        arguments: list[tuple[str, str]] = []
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            if getattr(param, "hidden", False):
                continue
            if isinstance(param, TyperArgument):
                arguments.append((param.metavar or (param.name or "").upper(),
                                  getattr(param, "help", None) or ""))
            elif isinstance(param, TyperOption):
                title = self.section_of(param.name or "") or OTHER
                sections.setdefault(title, []).append(_option_record(param))
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        order = [*self.section_order, *(t for t in sections if t not in self.section_order)]
        for title in order:
            if title in sections:
                with formatter.section(title if len(sections) > 1 else "Options"):
                    formatter.write_dl(sections[title])


def _option_record(option: TyperOption) -> tuple[str, str]:
    """`-p, --port PORT` and its help; `--tls / --no-tls` for a switch."""
    names = ", ".join(sorted(option.opts, key=lambda name: (name.startswith("--"), name)))
    if option.secondary_opts:
        names += " / " + ", ".join(option.secondary_opts)
    if not option.is_flag:
        names += f" {option.metavar or 'VALUE'}"
    help_text = option.help or ""
    default = _shown_default(option)
    if default is not None:
        help_text += f" [default: {default}]"
    return names, help_text


def _shown_default(option: TyperOption) -> str | None:
    if isinstance(option.show_default, str):
        return option.show_default
    value: Any = option.default
    if not option.show_default or value is None or callable(value) or option.is_flag:
        return None
    if isinstance(value, list | tuple) and not value:
        return None
    return str(value)
