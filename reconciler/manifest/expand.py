"""The manifest: YAML -> validated model -> expanded mapping specs.

Everything that can be checked without AWS is checked here, and every problem is reported at
once, each naming the file, the mapping and the field (SPEC: "Rejected at load").
"""

from __future__ import annotations

import bisect
import contextlib
import datetime
import functools
import gc
import math
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import _variables
from ._constants import (
    CONNECT_TIMEOUT,
    DEFAULT_BASE_DELAY,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_DELAY,
    DEFAULT_NAMESPACE,
    DEFAULT_OWNER,
    MAX_CONCURRENCY,
    MAX_DIMENSIONS_PER_METRIC,
    MAX_TAGS_PER_SECRET,
    QUOTA_LIST_RPS,
    QUOTA_WRITE_RPS,
    READ_TIMEOUT,
)
from ._exceptions import ManifestError
from ._manifest_files import RuleBase, RuleFileError, read_manifest, read_rule_file, rule_base
from ._manifest_yaml import NO_MARKS, Marks, load_yaml, locate, parse_field
from ._transform import StepSpec, build_transform, parse_seed_transformations
from .aws.identity import Identity as _AwsIdentity

ARN_PREFIX = "arn:"
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")  # what Secrets Manager accepts as a name
TAG_KEY_PATTERN = r"^[\w .:/=+\-@]+$"
TAG_VALUE_PATTERN = r"^[\w .:/=+\-@]*$"
_PLACEHOLDERS = {  # stand-ins for built-ins while validating; real values come at run time
    "REGION": "us-east-1", "SOURCE_REGION": "us-east-1", "SECRET_NAME": "placeholder/name",
    "DEST_SECRET_NAME": "placeholder/name", "ACCOUNT_ID": "123456789012", "SOURCE_ACCOUNT_ID": "123456789012",
}
# Built-ins a destination *name* may use (the secret names come from the name itself).
_NAME_BUILTINS = ("REGION", "SOURCE_REGION", "ACCOUNT_ID", "SOURCE_ACCOUNT_ID")
ACCOUNT_ID_REF = "${ACCOUNT_ID}"  # in a role_arn: the discovered account of an `accounts` destination
ROLE_ARN_PATTERN = r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/.+$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
ACCOUNT_ID_PATTERN = r"^\d{12}$"
# An organizational unit (ou-<root>-<ou>) or the organization's root (r-<root>).
ORG_PARENT_PATTERN = r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$"
# Parameter Store names (AWS: PutParameter): letters, digits and .-_/, a hierarchy of at most 15
# levels, and no name (or first level) starting with "aws" or "ssm", whatever the case.
_SSM_NAME = re.compile(r"[A-Za-z0-9._/-]{1,2048}")
SSM_MAX_NAME_LENGTH = 2048
SSM_MAX_DEPTH = 15
_SSM_RESERVED = re.compile(r"^/?(aws|ssm)", re.IGNORECASE)
SSM_MAX_DESCRIPTION = 1024
DEFAULT_PRUNE_MAX_DELETES = 25
MIN_RECOVERY_WINDOW_DAYS = 7  # DeleteSecret's RecoveryWindowInDays range
MAX_RECOVERY_WINDOW_DAYS = 30
# ``json`` values are bounded so a YAML alias graph cannot expand into millions of nodes later.
# its size, counted as if every alias were written out: values plus the characters of strings
MAX_JSON_VALUE_SIZE = 1024 * 1024
MAX_JSON_VALUE_DEPTH = 100

# --- closed sets (Literals: plain strings at run time, checked by mypy and pydantic) -------------
OnExisting = Literal["fail", "adopt"]
OnSourceDeleted = Literal["keep", "delete"]
Service = Literal["secretsmanager", "ssm"]
ParameterType = Literal["String", "StringList", "SecureString"]
ParameterTier = Literal["Standard", "Advanced", "Intelligent-Tiering"]
MetricsSink = Literal["cloudwatch", "emf", "none"]
SERVICES: tuple[str, ...] = get_args(Service)
DEFAULT_SERVICE: Service = "secretsmanager"
DEFAULT_PARAMETER_TYPE: ParameterType = "SecureString"


# --- the YAML schema ----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class RetrySettings(_Strict):
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=50)
    base_delay: float = Field(DEFAULT_BASE_DELAY, gt=0, le=60)
    max_delay: float = Field(DEFAULT_MAX_DELAY, gt=0, le=900)

    @model_validator(mode="after")
    def _order(self) -> RetrySettings:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be at least base_delay")
        return self


class MetricsSettings(_Strict):
    sink: MetricsSink = "cloudwatch"
    namespace: str = Field(DEFAULT_NAMESPACE, min_length=1, max_length=255)
    region: str | None = None
    # the reconciler adds up to 4 dimensions of its own to CloudWatch's 30 per metric
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=MAX_DIMENSIONS_PER_METRIC - 4)
    # Secret names are kept out of metric dimensions unless the operator opts in.
    include_secret_names: bool = False


class RateCeiling(_Strict):
    """A lower request rate for one endpoint whose quota is shared with other workloads."""

    region: str | None = None
    account: str | None = Field(None, pattern=r"^\d{12}$")
    writes_per_second: float | None = Field(None, gt=0, le=QUOTA_WRITE_RPS)
    reads_per_second: float | None = Field(None, gt=0, le=QUOTA_LIST_RPS)


class Timeouts(_Strict):
    connect: float = Field(CONNECT_TIMEOUT, gt=0, le=120)
    read: float = Field(READ_TIMEOUT, gt=0, le=300)


