"""The IAM policy the conformance suite runs under: it reaches only its own prefix.

The maintainer attaches it (``python -m tests.aws.conformance_policy PREFIX`` prints it) to the sandbox
role or user; tests/aws/test_aws_suite_unit.py proves with tests/policy_eval.py that it cannot touch a
secret or parameter outside the prefix and allows every call the suite makes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

PREFIX_ROOT = "reconciler-conformance"
RUN_TAG = "reconciler:test-run"

# Every call the suite (and the reconciler under test) makes on a named resource.
SECRET_ACTIONS = (
    "secretsmanager:CreateSecret", "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret", "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:DeleteSecret", "secretsmanager:RestoreSecret", "secretsmanager:TagResource",
    "secretsmanager:UntagResource", "secretsmanager:ListSecretVersionIds",
)
PARAMETER_ACTIONS = (
    "ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters", "ssm:DeleteParameter", "ssm:DeleteParameters",
    "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource", "ssm:LabelParameterVersion",
)
# Calls that take no resource ARN: AWS authorizes them on "*"; they read names only.
LIST_ACTIONS = ("secretsmanager:ListSecrets", "secretsmanager:BatchGetSecretValue", "ssm:DescribeParameters",
                "sts:GetCallerIdentity")


def conformance_policy(*, partition: str = "aws", account: str = "*") -> dict[str, Any]:
    """Least privilege for the suite: named calls only on ARNs under the conformance prefix."""
    secret_arn = f"arn:{partition}:secretsmanager:*:{account}:secret:{PREFIX_ROOT}/*"
    # SSM parameter ARNs drop the name's leading slash: parameter/reconciler-conformance/...
    param_arn = f"arn:{partition}:ssm:*:{account}:parameter/{PREFIX_ROOT}/*"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ConformanceSecrets", "Effect": "Allow", "Action": list(SECRET_ACTIONS), "Resource": secret_arn},
        {"Sid": "ConformanceParameters", "Effect": "Allow", "Action": list(PARAMETER_ACTIONS), "Resource": param_arn},
        {"Sid": "ListOnly", "Effect": "Allow", "Action": list(LIST_ACTIONS), "Resource": "*"},
    ]}


if __name__ == "__main__":
    json.dump(conformance_policy(), sys.stdout, indent=2)
    print()
