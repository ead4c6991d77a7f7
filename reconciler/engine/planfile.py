"""Plan files: what ``plan --out`` saw and would change, and what ``run --plan`` may then do.

A plan file is a reviewed promise. ``run --plan`` refuses one that does not belong to the manifest
it is given (digest), to this tool (version, transform engine), or to now (age), before any AWS
call; then it writes only the planned items, and only those whose source and destination are still
at the versions the plan saw (``engine.plangate``).

Invariant: a plan file holds metadata only: ARNs, names, VersionIds and version tokens (uuid5 of
ARN, VersionId, transform fingerprint and destination: nothing of a value), never a value or a
digest of one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
import tempfile
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import __version__
from .._constants import TRANSFORM_ENGINE_VERSION
from .._exceptions import ManifestError
from ..manifest.spec import Manifest

__all__ = ["DEFAULT_PLAN_MAX_AGE_SECONDS", "MAX_PLAN_BYTES", "PLAN_FORMAT", "PlanDestination", "PlanEntry",
           "PlanFile", "check_plan_target", "manifest_digest", "parse_age", "read_plan", "verify_plan", "write_plan"]

PLAN_FORMAT: Literal[1] = 1
DEFAULT_PLAN_MAX_AGE_SECONDS = 24 * 3600.0  # a plan reviewed yesterday is still fresh; last week's is not
MAX_PLAN_BYTES = 64 * 1024 * 1024  # ~150k items; a file past it is not a plan this tool wrote
# A plan made on another machine may carry a clock a little ahead of this one: allowed, up to this.
PLAN_CLOCK_SKEW_SECONDS = 300.0
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

PlanAction = Literal["create", "update", "delete"]
# What the action does, finer than the report's action: what a reviewer approves.
Change = Literal["create", "put", "rollback", "restore", "tag", "untag", "description", "delete"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PlanDestination(_Strict):
    service: Literal["secretsmanager", "ssm"]
    account: str = Field(max_length=12)
    region: str = Field(max_length=32)
    name: str = Field(min_length=1, max_length=2048)

    @property
    def place(self) -> tuple[str, str, str, str]:
        return (self.service, self.account, self.region, self.name)


class PlanEntry(_Strict):
    """One planned change. ``destination_version`` None: the destination was absent."""

    kind: Literal["item", "orphan"]
    mapping: str = Field(max_length=512)
    source: str = Field(max_length=2048, description="the source ARN (an orphan: its reconciler:source tag)")
    source_version: str | None = Field(None, max_length=128, description="the source VersionId the plan saw")
    destination: PlanDestination
    destination_version: str | None = Field(None, max_length=128)
    token: str | None = Field(None, max_length=64, description="the version token the write would carry")
    action: PlanAction
    changes: tuple[Change, ...]

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """(mapping, service, account, region, name): how an item of a later run finds its entry."""
        return (self.mapping, *self.destination.place)


class PlanFile(_Strict):
    format: Literal[1]
    tool_version: str = Field(max_length=64)
    transform_engine: str = Field(max_length=16)
    manifest_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    owner: str = Field(max_length=256)
    created_at: datetime
    items: tuple[PlanEntry, ...]


# --- the manifest's digest -------------------------------------------------------------------------


def manifest_digest(manifest: Manifest) -> str:
    """sha256 over the resolved manifest: settings, every mapping with its destinations, resolved
    variables and rule files' text. Not over where it was read from, nor the labels errors use (a
    checkout in another directory plans the same)."""
    canonical = {"settings": _canonical(manifest.settings), "mappings": [_canonical(m) for m in manifest.mappings]}
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _canonical(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "label"}
    if isinstance(obj, BaseModel):
        return _canonical(obj.model_dump(mode="json"))
    if isinstance(obj, Enum):
        return _canonical(obj.value)
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (set, frozenset)):  # no order of its own: sorted, so every process hashes alike
        return sorted((_canonical(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"manifest_digest: no canonical form for {type(obj).__name__}")  # a new field type: add it


# --- reading, checking, writing ----------------------------------------------------------------------


def parse_age(text: str) -> float:
    """``--plan-max-age``: seconds, or a number with s, m, h or d ("24h"). Raises ValueError."""
    m = _AGE.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"a positive age such as 3600, 90m, 24h or 7d, not {text!r}")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def read_plan(location: str) -> PlanFile:
    """The plan at a path or ``s3://bucket/key``. Raises ManifestError (exit 2) naming the file."""
    data = _read_bytes(location)
    try:
        return PlanFile.model_validate_json(data, strict=False)  # JSON: datetimes arrive as strings
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the file"
        raise ManifestError([f"{location}: not a plan file of this tool: {where}: {first.get('msg')} "
                             f"({exc.error_count()} problem(s))"]) from None


def _read_bytes(location: str) -> bytes:
    if location.startswith("s3://"):
        return _read_s3(location)
    try:
        with open(location, "rb") as f:
            data = f.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise ManifestError([f"{location}: cannot read the plan file: {_os_reason(exc)}"]) from None
    if len(data) > MAX_PLAN_BYTES:
        raise ManifestError([f"{location}: the plan file is over {MAX_PLAN_BYTES // (1024 * 1024)} MiB"])
    return data


