"""The reference pages, generated from the code so they cannot drift from it.

Each ``*_markdown`` function renders one page's generated part from the one place the code keeps
that fact:

* the CLI from the argparse parser (``_cli.build_parser``);
* the manifest from the pydantic models' JSON schema (``ManifestModel.model_json_schema()``, the
  same source as any ``reconciler schema`` command), so ``Field(description=...)`` flows in;
* the report from ``output.report_fields`` (checked against ``Report.to_dict`` by the tests),
  its actions from ``engine.actions`` and its exit codes from ``output.report.ExitCode``;
* the metrics from ``output.metrics`` (``MetricName``, ``MetricDimension``, and the dimensions
  ``build`` really publishes, found by building the batch of a sample report);
* the error types from the exception classes (every ``ReconcilerError`` subclass in the package)
  and the AWS error-code table in ``aws/errors.py``.

Pure Python, no mkdocs: ``docs/_hooks/reference.py`` substitutes ``<!-- reference:NAME -->``
markers with ``render(NAME)`` at build time, and ``tests/test_docs_reference.py`` calls the same
functions to check that nothing is left out.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from typing import Any

MARKER = "<!-- reference:{name} -->"


def _cell(text: object) -> str:
    """Text safe inside a markdown table cell (pipes and newlines would end the cell or the row)."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _table(header: tuple[str, ...], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(text: object) -> str:
    return f"`{text}`"


# --- CLI ----------------------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of every subcommand, in the order the parser lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def cli_options(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    """(subcommand, action) of every argument a subcommand takes (``--help`` left out)."""
    return [(name, a) for name, _, sub in _subcommands(parser) for a in sub._actions
            if not isinstance(a, argparse._HelpAction)]


def _argument(action: argparse.Action) -> str:
    if action.option_strings:
        name = ", ".join(action.option_strings)
        if action.nargs == 0:
            return _code(name)
        metavar = action.metavar or (action.dest.upper() if not action.choices else None)
        value = str(metavar) if metavar else "{" + ",".join(str(c) for c in action.choices or ()) + "}"
        many = " ..." if action.nargs in ("+", "*") else ""
        return _code(f"{name} {value}{many}")
    return _code(str(action.metavar or action.dest).upper())


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, [], argparse.SUPPRESS):
        return ""
    return _code(action.default)


def cli_markdown() -> str:
    from ._cli import build_parser

    parser = build_parser()
    out = [f"`{parser.prog}`: {parser.description or ''}", ""]
    out.append(_table(("command", "what it does"),
                      [(f"[`{parser.prog} {name}`](#{name})", help_) for name, help_, _ in _subcommands(parser)]))
    for name, help_, sub in _subcommands(parser):
        out += ["", f"## {parser.prog} {name} {{#{name}}}", "", help_, "", "```", sub.format_usage().strip(), "```", ""]
        rows = []
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            choices = ", ".join(_code(c) for c in action.choices) if action.choices else ""
            rows.append((_argument(action), action.help or "", choices, _default(action)))
        out.append(_table(("argument", "help", "choices", "default"), rows))
    return "\n".join(out) + "\n"


# --- manifest -----------------------------------------------------------------------------------


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _anchor(path: str) -> str:
    return "m-" + "".join(c if c.isalnum() else "-" for c in path).strip("-")


def _schema_type(node: dict[str, Any], links: dict[str, str]) -> str:
    """A JSON schema node as a short type: ``string``, ``list of Settings``, ``"fail" or "adopt"``..."""
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        path = links.get(name)
        return f"[{name}](#{_anchor(path)})" if path else name
    if "anyOf" in node:
        parts = [_schema_type(n, links) for n in node["anyOf"]]
        return " or ".join(dict.fromkeys(parts))
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " or ".join(json.dumps(v) for v in node["enum"])
    kind = node.get("type", "any")
    if kind == "array":
        return "list of " + _schema_type(node.get("items", {}), links)
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return "map of string to " + _schema_type(node["additionalProperties"], links)
    return str(kind)


_CONSTRAINTS = (("minimum", ">= {}"), ("exclusiveMinimum", "> {}"), ("maximum", "<= {}"),
                ("exclusiveMaximum", "< {}"), ("minLength", "at least {} characters"),
                ("maxLength", "at most {} characters"), ("minItems", "at least {} entries"),
                ("maxItems", "at most {} entries"), ("maxProperties", "at most {} entries"),
                ("pattern", "matches `{}`"))


def _constraints(node: dict[str, Any]) -> list[str]:
    found = [fmt.format(node[key]) for key, fmt in _CONSTRAINTS if key in node]
    for sub in node.get("anyOf", ()):
        found += _constraints(sub)
    return found


def _schema_default(name: str, node: dict[str, Any], required: set[str]) -> str:
    if name in required:
        return "required"
    if "default" not in node:
        return ""
    if "$ref" in node:  # a nested block's default is its own fields' defaults, shown in its section
        return "(its fields' defaults)"
    return _code(json.dumps(node["default"]))


