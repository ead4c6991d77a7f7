"""Pure decisions: desired state vs observed metadata -> what to do with one destination.

No I/O here. The engine calls ``decide`` once from listings, again after DescribeSecret confirms
a suspected drift, and again after the source value (and so its real VersionId) has been read.
Each rule of SPEC's "Ownership" and "Drift" sections is one branch below, in the SPEC's order.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace

from .. import _tagledger as tagledger
from .._constants import TAG_MAPPING, TAG_OWNER, TAG_SOURCE, TOKEN_NAMESPACE
from .._types import SecretMeta, name_from_id, same_source
from .actions import ACTIONS, Action, Op

__all__ = ["ACTIONS", "CONFLICT", "CREATE", "DEFERRED", "FAILED", "IN_SYNC", "OP_CREATE", "OP_NONE", "OP_PUT",
           "OP_STAGE", "SOURCE_MISSING", "UPDATE", "Action", "Decision", "Desired", "Op", "decide", "refine_reason",
           "version_token"]

_TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]")

# Module-level aliases kept for the modules that import them by these names.
CREATE, UPDATE, IN_SYNC = Action.CREATE, Action.UPDATE, Action.IN_SYNC
CONFLICT, SOURCE_MISSING, FAILED, DEFERRED = Action.CONFLICT, Action.SOURCE_MISSING, Action.FAILED, Action.DEFERRED
OP_NONE, OP_CREATE, OP_PUT, OP_STAGE = Op.NONE, Op.CREATE, Op.PUT, Op.STAGE


def version_token(source_arn: str, source_version: str, transform_fingerprint: str,
                  dest_account: str, dest_region: str, dest_name: str) -> str:
    """The deterministic ClientRequestToken of SPEC's drift rule (a UUID, 36 characters)."""
    key = "\x1f".join((source_arn, source_version, transform_fingerprint, dest_account, dest_region, dest_name))
    return str(uuid.uuid5(TOKEN_NAMESPACE, key))


@dataclass(frozen=True)
class Desired:
    owner: str
    mapping_id: str
    on_existing: str  # fail | adopt (the manifest's closed set)
    extra_tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    on_source_deleted: str = "keep"  # keep | delete (SPEC "Lifecycle")
    # (account, region, name) of the source, for a source that is gone (its ARN unknown)
    source_key: tuple[str, str, str] | None = None

    def tags(self, source_arn: str) -> dict[str, str]:
        return {**self.extra_tags, TAG_OWNER: self.owner, TAG_SOURCE: source_arn,
                TAG_MAPPING: mapping_tag(self.mapping_id)}


def mapping_tag(mapping_id: str) -> str:
    """The ``reconciler:mapping`` value of a mapping id (a default id is the source name, "*" included:
    not a valid tag value in AWS)."""
    return _TAG_UNSAFE.sub("_", mapping_id)[:256]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    op: Op = Op.NONE
    restore: bool = False
    adopt: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # tags to set (only those that differ)
    description: str | None = None  # description to set, if it differs
    # then (SPEC "Lifecycle", reconciler._tagledger): tag keys to remove, and the ledger's final value
    untag: tuple[str, ...] = ()
    tags_after: dict[str, str] = field(default_factory=dict)

    @property
    def needs_value(self) -> bool:
        return self.op in (Op.CREATE, Op.PUT)


def decide(*, source: SecretMeta | None, source_version: str | None, token: str | None,
           dest: SecretMeta | None, desired: Desired) -> Decision:
    """SPEC's ownership and drift table, one early return per row, in the order SPEC applies them.

    Kept as one function (a little over 60 lines) on purpose: the order of the rows is the rule,
    and it reads top to bottom here; tests/test_engine_unit.py has one table row per return.
    """
    if dest is not None and (written_by := written_elsewhere(dest)):
        return Decision(CONFLICT, f"destination is {written_by}: never written by the reconciler")
    gone = source is None or source.deleted or source_version is None or token is None
    # a source scheduled for deletion still has versions (and so a token): it is gone all the same
    if dest is not None and not dest.tags_known and (
            early := _listed_without_tags(dest, None if gone else token, desired)):
        return early
    if source is None or source.deleted or source_version is None or token is None:  # gone (narrowed for mypy)
        return _source_gone(source, dest, desired)
    want_tags = desired.tags(source.arn)
    if dest is None:
        return Decision(CREATE, "destination does not exist", OP_CREATE,
                        tags={**want_tags, **tagledger.for_create(desired.extra_tags)})

    owner = dest.tags.get(TAG_OWNER)
    adopt = False
    if owner is None:
        if desired.on_existing != "adopt":
            return Decision(CONFLICT, "destination exists and is not managed by the reconciler (on_existing: fail)")
        if dest.deleted:  # its owner scheduled it for deletion: adopt never restores what is not ours
            return Decision(CONFLICT, "destination is not managed by the reconciler and is scheduled for deletion")
        adopt = True
    elif owner != desired.owner:
        return Decision(CONFLICT, f"destination is owned by another owner ({owner})")
    elif not same_source(dest.tags.get(TAG_SOURCE, ""), source.arn):
        return Decision(CONFLICT, "destination is fed by another source")

    tags = {k: v for k, v in want_tags.items() if dest.tags.get(k) != v}
    if TAG_SOURCE in tags and not adopt and same_source(dest.tags.get(TAG_SOURCE, ""), source.arn):
        tags.pop(TAG_SOURCE)  # same source under a re-created ARN: keep the tag as written
    # Tags the manifest dropped go, but only those the ledger says we set (reconciler._tagledger).
    ledger = tagledger.steps(dest.tags, desired.extra_tags, trusted=not adopt)
    tags.update(ledger.first)
    untag, after = ledger.remove, ledger.after
    # AWS returns no Description for an empty one: None and "" are the same description.
    description = desired.description if (desired.description is not None
                                          and desired.description != (dest.description or "")) else None
    restore = dest.deleted
    current = dest.synced_token or dest.current_version  # a store without stages says which token it holds
    # the metadata part of every update below; each sets its reason, op and restore
    meta = Decision(UPDATE, "", adopt=adopt, tags=tags, description=description, untag=untag, tags_after=after)
    if current == token:
        if restore:
            return replace(meta, reason="destination was scheduled for deletion", restore=True)
        if tags or untag or description is not None:
            return replace(meta, reason="tags or description out of step")
        return Decision(IN_SYNC, "in sync")
    if token in dest.versions:
        return replace(meta, reason="wanted version exists but is not current (source rolled back)", op=OP_STAGE,
                       restore=restore)
    if adopt:
        reason = "adopting an existing destination"
    elif restore:
        reason = "destination was scheduled for deletion"
    elif current is None:
        reason = "destination has no current version"
    else:
        reason = "source changed, or destination changed outside the reconciler"
    return replace(meta, reason=reason, op=OP_PUT, restore=restore)


