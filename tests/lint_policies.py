"""Lint every IAM policy the project ships or prints with parliament (run by ``tox -e lint``).

Policies linted:
- every identity, trust and resource policy of config/deploy/*.yaml, rendered with parameter
  sets that switch every condition on and then off (tests/cfn_policies.py);
- ``reconciler iam-policy`` output for the example manifests in config/ and for
  tests/data/iam-everything.yaml (adopt, tags, KMS, prune, SSM, Organizations, cn- partition).

Exit 0 when there are no findings except the ones listed in ``JUSTIFIED`` (each with its reason),
1 otherwise. Findings are printed as ``where: ISSUE detail``.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cfn_policies import policies as template_policies  # noqa: E402

ROOT = HERE.parent
ACCOUNT = "111111111111"
# (parliament issue, policy kind or a text its detail contains) -> why it is accepted. Keep it short.
JUSTIFIED: dict[tuple[str, str], str] = {
    ("MALFORMED", "trust"): "a trust policy names a Principal and has no Resource, by definition; "
                            "parliament lints identity policies only",
    ("UNKNOWN_CONDITION_FOR_ACTION", "kms:ResourceAliases"):
        "parliament's bundled IAM data predates kms:ResourceAliases (2021), which AWS documents for "
        "cryptographic operations on a key: it is how an IAM policy grants a key named by its alias",
}


# Parameter sets: everything on, everything off (defaults).
TEMPLATE_PARAMS: dict[str, list[dict[str, Any]]] = {
    "template.yaml": [
        {"CodeBucket": "artifacts", "CodeObjectVersion": "v1",
         "ManifestDeployPrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
         "SourceSecretArns": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/*",
         "DestinationSecretArns": f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:dr/*"},
        {"CodeBucket": "artifacts", "CodeObjectVersion": "v1", "Owner": "team-a",
         "ManifestDeployPrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
         "SourceSecretArns": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/*",
         "DestinationSecretArns": f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:dr/*",
         "AdoptSecretArns": f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:dr/legacy/*",
         "ManagedTagKeys": "CostCenter,Team", "EnableDeletion": "true", "EnableChangeEvents": "true",
         "ChangeEventSourcePrefix": "prod/",
         "DestinationKmsKeyArns": f"arn:aws:kms:us-west-2:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
         "SourceParameterArns": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prod/*",
         "DestinationParameterArns": f"arn:aws:ssm:us-west-2:{ACCOUNT}:parameter/dr/*",
         "WriterRoleArns": "arn:aws:iam::222222222222:role/secrets-reconciler-writer",
         "OrganizationsRoleArn": "arn:aws:iam::999999999999:role/org-reader", "AlarmEmail": "ops@example.com",
         "CodeSigningConfigArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:code-signing-config:csc-0123456789abcdef0"},
    ],
    "writer-role.yaml": [
        {"ReconcilerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/fn", "ExternalId": "xid", "Owner": "o",
         "SecretNamePrefix": "dr/"},
        {"ReconcilerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/fn", "ExternalId": "xid", "Owner": "o",
         "SecretNamePrefix": "dr/", "AdoptNamePrefix": "dr/legacy/", "ManagedTagKeys": "CostCenter",
         "KmsKeyArn": "arn:aws:kms:us-west-2:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
         "EnableDeletion": "true"},
    ],
    "shards.yaml": [
        {"FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn",
         "DeadLetterQueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq",
         "AlarmTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:alarms"},
    ],
}
MANIFESTS = [ROOT / "config" / "dr-copy.yaml", ROOT / "config" / "fanout.yaml", HERE / "data" / "iam-everything.yaml"]


def documents() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, param_sets in TEMPLATE_PARAMS.items():
        for i, params in enumerate(param_sets):
            for resource, kind, doc in template_policies(name, params):
                yield f"{name}[{i}]:{resource}", kind, doc
    from reconciler._iam import policies_for
    from reconciler.manifest import load_manifest

    for path in MANIFESTS:
        for label, doc in policies_for(load_manifest(str(path)), default_account=ACCOUNT).items():
            yield f"iam-policy {path.name}:{label}", "identity", doc


def main() -> int:
    warnings.filterwarnings("ignore", category=UserWarning)  # parliament imports pkg_resources
    from parliament import analyze_policy_string

    bad = count = 0
    for where, kind, doc in documents():
        count += 1
        policy = analyze_policy_string(json.dumps(doc), ignore_private_auditors=True)
        for f in policy.findings:
            reason = next((why for (issue, what), why in JUSTIFIED.items()
                           if issue == f.issue and (what == kind or what in json.dumps(f.detail))), None)
            print(f"{where}: {f.issue} {json.dumps(f.detail)} {json.dumps(f.location, default=str)}"
                  + (f"  [justified: {reason}]" if reason else ""))
            bad += reason is None
    print(f"parliament: {count} policies, {bad} unjustified findings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
