"""The generated reference leaves nothing out (no mkdocs needed: the generator is plain Python).

``reconciler/_docs_reference.py`` renders what ``docs/_hooks/reference.py`` puts into the
reference pages at build time. These tests call it directly and fail when a CLI option, a
manifest field, a report field, a metric name or dimension, or an error type is missing from
what it renders, or when the report's field table and ``Report.to_dict`` disagree.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import _docs_reference as ref
from reconciler.output import report_fields
from reconciler.output.report import ItemResult, Report, RunError

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def rendered() -> Callable[[str], str]:
    """Factory: the generated markdown of one reference marker, rendered once per module."""
    cache: dict[str, str] = {}

    def render(name: str) -> str:
        if name not in cache:
            cache[name] = ref.render(name)
        return cache[name]

    return render


def _sections(markdown: str) -> dict[str, str]:
    """Heading text (without its {#id}) -> the text below it, up to the next heading of that level."""
    out: dict[str, str] = {}
    for chunk in re.split(r"^## ", markdown, flags=re.M)[1:]:
        heading, _, body = chunk.partition("\n")
        out[re.sub(r"\s*\{#[^}]*\}$", "", heading).strip("` ")] = body
    return out


# --- CLI ----------------------------------------------------------------------------------------


def test_every_cli_option_is_in_the_reference(rendered: Callable[[str], str]) -> None:
    # GIVEN the parser the CLI really uses
    from reconciler._cli import build_parser

    options = ref.cli_options(build_parser())
    # WHEN the CLI reference is generated
    sections = _sections(rendered("cli"))
    # THEN every subcommand has its section and every option string its row there
    assert options, "no options found: the parser walk is broken"
    for command, action in options:
        body = sections[f"reconciler {command}"]
        names = action.option_strings or [str(action.metavar or action.dest).upper()]
        for name in names:
            assert f"`{name}" in body, f"{command}: {name} missing from the CLI reference"


def test_every_cli_argument_has_help() -> None:
    # GIVEN every argument of every subcommand
    from reconciler._cli import build_parser

    # THEN each says what it does (the reference prints it; a bare option documents nothing)
    missing = [f"{cmd} {a.option_strings or a.dest}" for cmd, a in ref.cli_options(build_parser())
               if not a.help or a.help == argparse.SUPPRESS]
    assert not missing, f"arguments without help=: {missing}"


# --- manifest -----------------------------------------------------------------------------------


def test_every_manifest_field_is_in_its_section(rendered: Callable[[str], str]) -> None:
    # GIVEN the JSON schema of the manifest model (the source of `reconciler schema` too)
    from reconciler.manifest.schema import ManifestModel

    schema = ManifestModel.model_json_schema()
    # WHEN the manifest reference is generated
    sections = _sections(rendered("manifest"))
    # THEN every field of every model appears as a row of the section for its path
    fields = ref.manifest_fields(schema)
    assert len(fields) > 40, "too few fields: the schema walk is broken"
    for path, field in fields:
        body = sections[path or "(top level)"]
        assert f"| `{field}` |" in body, f"manifest field {path}.{field} missing from the reference"


def test_field_descriptions_flow_into_the_manifest_reference(rendered: Callable[[str], str]) -> None:
    # GIVEN every description the models give their fields (Field(description=...))
    from reconciler.manifest.schema import ManifestModel

    schema = ManifestModel.model_json_schema()
    models = [schema, *schema.get("$defs", {}).values()]
    descriptions = [node["description"] for m in models for node in m.get("properties", {}).values()
                    if node.get("description")]
    # THEN each is printed (as one table cell: newlines folded, pipes escaped)
    text = rendered("manifest")
    for d in descriptions:
        assert ref._cell(d) in text


# --- report -------------------------------------------------------------------------------------


@pytest.fixture
def make_report() -> Callable[..., Report]:
    """Factory: a report with one failed item (with a diff) and one run-level error: every key."""

    def make(**overrides: object) -> Report:
        item = ItemResult(mapping="m", source="s", dest_name="d", dest_region="us-west-2", dest_account="1",
                          action="failed", reason="r", error_type="E", error_message="x", retryable=False,
                          diff={"paths": []})
        error = RunError(account="1", region="us-east-1", service="secretsmanager", type="E", message="x")
        fields: dict[str, object] = {"mode": "run", "started_at": "t", "run_id": "r", "items": [item],
                                     "errors": [error], **overrides}
        return Report(**fields)  # type: ignore[arg-type]  # the factory passes Report's own fields

    return make


def test_report_field_table_matches_what_the_report_writes(make_report: Callable[..., Report]) -> None:
    # GIVEN a report with every optional part present
    data = make_report().to_dict()
    item, error = data["items"][0], data["errors"][0]
    # THEN the field tables name exactly the keys to_dict writes, at every level
    names = {title: [f.name for f in fields] for title, fields in report_fields.TABLES.items()}
    assert names["report"] == list(data)
    assert names["item"] == list(item)
    assert names["destination"] == list(item["destination"])
    assert names["item error"] == list(item["error"])
    assert names["run error"] == list(error)
    assert names["scope"] == list(error["scope"])


def test_every_report_field_action_and_exit_code_is_in_the_reference(rendered: Callable[[str], str]) -> None:
    from reconciler.engine.actions import ACTIONS
    from reconciler.output.report import ExitCode

    # WHEN the report reference is generated
    text = rendered("report")
    # THEN every field, action and exit code is there
    for fields in report_fields.TABLES.values():
        for f in fields:
            assert f"| `{f.name}` |" in text
    for action in ACTIONS:
        assert f"`{action.value}`" in text
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in text


# --- metrics ------------------------------------------------------------------------------------


def test_every_metric_name_and_dimension_is_in_the_reference(rendered: Callable[[str], str]) -> None:
    from reconciler.output.metrics import MetricDimension, MetricName

    # WHEN the metrics reference is generated
    sections = _sections(rendered("metrics"))
    # THEN each metric has a row with a description, and each dimension is named
    for m in MetricName:
        assert re.search(rf"^\| `{m.value}` \|.*\| [^|]+ \|$", sections["Metric names"], flags=re.M), m
    for d in MetricDimension:
        assert f"`{d.value}`" in sections["Dimensions"]


def test_metrics_publish_only_dimensions_of_the_enum() -> None:
    # GIVEN the series a run of every action publishes
    from reconciler.output.metrics import MetricDimension, MetricName

    series = ref.metric_series()
    # THEN every metric name is an enum member and every dimension too (the enum is the closed set)
    assert set(series) <= {m.value for m in MetricName}
    used = set().union(*(dims for _, dims in series.values())) - {"(none)"}
    assert used <= {d.value for d in MetricDimension}, used - {d.value for d in MetricDimension}


# --- errors -------------------------------------------------------------------------------------


def _type_names_in_source() -> set[str]:
    """Every ``type_name = "X"`` written in a class body anywhere in reconciler/ (read with ast)."""
    found = set()
    for path in (ROOT / "reconciler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (isinstance(stmt, ast.Assign) and any(getattr(t, "id", "") == "type_name" for t in stmt.targets)
                            and isinstance(stmt.value, ast.Constant)):
                        found.add(str(stmt.value.value))
    return found


def test_every_error_type_is_in_the_reference(rendered: Callable[[str], str]) -> None:
    # GIVEN every error type the source defines, and the exception classes themselves
    from reconciler._exceptions import ReconcilerError

    type_names = _type_names_in_source()
    # WHEN the error reference is generated
    text = rendered("errors")
    # THEN every type name and every class is a row
    assert len(type_names) >= 15, "too few type names: the source scan is broken"
    for name in type_names:
        assert f"| `{name}` |" in text, f"error type {name} missing from the reference"
    for cls in ref.error_classes():
        assert issubclass(cls, ReconcilerError)
        assert f"`{cls.__name__}`" in text


def test_every_aws_error_code_of_the_table_is_in_the_reference(rendered: Callable[[str], str]) -> None:
    from reconciler.aws import errors

    text = rendered("errors")
    for codes in (errors.THROTTLING_CODES, errors.TRANSIENT_CODES, errors.ACCESS_CODES):
        for code in codes:
            assert f"`{code}`" in text


# --- pages --------------------------------------------------------------------------------------


def test_every_marker_in_the_docs_is_a_generator_and_every_generator_is_used() -> None:
    # GIVEN the markers written in the docs pages
    pages = {p: p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md")}
    used = {m for text in pages.values() for m in re.findall(r"<!-- reference:([\w-]+) -->", text)}
    # THEN each names a generator (an unknown one would be left in the page) and none is unused
    assert used == set(ref.GENERATORS)


def test_substitute_fills_markers() -> None:
    # GIVEN a page with a marker  WHEN substituted  THEN the marker is gone and the table is there
    out = ref.substitute("intro\n\n<!-- reference:metrics -->\n")
    assert "<!-- reference:" not in out
    assert "`RunDuration`" in out


def test_the_demo_picture_is_rich_svg() -> None:
    svg = (DOCS / "assets" / "plan.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "Generated with Rich" in svg


# --- version ------------------------------------------------------------------------------------


def test_version_is_written_once() -> None:
    # GIVEN pyproject.toml
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is 3.11+")
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # THEN it reads the version from the package instead of writing it
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "reconciler.__version__"}


def test_installed_version_is_the_package_version() -> None:
    import reconciler

    try:
        installed = importlib.metadata.version("secrets-reconciler")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the package is not installed")
    assert installed == reconciler.__version__
