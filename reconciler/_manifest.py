"""The manifest: YAML -> validated model -> expanded mapping specs.

Everything that can be checked without AWS is checked here, and every problem is reported at
once, each naming the file, the mapping and the field (SPEC: "Rejected at load").
"""

from __future__ import annotations

import bisect
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
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
from ._transform import JsonPathSyntaxError, SedSyntaxError, StepSpec, build_transform

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
    sink: Literal["cloudwatch", "emf", "none"] = "cloudwatch"
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


class Settings(_Strict):
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    owner: str = Field(DEFAULT_OWNER, min_length=1, max_length=256, pattern=TAG_VALUE_PATTERN)
    on_existing: Literal["fail", "adopt"] = "fail"
    retry: RetrySettings = RetrySettings()
    metrics: MetricsSettings = MetricsSettings()
    rate_limits: list[RateCeiling] = Field(default_factory=list)
    timeouts: Timeouts = Timeouts()  # per request, seconds; a timed-out request is retried


class _EndpointBase(_Strict):
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    role_arn: str | None = Field(None, pattern=r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/.+$")
    external_id: str | None = Field(None, min_length=2, max_length=1224)
    profile: str | None = None

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> Any:
        if self.external_id and not self.role_arn:
            raise ValueError("external_id needs role_arn")
        return self


class _DestExtras(_Strict):
    kms_key_id: str | None = None
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
    name: str = Field(min_length=1, max_length=2048)


class DestinationEndpoint(_EndpointBase, _DestExtras):
    name: str = Field(min_length=1, max_length=512)


def _name_only(v: Any) -> Any:
    return {"name": v} if isinstance(v, str) else v


class TransformStepModel(_Strict):
    sed: list[str] | None = None
    sed_file: str | None = None
    json_: dict[str, Any] | None = Field(None, alias="json")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("sed", mode="before")
    @classmethod
    def _one_rule(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _exactly_one(self) -> TransformStepModel:
        given = [k for k in ("sed", "sed_file", "json_") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a transform step has exactly one of sed, sed_file, json")
        return self


class MappingModel(_Strict):
    id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._/@:+=-]+$")
    source: SourceEndpoint
    destination: DestinationEndpoint | None = None
    destinations: list[DestinationEndpoint] | None = Field(None, min_length=1)
    transform: list[TransformStepModel] = Field(default_factory=list)
    on_existing: Literal["fail", "adopt"] | None = None
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
class Identity:
    """Whose credentials: the default chain, a named profile, or an assumed role."""

    role_arn: str | None = None
    external_id: str | None = None
    profile: str | None = None

    @property
    def key(self) -> str:
        if self.role_arn:
            return f"role:{self.role_arn}"
        return f"profile:{self.profile}" if self.profile else "default"

    @property
    def account_hint(self) -> str | None:
        return self.role_arn.split(":")[4] if self.role_arn else None

    def __str__(self) -> str:
        return self.role_arn or (f"profile {self.profile}" if self.profile else "default credentials")


@dataclass(frozen=True, slots=True)
class SourceRef:
    name: str  # exact name or ARN; for a prefix mapping, the prefix without '*'
    region: str | None
    identity: Identity
    prefix: bool = False

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
    variables: tuple[tuple[str, str], ...] = ()  # manifest < mapping < destination, merged


@dataclass(frozen=True, slots=True)
class MappingSpec:
    id: str
    index: int
    source: SourceRef
    destinations: tuple[DestinationSpec, ...]
    steps: tuple[StepSpec, ...]
    on_existing: str


@dataclass(frozen=True)
class Manifest:
    origin: str
    settings: Settings
    mappings: tuple[MappingSpec, ...]

    def mapping(self, mapping_id: str) -> MappingSpec:
        return next(m for m in self.mappings if m.id == mapping_id)


# --- loading ------------------------------------------------------------------------------------


def load_manifest(location: str, *, stdin: Any = None) -> Manifest:
    """Read a manifest from a path, ``s3://bucket/key`` or ``-`` (stdin) and validate it."""
    if location == "-":
        text = (stdin or sys.stdin).read()
        return parse_manifest(text, origin="<stdin>", base_dir=Path.cwd())
    if location.startswith("s3://"):
        return parse_manifest(_read_s3(location), origin=location, base_dir=None)
    path = Path(location)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError([f"{location}: cannot read the manifest: {exc.__class__.__name__}: {exc}"]) from None
    return parse_manifest(text, origin=str(path), base_dir=path.parent)


def _read_s3(uri: str) -> str:
    import boto3  # lazy: only S3-hosted manifests need it
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ManifestError([f"{uri}: an S3 manifest location is s3://bucket/key"])
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return str(body.decode("utf-8"))
    except (ClientError, BotoCoreError, UnicodeDecodeError) as exc:
        raise ManifestError([f"{uri}: cannot read the manifest: {exc}"]) from None


def parse_manifest(text: str, *, origin: str, base_dir: Path | None) -> Manifest:
    try:
        # the C loader when PyYAML was built with it: 10x faster on manifests of thousands of mappings
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError([f"{origin}{where}: not valid YAML: {problem}"]) from None
    return manifest_from_object(data, origin=origin, base_dir=base_dir)


def manifest_from_object(data: Any, *, origin: str, base_dir: Path | None) -> Manifest:
    if not isinstance(data, dict):
        raise ManifestError([f"{origin}: the manifest must be a mapping with version, mappings, ..."])
    try:
        model = ManifestModel.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_describe_errors(origin, data, exc)) from None
    problems: list[str] = []
    mappings = _expand(model, origin, base_dir, problems)
    _check_collisions(mappings, origin, problems)
    if problems:
        raise ManifestError(problems)
    return Manifest(origin=origin, settings=model.settings, mappings=tuple(mappings))


def _mapping_label(data: Any, index: int) -> str:
    try:
        m = data["mappings"][index]
        label = m.get("id") or (m["source"] if isinstance(m["source"], str) else m["source"].get("name"))
        return f"mapping '{label}' (mappings[{index}])"
    except (KeyError, IndexError, TypeError, AttributeError):
        return f"mappings[{index}]"


def _describe_errors(origin: str, data: Any, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        where = origin
        if len(loc) >= 2 and loc[0] == "mappings" and isinstance(loc[1], int):
            where += f": {_mapping_label(data, loc[1])}"
            loc = loc[2:]
        field_path = ""
        for part in loc:
            field_path += f"[{part}]" if isinstance(part, int) else (f".{part}" if field_path else str(part))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        out.append(f"{where}: field '{field_path or '(top level)'}': {msg}")
    return out


def _expand(model: ManifestModel, origin: str, base_dir: Path | None, problems: list[str]) -> list[MappingSpec]:
    out: list[MappingSpec] = []
    seen_ids: dict[str, int] = {}
    for index, m in enumerate(model.mappings):
        where = f"{origin}: mapping '{m.id or m.source.name}' (mappings[{index}])"

        def problem(field_name: str, msg: str, where: str = where) -> None:
            problems.append(f"{where}: field '{field_name}': {msg}")

        mapping_id = m.id or m.source.name
        if mapping_id in seen_ids:
            problem("id", f"duplicate id '{mapping_id}' (also mappings[{seen_ids[mapping_id]}]); give each an id")
        seen_ids.setdefault(mapping_id, index)

        src_d = model.defaults.source
        source = SourceRef(
            name=m.source.name.removesuffix("*"),
            region=m.source.region or src_d.region,
            identity=_identity(m.source, src_d),
            prefix=m.source.name.endswith("*"),
        )
        if source.is_arn:
            parts = m.source.name.split(":")
            if "*" in m.source.name or len(parts) < 7 or parts[2] != "secretsmanager":
                problem("source.name", "an ARN source must be a full Secrets Manager secret ARN, without '*'")
            elif source.region and source.region != parts[3]:
                problem("source.region", f"{source.region} differs from the ARN's region {parts[3]}")
            else:
                source = SourceRef(source.name, parts[3], source.identity)
        if "*" in source.name:
            problem("source.name", "'*' may only be the last character")
        elif not source.is_arn and not _SECRET_NAME.fullmatch(source.name + ("x" if source.prefix else "")):
            problem("source.name", "a secret name has 1-512 letters, digits and /_+=.@- only")

        dests_in = m.destinations if m.destinations is not None else [m.destination]
        dests: list[DestinationSpec] = []
        for d_index, d in enumerate(dests_in):
            assert d is not None
            fname = f"destinations[{d_index}]" if m.destinations is not None else "destination"
            dd = model.defaults.destination
            variables = {**model.variables, **dd.variables, **m.variables, **d.variables}
            for name in variables:
                if name in _variables.BUILTINS:
                    problem(f"{fname}.variables", f"{name} is a built-in variable and cannot be redefined")
            dest = DestinationSpec(
                name=d.name,
                region=d.region or dd.region,
                identity=_identity(d, dd),
                kms_key_id=d.kms_key_id or dd.kms_key_id,
                tags=tuple(sorted({**dd.tags, **d.tags}.items())),
                description=d.description if d.description is not None else dd.description,
                variables=tuple(sorted(variables.items())),
            )
            if d.name.startswith(ARN_PREFIX):
                problem(f"{fname}.name", "a destination is a secret name, not an ARN")
            star = d.name.find("*")
            if star >= 0 and star != len(d.name) - 1:
                problem(f"{fname}.name", "'*' may only be the last character")
            if (star >= 0) != source.prefix:
                side = "destination" if star >= 0 else "source"
                problem(f"{fname}.name", f"'*' appears on one side only (the {side}); use it on both or neither")
            name_vars = {**dict(dest.variables), **{k: _PLACEHOLDERS[k] for k in _NAME_BUILTINS}}
            try:
                expanded = _variables.expand(d.name, name_vars).removesuffix("*")
                if "*" not in expanded and not _SECRET_NAME.fullmatch(expanded or "x"):
                    problem(f"{fname}.name", f"{expanded!r} is not a secret name: 1-512 letters, digits and "
                                             "/_+=.@- only (after variables)")
            except _variables.UndefinedVariable as exc:
                problem(f"{fname}.name", str(exc))
            dests.append(dest)

        steps = _steps(m, base_dir, problem)
        for dest in dests:
            values = {**dict(dest.variables), **_PLACEHOLDERS}
            try:
                build_transform(steps, lambda t, values=values: _variables.expand(t, values))
            except _variables.UndefinedVariable as exc:
                problem("transform", str(exc))
                break
            except (SedSyntaxError, JsonPathSyntaxError) as exc:
                problem("transform", str(exc))
                break
        out.append(
            MappingSpec(
                id=mapping_id, index=index, source=source, destinations=tuple(dests), steps=steps,
                on_existing=m.on_existing or model.settings.on_existing,
            )
        )
    return out


def _identity(ep: _EndpointBase, defaults: _EndpointBase) -> Identity:
    if ep.role_arn or ep.profile:
        return Identity(ep.role_arn, ep.external_id, ep.profile)
    return Identity(defaults.role_arn, defaults.external_id, defaults.profile)


def _steps(m: MappingModel, base_dir: Path | None, problem: Any) -> tuple[StepSpec, ...]:
    steps: list[StepSpec] = []
    for i, s in enumerate(m.transform):
        if s.sed is not None:
            if not s.sed:
                problem(f"transform[{i}].sed", "no rules")
            steps.append(StepSpec("sed", f"transform[{i}] (sed)", rules=tuple(s.sed)))
        elif s.sed_file is not None:
            if base_dir is None and not os.path.isabs(s.sed_file):
                problem(f"transform[{i}].sed_file", "a relative sed_file needs a manifest on disk")
                continue
            path = Path(s.sed_file) if os.path.isabs(s.sed_file) else (base_dir or Path.cwd()) / s.sed_file
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problem(f"transform[{i}].sed_file", f"cannot read {path}: {exc.__class__.__name__}")
                continue
            steps.append(StepSpec("sed_file", f"transform[{i}] (sed_file {s.sed_file})", rules=(text,)))
        else:
            assert s.json_ is not None
            if not s.json_:
                problem(f"transform[{i}].json", "no paths")
            steps.append(StepSpec("json", f"transform[{i}] (json)", assignments=tuple(s.json_.items())))
    return tuple(steps)


# --- collisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    name: str  # exact name, or prefix when ``prefix``
    prefix: bool
    region: str
    account: str


def _account_of(identity: Identity) -> str:
    return identity.account_hint or identity.key


def _check_collisions(mappings: list[MappingSpec], origin: str, problems: list[str]) -> None:
    sources: list[tuple[MappingSpec, _Place]] = []
    dests: list[tuple[MappingSpec, str, _Place]] = []
    for m in mappings:
        s = m.source
        src_name = s.name.split(":secret:", 1)[1] if s.is_arn else s.name
        src_account = s.name.split(":")[4] if s.is_arn else _account_of(s.identity)
        sources.append((m, _Place(src_name, s.prefix, s.region or "(default)", src_account)))
        for i, d in enumerate(m.destinations):
            fname = f"destinations[{i}]" if len(m.destinations) > 1 else "destination"
            values = {**dict(d.variables), **_PLACEHOLDERS, "REGION": d.region or "(default)"}
            try:
                name = _variables.expand(d.name, values)
            except _variables.UndefinedVariable:
                continue
            dests.append((m, fname, _Place(name.removesuffix("*"), name.endswith("*"),
                                           d.region or "(default)", _account_of(d.identity))))
    # Group by (region, account) and sort by name: everything a prefix covers then sits right
    # after it, so overlaps are found with a bisect instead of comparing every pair.
    groups: dict[tuple[str, str], list[tuple[str, bool, int, Any]]] = defaultdict(list)
    for m, place in sources:
        groups[(place.region, place.account)].append((place.name, place.prefix, 0, (m, "source")))
    for m, fname, place in dests:
        groups[(place.region, place.account)].append((place.name, place.prefix, 1, (m, fname)))
    reported: set[tuple[int, str, int, str]] = set()
    for (region, _), entries in groups.items():
        entries.sort(key=lambda e: (e[0], e[2]))
        names = [e[0] for e in entries]
        for i, (name, prefix, kind, (m, fname)) in enumerate(entries):
            if prefix:
                hi = bisect.bisect_left(names, name + "\U0010ffff", lo=i)
                others = [j for j in range(bisect.bisect_left(names, name), hi) if j != i]
            else:
                others = [j for j in range(bisect.bisect_left(names, name), bisect.bisect_right(names, name))
                          if j != i]
            for j in others:
                o_name, o_prefix, o_kind, (m2, fname2) = entries[j]
                if kind == 0 and o_kind == 0:
                    continue  # two mappings may read the same source
                a, b = ((m, fname, name, prefix), (m2, fname2, o_name, o_prefix)) if kind == 1 else \
                    ((m2, fname2, o_name, o_prefix), (m, fname, name, prefix))
                key = (a[0].index, a[1], b[0].index, b[1])
                if key in reported or (o_kind == 1 and kind == 1 and (b[0].index, b[1], a[0].index, a[1]) in reported):
                    continue
                reported.add(key)
                where = f"{origin}: mapping '{a[0].id}' (mappings[{a[0].index}]): field '{a[1]}.name'"
                if b[1] == "source":
                    if b[0] is a[0]:
                        problems.append(f"{where}: the mapping writes onto its own source")
                    else:
                        problems.append(f"{where}: the destination is also the source of mapping '{b[0].id}'")
                else:
                    first, second = sorted((a, b), key=lambda x: (x[0].index, x[1]))
                    where = (f"{origin}: mapping '{second[0].id}' (mappings[{second[0].index}]): "
                             f"field '{second[1]}.name'")
                    problems.append(f"{where}: writes the same destination as mapping '{first[0].id}' ({first[1]}): "
                                    f"{first[2]}{'*' if first[3] else ''} in {region}")
