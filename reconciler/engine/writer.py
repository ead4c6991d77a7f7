"""Carrying out a decision: plan (with --diff) or write (create, put, stage move, restore, tags)."""

from __future__ import annotations

import time
from typing import Any

import anyio

from .._constants import STAGE_CURRENT
from .._exceptions import AlreadyExistsError, DeadlineExceeded, ItemError, TransformError
from .._types import SecretValue
from ..aws.call import current_item
from ..aws.store import WriteSpec
from .actions import SETTLED, Action, Op
from .items import Item, decide_item, token
from .results import Results


def write_spec(item: Item) -> WriteSpec:
    """How the manifest asks for this item's destination to be written (each store reads its part)."""
    d = item.spec.dest_spec
    return WriteSpec(kms_key_id=d.kms_key_id, parameter_type=d.parameter_type, tier=d.tier)


class Writer:
    def __init__(self, owner: str, diff: bool, results: Results) -> None:
        self.owner = owner
        self.diff = diff
        self.results = results

    # --- plan ----------------------------------------------------------------------------------

    async def plan_item(self, item: Item, value: SecretValue | None) -> None:
        decision = item.decision
        assert decision is not None
        if decision.action in SETTLED:
            self.results.finish(item, decision.action, decision.reason)
            return
        diff = None
        if value is not None and decision.needs_value:  # plan --diff, or a store that refuses some values
            try:
                if self.diff:
                    diff = await self._diff(item, value)
                else:
                    await self._check(item, value)
            except (ItemError, DeadlineExceeded) as exc:
                self.results.fail_or_defer(item, "could not compute the diff" if self.diff else
                                           "the value cannot be written", exc)
                return
        self.results.finish(item, decision.action, decision.reason, diff=diff)

    async def _check(self, item: Item, value: SecretValue) -> None:
        """What run would refuse before writing (e.g. a value over its tier's size), said by plan."""
        wanted = await self._transformed(item, value)
        if item.spec.dest_endpoint is not None:
            item.spec.dest_endpoint.check_value(wanted, write_spec(item))

    async def _diff(self, item: Item, value: SecretValue) -> dict[str, Any] | None:
        from ..output.diff import describe_difference, json_path_fields

        wanted = await self._transformed(item, value)
        current = None
        endpoint = item.spec.dest_endpoint
        if endpoint is not None:
            endpoint.check_value(wanted, write_spec(item))  # plan --diff refuses what run would refuse
        if item.dest is not None and endpoint is not None and item.dest.current_version:
            ctx = current_item.set(item.stats)
            try:
                current = await endpoint.get_current(item.dest.arn)
            finally:
                current_item.reset(ctx)
        return describe_difference(current, wanted, json_path_fields(item.spec.mapping.steps))  # named keys only

    async def _transformed(self, item: Item, value: SecretValue) -> SecretValue:
        transform = item.spec.transform
        assert transform is not None
        if transform.identity:
            return value
        if value.binary is not None:
            raise TransformError("the source is a binary secret; a transform needs a string")
        t0 = time.perf_counter()
        out = await anyio.to_thread.run_sync(transform.apply, value.string or "")
        item.transform_stats = ((time.perf_counter() - t0) * 1000, value.size, len(out.encode()))
        return SecretValue(value.arn, value.name, value.version_id, value.stages, string=out)

    # --- write ---------------------------------------------------------------------------------

    async def write_item(self, item: Item, value: SecretValue | None) -> None:
        ctx = current_item.set(item.stats)
        try:
            await self._write(item, value, retry_on_exists=True)
        except (ItemError, DeadlineExceeded) as exc:
            self.results.fail_or_defer(item, "write failed", exc)
        finally:
            current_item.reset(ctx)

    async def _write(self, item: Item, value: SecretValue | None, *, retry_on_exists: bool) -> None:
        d = item.decision
        assert d is not None and item.source is not None
        if d.action in SETTLED:
            self.results.finish(item, d.action, d.reason)
            return
        version = value.version_id if value is not None else item.source.current_version
        assert version is not None
        want = token(item, version)
        payload = None
        if d.needs_value:
            assert value is not None
            payload = await self._transformed(item, value)
            assert item.spec.dest_endpoint is not None
            item.spec.dest_endpoint.check_value(payload, write_spec(item))  # e.g. over a tier's size: no call
        if d.op == Op.CREATE:
            assert payload is not None
            await self._create(item, value, payload, want, version, retry_on_exists=retry_on_exists)
            return
        await self._update(item, payload, want)

    async def _create(self, item: Item, value: SecretValue | None, payload: SecretValue, want: str, version: str,
                      *, retry_on_exists: bool) -> None:
        d = item.decision
        ep = item.spec.dest_endpoint
        assert d is not None and ep is not None
        spec = item.spec
        retries_before = item.stats.retries
        try:
            await ep.create(spec.dest.name, want, payload, kms_key_id=spec.dest_spec.kms_key_id,
                            description=spec.dest_spec.description, tags=d.tags, options=write_spec(item))
        except AlreadyExistsError:
            if not retry_on_exists:
                raise
            # The listing lagged (it existed before we asked), or an earlier attempt of this
            # very request created it before its answer was lost. Look again and decide.
            item.dest = await ep.describe(spec.dest.name)
            item.decision = decide_item(item, version, self.owner)
            if item.decision.action == Action.IN_SYNC:
                retried = item.stats.retries > retries_before
                self.results.finish(item, Action.CREATE if retried else Action.IN_SYNC,
                                    d.reason if retried else "in sync (the listing had not caught up)",
                                    value=payload if retried else None)
                return
            await self._write(item, value, retry_on_exists=False)
            return
        self.results.finish(item, Action.CREATE, d.reason, value=payload)

    async def _update(self, item: Item, payload: SecretValue | None, want: str) -> None:
        d = item.decision
        ep = item.spec.dest_endpoint
        assert d is not None and ep is not None and item.dest is not None
        arn = item.dest.arn
        if d.adopt and d.tags:
            await ep.tag(arn, d.tags)  # tag first: a crash after this leaves it owned, not orphaned
        if d.restore:
            await ep.restore(arn)  # only ever our own destination (planner: adopt never restores)
        if d.op == Op.PUT:
            assert payload is not None
            # a store that keeps its token in the description (Parameter Store) rewrites it: keep what is there
            description = item.spec.dest_spec.description
            stages = await ep.put_value(arn, want, payload, options=write_spec(item),
                                        description=item.dest.description if description is None else description)
            if STAGE_CURRENT not in stages:
                # AWS ignores a PutSecretValue whose token already exists: make it current ourselves.
                await ep.move_current(arn, want, item.dest.current_version)
        elif d.op == Op.STAGE:
            await ep.move_current(arn, want, item.dest.current_version)
        if d.tags and not d.adopt:
            await ep.tag(arn, d.tags)  # with the ledger widened to cover what the untag drops next
        if d.untag:  # _tagledger: this order keeps a crash between any two calls recoverable
            await ep.untag(arn, list(d.untag))
        if d.tags_after:
            await ep.tag(arn, d.tags_after)
        if d.description is not None and not ep.writes_description_with_value:  # else written with the value
            await ep.set_description(arn, d.description)
        self.results.finish(item, d.action, d.reason, value=payload)
