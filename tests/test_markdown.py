"""--format markdown, the job summary, and the one Markdown escaper (issue 17 part 2)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from reconciler.output.markdown import render_markdown
from reconciler.output.mdescape import md_text
from reconciler.output.report import ItemResult, Report, RunError

GFM = MarkdownIt("commonmark").enable("table").enable("strikethrough")
_TAGS = re.compile(r"<(/?)([a-zA-Z]+)")
TABLE_TAGS = {"table", "thead", "tbody", "tr", "th", "td"}


def _normalised(s: str) -> str:
    return re.sub(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", s).strip()


def _cells(rendered: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", rendered, flags=re.S)]


HOSTILE = ["a|b", "[x](https://evil.example)", "![i](https://evil.example/p.png)", "<img src=x onerror=1>",
           "<script>alert(1)</script>", "# heading", "&amp; &#60;", "`code`", "line\nbreak\r\n| x | y |",
           "https://evil.example www.evil.example a@evil.example", "**b** _i_ ~~s~~", "\\|", "<https://e.x>",
           "[ref]: https://evil.example", "    indented", "- list", "1. list", "> quote", "---", "\x00\x1b[31m"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(HOSTILE), st.text(), st.text(alphabet="|`[]()<>&#!*_~\\:/.@\n -=>x", max_size=40)))
def test_any_string_renders_as_exactly_its_own_text_in_one_cell(value: str) -> None:
    # GIVEN any string in the middle cell of a three-column row
    doc = f"| a | b | c |\n| --- | --- | --- |\n| x | {md_text(value)} | y |\n"
    # WHEN a GFM parser renders it
    out = GFM.render(doc)
    # THEN the row still has three cells, the middle one is the text itself, and no tag but the table's
    assert _cells(out) == ["x", _normalised(value), "y"]
    assert {t for _, t in _TAGS.findall(out)} <= TABLE_TAGS


def test_escaped_text_never_becomes_a_block_in_a_list_item() -> None:
    for value in HOSTILE:
        out = GFM.render(f"- {md_text(value)}\n")
        assert {t for _, t in _TAGS.findall(out)} <= {"ul", "li"}, value


def _item(n: int, action: str = "create", **kw: Any) -> ItemResult:
    return ItemResult(mapping=f"m{n}", source=f"src{n}", dest_name=f"dst{n}", dest_region="us-west-2",
                      dest_account="111111111111", action=action, reason=kw.pop("reason", "absent"), **kw)


def _report(items: list[ItemResult], mode: str = "plan", errors: list[RunError] | None = None) -> Report:
    return Report(mode=mode, started_at="2026-12-06T00:00:00Z", run_id="r", items=items, errors=errors or [])


def test_summary_line_table_cap_trailer_details_and_errors() -> None:
    # GIVEN 60 creates, 2 updates, 1 delete, 1 conflict, 1 failure and a run-level error
    items = [_item(i) for i in range(60)] + [_item(100, "update"), _item(101, "update"), _item(102, "delete"),
                                             _item(103, "conflict", reason="owned by [x](https://e.x)"),
                                             _item(104, "failed", error_type="AccessDenied", error_message="no|pe")]
    err = RunError(account="1", region="us-east-1", service="secretsmanager", type="AccessDenied", message="<b>")
    # WHEN rendered with a cap of 50 rows
    md = render_markdown(_report(items, errors=[err]), max_rows=50)
    # THEN the summary line counts every action, the table is capped with a counted trailer
    assert "60 to create, 2 to update, 1 to delete, 1 conflicts, 1 failed" in md
    assert len(re.findall(r"\n\| m\d", md)) == 50 and "… and 15 more" in md
    # AND attention comes first: the failure and the conflict are in the table
    assert "| m104 |" in md and "| m103 |" in md
    # AND one <details> per action seen, and the errors list, all escaped
    assert md.count("<details>") == 5 and "would create: 60" in md
    assert "run-level error" in md and "\\<b\\>" in md
    assert "[x](https" not in md
    rendered = GFM.render(md)
    assert "<a " not in rendered and "<b>" not in rendered


def test_text_output_ends_with_the_change_summary_then_the_spec_last_line() -> None:
    from rich.console import Console

    from reconciler.output.render import render_text

    console = Console(record=True, width=200)
    render_text(_report([_item(1), _item(2, "conflict")]), console=console)
    lines = console.export_text().strip().splitlines()
    assert lines[-2] == "1 to create, 0 to update, 0 to delete, 1 conflicts, 0 failed"
    assert lines[-1].startswith("orphans: ")


MANIFEST = """\
version: 1
settings: {metrics: {sink: none}}
defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
mappings:
  - id: plain
    source: app/plain
    destination: dr/plain
  - id: json
    source: app/json
    destination: dr/json
    transform: [{json: {"$.host": "x"}}]
"""


def test_markdown_stdout_and_appended_summary_hold_no_secret_value_canary(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    # GIVEN secrets whose values carry a canary, one that fails its transform (not JSON)
    aws.create("app/plain", "CANARY-plain")
    aws.create("app/json", "CANARY-not-json")
    path = write_manifest(MANIFEST)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    # WHEN planned with --diff (reads values) in Markdown, then run in JSON
    code, out, _ = run_cli("plan", str(path), "--format", "markdown", "--diff")
    code2, report, _ = run_cli("run", str(path))
    # THEN stdout is Markdown for the plan and still exactly one JSON report for the run
    assert code == 1 and out.startswith("### reconciler plan")
    assert "1 to create" in out
    assert isinstance(report, dict) and code2 == 1
    # AND both Markdown reports were appended after the earlier step's text, with no value in either
    text = summary.read_text()
    assert text.startswith("earlier step\n") and text.count("### reconciler ") == 2
    assert "CANARY" not in out and "CANARY" not in text


def test_summary_flag_wins_over_the_environment(aws: Any, proxy: Any, write_manifest: Any, run_cli: Any,
                                                tmp_path: Path, monkeypatch: Any) -> None:
    aws.create("app/plain", "v")
    env_file, flag_file = tmp_path / "env.md", tmp_path / "flag.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(env_file))
    code, report, _ = run_cli("plan", str(write_manifest(MANIFEST)), "--select", "plain", "--summary",
                              str(flag_file))
    assert code == 3 and report["totals"]["create"] == 1
    assert flag_file.read_text().startswith("### reconciler plan") and not env_file.exists()