def _os_reason(exc: OSError) -> str:
    # The OS's own words ("No such file or directory"), never the path again or file contents.
    return exc.strerror or exc.__class__.__name__


def _read_s3(uri: str) -> bytes:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key:
        raise ManifestError([f"{uri}: a plan file location is s3://bucket/key"])
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_PLAN_BYTES}")["Body"]
        try:
            data = bytes(body.read(MAX_PLAN_BYTES + 1))
        finally:
            body.close()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        raise ManifestError([f"{uri}: cannot read the plan file: {code}"]) from None
    except BotoCoreError as exc:
        raise ManifestError([f"{uri}: cannot read the plan file: {exc.__class__.__name__}"]) from None
    if len(data) > MAX_PLAN_BYTES:
        raise ManifestError([f"{uri}: the plan file is over {MAX_PLAN_BYTES // (1024 * 1024)} MiB"])
    return data


def verify_plan(plan: PlanFile, manifest: Manifest, *, max_age: float, now: datetime) -> None:
    """Refuse (ManifestError: exit 2, before any AWS call) a plan made for another manifest, by
    another version of the tool or its transform engine, or longer ago than ``max_age`` seconds."""
    problems = []
    if plan.manifest_digest != manifest_digest(manifest):
        problems.append("the plan was made for another manifest (its digest differs: a mapping, a rule file, "
                        "a variable or a setting changed since); plan again")
    if plan.owner != manifest.settings.owner:  # the digest covers the settings; this names the field a reviewer read
        problems.append(f"the plan's owner {plan.owner[:100]!r} is not the manifest's "
                        f"{manifest.settings.owner!r}; plan again")
    if plan.tool_version != __version__:
        problems.append(f"the plan was made by reconciler {plan.tool_version}, this is {__version__}; plan again")
    if plan.transform_engine != TRANSFORM_ENGINE_VERSION:
        problems.append(f"the plan was made with transform engine {plan.transform_engine}, this is "
                        f"{TRANSFORM_ENGINE_VERSION}; plan again")
    created = plan.created_at if plan.created_at.tzinfo else plan.created_at.replace(tzinfo=timezone.utc)
    age = (now - created).total_seconds()
    if age > max_age:
        problems.append(f"the plan is {_human(age)} old, older than --plan-max-age ({_human(max_age)}); plan again")
    elif age < -PLAN_CLOCK_SKEW_SECONDS:
        problems.append(f"the plan is dated {_human(-age)} in the future; check the clocks, then plan again")
    if problems:
        raise ManifestError([f"--plan: {p}" for p in problems])


def _human(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def new_plan(manifest: Manifest, entries: list[PlanEntry], *, now: datetime | None = None) -> PlanFile:
    return PlanFile(format=PLAN_FORMAT, tool_version=__version__, transform_engine=TRANSFORM_ENGINE_VERSION,
                    manifest_digest=manifest_digest(manifest), owner=manifest.settings.owner,
                    created_at=(now or datetime.now(timezone.utc)).replace(microsecond=0), items=tuple(entries))


def check_plan_target(path: str) -> None:
    """Refuse, before any AWS call, a ``plan --out`` path that could not be written: finding out
    after a long plan would throw the plan away. Raises ManifestError (exit 2)."""
    if path.startswith("s3://"):
        raise ManifestError([f"{path}: plan --out writes a local file; copy it to S3 "
                             "afterwards (aws s3 cp) for a Lambda to apply"])
    target = Path(path)
    parent = target.parent
    if not parent.exists():
        raise ManifestError([f"{path}: cannot write the plan file: {parent} does not exist"])
    if not parent.is_dir():
        raise ManifestError([f"{path}: cannot write the plan file: {parent} is not a directory"])
    try:
        mode: int | None = os.lstat(target).st_mode  # lstat: a symlink is judged as a link, not its target
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ManifestError([f"{path}: cannot write the plan file: {exc.strerror}"]) from None
    # The plan is written by renaming a new file over the path (write_plan): over a device
    # (/dev/stdout, /dev/null) or a symlink that rename would replace the node itself.
    if mode is not None and not stat.S_ISREG(mode):
        what = ("a directory" if stat.S_ISDIR(mode)
                else "a symbolic link (give the path it names; the file is replaced by a rename, which would "
                     "replace the link)" if stat.S_ISLNK(mode)
                else "not a regular file (a device, pipe or socket); the plan is a file for run --plan, and "
                     "--format json prints the report")
        raise ManifestError([f"{path}: cannot write the plan file: it is {what}"])
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ManifestError([f"{path}: cannot write the plan file: {parent} is not writable"])


def write_plan(plan: PlanFile, path: str) -> None:
    """Write atomically: a temporary file beside it, fsynced, renamed over ``path``. A reader never
    sees half a plan, and a failed write leaves the old file (or none) in place."""
    check_plan_target(path)  # again: the path may have changed during a long plan
    target = Path(path)
    text = plan.model_dump_json(indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
