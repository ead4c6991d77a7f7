"""Naming rules and patterns a manifest is checked against (pure: no pydantic, no AWS).

The patterns are AWS's own rules (Secrets Manager names and tags, Parameter Store names, IAM role
ARNs), checked at load so a bad name fails the load, not every write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kinds import Service

ARN_PREFIX = "arn:"
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")  # what Secrets Manager accepts as a name
TAG_KEY_PATTERN = r"^[\w .:/=+\-@]+$"
TAG_VALUE_PATTERN = r"^[\w .:/=+\-@]*$"
# Stand-ins for built-ins while validating; real values come at run time. Invariants: letters and
# digits only (no sed delimiter, regex or JSONPath metacharacter, so a rule valid for real names is
# valid for them), pairwise distinct and unlike anything a user writes (a message quoting one is
# turned back into the ``${NAME}`` the user wrote, see ``steps.TransformChecks``), and no longer
# than the real values they stand for in names (regions, 12-digit accounts).
PLACEHOLDERS = {
    "REGION": "zzregion9", "SOURCE_REGION": "zzsrcregion9", "SECRET_NAME": "zzsecretname9",
    "DEST_SECRET_NAME": "zzdestname9", "ACCOUNT_ID": "100000000009", "SOURCE_ACCOUNT_ID": "100000000008",
}
# The same, differing from them at every position: a rule failing differently with these depends on
# the value (``steps.TransformChecks``), and its message must not quote either.
ALTERNATE_PLACEHOLDERS = {
    "REGION": "YYREGION8", "SOURCE_REGION": "YYSRCREGION7", "SECRET_NAME": "YYSECRETNAME6",
    "DEST_SECRET_NAME": "YYDESTNAME5", "ACCOUNT_ID": "211111111116", "SOURCE_ACCOUNT_ID": "211111111117",
}
# Built-ins a destination *name* may use (the secret names come from the name itself).
NAME_BUILTINS = ("REGION", "SOURCE_REGION", "ACCOUNT_ID", "SOURCE_ACCOUNT_ID")
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
Problem = Callable[..., None]  # problem(field, message): one load error for the current mapping
KIND = {"secretsmanager": "secret", "ssm": "parameter"}  # a service's word for what it stores


def name_problem(service: Service, name: str, prefix: bool, *, destination: bool) -> str | None:
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

