"""``reconciler iam-policy``: the least-privilege policy documents a manifest needs (SPEC: IAM).

One document per identity: the runner (default credentials), each profile and each role the
manifest assumes. The invariants every document keeps, whatever the manifest says:

- Writes (value, stages, description, restore, delete) are allowed only on secrets and
  parameters whose ``reconciler:owner`` tag equals ``settings.owner`` (a resource-tag condition).
- Tagging is allowed on owned resources, at creation only with our owner as the request tag, and
  on an untagged resource only inside the destinations of ``on_existing: adopt`` mappings (the
  explicit adopt prefixes), again only with our owner as the request tag.
- An explicit Deny stops the identity from tagging, untagging, writing or deleting a secret whose
  owner tag is present and names another owner, and from writing another owner into the tag. An
  explicit Deny wins over any other Allow the principal may hold.
- Tag keys are limited to ``reconciler:*`` plus the keys the manifest names (``aws:TagKeys``);
  untagging to the keys the manifest names (a key dropped from the manifest is removed by the
  first run under the new manifest, so apply the narrower policy after that run).
- No value-read permission on destinations: ``plan --diff`` reads them and needs its own grant.
- KMS is granted on the keys the manifest names (or, for sources, the keys of the source's
  account) only through the owning service in that region and only for the named secrets'
  encryption context.
- ARNs take the partition from the region and name the account wherever it is known: a role's
  account from its ARN, the default identity's from STS at ``iam-policy`` time when credentials
  exist, else the placeholder ``${AWS::AccountId}`` (a note on stderr says so).

ListSecrets, BatchGetSecretValue and DescribeParameters have no resource-level permissions in AWS,
so they alone take ``*``.
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

from ._constants import TAG_MAPPING, TAG_OWNER, TAG_SOURCE
from .aws.secretsmanager import NAME_ALPHABET
from .engine.listing import owned_plan
from .manifest.spec import DestinationSpec, Identity, Manifest, MappingSpec

RUNNER: Final = "runner"
ACCOUNT_PLACEHOLDER: Final = "${AWS::AccountId}"
RECONCILER_TAG_PATTERN: Final = "reconciler:*"
SM: Final = "secretsmanager"
SSM: Final = "ssm"
STS_TIMEOUT_SECONDS: Final = 3.0
# Region prefix -> partition; everything else is the commercial partition.
_PARTITIONS: Final = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"), ("us-iso-", "aws-iso"))
_ACCOUNT_RE: Final = re.compile(r"^\d{12}$")
_KEY_ID_RE: Final = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_VAR_RE: Final = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


class _Discover:
    """Sentinel: look the default identity's account up with STS."""


DISCOVER: Final = _Discover()


def partition_of(region: str | None) -> str:
    for prefix, partition in _PARTITIONS:
        if region and region.startswith(prefix):
            return partition
    return "aws"


def _default_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def lookup_account(profile: str | None = None) -> str | None:
    """The account of the default (or a profile's) credentials, or None when there are none.

    Only called by ``iam-policy``; one GetCallerIdentity, short timeouts, no retries: a policy
    printer must not hang on a machine without network or credentials.
    """
    try:
        import boto3
        from botocore.config import Config

        session = boto3.Session(profile_name=profile)
        if session.get_credentials() is None:
            return None
        cfg = Config(connect_timeout=STS_TIMEOUT_SECONDS, read_timeout=STS_TIMEOUT_SECONDS,
                     retries={"max_attempts": 1, "mode": "standard"})
        sts = session.client("sts", region_name=_default_region() or "us-east-1", config=cfg)
        account = str(sts.get_caller_identity()["Account"])
    except Exception:  # any failure means "unknown": the placeholder is printed instead
        return None
    return account if _ACCOUNT_RE.match(account) else None


def _label(identity: Identity) -> str:
    return identity.role_arn or (f"profile:{identity.profile}" if identity.profile else RUNNER)


