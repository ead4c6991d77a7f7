"""Plain data passed between backend, planner and engine. Values never appear in a repr."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._constants import STAGE_CURRENT


@dataclass(slots=True)
class SecretMeta:
    """What ListSecrets / DescribeSecret tell about a secret: no value."""

    arn: str
    name: str
    versions: dict[str, list[str]]  # VersionId -> stages
    tags: dict[str, str]
    deleted: bool = False
    description: str | None = None
    kms_key_id: str | None = None
    # A store without version stages (Parameter Store) says which reconciler token its current
    # content was written with; None means "the current VersionId is the token" (Secrets Manager).
    synced_token: str | None = None
    # False when the listing could not carry tags (Parameter Store's DescribeParameters): the
    # planner may call such a destination in sync by its token, but must confirm before writing.
    tags_known: bool = True
    primary_region: str | None = None  # set on a native replica: AWS writes it, never the reconciler
    rotation_enabled: bool = False  # a rotation Lambda writes it, never the reconciler

    @property
    def current_version(self) -> str | None:
        for version, stages in self.versions.items():
            if STAGE_CURRENT in stages:
                return version
        return None

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]


@dataclass(slots=True)
class SecretValue:
    """A secret value read with its version. ``repr`` shows the version only."""

    arn: str
    name: str
    version_id: str
    stages: list[str]
    string: str | None = field(default=None, repr=False)
    binary: bytes | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        if self.binary is not None:
            return len(self.binary)
        return len((self.string or "").encode("utf-8"))


def name_from_id(secret_id: str) -> str:
    """A secret's name from its name or its ARN (whose name carries AWS's 6-character suffix)."""
    if not secret_id.startswith("arn:"):
        return secret_id
    return _strip_suffix(secret_id).split(":secret:", 1)[-1]


def same_source(arn_a: str, arn_b: str) -> bool:
    """Two secret ARNs name the same source: same partition, account, region and name.

    The 6-character suffix AWS adds is ignored, so a source deleted and re-created under the same
    name stays the same source for ownership (its VersionIds still change, so it is re-copied).
    """
    return _strip_suffix(arn_a) == _strip_suffix(arn_b)


def _strip_suffix(arn: str) -> str:
    head, sep, tail = arn.rpartition("-")
    return head if sep and len(tail) == 6 and ":secret:" in head else arn
