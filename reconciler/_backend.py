"""Shim: the AWS layer moved to ``reconciler.aws`` (backend, call, secretsmanager, store).

Kept so modules not yet switched keep importing; the coordinator removes it.
"""

from .aws.backend import Backend
from .aws.call import CallStats, ItemStats, current_item
from .aws.secretsmanager import SecretsManager
from .aws.store import Store

Endpoint = Store  # what the engine holds is any store; Secrets Manager's is ``SecretsManager``

__all__ = ["Backend", "CallStats", "Endpoint", "ItemStats", "SecretsManager", "Store", "current_item"]
