"""The engine: observe (list metadata), plan (pure), converge (bounded fan-out), report.

One job per module:

- ``actions``    the closed sets: ``Action`` (the report's strings), ``Op``, ``Mode``.
- ``options``    ``Options``: how to run, validated on construction (clock injectable for tests).
- ``selection``  which mappings and sources a run covers (--select, --shard, change events,
  --retry-failed); pure, raises before any AWS call. ``parse_shard`` is the one shard parser.
- ``inventory``  what exists: ListSecrets with batched name filters, DescribeSecret confirmation,
  per-scope errors (never "absent" when not observed).
- ``listing``    which name filters cover a set of names and prefixes (pure).
- ``items``      items (immutable ``ItemSpec`` + progress), expansion, the transform cache.
- ``accounts``   destinations with ``accounts``: one per account under the OUs (Organizations), once per run.
- ``planner``    the pure decision: SPEC's ownership and drift rules.
- ``scheduler``  the queue, the workers, the stop signal and the deadline (one clock).
- ``unit``       one source's items: confirm -> read -> plan or write; read-ahead bookkeeping.
- ``reader``     batched value reads (BatchGetSecretValue).
- ``writer``     carrying a decision out (or planning it, with --diff).
- ``results``    each item's result, log line and progress tick.
- ``run``        ``reconcile``: the steps above in order.
"""

from typing import TYPE_CHECKING, Any

from .actions import ACTIONS, SETTLED, Action, Mode, Op
from .selection import InvalidShard, Shard, parse_shard

if TYPE_CHECKING:
    from .items import DestinationRef, ItemSpec, SelfMappingError
    from .options import DEADLINE_GRACE_SECONDS, Options
    from .run import reconcile

__all__ = ["ACTIONS", "DEADLINE_GRACE_SECONDS", "SETTLED", "Action", "DestinationRef", "InvalidShard", "ItemSpec",
           "Mode", "Op", "Options", "SelfMappingError", "Shard", "parse_shard", "reconcile"]

# Imported on first use: the report imports ``actions`` through this package, and the run imports
# the report, so loading the run here would be a cycle.
_LAZY = {"DestinationRef": "items", "ItemSpec": "items", "SelfMappingError": "items", "Options": "options",
         "DEADLINE_GRACE_SECONDS": "options", "reconcile": "run"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
