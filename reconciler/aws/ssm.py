"""Parameter Store as a store beside Secrets Manager: same operations, SSM's API underneath.

The engine's drift rule is "the destination's current content carries the wanted token". Secrets
Manager keeps the token as the VersionId (ClientRequestToken). Parameter Store has integer
versions and no request tokens, so this facade keeps the token in the parameter's Description:

    <the manifest's description> [reconciler:<token>@<version>]

and reports ``synced_token = token`` only while ``<version>`` is still the parameter's current
Version. Any out-of-band PutParameter creates a new Version, so the marker stops matching and the
edit is caught, whatever it did to the description. The version a write will produce is predicted
as current + 1 (PutParameter always adds exactly one version); if another writer raced us, the
prediction misses, the marker does not match, and the next run writes again: it converges, and it
never reports a destination in sync that is not.

Cost in steady state: DescribeParameters (50 a page) lists sources and destinations with their
Version and Description, and nothing else is called: ~0.04 SSM calls per parameter. Values are read
only for writes, ten names per GetParameters. Tags (ownership) are not in DescribeParameters: a
listed destination is ``tags_known=False`` and the engine confirms it with ``describe`` (which adds
ListTagsForResource) before it writes anything.

A source parameter's version id is its Version as a string, in listings and in value reads alike,
so the token the engine derives is the same whichever it saw first.

A PutParameter retried after its answer was lost (the first attempt landed) adds one more version
than predicted: the facade sees the Version in the answer miss its prediction and writes once more
with the marker moved on, so a retried write still ends in sync within the run.

No version stages, no recovery window: ``move_current`` and ``restore`` are never asked of this
store (the planner never decides them: a parameter's versions never carry a token, and a listed
parameter is never scheduled for deletion), and the description is written with the value
(``writes_description_with_value``), never alone.
"""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .._constants import STAGE_CURRENT
from .._exceptions import ItemError
from .._types import SecretMeta, SecretValue
from .identity import Identity
from .store import WriteSpec

__all__ = [
    "DESCRIBE_PAGE_SIZE",
    "GET_PARAMETERS_MAX_NAMES",
    "MAX_DESCRIPTION_CHARS",
    "BinaryNotSupported",
    "DescriptionTooLong",
    "ParamTier",
    "ParamType",
    "ParameterStore",
    "SsmApi",
    "SsmCall",
    "TooLargeForTier",
    "WriteOptions",
    "parameter_arn",
    "parameter_name",
]

GET_PARAMETERS_MAX_NAMES = 10  # GetParameters takes at most 10 names
DESCRIBE_PAGE_SIZE = 50  # DescribeParameters returns at most 50 a page
FILTER_MAX_VALUES = 50  # one ParameterFilters entry takes at most 50 values
MAX_DESCRIPTION_CHARS = 1024  # Parameter Store's Description limit, marker included
STANDARD_MAX_BYTES = 4096  # a Standard parameter's value; Advanced holds 8 KB
ADVANCED_MAX_BYTES = 8192

_MARKER = re.compile(r"\s?\[reconciler:(?P<token>[0-9a-f-]{36})@(?P<version>\d+)\]$")


class SsmApi(str, enum.Enum):
    """API classes with their own quota (per account and region), for pacing."""

    PUT = "ssm-put"  # PutParameter: 3/s by default (standard throughput)
    GET = "ssm-get"  # GetParameters: 40/s
    DESCRIBE = "ssm-describe"  # DescribeParameters, ListTagsForResource: 10/s
    WRITE = "ssm-write"  # tags and deletes: share the default write quota


class ParamType(str, enum.Enum):
    STRING = "String"
    STRING_LIST = "StringList"
    SECURE_STRING = "SecureString"


class ParamTier(str, enum.Enum):
    STANDARD = "Standard"
    ADVANCED = "Advanced"
    INTELLIGENT = "Intelligent-Tiering"


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteOptions:
    """How a destination parameter is written (from the manifest's destination)."""

    type: ParamType = ParamType.SECURE_STRING
    tier: ParamTier | None = None
    kms_key_id: str | None = None

    @classmethod
    def of(cls, options: WriteOptions | WriteSpec | None, kms_key_id: str | None = None) -> WriteOptions:
        """The options of a store-neutral ``WriteSpec`` (the manifest's words), or these."""
        if isinstance(options, WriteOptions):
            return options
        spec = options or WriteSpec(kms_key_id=kms_key_id)
        return cls(type=ParamType(spec.parameter_type or ParamType.SECURE_STRING.value),
                   tier=ParamTier(spec.tier) if spec.tier else None, kms_key_id=spec.kms_key_id or kms_key_id)