def _listed_without_tags(dest: SecretMeta, token: str | None, desired: Desired) -> Decision | None:
    """A destination listed without its tags (Parameter Store's listing carries none).

    In sync is decided from the listing alone: the token embeds the source ARN and the
    destination, and only the reconciler writes it. Anything else goes through the engine's
    confirm step (describe, with tags) and is decided again before any write: a listed-but-tagless
    destination never gets a write decided from its listing. None: decide as usual (a source that
    is gone and a destination that is kept needs no tags).
    """
    if token is None:
        return None if desired.on_source_deleted != "delete" else Decision(
            UPDATE, "listed without its tags: confirmed before anything is decided", Op.NONE)
    same_description = desired.description is None or desired.description == (dest.description or "")
    # the marker alone could be copied onto a parameter re-created out of band: in sync needs the
    # owner tag too (which the store proves with a tag-filtered listing)
    owned = dest.tags.get(TAG_OWNER) == desired.owner
    if dest.synced_token == token and same_description and owned:
        return Decision(IN_SYNC, "in sync")
    # OP_PUT: most such items are written, so the source value is read ahead in batches
    return Decision(UPDATE, "listed without its tags: confirmed before anything is written", OP_PUT)


def carry_description(decision: Decision) -> Decision:
    """For a store that writes the description only with a value (Parameter Store keeps its token
    there): a description change is a value write. The write moves the marker to the new version,
    so the next run is in sync: it cannot loop."""
    if decision.description is not None and decision.op == Op.NONE and not decision.restore:
        return replace(decision, op=Op.PUT, reason="description out of step (written with the value)")
    return decision


def written_elsewhere(dest: SecretMeta) -> str | None:
    """What else writes ``dest`` (SPEC "Lifecycle": a native replica, a rotation), or None."""
    if dest.primary_region:
        return f"a native replica of a secret in {dest.primary_region}"
    if dest.rotation_enabled:
        return "rotated by its own rotation function"
    return None


def _source_gone(source: SecretMeta | None, dest: SecretMeta | None, desired: Desired) -> Decision:
    """The source is missing or scheduled for deletion: source_missing, or with
    ``on_source_deleted: delete`` the destination we own from that very source is deleted."""
    why = "source is scheduled for deletion" if source is not None and source.deleted else "source not found"
    if desired.on_source_deleted != "delete" or dest is None:
        return Decision(SOURCE_MISSING, why)
    if dest.tags.get(TAG_OWNER) != desired.owner or not _fed_by(dest, source, desired.source_key):
        return Decision(SOURCE_MISSING, f"{why}; the destination is not ours from this source, so it is kept")
    if dest.deleted:
        return Decision(SOURCE_MISSING, f"{why}; the destination is scheduled for deletion too")
    return Decision(Action.DELETE, f"{why} (on_source_deleted: delete)", Op.DELETE)


def _fed_by(dest: SecretMeta, source: SecretMeta | None, source_key: tuple[str, str, str] | None) -> bool:
    """``dest``'s source tag names this source: by ARN when known, else by (account, region, name)."""
    tagged = dest.tags.get(TAG_SOURCE, "")
    if source is not None:
        return same_source(tagged, source.arn)
    if source_key is None or not tagged.startswith("arn:"):
        return False
    parts = tagged.split(":")
    return len(parts) > 5 and (parts[4], parts[3], name_from_id(tagged)) == source_key


def refine_reason(decision: Decision, dest: SecretMeta | None, previous_tokens: set[str]) -> Decision:
    """Say *which* side moved when the destination still holds a token of an older source version."""
    ours_before = dest is not None and (dest.synced_token or dest.current_version) in previous_tokens
    if decision.op == OP_STAGE and not decision.restore:
        reason = ("source rolled back: the wanted version exists and is made current" if ours_before else
                  "destination changed outside the reconciler: the wanted version exists and is made current")
        return replace(decision, reason=reason)
    if decision.op == OP_PUT and dest is not None and not decision.adopt and not decision.restore:
        if ours_before:
            reason = "source changed (new version)"
        else:
            reason = "destination changed outside the reconciler, or the transform changed"
        return replace(decision, reason=reason)
    return decision
