"""``reconciler schema`` (issue 17 part 3): generated from the model, described, committed, and in
agreement with the loader.

What the JSON Schema CANNOT express (the loader alone refuses these; listed so nobody expects more):
* cross-field rules: exactly one of destination/destinations, exactly one transform step kind,
  external_id needs role_arn, max_delay >= base_delay, ssm-only type/tier, accounts needs a role
  naming ${ACCOUNT_ID};
* rules in custom validators: role ARNs (with ${ACCOUNT_ID}), OU ids, exclude account ids, tag keys
  and values, "version is the integer 1" (JSON Schema's const 1 also matches 1.0);
* anything needing more than the document: variables and their cycles, rule files (sed_file,
  json_file), names after expansion, collisions, a destination equal to its source, JSON values
  that YAML types make non-JSON (dates, !!binary, .nan).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler._exceptions import ManifestError
from reconciler.manifest import manifest_from_object
from reconciler.manifest.json_schema import manifest_schema, schema_text

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "config" / "manifest.schema.json"
EXAMPLES = sorted((ROOT / "config").glob("*.yaml"))
VALIDATOR = Draft202012Validator(manifest_schema())
BASE: dict[str, Any] = {"version": 1, "mappings": [{"source": "prod/a", "destination": {"name": "dr/a",
                                                                                      "region": "us-west-2"}}]}


def _loader_accepts(doc: Any, base_dir: Path = ROOT / "config") -> bool:
    try:
        manifest_from_object(doc, origin="test.yaml", base_dir=base_dir)
    except ManifestError:
        return False
    return True


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(BASE))
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    node[last] = value
    return doc


def test_the_schema_is_draft_2020_12_and_itself_valid() -> None:
    schema = manifest_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_property_has_a_description() -> None:
    missing: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if not prop.get("description"):
                    missing.append(f"{where}.{name}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for x in node:
                walk(x, where)

    walk(manifest_schema(), "#")
    assert not missing, f"add Field(description=...) for: {missing}"


def test_the_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == schema_text(), (
        "config/manifest.schema.json is stale: regenerate with `reconciler schema > config/manifest.schema.json`")


def test_the_cli_prints_the_schema(run_cli: Any) -> None:
    code, out, _ = run_cli("schema")
    assert code == 0 and out == json.loads(schema_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_names_the_schema_and_validates(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./manifest.schema.json"
    doc = yaml.safe_load(text)
    assert not list(VALIDATOR.iter_errors(doc))
    assert _loader_accepts(doc, path.parent)


# The invalid-manifest fixtures of test_manifest_load / test_manifest_semantics that break a rule
# the schema CAN express (shape, type, enum, bounds, unknown keys, patterns on plain fields).
SCHEMA_EXPRESSIBLE = [
    ("version", 2), ("version", "x"), ("mappings", []), ("mappings", "x"), ("surprise", 1),
    ("settings.prune.recovery_window_days", 6), ("settings.prune.recovery_window_days", 31),
    ("settings.prune.max_deletes", -1), ("settings.prune.enabled", "false"), ("settings.prune.enable", True),
    ("settings.concurrency", 0), ("settings.on_existing", "clobber"),
    ("settings.retry.max_attempts", 0), ("settings.retry.base_delay", 0), ("settings.metrics.sink", "statsd"),
    ("settings.timeouts.connect", 0), ("settings.rate_limits", [{"account": "123"}]),
    ("settings.organizations", {"role_arn": "not-an-arn"}), ("settings.owner", ""),
    ("mappings.0.on_source_deleted", "purge"), ("mappings.0.id", "has space"), ("mappings.0.id", ""),
    ("mappings.0.destination", {"name": "/dr/a", "service": "sms"}),
    ("mappings.0.destination", {"name": "dr/a", "region": "Mars-1"}),
    ("mappings.0.destination", {"name": "/dr/a", "service": "ssm", "type": "Secure"}),
    ("mappings.0.destination", {"name": ""}), ("mappings.0.destination", {"name": "x", "colour": "red"}),
    ("mappings.0.destination", {"name": "x", "description": "d" * 2049}),
    ("mappings.0.destination", {"name": "x", "external_id": "a"}),
    ("mappings.0.transform", [{"sed": ["s/a/b/"], "unknown": 1}]), ("mappings.0.transform", "s/a/b/"),
    ("mappings.0.destinations", []), ("defaults", {"source": {"colour": 1}}),
]


@pytest.mark.parametrize("path, value", SCHEMA_EXPRESSIBLE, ids=lambda x: str(x)[:40])
def test_an_invalid_manifest_the_schema_can_judge_is_refused_by_both(path: str, value: Any) -> None:
    doc = _with(path, value)
    assert not _loader_accepts(doc)
    assert list(VALIDATOR.iter_errors(doc)), f"the schema accepts {path}={value!r}"


SCHEMA_CANNOT = [  # each is one rule from the module docstring's list
    ("mappings.0.destinations", [{"name": "x"}]),  # destination and destinations both
    ("mappings.0.transform", [{"sed": ["s/a/b/"], "json": {"$.a": 1}}]),  # two step kinds
    ("mappings.0.destination", {"name": "x", "external_id": "abc"}),  # needs role_arn
    ("settings.retry", {"base_delay": 5, "max_delay": 1}),  # order of two fields
    ("mappings.0.destination", {"name": "x", "type": "String"}),  # ssm-only field
    ("mappings.0.destination", {"name": "x", "role_arn": "arn:aws:iam::1:role/r"}),  # validator
    ("mappings.0.destination", {"name": "x", "tags": {"aws:x": "v"}}),  # validator
    ("variables", {"A": "${A}"}),  # variables
    ("mappings.0.transform", [{"sed_file": "missing.sed"}]),  # rule files
]


@pytest.mark.parametrize("path, value", SCHEMA_CANNOT, ids=lambda x: str(x)[:40])
def test_the_rules_the_schema_cannot_express_are_the_loaders_alone(path: str, value: Any) -> None:
    doc = _with(path, value)
    assert not _loader_accepts(doc)
    assert not list(VALIDATOR.iter_errors(doc))  # if this fails, the schema learnt a rule: move the case up


SETTINGS_VALUES = st.fixed_dictionaries({}, optional={
    "concurrency": st.integers(-2, 600), "on_existing": st.sampled_from(["fail", "adopt", "overwrite", "x"]),
    "owner": st.sampled_from(["reconciler", "team-a", "", "a b", "x" * 257]),
    "retry": st.fixed_dictionaries({}, optional={"max_attempts": st.integers(-1, 60)}),
    "prune": st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "max_deletes": st.integers(-2, 100),
                                                 "recovery_window_days": st.integers(0, 40)}),
    "metrics": st.fixed_dictionaries({}, optional={"sink": st.sampled_from(["none", "emf", "cloudwatch", "x"]),
                                                   "include_secret_names": st.booleans()}),
})


@settings(max_examples=150, deadline=None)
@given(SETTINGS_VALUES, st.sampled_from(["keep", "delete", "purge"]),
       st.sampled_from(["a", "a.b/c@d", "", "a b", "x" * 129]))
def test_schema_and_loader_agree_on_generated_manifests(settings_: dict[str, Any], on_deleted: str, id_: str) -> None:
    # GIVEN a manifest varying only in rules the schema expresses
    doc = _with("settings", settings_)
    doc["mappings"][0].update(on_source_deleted=on_deleted, id=id_)
    # THEN the schema and the loader give the same verdict
    assert (not list(VALIDATOR.iter_errors(doc))) == _loader_accepts(doc)