def _service(endpoint: Any) -> str:
    # ``service`` arrives with Parameter Store support; secrets are the default (SPEC).
    return str(getattr(endpoint, "service", SM) or SM)


@dataclass
class _Scope:
    """What one identity touches, gathered from every mapping before any statement is written."""

    sm_reads: set[str] = field(default_factory=set)
    ssm_reads: set[str] = field(default_factory=set)
    sm_writes: set[str] = field(default_factory=set)
    ssm_writes: set[str] = field(default_factory=set)
    sm_adopt: set[str] = field(default_factory=set)
    ssm_adopt: set[str] = field(default_factory=set)
    sm_delete: set[str] = field(default_factory=set)
    ssm_delete: set[str] = field(default_factory=set)
    read_keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # service -> key ARNs
    read_regions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    dest_keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    dest_aliases: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    alias_key_arns: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    dest_regions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tag_keys: set[str] = field(default_factory=set)
    org_reader: bool = False


class _Builder:
    """Turns a manifest into per-identity scopes; knows accounts, regions and partitions."""

    def __init__(self, manifest: Manifest, default_account: str | None, discover: bool) -> None:
        self.manifest = manifest
        self.default_account = default_account
        self.discover = discover  # ask STS for a profile's account (once per profile)
        self.profile_accounts: dict[str, str | None] = {}
        self.scopes: dict[str, _Scope] = defaultdict(_Scope)
        self.roles: set[str] = set()
        self.placeholder_used = False

    def account(self, identity: Identity) -> str:
        hint = identity.account_hint
        if hint and _ACCOUNT_RE.match(hint):
            return hint
        if identity.role_arn:  # a role whose account is only known at run time (${ACCOUNT_ID})
            return "*"
        if identity.profile:  # a profile may be another account than the default credentials
            if identity.profile not in self.profile_accounts:
                self.profile_accounts[identity.profile] = lookup_account(identity.profile) if self.discover else None
            known = self.profile_accounts[identity.profile]
        else:
            known = self.default_account
        if known:
            return known
        self.placeholder_used = True
        return ACCOUNT_PLACEHOLDER

    def source_key_arn(self, s: Any) -> str:
        """Customer managed keys of the source's account, in its region (an ARN source names both)."""
        if s.is_arn:
            _, part, _, region, account, _ = s.name.split(":", 5)
            return f"arn:{part}:kms:{region}:{account}:key/*"
        return self.key_arn(s.region, s.identity, "*")

    def arn(self, service: str, region: str | None, identity: Identity, name: str, prefix: bool) -> str:
        region = region or _default_region()
        part, account = partition_of(region), self.account(identity)
        if service == SSM:
            return f"arn:{part}:ssm:{region or '*'}:{account}:parameter/{name.lstrip('/')}{'*' if prefix else ''}"
        # AWS appends "-" and 6 random characters to every secret ARN.
        tail = f"{name}*" if prefix else f"{name}-??????"
        return f"arn:{part}:secretsmanager:{region or '*'}:{account}:secret:{tail}"

    def key_arn(self, region: str | None, identity: Identity, key: str) -> str:
        region = region or _default_region()
        return f"arn:{partition_of(region)}:kms:{region or '*'}:{self.account(identity)}:key/{key}"

    def add_mapping(self, m: MappingSpec) -> None:
        s = m.source
        if s.identity.role_arn:
            self.roles.add(_role_pattern(s.identity.role_arn))
        scope, service = self.scopes[_label(s.identity)], _service(s)
        region = s.name.split(":")[3] if s.is_arn else (s.region or _default_region())
        arn = s.name if s.is_arn else self.arn(service, s.region, s.identity, s.name, s.prefix)
        (scope.ssm_reads if service == SSM else scope.sm_reads).add(arn)
        scope.read_keys[service].add(self.source_key_arn(s))
        scope.read_regions[service].add(region or "*")
        delete = getattr(m, "on_source_deleted", "keep") == "delete" or _prune_enabled(self.manifest)
        for d in m.destinations:
            self.add_destination(m, d, delete)

    def add_destination(self, m: MappingSpec, d: DestinationSpec, delete: bool) -> None:
        if d.identity.role_arn:
            self.roles.add(_role_pattern(d.identity.role_arn))
        scope, service = self.scopes[_label(d.identity)], _service(d)
        name = _resolve_name(m, d)
        arn = self.arn(service, d.region, d.identity, name.removesuffix("*"), name.endswith("*"))
        (scope.ssm_writes if service == SSM else scope.sm_writes).add(arn)
        if m.on_existing == "adopt":
            (scope.ssm_adopt if service == SSM else scope.sm_adopt).add(arn)
        if delete:
            (scope.ssm_delete if service == SSM else scope.sm_delete).add(arn)
        if _prune_enabled(self.manifest) and service != SSM:
            # an orphan is a name the manifest no longer has: any owned secret of the scope (Parameter
            # Store is never pruned: no recovery window)
            scope.sm_delete.add(self.arn(service, d.region, d.identity, "", True))
        scope.tag_keys.update(k for k, _ in d.tags)
        region = d.region or _default_region()
        scope.dest_regions[service].add(region or "*")
        if d.kms_key_id:
            self.add_dest_key(scope, service, d, d.kms_key_id)

    def add_dest_key(self, scope: _Scope, service: str, d: DestinationSpec, key: str) -> None:
        """A key ARN or id is granted as is; an alias through ``kms:ResourceAliases`` (KMS
        authorizes cryptographic calls on the key, never on the alias)."""
        if key.startswith("arn:") and ":alias/" not in key:
            scope.dest_keys[service].add(key)
        elif key.startswith("arn:"):
            _, _, _, region, account, alias = key.split(":", 5)
            scope.dest_aliases[service].add(alias)
            scope.alias_key_arns[service].add(f"arn:{partition_of(region)}:kms:{region}:{account}:key/*")
        elif key.startswith("alias/"):
            scope.dest_aliases[service].add(key)
            scope.alias_key_arns[service].add(self.key_arn(d.region, d.identity, "*"))
        elif _KEY_ID_RE.match(key):
            scope.dest_keys[service].add(self.key_arn(d.region, d.identity, key))
        else:  # not a form KMS accepts; the run fails that item, the policy names nothing
            return


