"""What a conformance run costs, stated before it starts (issue 16).

Secrets Manager bills $0.40 per secret-month, prorated by the hour, and $0.05 per 10,000 API calls;
standard SSM parameters and their API calls are free. A run holds its secrets for well under an
hour, but AWS prorates by started hour, so each secret is charged at least one hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECRET_MONTH_USD = 0.40
HOURS_PER_MONTH = 730  # AWS's billing month
API_CALLS_PER_UNIT = 10_000
USD_PER_API_UNIT = 0.05


@dataclass(frozen=True, kw_only=True)
class Estimate:
    secrets: int
    api_calls: int
    hours: float
    dollars: float

    def line(self) -> str:
        return (f"conformance cost estimate: {self.secrets} secrets for {self.hours:g} h, "
                f"~{self.api_calls} Secrets Manager API calls, ~${self.dollars:.4f} (SSM standard: free)")


def estimate(*, secrets: int, api_calls: int, hours: float = 1.0) -> Estimate:
    """Dollars for ``secrets`` held ``hours`` (rounded up to whole hours) and ``api_calls`` calls."""
    if secrets < 0 or api_calls < 0 or hours < 0:
        raise ValueError("secrets, api_calls and hours must be >= 0")
    billed_hours = max(1, math.ceil(hours)) if secrets else 0
    storage = secrets * SECRET_MONTH_USD * billed_hours / HOURS_PER_MONTH
    calls = api_calls * USD_PER_API_UNIT / API_CALLS_PER_UNIT
    return Estimate(secrets=secrets, api_calls=api_calls, hours=hours, dollars=storage + calls)


# What one real-account run makes: the secrets the behaviour tests create (sources + the copies the
# reconciler writes: 8 migration, 6 drift, 2 rollback, 6 prune, 2 deleted source, 2 SSM, 5 pages;
# the proxy checks skip on AWS), and its API calls with margin. Update with the suite.
SUITE_SECRETS = 31
SUITE_API_CALLS = 600
