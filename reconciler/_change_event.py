"""Secrets Manager change events (EventBridge from CloudTrail): which secrets changed, and who did it.

Pure: no I/O, no AWS. ``parse_change_event`` reads an EventBridge event; the Lambda handler uses
the result to reconcile only the mappings whose source it names, and to ignore its own writes.

How a secret is named in an event, and what can be trusted (the reason for this module):

* ``responseElements.arn`` (and ``additionalEventData.SecretId`` of a service event such as
  RotationSucceeded) is the FULL ARN, always ending in AWS's ``-`` + 6 random characters.
* ``requestParameters.secretId`` is whatever the caller passed: a name, a PARTIAL ARN (no
  suffix) or a full ARN. A partial ARN for ``app/my-secret`` looks exactly like the full ARN of
  ``app/my`` with suffix ``secret``, so a suffix is stripped only from the full forms above; a
  caller's ARN is read as a partial one (its name is everything after ``:secret:``).
* ``responseElements.name``, when present, is the name: it wins over anything derived.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

EVENT_SOURCE = "aws.secretsmanager"


class ChangeEventName(str, Enum):
    """The CloudTrail events that change what a source holds (SPEC: Lambda)."""

    PUT_SECRET_VALUE = "PutSecretValue"
    UPDATE_SECRET = "UpdateSecret"
    RESTORE_SECRET = "RestoreSecret"
    ROTATION_SUCCEEDED = "RotationSucceeded"


CHANGE_EVENTS = frozenset(e.value for e in ChangeEventName)

# arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:REST (REST is a name, maybe with the suffix)
_SECRET_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):secretsmanager:(?P<region>[\w-]*):(?P<account>\d{12}):"
                         r"secret:(?P<rest>.+)$")
_AWS_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")  # what AWS appends to a name in a full ARN
# arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE_NAME/SESSION
_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<name>[^/]+)/.+$")
# arn:PARTITION:iam::ACCOUNT:role/PATH/ROLE_NAME (the path is optional; the name is the last part)
_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)$")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A secret an event names: ``name`` always; ``arn`` only when the event gave the full ARN."""

    region: str
    name: str
    arn: str | None = None

    @property
    def engine_id(self) -> str:
        """What ``Options.sources`` takes: the full ARN when known (the engine strips its suffix), else
        the name (never a partial ARN, which the engine would read as a full one)."""
        return self.arn or self.name


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    event_name: str
    region: str
    secrets: tuple[SecretRef, ...]  # empty for an event that changes nothing (not one of CHANGE_EVENTS)
    actor_arns: tuple[str, ...]  # userIdentity.arn and sessionContext.sessionIssuer.arn, when present
    error_code: str | None = None  # a failed call changed nothing

    @property
    def changes_a_source(self) -> bool:
        return self.event_name in CHANGE_EVENTS and self.error_code is None and bool(self.secrets)

    @property
    def sources(self) -> frozenset[tuple[str, str]]:
        """(region, name or full ARN) pairs, as ``Options.sources`` takes them."""
        return frozenset((s.region, s.engine_id) for s in self.secrets)


def is_change_event(event: Mapping[str, Any]) -> bool:
    return event.get("source") == EVENT_SOURCE and "detail" in event


def parse_change_event(event: Mapping[str, Any]) -> ChangeEvent | None:
    """The change an EventBridge event describes; None when it is not a Secrets Manager event."""
    if not is_change_event(event):
        return None
    detail = _dict(event.get("detail"))
    name = str(detail.get("eventName") or "")
    region = str(detail.get("awsRegion") or event.get("region") or "")
    error = detail.get("errorCode")
    secrets = tuple(_secrets(detail, region)) if name in CHANGE_EVENTS else ()
    return ChangeEvent(name, region, secrets, _actors(_dict(detail.get("userIdentity"))),
                       str(error) if error else None)


def secret_name(secret_id: str, *, full_arn: bool) -> str:
    """A secret's name from a name or an ARN. The AWS suffix is cut only from a known full ARN."""
    m = _SECRET_ARN.match(secret_id)
    if m is None:
        return secret_id
    rest = m["rest"]
    return _AWS_SUFFIX.sub("", rest) if full_arn else rest


def _secrets(detail: Mapping[str, Any], region: str) -> Iterable[SecretRef]:
    response = _dict(detail.get("responseElements"))
    request = _dict(detail.get("requestParameters"))
    extra = _dict(detail.get("additionalEventData"))
    full = _first_str(response, "arn", "ARN")
    if full is None and (detail.get("eventType") == "AwsServiceEvent" or not request):
        full = _first_str(extra, "SecretId", "secretId")  # AWS's own service event: the full ARN
    if full is not None and _SECRET_ARN.match(full) is None:
        full = None  # not an ARN after all: treat it as a caller's id below
    named = _first_str(response, "name", "Name")
    asked = _first_str(request, "secretId", "SecretId") or _first_str(extra, "SecretId", "secretId")
    if full is not None:
        m = _SECRET_ARN.match(full)
        assert m is not None
        yield SecretRef(m["region"] or region, named or secret_name(full, full_arn=True), full)
    elif named is not None:
        yield SecretRef(region, secret_name(named, full_arn=False))
    elif asked is not None:
        m = _SECRET_ARN.match(asked)
        yield SecretRef((m["region"] if m else "") or region, secret_name(asked, full_arn=False))


def _actors(identity: Mapping[str, Any]) -> tuple[str, ...]:
    issuer = _dict(_dict(identity.get("sessionContext")).get("sessionIssuer"))
    return tuple(a for a in (identity.get("arn"), issuer.get("arn")) if isinstance(a, str) and a)


def made_by(change: ChangeEvent, role_arns: Iterable[str]) -> bool:
    """Did one of these IAM roles (or a session assumed from one) make the change?

    A role's session shows as ``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`` (without the role's
    path) in ``userIdentity.arn``, and as the role ARN in ``sessionContext.sessionIssuer.arn``.
    """
    roles = [m for m in (_ROLE.match(r.strip()) for r in role_arns) if m is not None]
    for actor in change.actor_arns:
        for role in roles:
            if actor == role.string.strip():
                return True
            session = _ASSUMED_ROLE.match(actor)
            if session is not None and (session["partition"], session["account"], session["name"]) == (
                    role["partition"], role["account"], role["name"]):
                return True
    return False


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _first_str(d: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = d.get(key)
        if isinstance(value, str) and value:
            return value
    return None
