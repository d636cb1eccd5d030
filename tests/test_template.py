"""GoTTY's `{{ .var }}` templates: what existing title formats and index pages rely on."""

from __future__ import annotations

import pytest

from gotty_py.server.template import Template, TemplateError, html_template, title_variables


def test_fields_and_go_formatting() -> None:
    variables = title_variables({"command": "bash", "argv": ["-c", "x"], "hostname": "h"},
                                {"remote_addr": "1.2.3.4:5"}, {"pid": 42})
    rendered = Template("{{ .command }}@{{.hostname}} {{ .argv }} {{ .pid }} "
                        "{{ .server.hostname }} {{ .master.remote_addr }}").render(variables)
    assert rendered == "bash@h [-c x] 42 h 1.2.3.4:5"


def test_missing_values_print_no_value() -> None:
    assert Template("{{ .pid }}|{{ .Command }}|{{ .a.b }}").render({}) == (
        "<no value>|<no value>|<no value>")


def test_trim_markers_and_comments() -> None:
    assert Template("a  {{- .x -}}  b{{/* note */}}").render({"x": 1}) == "a1b"


def test_html_template_escapes_values_not_literals() -> None:
    assert html_template("<b>{{ .t }}</b>").render({"t": "<i>&'\""}) == (
        "<b>&lt;i&gt;&amp;&#x27;&quot;</b>")


@pytest.mark.parametrize("source", ["{{ if .x }}y{{ end }}", "{{ printf \"%s\" .x }}",
                                    "{{ .x", "{{ x }}", "{{ .x | html }}"])
def test_unsupported_syntax_is_an_error(source: str) -> None:
    with pytest.raises(TemplateError):
        Template(source)