def _prune_enabled(manifest: Manifest) -> bool:
    return bool(getattr(getattr(manifest.settings, "prune", None), "enabled", False))


def _role_pattern(role_arn: str) -> str:
    # ``arn:aws:iam::${ACCOUNT_ID}:role/x`` (Organizations fan-out): any account, that role name.
    return _VAR_RE.sub("*", role_arn)


def _resolve_name(m: MappingSpec, d: DestinationSpec) -> str:
    """The destination name with every variable whose value is known here replaced by it.

    Unknown values (a prefix member's name, an account found at run time) become ``*``; known ones
    stay exact so ``dr/${REGION}/db`` is ``dr/us-west-2/db``, not ``dr/*/db*``.
    """
    known: dict[str, str] = {k: v for k, v in d.variables}
    if d.region:
        known["REGION"] = d.region
    if m.source.region:
        known["SOURCE_REGION"] = m.source.region
    if d.identity.account_hint and _ACCOUNT_RE.match(d.identity.account_hint):
        known["ACCOUNT_ID"] = d.identity.account_hint
    if m.source.identity.account_hint and _ACCOUNT_RE.match(m.source.identity.account_hint):
        known["SOURCE_ACCOUNT_ID"] = m.source.identity.account_hint
    if not m.source.prefix and not m.source.is_arn:
        known["SECRET_NAME"] = m.source.name

    def sub(match: re.Match[str]) -> str:
        # a custom value may still use built-ins (resolved at load, _variables.resolve): fill them too
        return _VAR_RE.sub(lambda inner: known.get(inner.group(0)[2:-1], "*"), known.get(match.group(0)[2:-1], "*"))

    return _VAR_RE.sub(sub, d.name)


