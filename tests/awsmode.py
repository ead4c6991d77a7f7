"""The fault proxy's AWS mode: the documented AWS behaviours moto does not have (issue 16).

Pure parts only, so they can be unit-tested without a server: the limit checks AWS applies
before it does anything (``refusal``), the deterministic empty-then-short paging of list calls
(``Pager``), ListSecrets' listing lag on an injectable clock (``ListingLag``), and the shapes AWS
answers with (a primary naming its own region, Organizations' ``State`` without ``Status``).
docs/development/aws-mode.md says which AWS page each behaviour comes from.

Invariant: no refusal message ever holds a secret value or a parameter's value; AWS's own
messages echo the offending value, ours name only the field and the limit.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LIST_LAG_SECONDS", "FakeClock", "ListingLag", "Pager", "arn_key", "honest_pages", "list_entry", "refusal",
           "short_page"]

# "ListSecrets is eventually consistent ... might not reflect changes from the last five minutes"
LIST_LAG_SECONDS = 300.0

# Server-side limits (API references of ListSecrets, BatchGetSecretValue, DescribeParameters,
# GetParameters, PutParameter and the Organizations List* calls).
LIST_SECRETS_MAX_RESULTS = 100
LIST_SECRETS_MAX_FILTERS = 10
LIST_SECRETS_MAX_FILTER_VALUES = 10
LIST_SECRETS_MAX_VALUE_CHARS = 512
LIST_SECRETS_VALUE_PATTERN = re.compile(r"^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$")
BATCH_GET_MAX_IDS = 20
DESCRIBE_PARAMETERS_MAX_RESULTS = 50
GET_PARAMETERS_MAX_NAMES = 10
PARAMETER_FILTER_MAX_VALUES = 50
PARAMETER_DESCRIPTION_MAX_CHARS = 1024
PARAMETER_VALUE_MAX_BYTES = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}
ORGANIZATIONS_MAX_RESULTS = 20

# Organizations list calls and the key of their entries.
ORG_LIST_KEYS = {"ListAccountsForParent": "Accounts", "ListAccounts": "Accounts", "ListChildren": "Children",
                 "ListRoots": "Roots", "ListOrganizationalUnitsForParent": "OrganizationalUnits",
                 "ListParents": "Parents"}


def _invalid(field_name: str, constraint: str) -> str:
    return f"1 validation error detected: Value at '{field_name}' failed to satisfy constraint: {constraint}"


def refusal(service: str, op: str, req: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, message) when AWS would refuse this request with ValidationException, else None."""
    if service == "secretsmanager" and op == "ListSecrets":
        return _list_secrets_refusal(req)
    if service == "secretsmanager" and op == "BatchGetSecretValue":
        if len(req.get("SecretIdList") or []) > BATCH_GET_MAX_IDS:
            return "batch-ids", _invalid("secretIdList", f"Member must have length less than or equal to "
                                                         f"{BATCH_GET_MAX_IDS}")
        if int(req.get("MaxResults") or 0) > BATCH_GET_MAX_IDS:
            return "batch-max-results", _invalid("maxResults", f"Member must have value less than or equal to "
                                                               f"{BATCH_GET_MAX_IDS}")
        return None
    if service == "ssm":
        return _ssm_refusal(op, req)
    if service == "organizations" and op in ORG_LIST_KEYS and int(req.get("MaxResults") or 0) > \
            ORGANIZATIONS_MAX_RESULTS:
        return "org-max-results", _invalid("maxResults", f"Member must have value less than or equal to "
                                                         f"{ORGANIZATIONS_MAX_RESULTS}")
    return None


def _list_secrets_refusal(req: dict[str, Any]) -> tuple[str, str] | None:
    if int(req.get("MaxResults") or 0) > LIST_SECRETS_MAX_RESULTS:
        return "list-max-results", _invalid("maxResults", f"Member must have value less than or equal to "
                                                          f"{LIST_SECRETS_MAX_RESULTS}")
    filters = req.get("Filters") or []
    if len(filters) > LIST_SECRETS_MAX_FILTERS:
        return "list-filters", _invalid("filters", f"Member must have length less than or equal to "
                                                   f"{LIST_SECRETS_MAX_FILTERS}")
    for i, f in enumerate(filters, 1):
        values = f.get("Values") or []
        if len(values) > LIST_SECRETS_MAX_FILTER_VALUES:
            return "list-filter-values", _invalid(f"filters.{i}.member.values", "Member must have length less "
                                                  f"than or equal to {LIST_SECRETS_MAX_FILTER_VALUES}")
        for v in values:
            if len(v) > LIST_SECRETS_MAX_VALUE_CHARS or not LIST_SECRETS_VALUE_PATTERN.match(v):
                return "list-filter-value", _invalid(
                    f"filters.{i}.member.values", f"Member must have length less than or equal to "
                    f"{LIST_SECRETS_MAX_VALUE_CHARS}, Member must satisfy regular expression pattern: "
                    f"{LIST_SECRETS_VALUE_PATTERN.pattern}")
    return None


