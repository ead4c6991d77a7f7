"""Moved to :mod:`reconciler.manifest.yaml`; this shim keeps old imports working until they move."""

from .manifest.yaml import (
    MAX_DUPLICATE_REPORTS,
    MAX_MANIFEST_BYTES,
    MAX_NUMBER_CHARS,
    MAX_YAML_DEPTH,
    MIB,
    NO_MARKS,
    YAML_NODES_PER_MIB,
    Marks,
    YamlPath,
    load_yaml,
    locate,
    node_budget,
    parse_field,
    render_path,
)

__all__ = [
    "MAX_DUPLICATE_REPORTS", "MAX_MANIFEST_BYTES", "MAX_NUMBER_CHARS", "MAX_YAML_DEPTH", "MIB", "NO_MARKS",
    "YAML_NODES_PER_MIB", "Marks", "YamlPath", "load_yaml", "locate", "node_budget", "parse_field", "render_path",
]
