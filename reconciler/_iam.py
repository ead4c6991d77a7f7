"""``reconciler iam-policy``: the least-privilege policy documents a manifest needs.

One document per identity: the runner (default credentials) and each role the manifest assumes.
Resources are narrowed to the manifest's secret names and prefixes; ListSecrets and
BatchGetSecretValue have no resource-level permissions in AWS, so they alone take ``*``.
Writes to destinations are conditioned on the ownership tag, so the role cannot touch a secret
the reconciler does not own (except tagging one to adopt it, where a mapping says ``adopt``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ._constants import TAG_OWNER
from ._manifest import Identity, Manifest

RUNNER = "runner"


def _secret_arn(region: str | None, account: str | None, name: str, prefix: bool) -> str:
    # AWS appends "-" and 6 random characters to every secret ARN.
    tail = f"{name}*" if prefix else f"{name}-??????"
    return f"arn:aws:secretsmanager:{region or '*'}:{account or '*'}:secret:{tail}"


def _label(identity: Identity) -> str:
    return identity.role_arn or (f"profile:{identity.profile}" if identity.profile else RUNNER)


def policies_for(manifest: Manifest) -> dict[str, Any]:
    reads: dict[str, set[str]] = defaultdict(set)
    writes: dict[str, set[str]] = defaultdict(set)
    adopt: dict[str, set[str]] = defaultdict(set)
    kms: dict[str, set[str]] = defaultdict(set)
    roles: set[str] = set()
    for m in manifest.mappings:
        s = m.source
        if s.identity.role_arn:
            roles.add(s.identity.role_arn)
        if s.is_arn:
            reads[_label(s.identity)].add(s.name)
        else:
            reads[_label(s.identity)].add(_secret_arn(s.region, s.identity.account_hint, s.name, s.prefix))
        for d in m.destinations:
            if d.identity.role_arn:
                roles.add(d.identity.role_arn)
            name = d.name.removesuffix("*")
            for var in ("${REGION}", "${SOURCE_REGION}", "${ACCOUNT_ID}", "${SOURCE_ACCOUNT_ID}"):
                name = name.replace(var, "*")
            for k, v in d.variables:
                name = name.replace("${" + k + "}", v)
            arn = _secret_arn(d.region, d.identity.account_hint, name, d.name.endswith("*") or "*" in name)
            writes[_label(d.identity)].add(arn)
            if m.on_existing == "adopt":
                adopt[_label(d.identity)].add(arn)
            if d.kms_key_id:
                kms[_label(d.identity)].add(d.region or "*")
    owner = manifest.settings.owner
    out: dict[str, Any] = {}
    for label in sorted(set(reads) | set(writes) | {RUNNER}):
        statements: list[dict[str, Any]] = []
        if reads.get(label) or writes.get(label):
            statements.append({"Sid": "ListHasNoResourceLevelPermissions", "Effect": "Allow",
                               "Action": ["secretsmanager:ListSecrets"], "Resource": "*"})
        if reads.get(label):
            statements += [
                {"Sid": "BatchReadHasNoResourceLevelPermissions", "Effect": "Allow",
                 "Action": ["secretsmanager:BatchGetSecretValue"], "Resource": "*"},
                {"Sid": "ReadSources", "Effect": "Allow",
                 "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                 "Resource": sorted(reads[label])},
            ]
        if writes.get(label):
            dest = sorted(writes[label])
            statements += [
                {"Sid": "DescribeDestinations", "Effect": "Allow", "Action": ["secretsmanager:DescribeSecret"],
                 "Resource": dest},
                {"Sid": "CreateOwnedDestinations", "Effect": "Allow",
                 "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource"], "Resource": dest,
                 "Condition": {"StringEquals": {f"aws:RequestTag/{TAG_OWNER}": owner}}},
                {"Sid": "WriteOwnedDestinations", "Effect": "Allow",
                 "Action": ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
                            "secretsmanager:UpdateSecret", "secretsmanager:RestoreSecret",
                            "secretsmanager:TagResource", "secretsmanager:GetSecretValue"],
                 "Resource": dest,
                 "Condition": {"StringEquals": {f"secretsmanager:ResourceTag/{TAG_OWNER}": owner}}},
            ]
        if adopt.get(label):
            statements.append({"Sid": "AdoptUnownedDestinations", "Effect": "Allow",
                               "Action": ["secretsmanager:TagResource"], "Resource": sorted(adopt[label]),
                               "Condition": {"Null": {f"secretsmanager:ResourceTag/{TAG_OWNER}": "true"}}})
        if kms.get(label):
            statements.append({"Sid": "EncryptWithDestinationKeysViaSecretsManager", "Effect": "Allow",
                               "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
                               "Condition": {"StringEquals": {"kms:ViaService": sorted(
                                   f"secretsmanager.{r}.amazonaws.com" for r in kms[label])}}})
        if label == RUNNER:
            if roles:
                statements.append({"Sid": "AssumeManifestRoles", "Effect": "Allow", "Action": ["sts:AssumeRole"],
                                   "Resource": sorted(roles)})
            metrics = manifest.settings.metrics
            if metrics.sink == "cloudwatch":
                statements.append({"Sid": "PublishMetrics", "Effect": "Allow",
                                   "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
                                   "Condition": {"StringEquals": {"cloudwatch:namespace": metrics.namespace}}})
        out[label] = {"Version": "2012-10-17", "Statement": statements}
    return out