SsmCall = Callable[[str, dict[str, Any], SsmApi], Awaitable[dict[str, Any]]]
"""``await call("DescribeParameters", {...}, SsmApi.DESCRIBE)`` -> response; paced, retried,
counted and error-translated by the backend (so a missing parameter raises NotFoundError)."""


class DescriptionTooLong(ItemError, ValueError):
    """The description and the token marker do not fit Parameter Store's 1024 characters."""

    type_name = "DescriptionTooLong"


class TooLargeForTier(ItemError, ValueError):
    """The value does not fit the destination's tier; the message names sizes, never content."""

    type_name = "ValueTooLargeForTier"


class BinaryNotSupported(ItemError, ValueError):
    """A binary secret has no Parameter Store form (parameters hold text)."""

    type_name = "BinaryNotSupported"


def parameter_name(name_or_arn: str) -> str:
    """A parameter's name from its name or its ARN.

    AWS writes one slash after ``parameter``: ``...:parameter/a/b`` is ``/a/b`` (a path), and
    ``...:parameter/x`` is ``x``. A one-level name that itself starts with ``/`` cannot be told
    apart in an ARN; the manifest names such parameters by name, so this only reads ARNs from events.
    """
    if not name_or_arn.startswith("arn:"):
        return name_or_arn
    rest = name_or_arn.split(":", 5)[5].removeprefix("parameter/")
    return "/" + rest if "/" in rest else rest


def parameter_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:ssm:{region}:{account}:parameter{name if name.startswith('/') else '/' + name}"


def split_marker(description: str | None) -> tuple[str | None, str | None, int | None]:
    """(the manifest's description, token, version) from a Description the facade wrote."""
    if not description:
        return description, None, None
    m = _MARKER.search(description)
    if m is None:
        return description, None, None
    return description[: m.start()] or None, m["token"], int(m["version"])


def with_marker(description: str | None, token: str, version: int) -> str:
    marker = f"[reconciler:{token}@{version}]"
    text = f"{description} {marker}" if description else marker
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise DescriptionTooLong(f"the description is over {MAX_DESCRIPTION_CHARS - len(marker) - 1} characters "
                                 "(Parameter Store's 1024 include the reconciler's marker)")
    return text