def policies_for(manifest: Manifest, *, default_account: str | _Discover | None = DISCOVER) -> dict[str, Any]:
    """``{identity label: policy document}`` for every identity the manifest uses (and the runner)."""
    discover = isinstance(default_account, _Discover)
    account = lookup_account() if discover else default_account
    b = _Builder(manifest, account if isinstance(account, str) else None, discover)
    for m in manifest.mappings:
        b.add_mapping(m)
    org = getattr(manifest.settings, "organizations", None)
    uses_accounts = any(getattr(d, "accounts", None) is not None for m in manifest.mappings for d in m.destinations)
    if org is not None or uses_accounts:
        # without settings.organizations, discovery runs as the runner itself (SPEC: default identity)
        org_role = getattr(org, "role_arn", None)
        if org_role:
            b.roles.add(org_role)
        b.scopes[org_role or RUNNER].org_reader = True
    out: dict[str, Any] = {}
    for label in sorted(set(b.scopes) | {RUNNER}):
        statements = _statements(b, b.scopes[label], label)
        out[label] = {"Version": "2012-10-17", "Statement": statements}
    if b.placeholder_used:
        print(f"note: STS could not tell this identity's account (no credentials, or no answer): the "
              f"policies say {ACCOUNT_PLACEHOLDER} there; replace it, or use them in a CloudFormation !Sub",
              file=sys.stderr)
    return out


def _statements(b: _Builder, scope: _Scope, label: str) -> list[dict[str, Any]]:
    owner = b.manifest.settings.owner
    statements: list[dict[str, Any]] = []
    statements += _sm_read_statements(scope)
    statements += _sm_write_statements(scope, owner)
    statements += _ssm_statements(scope, owner)
    statements += _kms_statements(scope)
    if scope.org_reader:
        statements += _org_statements(b)
    if label == RUNNER:
        if b.roles:
            statements.append({"Sid": "AssumeManifestRoles", "Effect": "Allow", "Action": ["sts:AssumeRole"],
                               "Resource": sorted(b.roles)})
        metrics = b.manifest.settings.metrics
        if metrics.sink == "cloudwatch":
            statements.append({"Sid": "PublishMetrics", "Effect": "Allow",
                               "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
                               "Condition": {"StringEquals": {"cloudwatch:namespace": metrics.namespace}}})
    return statements


def _tag_keys_condition(scope: _Scope) -> dict[str, Any]:
    return {"ForAllValues:StringLike": {"aws:TagKeys": [RECONCILER_TAG_PATTERN, *sorted(scope.tag_keys)]}}


def _sm_read_statements(scope: _Scope) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if scope.sm_reads or scope.sm_writes:
        out.append({"Sid": "ListHasNoResourceLevelPermissions", "Effect": "Allow",
                    "Action": ["secretsmanager:ListSecrets"], "Resource": "*"})
    if scope.sm_reads:
        out += [
            {"Sid": "BatchReadHasNoResourceLevelPermissions", "Effect": "Allow",
             "Action": ["secretsmanager:BatchGetSecretValue"], "Resource": "*"},
            {"Sid": "ReadSources", "Effect": "Allow",
             "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
             "Resource": sorted(scope.sm_reads)},
        ]
    return out


def _split_prefixes(dest_arns: list[str]) -> set[str]:
    """``<common prefix>*`` of each (region, account) whose owned listing the engine may split
    (engine.listing.owned_plan): the split reads the names where it branches with DescribeSecret,
    and those are prefixes of the destinations' names. Only metadata, which ListSecrets (no
    resource-level permission) shows already; without it those reads are denied and the scope is
    listed whole, one page after another. A scope with a prefix mapping may split on its members
    (unknown here); a scope whose names share no prefix gets nothing (that would be every secret).
    """
    groups: dict[str, list[str]] = defaultdict(list)
    prefixed: set[str] = set()
    for arn in dest_arns:
        head, sep, tail = arn.partition(":secret:")
        if not sep:
            continue
        groups[head].append(tail.removesuffix("-??????").split("*")[0])
        if not tail.endswith("-??????") or "*" in tail.removesuffix("-??????"):
            prefixed.add(head)
    out: set[str] = set()
    for head, names in groups.items():
        if head in prefixed or owned_plan(names, NAME_ALPHABET) is not None:
            root = os.path.commonprefix(names)  # noqa: RUF071 - by character, as name filters are
            if root:
                out.add(f"{head}:secret:{root}*")
    return out


