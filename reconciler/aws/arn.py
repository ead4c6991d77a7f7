"""Amazon Resource Names, parsed once.

``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``. The resource part may itself hold ``:`` or ``/``
(``secret:app/db-AbCdEf``, ``role/path/name``), so only the first five separators split.
"""

from __future__ import annotations

from dataclasses import dataclass

ARN_PREFIX = "arn:"
_FIELDS = 6  # arn, partition, service, region, account, resource
# Secrets Manager appends "-" and 6 random characters to the name in a secret's full ARN.
SECRET_SUFFIX_LENGTH = 6
_SECRET_RESOURCE = "secret:"


# Region prefixes of the partitions other than "aws", most specific first.
_PARTITIONS = (("us-isob-", "aws-iso-b"), ("us-iso-", "aws-iso"), ("us-gov-", "aws-us-gov"), ("cn-", "aws-cn"))


def partition_of(region: str | None) -> str:
    """The partition a region belongs to (``aws`` when unknown): ARNs built here must match it."""
    for prefix, partition in _PARTITIONS:
        if region and region.startswith(prefix):
            return partition
    return "aws"


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        """Parse ``text``; ValueError (naming the text's shape, never a value) if it is no ARN."""
        parts = text.split(":", _FIELDS - 1)
        if len(parts) != _FIELDS or parts[0] != "arn" or not parts[1] or not parts[2] or not parts[5]:
            raise ValueError(f"not an ARN: {text[:200]!r}")
        return cls(partition=parts[1], service=parts[2], region=parts[3], account=parts[4], resource=parts[5])

    @classmethod
    def maybe(cls, text: str | None) -> Arn | None:
        """The parsed ARN, or None when ``text`` is a plain name (or missing)."""
        if not text or not text.startswith(ARN_PREFIX):
            return None
        try:
            return cls.parse(text)
        except ValueError:
            return None

    @property
    def resource_id(self) -> str:
        """The resource after its type: ``app/db-AbCdEf`` for a secret, ``path/name`` for a role."""
        for sep in (":", "/"):
            kind, found, rest = self.resource.partition(sep)
            if found and kind.isalpha():
                return rest
        return self.resource

    @property
    def name(self) -> str:
        """A secret's name: the resource id without the 6-character suffix of a full secret ARN.

        A full ARN (as AWS returns it) always carries the suffix. A *partial* ARN (no suffix) for
        a name whose last segment is 6 characters long cannot be told apart here: callers that
        accept partial ARNs must use ``resource_id`` and confirm with DescribeSecret.
        """
        rid = self.resource_id
        if not self.resource.startswith(_SECRET_RESOURCE):
            return rid
        head, sep, tail = rid.rpartition("-")
        return head if sep and head and len(tail) == SECRET_SUFFIX_LENGTH else rid

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"