class ParameterStore:
    """Parameter Store in one (identity, region): the operations the engine needs from a store."""

    service = "ssm"
    batch_size = GET_PARAMETERS_MAX_NAMES
    writes_description_with_value = True  # the token marker lives in the description
    listings_carry_tags = False  # DescribeParameters has no tags: ``describe`` adds ListTagsForResource
    owned_name_alphabet: str | None = None  # BeginsWith has no negation: the owned listing is not split
    plan_reads_values = True  # plan says which values are too large for their tier (check_value)
    # ``describe`` is the same DescribeParameters call the listing makes, and PutParameter without
    # Overwrite fails on an existing name: describing a name the listing missed would learn nothing.
    listing_lags = False

    def __init__(self, call: SsmCall, *, region: str, account: str, partition: str = "aws",
                 identity: Identity | None = None, owner: str | None = None) -> None:
        self._call = call
        # With an owner, name listings also ask which of those parameters carry our owner tag
        # (DescribeParameters' tag filter): the only ownership proof a tagless listing can have.
        self._owner = owner
        self.region = region
        self.account = account
        self.partition = partition
        self.identity = identity or Identity()
        # name -> current Version as last observed: the base of the next write's prediction
        self._versions: dict[str, int] = {}
        # ARN -> name as listed: an ARN cannot tell "a/b" from "/a/b" (see parameter_name)
        self._names: dict[str, str] = {}

    def _name(self, name_or_arn: str) -> str:
        return self._names.get(name_or_arn) or parameter_name(name_or_arn)

    def __repr__(self) -> str:
        return f"ParameterStore({self.account}, {self.region})"

    # --- reads ---------------------------------------------------------------------------------

    async def list_secrets(self, name_prefixes: list[str] | None) -> AsyncIterator[SecretMeta]:
        """Parameters whose name begins with one of ``name_prefixes`` (all when None).

        Those that also carry ``reconciler:owner = owner`` (a second, tag-filtered listing of the
        same names) are yielded with that one tag: a parameter deleted and re-created out of band
        with our marker copied into its description has no owner tag, so the planner cannot take
        it as in sync from its marker alone. Costs one more DescribeParameters per filter group.
        """
        filters = [{"Key": "Name", "Option": "BeginsWith", "Values": name_prefixes}] if name_prefixes else []
        owned: set[str] = set()
        if self._owner is not None:
            tagged = [*filters, {"Key": "tag:reconciler:owner", "Values": [self._owner]}]
            owned = {meta.name async for meta in self._describe_pages(tagged)}
        async for meta in self._describe_pages(filters):
            if meta.name in owned:
                meta.tags = {"reconciler:owner": str(self._owner)}  # proved by the filter; no other tag
            yield meta

    async def list_owned(self, owner: str, name_filter: list[str] | None = None) -> AsyncIterator[SecretMeta]:
        """Parameters carrying ``reconciler:owner = owner`` (tag filters are exact in SSM)."""
        assert name_filter is None, "owned_name_alphabet is None: never split"
        async for meta in self._describe_pages([{"Key": "tag:reconciler:owner", "Values": [owner]}]):
            meta.tags = {"reconciler:owner": owner}  # the filter proved this one tag, no other
            yield meta

    async def _describe_pages(self, filters: list[dict[str, Any]]) -> AsyncIterator[SecretMeta]:
        async for entry in self._describe_entries(filters, page_size=DESCRIBE_PAGE_SIZE):
            yield self._meta(entry, tags=None)

    async def _describe_entries(self, filters: list[dict[str, Any]], *, page_size: int | None
                                ) -> AsyncIterator[dict[str, Any]]:
        """DescribeParameters' entries over every page; a page may be empty and still not the last."""
        kwargs: dict[str, Any] = {"MaxResults": page_size} if page_size is not None else {}
        if filters:
            kwargs["ParameterFilters"] = filters
        while True:
            resp = await self._call("DescribeParameters", kwargs, SsmApi.DESCRIBE)
            for entry in resp.get("Parameters") or []:
                yield entry
            token = resp.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token

    async def describe(self, name_or_arn: str) -> SecretMeta | None:
        """Full metadata of one parameter, tags included; None if it does not exist."""
        name = self._name(name_or_arn)
        # Every page, not the first: DescribeParameters may answer a filtered call with an empty
        # page that still carries a NextToken (AWS does; moto never did), and that is not "absent".
        entries = [meta async for meta in self._describe_entries(
            [{"Key": "Name", "Option": "Equals", "Values": [name]}], page_size=None)]
        if not entries:
            return None
        tags_resp = await self._call("ListTagsForResource", {"ResourceType": "Parameter", "ResourceId": name},
                                     SsmApi.DESCRIBE)
        tags = {t["Key"]: t["Value"] for t in tags_resp.get("TagList") or []}
        return self._meta(entries[0], tags=tags)

    def _meta(self, entry: dict[str, Any], *, tags: dict[str, str] | None) -> SecretMeta:
        name = str(entry["Name"])
        version = int(entry["Version"])
        self._versions[name] = version
        description, token, marked = split_marker(entry.get("Description"))
        arn = parameter_arn(self.partition, self.region, self.account, name)
        self._names[arn] = name
        return SecretMeta(
            arn=arn,
            name=name,
            versions={str(version): [STAGE_CURRENT]},  # no older versions worth moving to
            tags=tags or {},
            description=description,
            kms_key_id=entry.get("KeyId"),
            synced_token=token if token is not None and marked == version else None,
            tags_known=tags is not None,
        )

    async def get_current(self, name_or_arn: str) -> SecretValue:
        got = await self.get_values([name_or_arn])
        value = got[name_or_arn]
        if isinstance(value, Exception):
            raise value
        return value

    async def get_values(self, ids: list[str]) -> dict[str, SecretValue | Exception]:
        """Current values (decrypted) of up to 10 parameters, keyed by the id asked for."""
        from .._exceptions import NotFoundError

        assert len(ids) <= GET_PARAMETERS_MAX_NAMES
        names = {i: self._name(i) for i in ids}
        resp = await self._call("GetParameters", {"Names": sorted(set(names.values())), "WithDecryption": True},
                                SsmApi.GET)
        by_name = {p["Name"]: p for p in resp.get("Parameters") or []}
        out: dict[str, SecretValue | Exception] = {}
        for sid, name in names.items():
            p = by_name.get(name)
            if p is None:
                out[sid] = NotFoundError(f"GetParameters: ParameterNotFound: {name}", code="ParameterNotFound",
                                         operation="GetParameters")
                continue
            out[sid] = SecretValue(arn=parameter_arn(self.partition, self.region, self.account, name), name=name,
                                   version_id=str(p["Version"]), stages=[STAGE_CURRENT], string=str(p["Value"]))
        return out

    # --- writes --------------------------------------------------------------------------------

    def check_value(self, value: SecretValue, options: WriteOptions | WriteSpec | None) -> None:
        """Raise TooLargeForTier / BinaryNotSupported for a value PutParameter would refuse."""
        opts = WriteOptions.of(options)
        if value.binary is not None:
            raise BinaryNotSupported("the source is a binary secret; a parameter holds text only")
        size = len((value.string or "").encode("utf-8"))
        limit = STANDARD_MAX_BYTES if opts.tier in (None, ParamTier.STANDARD) else ADVANCED_MAX_BYTES
        if size > limit:
            raise TooLargeForTier(f"the value is {size} bytes; tier {(opts.tier or ParamTier.STANDARD).value} "
                                  f"holds {limit} (set tier: Advanced or Intelligent-Tiering for up to "
                                  f"{ADVANCED_MAX_BYTES})")

    async def create(self, name: str, token: str, value: SecretValue, *, description: str | None,
                     tags: dict[str, str], kms_key_id: str | None = None,
                     options: WriteOptions | WriteSpec | None = None) -> dict[str, Any]:
        kwargs = self._put_kwargs(name, token, value, description, 1, WriteOptions.of(options, kms_key_id))
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]  # only without Overwrite
        resp = await self._call("PutParameter", kwargs, SsmApi.PUT)
        self._versions[name] = int(resp.get("Version", 1))
        return resp

    async def put_value(self, name_or_arn: str, token: str, value: SecretValue, *, description: str | None = None,
                        options: WriteOptions | WriteSpec | None = None) -> list[str]:
        name = self._name(name_or_arn)
        opts = WriteOptions.of(options)
        for _attempt in range(2):  # a second time only when a lost answer made the marker miss
            predicted = self._versions.get(name, 0) + 1
            kwargs = self._put_kwargs(name, token, value, description, predicted, opts)
            kwargs["Overwrite"] = True
            resp = await self._call("PutParameter", kwargs, SsmApi.PUT)
            self._versions[name] = int(resp.get("Version", predicted))
            if self._versions[name] == predicted:
                break
        return [STAGE_CURRENT]  # a parameter's new version is always the current one

    def _put_kwargs(self, name: str, token: str, value: SecretValue, description: str | None, version: int,
                    options: WriteOptions) -> dict[str, Any]:
        self.check_value(value, options)
        text = value.string or ""
        kwargs: dict[str, Any] = {"Name": name, "Value": text, "Type": options.type.value,
                                  "Description": with_marker(description, token, version)}
        if options.tier is not None:
            kwargs["Tier"] = options.tier.value
        if options.kms_key_id and options.type is ParamType.SECURE_STRING:
            kwargs["KeyId"] = options.kms_key_id
        return kwargs

    async def tag(self, name_or_arn: str, tags: dict[str, str]) -> None:
        await self._call("AddTagsToResource", {"ResourceType": "Parameter", "ResourceId": self._name(name_or_arn),
                                               "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]},
                         SsmApi.WRITE)

    async def untag(self, name_or_arn: str, keys: list[str]) -> None:
        await self._call("RemoveTagsFromResource", {"ResourceType": "Parameter",
                                                    "ResourceId": self._name(name_or_arn), "TagKeys": keys},
                         SsmApi.WRITE)

    async def delete(self, name_or_arn: str) -> None:
        """DeleteParameter is immediate and has no recovery window: callers must decide to allow it."""
        await self._call("DeleteParameter", {"Name": self._name(name_or_arn)}, SsmApi.WRITE)