def _sm_write_statements(scope: _Scope, owner: str) -> list[dict[str, Any]]:
    """Secrets Manager destinations; see the module docstring for the invariants."""
    if not scope.sm_writes:
        return []
    dest, owned = sorted(scope.sm_writes), {"StringEquals": {f"secretsmanager:ResourceTag/{TAG_OWNER}": owner}}
    out: list[dict[str, Any]] = [
        {"Sid": "DescribeDestinations", "Effect": "Allow", "Action": ["secretsmanager:DescribeSecret"],
         "Resource": sorted({*dest, *_split_prefixes(dest)})},
        {"Sid": "CreateOwnedDestinations", "Effect": "Allow", "Action": ["secretsmanager:CreateSecret"],
         "Resource": dest,
         "Condition": {"StringEquals": {f"aws:RequestTag/{TAG_OWNER}": owner}, **_tag_keys_condition(scope)}},
        {"Sid": "WriteOwnedDestinations", "Effect": "Allow",
         "Action": ["secretsmanager:PutSecretValue", "secretsmanager:RestoreSecret",
                    "secretsmanager:UpdateSecret", "secretsmanager:UpdateSecretVersionStage"],
         "Resource": dest, "Condition": owned},
        {"Sid": "TagOwnedDestinations", "Effect": "Allow", "Action": ["secretsmanager:TagResource"],
         "Resource": dest, "Condition": {**owned, **_tag_keys_condition(scope)}},
    ]
    # Tags a manifest dropped are named only in the reconciler:tags ledger, so not knowable here: any
    # key but the ownership tags may be removed from our own destinations.
    out.append({"Sid": "UntagOwnedDestinations", "Effect": "Allow", "Action": ["secretsmanager:UntagResource"],
                "Resource": dest, "Condition": {**owned, "ForAllValues:StringNotEquals": {
                    "aws:TagKeys": [TAG_OWNER, TAG_SOURCE, TAG_MAPPING]}}})
    if scope.sm_adopt:
        out.append({"Sid": "AdoptUntaggedDestinationsInAdoptPrefixes", "Effect": "Allow",
                    "Action": ["secretsmanager:TagResource"], "Resource": sorted(scope.sm_adopt),
                    "Condition": {"Null": {f"secretsmanager:ResourceTag/{TAG_OWNER}": "true"},
                                  "StringEquals": {f"aws:RequestTag/{TAG_OWNER}": owner},
                                  **_tag_keys_condition(scope)}})
    if scope.sm_delete:
        # an orphan is described again just before its deletion (it may have changed since the
        # listing): the same owned-only scope as the delete itself
        out.append({"Sid": "ScheduleDeletionOfOwnedDestinations", "Effect": "Allow",
                    "Action": ["secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret"],
                    "Resource": sorted(scope.sm_delete), "Condition": owned})
    return out + _sm_deny_statements(owner)


