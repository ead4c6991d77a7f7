"""Compute one value per key once, concurrently: the first caller computes, the others wait.

Used for sessions (one AssumeRole per identity) and clients (one per service, identity and
region). There is no global lock: two identities are assumed at the same time, and only callers
of the same key wait for each other.

Invariants: a BackendError is remembered and raised to every later caller of that key (a fresh
copy each time); anything else that interrupts the computation (cancellation, a deadline) is not
remembered, so the next caller tries again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

import anyio

from .._exceptions import BackendError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Cell(Generic[V]):
    done: anyio.Event = field(default_factory=anyio.Event)
    value: V | None = None
    error: BackendError | None = None
    ok: bool = False


class Once(Generic[K, V]):
    def __init__(self) -> None:
        self._cells: dict[K, _Cell[V]] = {}

    def peek(self, key: K) -> V | None:
        cell = self._cells.get(key)
        return cell.value if cell is not None and cell.ok else None

    async def get(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        while True:
            cell = self._cells.get(key)
            if cell is None:
                return await self._compute(key, make)
            await cell.done.wait()
            if cell.ok:
                return cast(V, cell.value)  # ok: the value was set (it may itself be None)
            if cell.error is not None:
                e = cell.error
                raise type(e)(e.message, code=e.code, operation=e.operation)
            # the computation was interrupted and forgotten: loop and compute again

    async def _compute(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        cell: _Cell[V] = _Cell()
        self._cells[key] = cell
        try:
            cell.value = await make()
            cell.ok = True
            return cell.value
        except BackendError as exc:
            cell.error = exc
            raise
        except BaseException:
            del self._cells[key]
            raise
        finally:
            cell.done.set()
