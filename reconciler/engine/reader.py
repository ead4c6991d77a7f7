"""Source values read in batches (BatchGetSecretValue takes 20 ids, GetParameters 10), for the units queued next."""

from __future__ import annotations

import anyio

from .._exceptions import BackendError, DeadlineExceeded
from .._types import SecretValue
from ..aws.store import Store


class ValueReader:
    """Reads source values in one store, ``store.batch_size`` ids a call.

    The feeder announces the sources of the units it queues (``prefetch``); when a worker needs
    a value that is still pending, one call fetches it together with up to 19 announced after
    it. So a bulk migration reads a batch of values a call, while at most the queued units' values
    are held in memory.
    """

    def __init__(self, endpoint: Store) -> None:
        self.endpoint = endpoint
        self._pending: dict[str, None] = {}  # announced, not yet requested from AWS (ordered)
        self._slots: dict[str, _Slot] = {}

    def prefetch(self, secret_id: str) -> None:
        slot = self._slots.get(secret_id)
        if slot is None:
            slot = self._slots[secret_id] = _Slot()
            self._pending[secret_id] = None
        slot.refs += 1

    def release(self, secret_id: str) -> None:
        """An announced read that will not happen: once nobody else wants it, forget it and its value."""
        slot = self._slots.get(secret_id)
        if slot is None:
            return
        slot.refs -= 1
        if slot.refs <= 0:  # a fetch in flight keeps its own reference to the slot
            self._pending.pop(secret_id, None)
            self._slots.pop(secret_id, None)

    async def get(self, secret_id: str) -> SecretValue:
        if secret_id not in self._slots:
            self.prefetch(secret_id)
        slot = self._slots[secret_id]
        try:
            if secret_id in self._pending:
                await self._fetch(secret_id)
            await slot.event.wait()
        finally:
            slot.refs -= 1
            if slot.refs <= 0 and slot.event.is_set():
                self._slots.pop(secret_id, None)
        if slot.error is not None:
            raise slot.error
        assert slot.value is not None
        return slot.value

    async def _fetch(self, first: str) -> None:
        ids = [first, *[sid for sid in self._pending if sid != first][: self.endpoint.batch_size - 1]]
        for sid in ids:
            self._pending.pop(sid, None)
        batch = [(sid, self._slots[sid]) for sid in ids]
        try:
            results: dict[str, SecretValue | BackendError] = await self.endpoint.get_values(ids)
        except (BackendError, DeadlineExceeded) as exc:
            for _, slot in batch:
                slot.error = exc
                slot.event.set()
            return
        except BaseException:
            for _, slot in batch:
                slot.error = BackendError("value read abandoned")
                slot.event.set()
            raise
        for sid, slot in batch:
            r = results.get(sid)
            if isinstance(r, SecretValue):
                slot.value = r
            else:
                # no answer for this id is "could not read", never "does not exist"
                slot.error = r or BackendError("the batch read returned nothing for this id")
            slot.event.set()


class _Slot:
    __slots__ = ("error", "event", "refs", "value")

    def __init__(self) -> None:
        self.refs = 0
        self.event = anyio.Event()
        self.value: SecretValue | None = None
        self.error: BaseException | None = None