def _sm_deny_statements(owner: str) -> list[dict[str, Any]]:
    """Explicit denies: they hold even beside a broader Allow the principal gets elsewhere."""
    return [
        {"Sid": "DenyTouchingSecretsOfAnotherOwner", "Effect": "Deny",
         "Action": ["secretsmanager:DeleteSecret", "secretsmanager:PutSecretValue", "secretsmanager:RestoreSecret",
                    "secretsmanager:TagResource", "secretsmanager:UntagResource", "secretsmanager:UpdateSecret",
                    "secretsmanager:UpdateSecretVersionStage"],
         "Resource": "*",
         "Condition": {"StringNotEquals": {f"secretsmanager:ResourceTag/{TAG_OWNER}": owner},
                       "Null": {f"secretsmanager:ResourceTag/{TAG_OWNER}": "false"}}},
        {"Sid": "DenyWritingAnotherOwner", "Effect": "Deny",
         "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource"], "Resource": "*",
         "Condition": {"StringNotEquals": {f"aws:RequestTag/{TAG_OWNER}": owner},
                       "Null": {f"aws:RequestTag/{TAG_OWNER}": "false"}}},
        {"Sid": "DenyForceDelete", "Effect": "Deny", "Action": ["secretsmanager:DeleteSecret"], "Resource": "*",
         "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}}},
    ]


def _ssm_statements(scope: _Scope, owner: str) -> list[dict[str, Any]]:
    """Parameter Store, only the calls its backend makes (GetParameters on sources, DescribeParameters,
    ListTagsForResource, PutParameter, Add/RemoveTagsFromResource, DeleteParameter); SSM checks
    ``aws:ResourceTag`` on parameters for each of those writes.

    PutParameter cannot carry Tags together with Overwrite, so the create statement (request tag)
    can never overwrite a parameter someone else owns; overwrites need the owner resource tag.
    """
    out: list[dict[str, Any]] = []
    if scope.ssm_reads or scope.ssm_writes:
        out.append({"Sid": "DescribeParametersHasNoResourceLevelPermissions", "Effect": "Allow",
                    "Action": ["ssm:DescribeParameters"], "Resource": "*"})
    if scope.ssm_reads:
        out.append({"Sid": "ReadSourceParameters", "Effect": "Allow",
                    "Action": ["ssm:GetParameters"], "Resource": sorted(scope.ssm_reads)})
    if not scope.ssm_writes:
        return out
    dest, owned = sorted(scope.ssm_writes), {"StringEquals": {f"aws:ResourceTag/{TAG_OWNER}": owner}}
    out += [
        {"Sid": "ReadDestinationParameterTags", "Effect": "Allow", "Action": ["ssm:ListTagsForResource"],
         "Resource": dest},
        {"Sid": "CreateOwnedParameters", "Effect": "Allow", "Action": ["ssm:AddTagsToResource", "ssm:PutParameter"],
         "Resource": dest,
         "Condition": {"StringEquals": {f"aws:RequestTag/{TAG_OWNER}": owner}, **_tag_keys_condition(scope)}},
        {"Sid": "WriteOwnedParameters", "Effect": "Allow", "Action": ["ssm:PutParameter"],
         "Resource": dest, "Condition": owned},
        {"Sid": "TagOwnedParameters", "Effect": "Allow", "Action": ["ssm:AddTagsToResource"],
         "Resource": dest, "Condition": {**owned, **_tag_keys_condition(scope)}},
    ]
    # as for secrets: a dropped key is named only in the reconciler:tags ledger; never the ownership tags
    out.append({"Sid": "UntagOwnedParameters", "Effect": "Allow", "Action": ["ssm:RemoveTagsFromResource"],
                "Resource": dest, "Condition": {**owned, "ForAllValues:StringNotEquals": {
                    "aws:TagKeys": [TAG_OWNER, TAG_SOURCE, TAG_MAPPING]}}})
    if scope.ssm_adopt:
        out.append({"Sid": "AdoptUntaggedParametersInAdoptPrefixes", "Effect": "Allow",
                    "Action": ["ssm:AddTagsToResource"], "Resource": sorted(scope.ssm_adopt),
                    "Condition": {"Null": {f"aws:ResourceTag/{TAG_OWNER}": "true"},
                                  "StringEquals": {f"aws:RequestTag/{TAG_OWNER}": owner},
                                  **_tag_keys_condition(scope)}})
    if scope.ssm_delete:
        out.append({"Sid": "DeleteOwnedParameters", "Effect": "Allow", "Action": ["ssm:DeleteParameter"],
                    "Resource": sorted(scope.ssm_delete), "Condition": owned})
    out.append({"Sid": "DenyTouchingParametersOfAnotherOwner", "Effect": "Deny",
                "Action": ["ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:LabelParameterVersion",
                           "ssm:PutParameter", "ssm:RemoveTagsFromResource"],
                "Resource": "*",
                "Condition": {"StringNotEquals": {f"aws:ResourceTag/{TAG_OWNER}": owner},
                              "Null": {f"aws:ResourceTag/{TAG_OWNER}": "false"}}})
    return out


