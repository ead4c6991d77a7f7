"""Where the conformance suite runs: a real AWS account (a profile) or moto behind the fault proxy.

Everything the suite creates is named under ``reconciler-conformance/<run-id>/`` and tagged
``reconciler:test-run=<run-id>``; ``sweep`` finds it again by that tag and force-deletes it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from aws.conformance_policy import PREFIX_ROOT, RUN_TAG

# The reconciler keeps ``reconciler:`` tags to itself, so a destination it creates carries the run id
# in its owner tag instead: reconciler:owner = reconciler-conformance-<run-id>[-<test>].
OWNER_TAG = "reconciler:owner"
OWNER_PREFIX = f"{PREFIX_ROOT}-"

RECORDINGS = Path(__file__).parent / "recordings"
PAGE_SIZE_PROBE = 2  # small MaxResults so a handful of secrets spans pages


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass(kw_only=True)
class Target:
    name: str  # "moto" or the profile name: the recording's file name
    regions: tuple[str, str]  # (source region, destination region); equal when one region is given
    run_id: str
    profile: str | None = None
    endpoint: str | None = None  # moto's URL (seeding goes around the proxy), None on AWS
    recording: dict[str, Any] = field(default_factory=dict)
    recordings: Path = RECORDINGS  # moto runs write under pytest's temp dir, not into the tree
    written: set[str] = field(default_factory=set)  # every value the suite wrote: never recorded
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def real(self) -> bool:
        return self.profile is not None

    @property
    def prefix(self) -> str:
        return f"{PREFIX_ROOT}/{self.run_id}/"

    def tags(self) -> list[dict[str, str]]:
        return [{"Key": RUN_TAG, "Value": self.run_id}]

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            session = boto3.Session(profile_name=self.profile) if self.profile else boto3.Session()
            self._clients[key] = session.client(service, region_name=region, endpoint_url=self.endpoint)
        return self._clients[key]

    def record(self, behaviour: str, shape: dict[str, Any]) -> None:
        """Keep the shape of an answer (codes, field names, counts): never a secret value."""
        text = json.dumps(shape, default=str)
        leaked = [v for v in self.written if v in text]
        if leaked:  # a canary: the recording is committed, so a value in it would be published
            raise ValueError(f"recording {behaviour!r} would contain a value the suite wrote")
        self.recording[behaviour] = shape

    def write_recording(self) -> Path:
        self.recordings.mkdir(parents=True, exist_ok=True)
        path = self.recordings / f"{self.name}.json"
        doc = {"target": self.name, "run_id": self.run_id, "regions": list(self.regions),
               "behaviours": dict(sorted(self.recording.items()))}
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        return path


def error_shape(exc: Any) -> dict[str, Any]:
    err = exc.response.get("Error", {})
    return {"status": exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            "error_code": err.get("Code"), "message": err.get("Message")}


def owner_for(run_id: str, test: str = "") -> str:
    return f"{OWNER_PREFIX}{run_id}" + (f"-{test}" if test else "")


def run_of(tags: dict[str, str]) -> str | None:
    """The run id a resource belongs to: its test-run tag, or the one inside its owner tag."""
    if RUN_TAG in tags:
        return tags[RUN_TAG]
    owner = tags.get(OWNER_TAG, "")
    if owner.startswith(OWNER_PREFIX):
        rest = owner[len(OWNER_PREFIX):]
        return "-".join(rest.split("-")[:2])  # <stamp>-<hex>
    return None


def sweep(target: Target, *, run_id: str | None = None, older_than: dt.timedelta | None = None,
          now: dt.datetime | None = None) -> list[str]:
    """Force-delete every secret and parameter tagged ``reconciler:test-run`` (one run's, or any
    run's older than ``older_than``) in the target's regions; return what was deleted."""
    now = now or dt.datetime.now(dt.timezone.utc)
    deleted: list[str] = []

    def wanted(value: str) -> bool:
        if run_id is not None:
            return value == run_id
        if older_than is None:
            return True
        try:
            started = dt.datetime.strptime(value[:15], "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            return False  # not a run id this suite wrote: leave it alone
        return now - started >= older_than

    for region in sorted(set(target.regions)):
        sm = target.client("secretsmanager", region)
        filters = [{"Key": "tag-key", "Values": [RUN_TAG, OWNER_TAG]}]  # values OR
        for page in sm.get_paginator("list_secrets").paginate(Filters=filters, IncludePlannedDeletion=True):
            for s in page["SecretList"]:
                run = run_of({t["Key"]: t["Value"] for t in s.get("Tags", [])})
                if run is not None and wanted(run) and s["Name"].startswith(PREFIX_ROOT + "/"):
                    sm.delete_secret(SecretId=s["ARN"], ForceDeleteWithoutRecovery=True)
                    deleted.append(f"{region}:secret:{s['Name']}")
        ssm = target.client("ssm", region)
        names: list[str] = []
        pf = [{"Key": "Name", "Option": "BeginsWith", "Values": [f"/{PREFIX_ROOT}/"]}]
        for page in ssm.get_paginator("describe_parameters").paginate(ParameterFilters=pf):
            for p in page["Parameters"]:
                tags = {t["Key"]: t["Value"] for t in
                        ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=p["Name"])["TagList"]}
                run = run_of(tags)
                if run is not None and wanted(run):
                    names.append(p["Name"])
        for i in range(0, len(names), 10):  # DeleteParameters takes 10 names
            ssm.delete_parameters(Names=names[i:i + 10])
        deleted += [f"{region}:parameter:{n}" for n in names]
    return deleted