class PruneSettings(_Strict):
    """SPEC "Lifecycle". Strict types: a quoted "false" must not turn deletion on."""

    enabled: bool = Field(False, strict=True)
    max_deletes: int = Field(DEFAULT_PRUNE_MAX_DELETES, ge=0, strict=True)
    recovery_window_days: int = Field(MAX_RECOVERY_WINDOW_DAYS, ge=MIN_RECOVERY_WINDOW_DAYS,
                                      le=MAX_RECOVERY_WINDOW_DAYS, strict=True)


class OrganizationsSettings(_Strict):
    """The identity that lists accounts under OUs (SPEC "Organizations"); default credentials if unset."""

    role_arn: str | None = Field(None, pattern=ROLE_ARN_PATTERN)
    region: str | None = Field(None, pattern=REGION_PATTERN)


class Settings(_Strict):
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    owner: str = Field(DEFAULT_OWNER, min_length=1, max_length=256, pattern=TAG_VALUE_PATTERN)
    on_existing: OnExisting = "fail"
    retry: RetrySettings = RetrySettings()
    metrics: MetricsSettings = MetricsSettings()
    rate_limits: list[RateCeiling] = Field(default_factory=list)
    timeouts: Timeouts = Timeouts()  # per request, seconds; a timed-out request is retried
    prune: PruneSettings = PruneSettings()
    organizations: OrganizationsSettings | None = None


class _EndpointBase(_Strict):
    region: str | None = Field(None, pattern=REGION_PATTERN)
    # may hold ${ACCOUNT_ID} (a destination with `accounts`): checked with a placeholder account here,
    # and in _expand against the destination's accounts
    role_arn: str | None = None
    external_id: str | None = Field(None, min_length=2, max_length=1224)
    profile: str | None = None
    service: Service | None = None  # default secretsmanager (SPEC "Parameter Store")

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(ROLE_ARN_PATTERN, v.replace(ACCOUNT_ID_REF, _PLACEHOLDERS["ACCOUNT_ID"])):
            raise ValueError("a role ARN is arn:<partition>:iam::<12-digit account>:role/<name>")
        return v

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> Any:
        if self.external_id and not self.role_arn:
            raise ValueError("external_id needs role_arn")
        return self


class AccountsModel(_Strict):
    """A destination written into every ACTIVE account under these OUs (SPEC "Organizations")."""

    organizational_units: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("organizational_units")
    @classmethod
    def _ou_ids(cls, v: list[str]) -> list[str]:
        for ou in v:
            if not re.fullmatch(ORG_PARENT_PATTERN, ou):
                raise ValueError(f"{ou!r} is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)")
        return v

    @field_validator("exclude")
    @classmethod
    def _account_ids(cls, v: list[str]) -> list[str]:
        for account in v:
            if not re.fullmatch(ACCOUNT_ID_PATTERN, account):
                raise ValueError(f"{account!r} is not a 12-digit account id (quote it in YAML)")
        return v


class _DestExtras(_Strict):
    kms_key_id: str | None = None
    # Parameter Store destinations only (an error on a secretsmanager destination, see _expand)
    type: ParameterType | None = None
    tier: ParameterTier | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        # Secrets Manager's tag rules, checked here rather than failing every CreateSecret
        for key, value in tags.items():
            if not re.fullmatch(TAG_KEY_PATTERN, key) or len(key) > 128 or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r}: 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:")
            if key.startswith("reconciler:"):
                raise ValueError(f"tag key {key!r}: reconciler: tags are the reconciler's own")
            if not re.fullmatch(TAG_VALUE_PATTERN, value) or len(value) > 256:
                raise ValueError(f"tag {key!r}: the value may have up to 256 letters, digits, spaces or _.:/=+-@")
        if len(tags) > MAX_TAGS_PER_SECRET - 3:
            raise ValueError(f"at most {MAX_TAGS_PER_SECRET - 3} tags (the reconciler adds 3 of its own)")
        return tags
    description: str | None = Field(None, max_length=2048)
    variables: dict[str, str] = Field(default_factory=dict)


class SourceDefaults(_EndpointBase):
    pass


class DestinationDefaults(_EndpointBase, _DestExtras):
    pass


class SourceEndpoint(_EndpointBase):
    name: str = Field(min_length=1, max_length=SSM_MAX_NAME_LENGTH)


class DestinationEndpoint(_EndpointBase, _DestExtras):
    # the per-service rules (512 for a secret, 2048 for a parameter) are checked after variables
    name: str = Field(min_length=1, max_length=SSM_MAX_NAME_LENGTH)
    accounts: AccountsModel | None = None


def _name_only(v: Any) -> Any:
    return {"name": v} if isinstance(v, str) else v


