"""Moved to the :mod:`reconciler.manifest` package; this shim keeps old imports working until they move."""

from .manifest.collisions import check_collisions as _check_collisions
from .manifest.load import load_manifest, manifest_from_object, parse_manifest
from .manifest.rules import (
    ACCOUNT_ID_PATTERN,
    ACCOUNT_ID_REF,
    ARN_PREFIX,
    ORG_PARENT_PATTERN,
    REGION_PATTERN,
    ROLE_ARN_PATTERN,
    SSM_MAX_DEPTH,
    SSM_MAX_DESCRIPTION,
    SSM_MAX_NAME_LENGTH,
    TAG_KEY_PATTERN,
    TAG_VALUE_PATTERN,
)
from .manifest.schema import (
    AccountsModel,
    DefaultsModel,
    DestinationDefaults,
    DestinationEndpoint,
    ManifestModel,
    MappingModel,
    SourceDefaults,
    SourceEndpoint,
    TransformStepModel,
)
from .manifest.settings import (
    DEFAULT_PRUNE_MAX_DELETES,
    MAX_RECOVERY_WINDOW_DAYS,
    MIN_RECOVERY_WINDOW_DAYS,
    MetricsSettings,
    OrganizationsSettings,
    PruneSettings,
    RateCeiling,
    RetrySettings,
    Settings,
    Timeouts,
)
from .manifest.spec import (
    DEFAULT_PARAMETER_TYPE,
    DEFAULT_SERVICE,
    SERVICES,
    AccountsSelector,
    DestinationSpec,
    Identity,
    Manifest,
    MappingSpec,
    MetricsSink,
    OnExisting,
    OnSourceDeleted,
    ParameterTier,
    ParameterType,
    Service,
    SourceRef,
)
from .manifest.steps import MAX_JSON_VALUE_DEPTH, MAX_JSON_VALUE_SIZE

__all__ = [
    "ACCOUNT_ID_PATTERN", "ACCOUNT_ID_REF", "ARN_PREFIX", "DEFAULT_PARAMETER_TYPE", "DEFAULT_PRUNE_MAX_DELETES",
    "DEFAULT_SERVICE", "MAX_JSON_VALUE_DEPTH", "MAX_JSON_VALUE_SIZE", "MAX_RECOVERY_WINDOW_DAYS",
    "MIN_RECOVERY_WINDOW_DAYS", "ORG_PARENT_PATTERN", "REGION_PATTERN", "ROLE_ARN_PATTERN", "SERVICES",
    "SSM_MAX_DEPTH", "SSM_MAX_DESCRIPTION", "SSM_MAX_NAME_LENGTH", "TAG_KEY_PATTERN", "TAG_VALUE_PATTERN",
    "AccountsModel", "AccountsSelector", "DefaultsModel", "DestinationDefaults", "DestinationEndpoint",
    "DestinationSpec", "Identity", "Manifest", "ManifestModel", "MappingModel", "MappingSpec", "MetricsSettings",
    "MetricsSink", "OnExisting", "OnSourceDeleted", "OrganizationsSettings", "ParameterTier", "ParameterType",
    "PruneSettings", "RateCeiling", "RetrySettings", "Service", "Settings", "SourceDefaults", "SourceEndpoint",
    "SourceRef", "Timeouts", "TransformStepModel", "_check_collisions", "load_manifest", "manifest_from_object",
    "parse_manifest",
]