def _ssm_refusal(op: str, req: dict[str, Any]) -> tuple[str, str] | None:
    if op == "DescribeParameters":
        if int(req.get("MaxResults") or 0) > DESCRIBE_PARAMETERS_MAX_RESULTS:
            return "ssm-describe-max-results", _invalid("maxResults", "Member must have value less than or equal "
                                                                      f"to {DESCRIBE_PARAMETERS_MAX_RESULTS}")
        for i, f in enumerate(req.get("ParameterFilters") or [], 1):
            if len(f.get("Values") or []) > PARAMETER_FILTER_MAX_VALUES:
                return "ssm-filter-values", _invalid(f"parameterFilters.{i}.member.values", "Member must have "
                                                     f"length less than or equal to {PARAMETER_FILTER_MAX_VALUES}")
    if op == "GetParameters" and len(req.get("Names") or []) > GET_PARAMETERS_MAX_NAMES:
        return "ssm-get-names", _invalid("names", f"Member must have length less than or equal to "
                                                  f"{GET_PARAMETERS_MAX_NAMES}")
    if op == "PutParameter":
        if len(req.get("Description") or "") > PARAMETER_DESCRIPTION_MAX_CHARS:
            return "ssm-description", _invalid("description", "Member must have length less than or equal to "
                                                              f"{PARAMETER_DESCRIPTION_MAX_CHARS}")
        tier = str(req.get("Tier") or "Standard")
        limit = PARAMETER_VALUE_MAX_BYTES.get(tier, PARAMETER_VALUE_MAX_BYTES["Standard"])
        if len(str(req.get("Value") or "").encode()) > limit:
            return "ssm-value-size", (f"{tier} tier parameters support a maximum parameter value of {limit} "
                                      "characters.")
    return None


@dataclass
class FakeClock:
    """The proxy's clock: it moves only when a test (or the run_cli fixture) advances it."""

    now: float = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


def arn_key(arn: str) -> tuple[str, str, str] | None:
    """(account, region, name) of a secret's ARN (its random six-character suffix dropped)."""
    parts = arn.split(":", 6)
    if len(parts) < 7 or parts[5] != "secret":
        return None
    return parts[4], parts[3], parts[6][:-7]


def list_entry(describe: dict[str, Any]) -> dict[str, Any]:
    """A DescribeSecret answer as ListSecrets shows the same secret."""
    entry = {k: v for k, v in describe.items() if k != "ResponseMetadata"}
    entry["SecretVersionsToStages"] = entry.pop("VersionIdsToStages", {})
    return entry


@dataclass
class ListingLag:
    """What ListSecrets still shows of the secrets written through the proxy within the lag.

    A secret's record is its listing entry from before the first write of the window (None: it
    did not exist); every write restarts the window. Secrets seeded straight into moto (the
    ``aws`` fixture) are never lagged: the lag models the tool's own recent writes.
    """

    clock: FakeClock
    records: dict[tuple[str, str, str], tuple[dict[str, Any] | None, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, key: tuple[str, str, str], before: dict[str, Any] | None, lag: float) -> None:
        with self._lock:
            live = self._live(key, lag)
            self.records[key] = (live[0] if live is not None else before, self.clock.now)

    def _live(self, key: tuple[str, str, str], lag: float) -> tuple[dict[str, Any] | None, float] | None:
        rec = self.records.get(key)
        if rec is None or self.clock.now - rec[1] >= lag:
            return None
        return rec

    def apply(self, entries: list[dict[str, Any]], lag: float) -> list[dict[str, Any]]:
        """The listing as AWS may show it: recent creations missing, recent writes as before."""
        out: list[dict[str, Any]] = []
        with self._lock:
            for entry in entries:
                key = arn_key(str(entry.get("ARN", "")))
                rec = self._live(key, lag) if key is not None else None
                if rec is None:
                    out.append(entry)
                elif rec[0] is not None:
                    out.append(rec[0])
        return out


def honest_pages(n: int, max_results: int) -> int:
    """How many pages an answer of ``n`` entries takes with full pages (at least one)."""
    return max(1, -(-n // max(1, max_results)))


def short_page(max_results: int) -> int:
    return max(1, max_results // 2)  # short pages: half of what was asked


class Pager:
    """Serves a full answer in AWS's worst documented shape: an empty first page, then short pages,
    each carrying a NextToken until the last. Deterministic: page sizes depend only on MaxResults.

    ``padding`` counts, per "service.Operation", the pages served beyond what full pages would
    take: tests that bound the tool's own calls subtract it (``FaultProxy.honest``)."""

    def __init__(self, padding: Counter[str]) -> None:
        self._sessions: dict[str, tuple[str, list[Any], int]] = {}  # id -> (operation, entries, want)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.padding = padding  # the proxy's, cleared with its call counts

    def start(self, op: str, items: list[Any], max_results: int) -> str:
        """Keep ``items`` for the pages to come; the first (empty) page's NextToken."""
        with self._lock:
            sid = f"aws-mode-{next(self._ids)}"
            self._sessions[sid] = (op, items, max_results)
        return f"{sid}:0"

    def known(self, token: str | None) -> bool:
        return bool(token) and str(token).split(":")[0] in self._sessions

    def page(self, token: str, max_results: int) -> tuple[list[Any], str | None]:
        sid, _, offset = token.partition(":")
        start = int(offset)
        size = short_page(max_results)
        with self._lock:
            op, items, want = self._sessions[sid]
            chunk = items[start:start + size]
            if start + size >= len(items):
                del self._sessions[sid]
                served = 1 + max(1, -(-len(items) // size))  # the empty page, then the short ones
                self.padding[op] += served - honest_pages(len(items), want)
                return chunk, None
        return chunk, f"{sid}:{start + size}"