def _schema_paths(schema: dict[str, Any]) -> dict[str, str]:
    """Model name -> the manifest path it is first met at (``settings.retry``, ``mappings[].source``)."""
    defs = schema.get("$defs", {})
    paths: dict[str, str] = {}

    def refs(node: dict[str, Any]) -> Iterator[tuple[str, str]]:
        if "$ref" in node:
            yield _ref_name(node["$ref"]), ""
        for sub in node.get("anyOf", ()):
            yield from refs(sub)
        if isinstance(node.get("items"), dict):
            yield from ((n, "[]" + s) for n, s in refs(node["items"]))

    def walk(model: dict[str, Any], prefix: str) -> None:
        for field, node in model.get("properties", {}).items():
            for name, suffix in refs(node):
                if name not in paths:
                    paths[name] = f"{prefix}{field}{suffix}"
                    walk(defs[name], paths[name] + ".")

    walk(schema, "")
    return paths


def manifest_fields(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(section path, field name) of every field of every model the manifest schema holds."""
    paths = _schema_paths(schema)
    found = [("", f) for f in schema.get("properties", {})]
    for name, model in schema.get("$defs", {}).items():
        found += [(paths.get(name, name), f) for f in model.get("properties", {})]
    return found


def _model_section(title: str, model: dict[str, Any], links: dict[str, str]) -> list[str]:
    required = set(model.get("required", ()))
    rows = []
    for field, node in model.get("properties", {}).items():
        notes = [node.get("description", ""), *_constraints(node)]
        rows.append((_code(field), _schema_type(node, links), _schema_default(field, node, required),
                     "; ".join(n for n in notes if n)))
    body = [model["description"], ""] if model.get("description") else []
    return ["", f"## `{title}` {{#{_anchor(title)}}}", "", *body,
            _table(("field", "type", "default", "description"), rows)]


def manifest_markdown() -> str:
    from .manifest.schema import ManifestModel

    schema = ManifestModel.model_json_schema()
    links = _schema_paths(schema)
    out = ["Every block of the manifest, generated from the models that validate it. "
           "Anything not listed here is an unknown key: a load error."]
    out += _model_section("(top level)", schema, links)
    for name, path in links.items():
        out += _model_section(path, schema["$defs"][name], links)
    return "\n".join(out) + "\n"


# --- report -------------------------------------------------------------------------------------


def report_markdown() -> str:
    from .engine.actions import ACTIONS
    from .output.report import ExitCode
    from .output.report_fields import TABLES

    out: list[str] = []
    for title, fields in TABLES.items():
        out += ["", f"## {title.capitalize()} fields {{#{title.replace(' ', '-')}}}", "",
                _table(("field", "type", "description"),
                       [(_code(f.name), f.type, f.description) for f in fields])]
    out += ["", "## Actions {#actions}", "",
            "The values of an item's `action`, in the order `totals` lists them: "
            + ", ".join(_code(a.value) for a in ACTIONS) + "."]
    out += ["", "## Exit codes {#exit-codes}", "",
            _table(("code", "name", "meaning"),
                   [(str(int(c)), _code(c.name), _exit_meaning(c)) for c in ExitCode])]
    return "\n".join(out).lstrip() + "\n"


def _exit_meaning(code: Any) -> str:
    """The comment written beside the member in ``ExitCode``: the one place its meaning is kept."""
    from .output import report

    for line in inspect.getsource(report.ExitCode).splitlines():
        left, _, comment = line.partition("#")
        if left.strip().startswith(f"{code.name} ="):
            return comment.strip()
    return ""


# --- metrics ------------------------------------------------------------------------------------


def _sample_report() -> Any:
    """A report with one item of every action and a transform, retries and throttles: every series."""
    from .engine.actions import ACTIONS
    from .output.report import ItemResult, Report

    items = [ItemResult(mapping="m", source="s", dest_name="d", dest_region="us-west-2", dest_account="1",
                        action=a.value, reason="", error_type="E" if a.value == "failed" else None,
                        source_region="us-east-1", size=1, transform_ms=1.0, transform_in=1, transform_out=1)
             for a in ACTIONS]
    return Report(mode="run", started_at="", run_id="", items=items, retries={"Op": 1}, throttles={"Op": 1})


def metric_series() -> dict[str, tuple[str, set[str]]]:
    """Metric name -> (unit, the dimension names ``build`` publishes it with, "(none)" for run totals)."""
    from .manifest import MetricsSettings
    from .output.metrics import build

    batch = build(_sample_report(), MetricsSettings(include_secret_names=True))
    series: dict[str, tuple[str, set[str]]] = {}
    for name, dims in batch.values:
        _unit, seen = series.setdefault(name, (batch.units[name], set()))
        seen.update({"(none)"} if dims is None else {k for k, _ in dims if not k.startswith("\x00")})
    return series


def metrics_markdown() -> str:
    from .output.metrics import METRIC_DESCRIPTIONS, MetricDimension, MetricName, SinkName

    series = metric_series()
    rows = []
    for m in MetricName:
        unit, dims = series.get(m.value, ("", set()))
        shown = ", ".join(_code(d) if d != "(none)" else "none (run total)" for d in sorted(dims))
        rows.append((_code(m.value), unit, shown, METRIC_DESCRIPTIONS.get(m, "")))
    out = ["## Metric names {#metric-names}", "",
           _table(("metric", "unit", "dimensions", "what it counts"), rows),
           "", "## Dimensions {#dimensions}", "",
           "The dimension names the reconciler sets, plus any `settings.metrics.dimensions` of your own "
           "(`Mapping` only with `settings.metrics.include_secret_names: true`): "
           + ", ".join(_code(d.value) for d in MetricDimension) + ".",
           "", "## Sinks {#sinks}", "",
           "`settings.metrics.sink` or `--metrics-sink`: " + ", ".join(_code(s.value) for s in SinkName) + "."]
    return "\n".join(out) + "\n"


# --- errors -------------------------------------------------------------------------------------


def error_classes() -> list[type]:
    """Every ``ReconcilerError`` subclass defined in the package, the base first, depth first.

    Every module is imported first, so an item error defined beside the code that raises it
    (``engine/lifecycle.py``'s ``PruneGuard``...) is found without a list to keep up to date.
    """
    import reconciler

    from ._exceptions import ReconcilerError

    for info in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if not info.name.endswith("__main__"):  # importing it would run the CLI
            importlib.import_module(info.name)

    found: list[type] = []

    def walk(cls: type) -> None:
        if cls.__module__.startswith("reconciler") and cls not in found:
            found.append(cls)
        subs: list[type] = sorted(cls.__subclasses__(), key=lambda c: c.__name__)
        for sub in subs:
            walk(sub)

    walk(ReconcilerError)
    return found


def error_type_name(cls: type) -> str:
    """The ``error.type`` a report shows for this class (its ``type_name``; else its class name)."""
    return str(getattr(cls, "type_name", cls.__name__) if "type_name" in vars(cls) else cls.__name__)


def _depth(cls: type) -> int:
    from ._exceptions import ReconcilerError

    return sum(1 for c in cls.__mro__ if isinstance(c, type) and issubclass(c, ReconcilerError)) - 1


def _doc_line(cls: type) -> str:
    doc = inspect.getdoc(cls) if cls.__doc__ else ""
    return (doc or "").split("\n\n")[0].replace("\n", " ")


def errors_markdown() -> str:
    from .aws import errors as aws_errors

    rows = []
    for cls in error_classes():
        indent = "&nbsp;&nbsp;" * _depth(cls)
        retry = getattr(cls, "retryable", None)
        rows.append((_code(error_type_name(cls)), f"{indent}`{cls.__name__}`", _code(cls.__module__),
                     "" if retry is None else ("yes" if retry else "no"), _doc_line(cls)))
    out = ["## Error types {#error-types}", "",
           "An item's `error.type` is its error class's type name; an AWS call that failed (`BackendError` "
           "and below) shows the AWS error code itself, classified by the table below.", "",
           _table(("type", "class", "module", "retryable", "meaning"), rows)]
    kinds: list[tuple[str, frozenset[str], str]] = [
        ("throttling", aws_errors.THROTTLING_CODES, "retried with backoff; the endpoint's pace slows down"),
        ("transient", aws_errors.TRANSIENT_CODES, "retried with backoff (so are HTTP 5xx and connection errors)"),
        ("access", aws_errors.ACCESS_CODES, "fails the item at once; a run of them stops calls to that endpoint"),
        ("not found", aws_errors.NOT_FOUND_CODES, "the secret or parameter does not exist"),
        ("already exists", aws_errors.ALREADY_EXISTS_CODES, "a create met an existing name"),
    ]
    out += ["", "## AWS error codes {#aws-error-codes}", "",
            "Every other code fails its item at once (permanent).", "",
            _table(("kind", "codes", "effect"),
                   [(k, ", ".join(_code(c) for c in sorted(codes)), effect) for k, codes, effect in kinds])]
    return "\n".join(out) + "\n"


# --- modules ----------------------------------------------------------------------------------


def modules_markdown() -> str:
    """Every module of the package with the first line of its docstring, read with ``ast`` (no import)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent
    rows = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = doc.split("\n\n")[0].replace("\n", " ")
        rows.append((_code(".".join(parts)), first))
    return _table(("module", "its job"), rows) + "\n"


# --- entry points -------------------------------------------------------------------------------

GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_markdown,
    "manifest": manifest_markdown,
    "report": report_markdown,
    "metrics": metrics_markdown,
    "errors": errors_markdown,
    "modules": modules_markdown,
}


def render(name: str) -> str:
    """The generated markdown for one ``<!-- reference:NAME -->`` marker (``KeyError`` if unknown)."""
    return GENERATORS[name]()


def substitute(markdown: str) -> str:
    """``markdown`` with every reference marker replaced by its generated text."""
    for name in GENERATORS:
        marker = MARKER.format(name=name)
        if marker in markdown:
            markdown = markdown.replace(marker, render(name))
    return markdown
