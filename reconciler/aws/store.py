"""The seam between the engine and a store of secrets: what the engine needs, nothing more.

A store is one service in one (identity, region): Secrets Manager (``secretsmanager.SecretsManager``)
or Parameter Store (``ssm.ParameterStore``). The engine sees only this protocol, ``SecretMeta`` and
``SecretValue`` (``_types``) and the store-neutral errors of ``_exceptions`` (NotFoundError,
AccessDeniedError, ...), so a second store plugs in without the engine learning its API.

Contract every store keeps:
- Reads never return a value in metadata: ``list_secrets``/``list_owned``/``describe`` carry
  versions, tags and descriptions only; values come from ``get_current``/``get_values``.
- Not listed never means missing: a listing that fails raises, it does not end early.
- ``describe`` returns None only when the store says the secret does not exist.
- Every write is idempotent under retry for the same ``token`` (SPEC: Drift).
- Errors are ``BackendError`` subclasses; messages never carry a value.

Positional parameters are positional-only (``/``): a store names them in its own terms
(``name_or_arn`` for a parameter), and the engine passes them by position.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .._exceptions import BackendError
from .._types import SecretMeta, SecretValue
from .identity import Identity

StoreService = Literal["secretsmanager", "ssm"]


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """How the manifest asks for a destination to be written, in the manifest's words.

    Store-neutral: each store reads what applies to it (Secrets Manager the KMS key; Parameter
    Store the type, the tier and the KMS key of a SecureString) and ignores the rest.
    """

    kms_key_id: str | None = None
    parameter_type: str | None = None  # String | StringList | SecureString (Parameter Store)
    tier: str | None = None  # Standard | Advanced | Intelligent-Tiering (Parameter Store)


class Store(Protocol):
    service: str  # "secretsmanager" | "ssm": for the report's run-level error scope
    batch_size: int  # ids ``get_values`` takes per call
    identity: Identity
    account: str
    region: str
    # True when the description can only be written together with a value (Parameter Store keeps
    # the token in it): a description change is then a value write, never ``set_description``.
    writes_description_with_value: bool
    # False when listings carry no tags (Parameter Store): the engine then folds the manifest's
    # extra tags into the token, so a change of them is seen without describing every destination.
    listings_carry_tags: bool
    # True when the store refuses some values (Parameter Store: over a tier's size, binary), so
    # ``plan`` reads the source values of the items it would write to it and says so (check_value).
    plan_reads_values: bool
    # True when listings lag behind writes (ListSecrets: "might not reflect changes from the last
    # five minutes"), so a name the listing misses is described before it is taken for absent.
    listing_lags: bool
    # Every character a name may hold, when ``list_owned`` takes a name filter (its listing can
    # then be split into parallel calls: engine.listing.owned_plan); None: it cannot be split.
    owned_name_alphabet: str | None

    # --- reads ---------------------------------------------------------------------------------

    def list_secrets(self, name_prefixes: list[str] | None, /) -> AsyncIterator[SecretMeta]:
        """Every secret whose name starts with one of ``name_prefixes`` (all when None)."""
        ...

    def list_owned(self, owner: str, name_filter: list[str] | None = None, /) -> AsyncIterator[SecretMeta]:
        """Every secret whose ``reconciler:owner`` tag is ``owner``, scheduled deletions included.

        ``name_filter``: only names starting with one of these values (``!x``: not starting with
        x); given only when ``owned_name_alphabet`` is set.
        """
        ...

    async def describe(self, secret_id: str, /) -> SecretMeta | None: ...

    async def get_current(self, secret_id: str, /) -> SecretValue: ...

    async def get_values(self, secret_ids: list[str], /) -> dict[str, SecretValue | BackendError]:
        """Current values of up to ``batch_size`` secrets, keyed by the id asked for."""
        ...

    # --- writes --------------------------------------------------------------------------------

    def check_value(self, value: SecretValue, options: WriteSpec, /) -> None:
        """Raise an ``ItemError`` if ``value`` cannot be written with ``options`` (size, kind).

        Called before any write and by ``plan --diff``, so a value the store would refuse fails
        its item with a clear type before any call; messages name sizes, never content.
        """
        ...

    async def create(self, name: str, token: str, value: SecretValue, /, *, kms_key_id: str | None,
                     description: str | None, tags: dict[str, str],
                     options: WriteSpec | None = None) -> dict[str, Any]: ...

    async def put_value(self, secret_id: str, token: str, value: SecretValue, /, *,
                        description: str | None = None, options: WriteSpec | None = None) -> list[str]:
        """Write a new current value under ``token``; the stages the written version holds.

        ``description`` is the manifest's, for stores that keep the token beside it (Parameter
        Store); Secrets Manager keeps it apart (``set_description``) and ignores it here, as it
        ignores ``options`` (a secret's type and key are set when it is created).
        """
        ...

    async def move_current(self, secret_id: str, to_version: str, from_version: str | None, /) -> None: ...

    async def restore(self, secret_id: str, /) -> None: ...

    async def tag(self, secret_id: str, tags: dict[str, str], /) -> None: ...

    async def untag(self, secret_id: str, keys: list[str], /) -> None: ...

    async def set_description(self, secret_id: str, description: str, /) -> None: ...

    async def delete(self, secret_id: str, recovery_window_days: int, /) -> None:
        """Schedule deletion, recoverable for ``recovery_window_days`` (never a forced delete)."""
        ...
