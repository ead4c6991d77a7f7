"""Whose credentials a call uses: the default chain, a named profile, or an assumed role.

A plain frozen dataclass, so the AWS layer needs nothing from the manifest module; the manifest
builds these and the backend keys sessions, clients and breakers by ``key``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arn import Arn


@dataclass(frozen=True, slots=True)
class Identity:
    role_arn: str | None = None
    external_id: str | None = None
    profile: str | None = None  # a named profile; with role_arn, the credentials that assume it

    @property
    def key(self) -> str:
        """One string per distinct set of credentials. Invariant: equal keys, equal credentials.

        A role assumed from a named profile or with an ExternalId is keyed with them: the same role
        reached two ways must not share a session.
        """
        if self.role_arn:
            key = f"role:{self.role_arn}"
            if self.profile:
                key += f"@profile:{self.profile}"
            if self.external_id:
                key += f"#external-id:{self.external_id}"  # AWS: an ExternalId is not a secret
            return key
        return f"profile:{self.profile}" if self.profile else "default"

    @property
    def account_hint(self) -> str | None:
        """The account, when it is known without a call (from the role ARN)."""
        arn = Arn.maybe(self.role_arn)
        return arn.account if arn is not None and arn.account else None

    def __str__(self) -> str:
        """The one rendering used in logs, errors and reports."""
        return self.role_arn or (f"profile {self.profile}" if self.profile else "default credentials")