_ENCRYPTION_CONTEXT: Final = {SM: "kms:EncryptionContext:SecretARN", SSM: "kms:EncryptionContext:PARAMETER_ARN"}


def _kms_statements(scope: _Scope) -> list[dict[str, Any]]:
    """Decrypt for customer-managed source keys; encrypt/decrypt with the destination keys named.

    Each grant holds only through the owning service in the named regions and only for the named
    secrets' (parameters') encryption context, so the key cannot decrypt anything else.
    """
    out: list[dict[str, Any]] = []
    for service, tag in ((SM, "SecretsManager"), (SSM, "ParameterStore")):
        reads = scope.sm_reads if service == SM else scope.ssm_reads
        writes = scope.sm_writes if service == SM else scope.ssm_writes
        if reads:
            out.append({"Sid": f"DecryptSources{tag}", "Effect": "Allow", "Action": ["kms:Decrypt"],
                        "Resource": sorted(scope.read_keys[service]),
                        "Condition": _kms_condition(service, scope.read_regions[service], reads)})
        # SSM encrypts a SecureString with Encrypt (standard) or GenerateDataKey (advanced).
        actions = ["kms:Decrypt", "kms:GenerateDataKey"] if service == SM else ["kms:Encrypt", "kms:GenerateDataKey"]
        condition = _kms_condition(service, scope.dest_regions[service], writes)
        if scope.dest_keys.get(service):
            out.append({"Sid": f"EncryptDestinations{tag}", "Effect": "Allow", "Action": actions,
                        "Resource": sorted(scope.dest_keys[service]), "Condition": condition})
        if scope.dest_aliases.get(service):
            out.append({"Sid": f"EncryptDestinationsByAlias{tag}", "Effect": "Allow", "Action": actions,
                        "Resource": sorted(scope.alias_key_arns[service]),
                        "Condition": {**condition, "ForAnyValue:StringEquals": {
                            "kms:ResourceAliases": sorted(scope.dest_aliases[service])}}})
    return out


def _kms_condition(service: str, regions: set[str], arns: set[str]) -> dict[str, Any]:
    context = {_ENCRYPTION_CONTEXT[service]: sorted(arns)}
    if "*" in regions:  # a region known only at run time: any region, still only this service
        return {"StringLike": {"kms:ViaService": [f"{service}.*.amazonaws.com"], **context}}
    return {"StringEquals": {"kms:ViaService": sorted(f"{service}.{r}.amazonaws.com" for r in regions)},
            "StringLike": context}


def _org_statements(b: _Builder) -> list[dict[str, Any]]:
    """Reading the organization's tree: the two calls discovery makes (ListChildren for nested OUs,
    ListAccountsForParent). The organization id and its management account are not in the
    manifest, so the ARNs pin the resource type (OU or root) and leave those two open."""
    org = getattr(b.manifest.settings, "organizations", None)
    part = partition_of(getattr(org, "region", None) or _default_region())
    return [
        {"Sid": "ReadOrganizationTree", "Effect": "Allow",
         "Action": ["organizations:ListAccountsForParent", "organizations:ListChildren"],
         "Resource": [f"arn:{part}:organizations::*:ou/o-*/ou-*", f"arn:{part}:organizations::*:root/o-*/r-*"]},
    ]
