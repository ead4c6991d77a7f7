"""The manifest's closed sets: Literals, plain strings at run time, checked by mypy and pydantic.

A bottom module of the manifest package: the specs (``spec``), the name rules (``rules``) and the
settings (``settings``) all use these, and it imports none of them. ``spec`` still exposes every
name here, as it did when they were defined there.
"""

from __future__ import annotations

from typing import Literal, get_args

OnExisting = Literal["fail", "adopt"]
OnSourceDeleted = Literal["keep", "delete"]
Service = Literal["secretsmanager", "ssm"]
ParameterType = Literal["String", "StringList", "SecureString"]
ParameterTier = Literal["Standard", "Advanced", "Intelligent-Tiering"]
MetricsSink = Literal["cloudwatch", "emf", "none"]
SERVICES: tuple[str, ...] = get_args(Service)
DEFAULT_SERVICE: Service = "secretsmanager"
DEFAULT_PARAMETER_TYPE: ParameterType = "SecureString"
