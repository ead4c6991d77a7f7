"""``reconciler schema``: the manifest's JSON Schema (draft 2020-12), generated from ``ManifestModel``.

The committed copy is config/manifest.schema.json (tests/test_manifest_schema.py fails when it
differs; regenerate with ``reconciler schema > config/manifest.schema.json``). The schema is for
editors and CI: the loader stays the authority. What it cannot express is listed in that test
(cross-field rules, variables, rule files, names after expansion, collisions).
"""

from __future__ import annotations

import json
from typing import Any

from .schema import ManifestModel

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://github.com/secrets-reconciler/secrets-reconciler/config/manifest.schema.json"


def manifest_schema() -> dict[str, Any]:
    # mode="validation": the shape a manifest is written in (aliases such as ``json``, inputs)
    body = ManifestModel.model_json_schema(by_alias=True, mode="validation")
    _name_shorthand(body["$defs"]["MappingModel"]["properties"])
    return {"$schema": DRAFT, "$id": SCHEMA_ID, **body}


def schema_text() -> str:
    """Stable text (sorted keys, 2-space indent, trailing newline), so the committed copy diffs cleanly."""
    return json.dumps(manifest_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _name_shorthand(props: dict[str, Any]) -> None:
    """``source: prod/a`` means ``source: {name: prod/a}`` (a before-validator pydantic cannot show)."""
    name = {"type": "string", "minLength": 1, "description": "Shorthand for {name: ...}."}
    for key in ("source", "destination"):
        described = props[key].get("description")
        props[key] = {"anyOf": [name, {k: v for k, v in props[key].items() if k != "description"}],
                      "description": described}
    items = props["destinations"]["anyOf"][0]
    items["items"] = {"anyOf": [name, items["items"]]}
