"""The manifest: YAML -> validated model -> run-ready specs. One job per module:

- ``files``: read a manifest and the rule files it names, confined and bounded
- ``yaml``: bounded YAML loading that keeps each node's line (``Marks``) for messages
- ``settings`` / ``schema``: the pydantic models of ``settings`` and of ``defaults`` + ``mappings``
- ``rules``: AWS naming rules and patterns; ``variables``: ``${VAR}`` resolution and expansion
- ``kinds``: the closed sets (Literals) the specs, the rules and the settings share
- ``spec``: the run-ready frozen dataclasses (``Manifest``, ``MappingSpec``, ``Identity``, ...)
- ``expand`` (with ``scopes`` for variables and ``steps`` for transforms): model -> specs
- ``collisions``: no two destinations are one, no destination is a source
- ``load``: ``load_manifest`` / ``parse_manifest`` / ``manifest_from_object`` tie them together

Names are imported on first use (PEP 562): the engine and the AWS layer import ``spec`` without
pulling pydantic, and ``import reconciler.lambda_handler`` stays cheap on a cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "load_manifest": "load", "parse_manifest": "load", "manifest_from_object": "load",
    "Manifest": "spec", "MappingSpec": "spec", "SourceRef": "spec", "DestinationSpec": "spec",
    "AccountsSelector": "spec", "Identity": "spec", "Service": "kinds", "OnExisting": "kinds",
    "OnSourceDeleted": "kinds", "ParameterType": "kinds", "ParameterTier": "kinds", "MetricsSink": "kinds",
    "Settings": "settings", "MetricsSettings": "settings", "PruneSettings": "settings",
    "OrganizationsSettings": "settings", "RetrySettings": "settings", "RateCeiling": "settings",
    "Timeouts": "settings",
    "Marks": "yaml", "RuleFileError": "files",
}

__all__ = [
    "AccountsSelector",
    "DestinationSpec",
    "Identity",
    "Manifest",
    "MappingSpec",
    "Marks",
    "MetricsSettings",
    "MetricsSink",
    "OnExisting",
    "OnSourceDeleted",
    "OrganizationsSettings",
    "ParameterTier",
    "ParameterType",
    "PruneSettings",
    "RateCeiling",
    "RetrySettings",
    "RuleFileError",
    "Service",
    "Settings",
    "SourceRef",
    "Timeouts",
    "load_manifest",
    "manifest_from_object",
    "parse_manifest",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler.manifest' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .files import RuleFileError
    from .kinds import MetricsSink, OnExisting, OnSourceDeleted, ParameterTier, ParameterType, Service
    from .load import load_manifest, manifest_from_object, parse_manifest
    from .settings import (
        MetricsSettings,
        OrganizationsSettings,
        PruneSettings,
        RateCeiling,
        RetrySettings,
        Settings,
        Timeouts,
    )
    from .spec import (
        AccountsSelector,
        DestinationSpec,
        Identity,
        Manifest,
        MappingSpec,
        SourceRef,
    )
    from .yaml import Marks