class TransformStepModel(_Strict):
    sed: list[str] | None = None
    sed_file: str | None = None
    # "$.path": value, or "$.path": {find: ..., replace: ...} (SPEC "Transforms"); values are checked
    # to be JSON in _check_json_value
    json_: dict[str, Any] | None = Field(None, alias="json")
    json_file: str | None = None  # the original replicator's transformation file

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("sed", mode="before")
    @classmethod
    def _one_rule(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _exactly_one(self) -> TransformStepModel:
        given = [k for k in ("sed", "sed_file", "json_", "json_file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a transform step has exactly one of sed, sed_file, json, json_file")
        return self


class MappingModel(_Strict):
    id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._/@:+=-]+$")
    source: SourceEndpoint
    destination: DestinationEndpoint | None = None
    destinations: list[DestinationEndpoint] | None = Field(None, min_length=1)
    transform: list[TransformStepModel] = Field(default_factory=list)
    on_existing: OnExisting | None = None
    on_source_deleted: OnSourceDeleted = "keep"
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("source", "destination", mode="before")
    @classmethod
    def _string_endpoint(cls, v: Any) -> Any:
        return _name_only(v)

    @field_validator("destinations", mode="before")
    @classmethod
    def _string_endpoints(cls, v: Any) -> Any:
        return [_name_only(x) for x in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _one_destination_key(self) -> MappingModel:
        if (self.destination is None) == (self.destinations is None):
            raise ValueError("give exactly one of destination, destinations")
        return self


class DefaultsModel(_Strict):
    source: SourceDefaults = SourceDefaults()
    destination: DestinationDefaults = DestinationDefaults()


class ManifestModel(_Strict):
    version: Literal[1]
    settings: Settings = Settings()
    variables: dict[str, str] = Field(default_factory=dict)
    defaults: DefaultsModel = DefaultsModel()
    mappings: list[MappingModel] = Field(min_length=1)


# --- the expanded, run-ready form ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity(_AwsIdentity):
    """The AWS layer's identity, plus what a manifest adds: a role per discovered account.

    A destination with ``accounts`` has ``${ACCOUNT_ID}`` in its role_arn (and maybe its external_id);
    the engine turns it into one concrete identity per account with :meth:`for_account`.
    """

    @property
    def account_hint(self) -> str | None:
        """The account a role is in; None for default credentials, a profile or a ${ACCOUNT_ID} role."""
        # not super(): a slots dataclass is a new class object, which zero-argument super() misses
        return None if self.per_account else _AwsIdentity.account_hint.__get__(self)

    @property
    def per_account(self) -> bool:
        """The role_arn names ${ACCOUNT_ID}: one identity per discovered account (SPEC "Organizations")."""
        return bool(self.role_arn and ACCOUNT_ID_REF in self.role_arn)

    def for_account(self, account: str) -> Identity:
        """This identity in ``account`` (``${ACCOUNT_ID}`` in the role and external id filled in)."""
        role = self.role_arn.replace(ACCOUNT_ID_REF, account) if self.role_arn else None
        ext = self.external_id.replace(ACCOUNT_ID_REF, account) if self.external_id else None
        return Identity(role, ext, self.profile)


@dataclass(frozen=True, slots=True)
class SourceRef:
    name: str  # exact name or ARN; for a prefix mapping, the prefix without '*'
    region: str | None
    identity: Identity
    prefix: bool = False
    service: Service = DEFAULT_SERVICE

    @property
    def is_arn(self) -> bool:
        return self.name.startswith(ARN_PREFIX)


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    name: str  # template: may end in '*' (prefix mappings) and hold ${VARS}
    region: str | None
    identity: Identity
    kms_key_id: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    description: str | None = None
    # manifest < defaults.destination < mapping < destination, merged; each value resolved at load
    # (custom variables expanded), still holding ${BUILTIN} references for run time
    variables: tuple[tuple[str, str], ...] = ()
    service: Service = DEFAULT_SERVICE
    parameter_type: ParameterType | None = None  # ssm: the type to write (default SecureString); else None
    tier: ParameterTier | None = None  # ssm only; None = leave it to Parameter Store (Standard)
    accounts: AccountsSelector | None = None  # one destination per ACTIVE account under these OUs


@dataclass(frozen=True, slots=True)
class AccountsSelector:
    """Every ACTIVE account under ``organizational_units`` (recursively) except ``exclude``."""

    organizational_units: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MappingSpec:
    id: str
    index: int
    source: SourceRef
    destinations: tuple[DestinationSpec, ...]
    steps: tuple[StepSpec, ...]
    on_existing: OnExisting
    on_source_deleted: OnSourceDeleted = "keep"


@dataclass(frozen=True)
class Manifest:
    origin: str
    settings: Settings
    mappings: tuple[MappingSpec, ...]

    def mapping(self, mapping_id: str) -> MappingSpec:
        return next(m for m in self.mappings if m.id == mapping_id)


# --- loading ------------------------------------------------------------------------------------


def load_manifest(location: str, *, stdin: Any = None) -> Manifest:
    """Read a manifest from a path, ``s3://bucket/key`` or ``-`` (stdin) and validate it.

    Reading is bounded and rule files are confined to the manifest's directory or S3 prefix
    (``_manifest_files``); YAML loading is bounded and keeps lines (``_manifest_yaml``).
    """
    text, origin, base = read_manifest(location, stdin=stdin)
    return parse_manifest(text, origin=origin, base_dir=base)


def parse_manifest(text: str, *, origin: str, base_dir: Path | RuleBase | None) -> Manifest:
    """Validate manifest ``text``; rule files are read relative to ``base_dir`` (None: no rule files)."""
    data, marks = load_yaml(text, origin=origin)
    return manifest_from_object(data, origin=origin, base_dir=base_dir, marks=marks)


def manifest_from_object(data: Any, *, origin: str, base_dir: Path | RuleBase | None,
                         marks: Marks = NO_MARKS) -> Manifest:
    """Validate a loaded manifest. ``marks`` (from ``load_yaml``) puts YAML lines in the messages;
    a manifest given as a Python object (the Lambda event) has none."""
    if not isinstance(data, dict):
        line = marks.line(())
        raise ManifestError([f"{origin}{f':{line}' if line else ''}: the manifest must be a mapping "
                             "with version, mappings, ..."])
    try:
        model = ManifestModel.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_describe_errors(origin, data, exc, marks)) from None
    problems: list[str] = []
    mappings = _expand(model, origin, rule_base(base_dir), problems, marks)
    _check_collisions(mappings, origin, problems, marks)
    if problems:
        raise ManifestError(problems)
    return Manifest(origin=origin, settings=model.settings, mappings=tuple(mappings))


def _mapping_label(data: Any, index: int) -> str | None:
    try:
        m = data["mappings"][index]
        label = m.get("id") or (m["source"] if isinstance(m["source"], str) else m["source"].get("name"))
        return str(label) if label else None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def _describe_errors(origin: str, data: Any, exc: ValidationError, marks: Marks = NO_MARKS) -> list[str]:
    """One ``{file}:{line}: mapping 'ID' (mappings[i]): field 'a.b': message`` per pydantic error."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p if isinstance(p, int) else str(p) for p in err["loc"])
        label = _mapping_label(data, loc[1]) if len(loc) >= 2 and loc[0] == "mappings" and \
            isinstance(loc[1], int) else None
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        out.append(f"{locate(origin, marks, loc, label=label)}: {msg}")
    return out


_Problem = Callable[..., None]  # problem(field, message): one load error for the current mapping
_KIND = {"secretsmanager": "secret", "ssm": "parameter"}


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """No cyclic GC while a manifest's specs are built: its passes over the large, young object graph
    of a big manifest were a third of the load's CPU, and nothing built here needs collecting early
    (memory stays bounded by the manifest, which is bounded in size)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _expand(model: ManifestModel, origin: str, base_dir: RuleBase | None, problems: list[str],
            marks: Marks = NO_MARKS) -> list[MappingSpec]:
    with _no_gc_pauses():
        return _expand_all(model, origin, base_dir, problems, marks)


def _expand_all(model: ManifestModel, origin: str, base_dir: RuleBase | None, problems: list[str],
                marks: Marks) -> list[MappingSpec]:
    out: list[MappingSpec] = []
    seen_ids: dict[str, int] = {}
    scopes = _VariableScopes(model, origin, problems, marks)
    checked = _TransformChecks()
    for index, m in enumerate(model.mappings):

        def problem(field_name: str, msg: str, index: int = index, label: str = m.id or m.source.name) -> None:
            path = ("mappings", index, *parse_field(field_name))  # the YAML line of the field, when known
            problems.append(f"{locate(origin, marks, path, label=label)}: {msg}")

        mapping_id = m.id or m.source.name
        if mapping_id in seen_ids:
            problem("id", f"duplicate id '{mapping_id}' (also mappings[{seen_ids[mapping_id]}]); give each an id")
        seen_ids.setdefault(mapping_id, index)
        for name in m.variables:
            if name in _variables.BUILTINS:
                problem("variables", f"{name} is a built-in variable and cannot be redefined")

        source = _source(m, model.defaults.source, problem)
        steps = _steps(m, base_dir, problem)
        step_refs = _step_references(steps)
        dests_in = m.destinations if m.destinations is not None else [m.destination]
        dests: list[DestinationSpec] = []
        resolved: list[bool] = []  # per destination: its variables resolved (else already reported)
        for d_index, d in enumerate(dests_in):
            assert d is not None
            fname = f"destinations[{d_index}]" if m.destinations is not None else "destination"
            used = step_refs | set(_variables.references(d.name))
            variables = scopes.resolve(m, d, fname, used, problem)
            dests.append(_destination(d, fname, model.defaults.destination, source, variables, problem,
                                      functools.partial(scopes.defined, m, d)))
            resolved.append(variables is not None)

        for dest, d, ok in zip(dests, dests_in, resolved, strict=True):
            if not ok or d is None:
                continue
            error = checked.check(steps, dest.variables)
            if isinstance(error, _variables.UndefinedVariable):  # name every variable the user could have meant
                problem("transform", str(error.with_defined([*scopes.defined(m, d), *_PLACEHOLDERS])))
                break
            if error is not None:  # too-long variables, bad regex or JSONPath
                problem("transform", str(error))
                break
        out.append(
            MappingSpec(
                id=mapping_id, index=index, source=source, destinations=tuple(dests), steps=steps,
                on_existing=m.on_existing or model.settings.on_existing, on_source_deleted=m.on_source_deleted,
            )
        )
    return out


class _TransformChecks:
    """Compile each distinct (steps, variables) once at load, with placeholder built-ins.

    Manifests repeat the same transform over many mappings; compiling it once per distinct form
    (not per destination) keeps a load of thousands of mappings fast. Returns the error, or None.
    """

    def __init__(self) -> None:
        self._seen: dict[Any, ValueError | None] = {}

    def check(self, steps: tuple[StepSpec, ...], variables: tuple[tuple[str, str], ...]) -> ValueError | None:
        if not steps:
            return None
        # repr: json values are plain data (checked by _json_value_problem), so equal repr = equal steps
        key = (tuple((s.kind, s.label, s.rules, repr(s.assignments)) for s in steps), variables)
        if key not in self._seen:
            values = {**dict(variables), **_PLACEHOLDERS}
            try:
                build_transform(steps, lambda t: _variables.expand(t, values))
                self._seen[key] = None
            except ValueError as exc:  # undefined or too-long variables, bad regex or JSONPath
                self._seen[key] = exc
        return self._seen[key]


class _Layered(dict[str, str]):
    """``own`` over a read-only ``base``: a ChainMap of two, at dict speed for the common lookups."""

    def __init__(self, own: dict[str, str], base: dict[str, str]) -> None:
        super().__init__(own)
        self.base = base

    def __missing__(self, key: str) -> str:
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.base


def _step_references(steps: tuple[StepSpec, ...]) -> set[str]:
    """The variable names the steps' texts reference (rules, file texts, json values)."""
    names: set[str] = set()
    for step in steps:
        for text in step.rules:
            names.update(_variables.references(text))
        for _, value in step.assignments:
            names.update(_variables.references(value if isinstance(value, str) else str(value)))
    return names


class _VariableScopes:
    """Each destination's variables (manifest < defaults.destination < mapping < destination), resolved.

    Resolution is over the merged scope, so a mapping that overrides ``ENV`` also changes a manifest
    variable ``HOST: db.${ENV}.internal`` for its destinations. A destination carries the variables its
    name and its mapping's steps use (resolved values hold no custom reference, so no more is needed).

    Cost: a manifest variable that no override can reach ("untainted") is resolved once for all;
    only the tainted ones a destination uses are resolved again in its scope, and destinations with
    the same overrides and uses share one resolution. A shared budget bounds the rest.
    """

    MAX_TOP_LEVEL_MESSAGES = 20  # a broken variable used by many others: enough to find it

    def __init__(self, model: ManifestModel, origin: str, problems: list[str], marks: Marks = NO_MARKS) -> None:
        self._origin = origin
        self._problems = problems
        self._marks = marks
        merged = {**model.variables, **model.defaults.destination.variables}
        self._base = {k: v for k, v in merged.items() if k not in _variables.BUILTINS}
        for where, level in (("variables", model.variables),
                             ("defaults.destination.variables", model.defaults.destination.variables)):
            for name in level:
                if name in _variables.BUILTINS:
                    where_ = locate(origin, marks, (*parse_field(where), name))
                    problems.append(f"{where_}: {name} is a built-in variable and cannot be redefined")
        overridden = {k for m in model.mappings for k in m.variables}
        for m in model.mappings:
            for d in [*(m.destinations or ()), *([m.destination] if m.destination else ())]:
                overridden.update(d.variables)
        self._tainted = _variables.tainted(self._base, overridden)
        self._budget = _variables.Budget()
        self._resolved: dict[str, str] = {}  # untainted manifest variables: the same in every scope
        self._reported: set[str] = set()
        self._cache: dict[Any, tuple[tuple[str, str], ...] | _variables.VariableError] = {}
        for name in self._base:
            if name in self._tainted or name in self._resolved:
                continue
            try:
                _variables.resolve(self._base, roots=(name,), done=self._resolved, budget=self._budget)
            except _variables.VariableError as exc:
                self._top_level(str(exc))

    def _top_level(self, message: str) -> None:
        if message in self._reported:
            return
        self._reported.add(message)
        if len(self._reported) <= self.MAX_TOP_LEVEL_MESSAGES:
            self._problems.append(f"{locate(self._origin, self._marks, ('variables',))}: {message}")

    def defined(self, m: MappingModel, d: DestinationEndpoint) -> list[str]:
        """The custom variables in a destination's scope (for "undefined variable" messages)."""
        return [*self._base, *m.variables, *d.variables]

    def resolve(self, m: MappingModel, d: DestinationEndpoint, fname: str, used: set[str],
                problem: _Problem) -> tuple[tuple[str, str], ...] | None:
        """The used variables, resolved; None when they cannot be (the reason is reported)."""
        for name in d.variables:
            if name in _variables.BUILTINS:
                problem(f"{fname}.variables", f"{name} is a built-in variable and cannot be redefined")
        key = (tuple(m.variables.items()), tuple(d.variables.items()), frozenset(used))
        hit = self._cache.get(key)
        if hit is None:
            overrides = {k: v for k, v in {**m.variables, **d.variables}.items() if k not in _variables.BUILTINS}
            scope = _Layered(overrides, self._base)
            done = _Layered({}, self._resolved)
            # every override is checked, used or not; the used manifest variables with it
            roots = [r for r in (*overrides, *sorted(used)) if r in scope]
            try:
                _variables.resolve(scope, roots=roots, done=done, budget=self._budget)
                hit = tuple(sorted((k, done[k]) for k in used if k in done))
            except _variables.VariableError as exc:
                hit = exc
            self._cache[key] = hit
        if isinstance(hit, _variables.VariableError):
            if str(hit) not in self._reported:  # not the top-level error again, nor the budget twice
                problem(f"{fname}.variables" if d.variables else "variables", str(hit))
                if isinstance(hit, _variables.VariableBudgetExceeded):
                    self._reported.add(str(hit))
            return None
        return hit


def _source(m: MappingModel, src_d: SourceDefaults, problem: _Problem) -> SourceRef:
    service: Service = m.source.service or src_d.service or DEFAULT_SERVICE
    identity = _identity(m.source, src_d)
    if identity.per_account:
        problem("source.role_arn", f"{ACCOUNT_ID_REF} is only known for a destination with accounts")
    name = m.source.name
    prefix = name.endswith("*")
    region = m.source.region or src_d.region
    if name.startswith(ARN_PREFIX):
        parts = name.split(":")
        if service != "secretsmanager":
            problem("source.name", "a Parameter Store source is given by its name, not an ARN")
        elif "*" in name or len(parts) < 7 or parts[2] != "secretsmanager":
            problem("source.name", "an ARN source must be a full Secrets Manager secret ARN, without '*'")
        elif m.source.region and m.source.region != parts[3]:
            problem("source.region", f"{m.source.region} differs from the ARN's region {parts[3]}")
        else:
            region = parts[3]  # the ARN's region wins over defaults.source.region
        return SourceRef(name, region, identity, False, service)
    stem = name.removesuffix("*")
    if "*" in stem:
        problem("source.name", "'*' may only be the last character")
    else:
        why = _name_problem(service, stem, prefix, destination=False)
        if why:
            problem("source.name", f"a {_KIND[service]} name {why}")
    return SourceRef(stem, region, identity, prefix, service)


def _name_problem(service: Service, name: str, prefix: bool, *, destination: bool) -> str | None:
    """The rule ``name`` (a prefix's stem when ``prefix``) breaks, as "has ..." / "may ...", or None."""
    if service == "secretsmanager":
        if not _SECRET_NAME.fullmatch(name + ("x" if prefix else "")):
            return "has 1-512 letters, digits and /_+=.@- only"
        return None
    if not _SSM_NAME.fullmatch(name + ("x" if prefix else "")):
        return f"has 1-{SSM_MAX_NAME_LENGTH} letters, digits and ._-/ only"
    if name.strip("/").count("/") + 1 > SSM_MAX_DEPTH:
        return f"has at most {SSM_MAX_DEPTH} levels of hierarchy"
    # Reading a public parameter (/aws/service/...) is fine; creating one under aws or ssm is not.
    if destination and _SSM_RESERVED.match(name):
        return "may not start with 'aws' or 'ssm' (in any case)"
    return None


def _destination(d: DestinationEndpoint, fname: str, dd: DestinationDefaults, source: SourceRef,
                 variables: tuple[tuple[str, str], ...] | None, problem: _Problem,
                 defined: Callable[[], list[str]]) -> DestinationSpec:
    """The run-ready destination; ``variables`` None: they could not be resolved (already reported)."""
    service: Service = d.service or dd.service or DEFAULT_SERVICE
    identity = _identity(d, dd)
    accounts = AccountsSelector(tuple(d.accounts.organizational_units), tuple(d.accounts.exclude)) \
        if d.accounts else None
    if identity.per_account and accounts is None:
        problem(f"{fname}.role_arn", f"{ACCOUNT_ID_REF} is only known for a destination with accounts")
    if accounts is not None and not identity.per_account:
        problem(f"{fname}.accounts", f"needs a role_arn naming {ACCOUNT_ID_REF} (the role to assume in each account)")
    ptype, tier, kms = _store_options(service, d, dd, fname, problem)
    description = d.description if d.description is not None else dd.description
    if service == "ssm" and description is not None and len(description) > SSM_MAX_DESCRIPTION:
        problem(f"{fname}.description", f"a parameter's description has at most {SSM_MAX_DESCRIPTION} characters")
    dest = DestinationSpec(
        name=d.name, region=d.region or dd.region, identity=identity, kms_key_id=kms,
        tags=tuple(sorted({**dd.tags, **d.tags}.items())), description=description, variables=variables or (),
        service=service, parameter_type=ptype, tier=tier, accounts=accounts,
    )
    from .engine.tagledger import ledger_problem  # the reconciler's tag ledger must fit (SPEC "Lifecycle")

    if (ledger_why := ledger_problem([k for k, _ in dest.tags])) is not None:
        problem(f"{fname}.tags", ledger_why)
    if d.name.startswith(ARN_PREFIX):
        problem(f"{fname}.name", "a destination is a name, not an ARN")
    star = d.name.find("*")
    if star >= 0 and star != len(d.name) - 1:
        problem(f"{fname}.name", "'*' may only be the last character")
    if (star >= 0) != source.prefix:
        side = "destination" if star >= 0 else "source"
        problem(f"{fname}.name", f"'*' appears on one side only (the {side}); use it on both or neither")
    if variables is None:
        return dest
    name_vars = {**dict(variables), **{k: _PLACEHOLDERS[k] for k in _NAME_BUILTINS}}
    try:
        expanded = _variables.expand(d.name, name_vars)
    except _variables.UndefinedVariable as exc:
        problem(f"{fname}.name", str(exc.with_defined([*defined(), *_NAME_BUILTINS])))
        return dest
    except _variables.VariableError as exc:
        problem(f"{fname}.name", str(exc))
        return dest
    stem = expanded.removesuffix("*")
    if "*" not in stem:
        why = _name_problem(service, stem, expanded.endswith("*"), destination=True)
        if why:
            kind = _KIND[service]
            problem(f"{fname}.name", f"{stem!r} is not a {kind} name: a {kind} name {why} (after variables)")
    return dest


def _store_options(service: Service, d: DestinationEndpoint, dd: DestinationDefaults, fname: str,
                   problem: _Problem) -> tuple[ParameterType | None, ParameterTier | None, str | None]:
    """(parameter type, tier, KMS key) of a destination; type and tier are Parameter Store's only.

    ``type``/``tier`` in ``defaults.destination`` apply to the ssm destinations and are ignored by
    the others (a manifest may mix both); on a secretsmanager destination itself they are an error.
    """
    kms = d.kms_key_id or dd.kms_key_id
    if service == "secretsmanager":
        for key in ("type", "tier"):
            if getattr(d, key) is not None:
                problem(f"{fname}.{key}", "only a Parameter Store destination (service: ssm) has a type and a tier")
        return None, None, kms
    ptype = d.type or dd.type or DEFAULT_PARAMETER_TYPE
    if ptype != "SecureString":
        if d.kms_key_id:
            problem(f"{fname}.kms_key_id", f"only a SecureString parameter is encrypted with a KMS key ({ptype})")
        kms = None  # a default key applies to the SecureString destinations only
    return ptype, d.tier or dd.tier, kms


def _identity(ep: _EndpointBase, defaults: _EndpointBase) -> Identity:
    if ep.role_arn or ep.profile:
        return Identity(ep.role_arn, ep.external_id, ep.profile)
    return Identity(defaults.role_arn, defaults.external_id, defaults.profile)


def _steps(m: MappingModel, base_dir: RuleBase | None, problem: Any) -> tuple[StepSpec, ...]:
    steps: list[StepSpec] = []
    for i, s in enumerate(m.transform):
        if s.sed is not None:
            if not s.sed:
                problem(f"transform[{i}].sed", "no rules")
            steps.append(StepSpec("sed", f"transform[{i}] (sed)", rules=tuple(s.sed)))
        elif s.sed_file is not None:
            try:  # confined to the manifest's directory / S3 prefix, bounded, never quoted
                text = read_rule_file(s.sed_file, base=base_dir)
            except RuleFileError as exc:
                problem(f"transform[{i}].sed_file", f"cannot use {s.sed_file!r}: {exc}")
                continue
            steps.append(StepSpec("sed_file", f"transform[{i}] (sed_file {s.sed_file})", rules=(text,)))
        elif s.json_ is not None:
            if not s.json_:
                problem(f"transform[{i}].json", "no paths")
            bad = [(key, found) for key, value in s.json_.items() if (found := _json_value_problem(value))]
            for key, (inside, why) in bad:
                problem(f"transform[{i}].json[{key}]{inside}", why)
            if not bad:  # a step with a non-JSON value is never built (it would raise TypeError)
                steps.append(StepSpec("json", f"transform[{i}] (json)", assignments=tuple(s.json_.items())))
        elif s.json_file is not None:
            label = f"transform[{i}] (json_file {s.json_file})"
            try:  # read as sed_file is; the content is the original replicator's transformation file
                assignments = parse_seed_transformations(read_rule_file(s.json_file, base=base_dir), label)
            except RuleFileError as exc:
                problem(f"transform[{i}].json_file", f"cannot use {s.json_file!r}: {exc}")
                continue
            except ValueError as exc:  # not a transformation file: the message starts with the label
                problem(f"transform[{i}].json_file", str(exc))
                continue
            steps.append(StepSpec("json_file", label, assignments=assignments))
    return tuple(steps)


def _json_value_problem(value: Any) -> tuple[str, str] | None:
    """(where inside ``value``, why) when ``value`` is not JSON (SPEC "Transforms"), else None.

    YAML gives dates, timestamps, bytes (!!binary), sets (!!set), NaN and infinity, none of which is
    JSON. Iterative, and the size is counted as if every YAML alias were written out (a container
    met twice counts twice, but is walked once), so an alias bomb is refused in linear time.
    """
    sizes: dict[int, int] = {}  # id(container) -> nodes in it, aliases expanded
    stack: list[tuple[Any, str, int, bool]] = [(value, "", 0, False)]  # (node, where, depth, children done)
    while stack:
        node, where, depth, children_done = stack.pop()
        if isinstance(node, (dict, list)):
            if children_done:
                items = node.values() if isinstance(node, dict) else node
                sizes[id(node)] = 1 + sum(sizes.get(id(c), 0) or _scalar_size(c) for c in items)
                if sizes[id(node)] > MAX_JSON_VALUE_SIZE:
                    return where, (f"over {MAX_JSON_VALUE_SIZE} values and characters "
                                   "(YAML aliases counted as written out)")
                continue
            if id(node) in sizes:
                continue
            if depth >= MAX_JSON_VALUE_DEPTH:
                return where, f"nested deeper than {MAX_JSON_VALUE_DEPTH} levels"
            stack.append((node, where, depth, True))
            sizes[id(node)] = 0  # walked once; a cycle (impossible from YAML) cannot loop
            children = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in children:
                if isinstance(node, dict) and not isinstance(key, str):
                    return f"{where}", f"a JSON object's keys are strings; {key!r} is not"
                stack.append((child, f"{where}.{key}" if isinstance(node, dict) else f"{where}[{key}]",
                               depth + 1, False))
            continue
        why = _not_json_scalar(node)
        if why:
            return where, why
    return None


def _scalar_size(node: Any) -> int:
    return 1 + len(node) if isinstance(node, str) else 1


def _not_json_scalar(node: Any) -> str | None:
    if node is None or isinstance(node, (str, bool, int)):
        return None
    if isinstance(node, float):
        return None if math.isfinite(node) else f"{node!r} is not a JSON number (NaN and infinity are not JSON)"
    if isinstance(node, (datetime.date, datetime.datetime)):
        return f"a YAML date/timestamp ({node.isoformat()}) is not JSON; quote it to make it a string"
    if isinstance(node, (bytes, bytearray)):
        return "a YAML !!binary value is not JSON"
    if isinstance(node, (set, frozenset)):
        return "a YAML !!set is not JSON; use a list"
    return f"a {type(node).__name__} is not JSON"


# --- collisions ---------------------------------------------------------------------------------


# At load a region or an account may be known only up to equality: the default region when the
# environment does not name it, the account of the default credentials or of a profile. Such a value
# is a symbol in braces (never part of a name). Two equal symbols are provably the same at run time;
# two different ones may or may not be, and that is left to the run (the engine fails such items).
_UNKNOWN_DEFAULT_REGION = "{the default region}"
_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")  # the 6 characters AWS adds to a secret's ARN


def _default_region() -> str | None:
    """The region boto3 will use for an endpoint without one, when the environment says so.

    boto3 reads AWS_DEFAULT_REGION (AWS_REGION alone is not read by it, and a config file's region
    is not read here), so without it the default region is unknown at load.
    """
    return os.environ.get("AWS_DEFAULT_REGION") or None


def _account_symbol(identity: Identity, accounts: AccountsSelector | None = None) -> str:
    if accounts is not None:  # the same selector fans out to the same accounts
        return "{the accounts under " + ",".join(sorted(set(accounts.organizational_units))) + \
            (" except " + ",".join(sorted(set(accounts.exclude))) if accounts.exclude else "") + "}"
    if identity.account_hint:
        return identity.account_hint
    return "{" + (f"the account of profile {identity.profile}" if identity.profile else "the default account") + "}"


def _shown(value: str) -> str:
    return value[1:-1] if value.startswith("{") else value


@dataclass(frozen=True, slots=True)
class _Place:
    """Where one endpoint of a mapping is: a name (a prefix's stem when ``prefix``) in a scope."""

    scope: tuple[str, str, str]  # (service, region, account): values or symbols
    name: str
    prefix: bool
    mapping: MappingSpec
    field: str  # "source", "destination" or "destinations[i]"

    def describe(self) -> str:
        service, region, account = self.scope
        what = "parameter" if service == "ssm" else "secret"
        return f"{what} {self.name}{'*' if self.prefix else ''} in {_shown(region)}, {_shown(account)}"


def _places(m: MappingSpec, default_region: str | None) -> list[_Place]:
    """The source and each destination of ``m``, names expanded with what is known of the built-ins."""
    s = m.source
    src_region = s.region or default_region or _UNKNOWN_DEFAULT_REGION
    if s.is_arn:
        src_account = s.name.split(":")[4]
        src_name = _ARN_SUFFIX.sub("", s.name.split(":secret:", 1)[-1])
    else:
        src_account, src_name = _account_symbol(s.identity), s.name
    out = [_Place((s.service, src_region, src_account), src_name, s.prefix, m, "source")]
    for i, d in enumerate(m.destinations):
        region = d.region or default_region or _UNKNOWN_DEFAULT_REGION
        account = _account_symbol(d.identity, d.accounts)
        values = {**dict(d.variables), "REGION": region, "SOURCE_REGION": src_region,
                  "ACCOUNT_ID": account, "SOURCE_ACCOUNT_ID": src_account}
        try:
            name = _variables.expand(d.name, values)
        except _variables.VariableError:
            continue  # reported with the destination's name
        fname = f"destinations[{i}]" if len(m.destinations) > 1 else "destination"
        out.append(_Place((d.service, region, account), name.removesuffix("*"), name.endswith("*"), m, fname))
    return out


def _check_collisions(mappings: list[MappingSpec], origin: str, problems: list[str],
                      marks: Marks = NO_MARKS) -> None:
    """SPEC: no two destinations are one, no destination is a source, no mapping writes onto itself.

    Places are grouped by scope and sorted by name: everything a prefix covers then sits right after
    it, so overlaps are found with a bisect instead of comparing every pair (5,000 mappings: ~0.1 s).
    """
    with _no_gc_pauses():
        _find_collisions(mappings, origin, problems, marks)


def _find_collisions(mappings: list[MappingSpec], origin: str, problems: list[str], marks: Marks) -> None:
    default_region = _default_region()
    groups: dict[tuple[str, str, str], list[_Place]] = defaultdict(list)
    for m in mappings:
        for place in _places(m, default_region):
            groups[place.scope].append(place)
    reported: set[tuple[int, int]] = set()
    for places in groups.values():
        places.sort(key=lambda p: p.name)
        names = [p.name for p in places]
        for i, p in enumerate(places):
            lo = bisect.bisect_left(names, p.name)
            hi = bisect.bisect_left(names, p.name + "\U0010ffff") if p.prefix else bisect.bisect_right(names, p.name)
            for j in range(lo, hi):
                q = places[j]
                if j == i or (p.field == "source" and q.field == "source"):
                    continue  # two mappings may read the same source
                pair = (min(i, j), max(i, j))
                if pair not in reported:
                    reported.add(pair)
                    problems.append(_collision(origin, marks, p, q))


def _collision(origin: str, marks: Marks, p: _Place, q: _Place) -> str:
    def where(place: _Place) -> str:
        path = ("mappings", place.mapping.index, *parse_field(place.field), "name")
        return locate(origin, marks, path, label=place.mapping.id)

    if "source" in (p.field, q.field):
        src, dest = (p, q) if p.field == "source" else (q, p)
        if src.mapping is dest.mapping:
            return f"{where(dest)}: the mapping writes onto its own source ({src.describe()})"
        return f"{where(dest)}: the destination is also the source of mapping '{src.mapping.id}' ({src.describe()})"
    first, second = sorted((p, q), key=lambda x: (x.mapping.index, x.field))
    return (f"{where(second)}: writes the same destination as mapping '{first.mapping.id}' ({first.field}): "
            f"{first.describe()}")
