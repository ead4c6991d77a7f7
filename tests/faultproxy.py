"""A fault-injecting HTTP proxy for the tests: sits in front of the moto server.

It forwards every request unchanged unless a rule says otherwise, answers as AWS does where moto
does not (a write to a secret scheduled for deletion fails), and can add latency, throttle
by probability or by per-API token-bucket quotas (AWS's real error bodies), answer 5xx, reset or
stall connections, or deny an operation. It counts requests per operation, which is how tests
assert API call counts without patching anything.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from awsmode import (
    LIST_LAG_SECONDS,
    ORG_LIST_KEYS,
    FakeClock,
    ListingLag,
    Pager,
    arn_key,
    honest_pages,
    list_entry,
    refusal,
    short_page,
)

WRITE_OPS = frozenset({
    "CreateSecret", "PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "DeleteSecret",
    "RestoreSecret", "TagResource", "UntagResource", "RotateSecret", "PutResourcePolicy",
})
QUOTA_CLASS = {"ListSecrets": "list", "BatchGetSecretValue": "batch"}
# Parameter Store's quota classes (set_quotas(**{"ssm-put": 3})); other SSM operations are not limited.
SSM_QUOTA_CLASS = {"PutParameter": "ssm-put", "GetParameters": "ssm-get", "GetParameter": "ssm-get",
                   "DescribeParameters": "ssm-describe"}
_REFUSED_WHEN_DELETED = frozenset({"PutSecretValue", "UpdateSecretVersionStage", "UpdateSecret"})
# AWS mode adds what moto accepts and AWS refuses: tagging a secret marked for deletion, and
# creating a secret under the name of one (its name is not free until it is gone).
_REFUSED_WHEN_DELETED_AWS = _REFUSED_WHEN_DELETED | {"TagResource", "UntagResource", "CreateSecret"}
# AWS's own words where they differ by operation (tests/aws/recordings/aws-reference.json).
_MARKED_FOR_DELETION = {"CreateSecret": "You can't create this secret because a secret with this name is "
                                        "already scheduled for deletion."}
# Writes AWS refuses on a replica ("Call must be made in primary secret's region").
_REFUSED_ON_REPLICA = frozenset({"PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "TagResource",
                                 "UntagResource", "RotateSecret", "PutResourcePolicy", "DeleteSecret"})
_JSON_SERVICES = frozenset({"secretsmanager", "ssm", "organizations"})


@dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Faults:
    latency: float = 0.0  # seconds added to every request
    throttle: float = 0.0  # probability of a ThrottlingException (secretsmanager only)
    error_5xx: float = 0.0  # probability of a 500 InternalServiceError
    reset: float = 0.0  # probability of a connection reset with no answer
    stall: float = 0.0  # probability of holding the request stall_seconds before answering
    stall_seconds: float = 30.0
    quotas: dict[str, Bucket] = field(default_factory=dict)  # "write" | "list" | "batch" -> bucket
    deny: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # op -> (status, code, message)
    # (op, region) -> (status, code, message): deny an operation in one region only
    deny_in: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    # op -> answers for its next calls, one used per call: deterministic transient faults
    fail_next: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    # (op, predicate on the request body, answer): deny only the requests the predicate picks
    # (e.g. AssumeRole of one role ARN: moto's STS assumes any role)
    deny_when: list[tuple[str, Callable[[bytes], bool], tuple[int, str, str]]] = field(default_factory=list)
    # op -> how many of its next calls reach AWS but lose their answer (the connection is reset
    # after AWS answered): a crash between the write and its acknowledgement
    lose_answer: dict[str, int] = field(default_factory=dict)
    only_ops: frozenset[str] | None = None  # random faults only for these ops
    # ListSecrets lags on AWS: secrets with these names are left out of its answers
    hide_from_list: frozenset[str] = frozenset()
    # ListSecrets lags on AWS: these secrets are listed with these (older) versions
    stale_versions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # A primary that has native replicas: AWS answers ListSecrets and DescribeSecret for it with
    # PrimaryRegion equal to its own region, beside ReplicationStatus (moto leaves both out).
    # name -> the replica regions listed in ReplicationStatus.
    primaries: dict[str, list[str]] = field(default_factory=dict)
    # Answer as AWS does where moto does not: a write to a secret scheduled for deletion fails.
    aws_semantics: bool = True
    # AWS mode (docs/development/aws-mode.md): every behaviour below at once, off by default;
    # FaultProxy(aws_mode=True) or RECONCILER_TEST_AWS_MODE=1 turns it on for every test.
    aws_mode: bool = False
    list_lag: float = LIST_LAG_SECONDS  # on the proxy's FakeClock, never the wall clock
    # run_cli advances the clock past the lag after each run (the next run is a later one);
    # a test of a run inside the lag window sets this
    runs_in_lag_window: bool = False
    # account id -> the Organizations State to answer with (CLOSED, PENDING_ACTIVATION...; any mode)
    account_states: dict[str, str] = field(default_factory=dict)
    seed: int | None = None


class Calls(Counter[str]):
    """Requests by "service.Operation"; ``padding`` holds the pages of them AWS mode added beyond
    full pages, and is cleared with them (tests clear the counts between runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.padding: Counter[str] = Counter()

    def clear(self) -> None:
        super().clear()
        self.padding.clear()


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-request (a reset the test itself injected, a ranged GET cut
    short) is normal here: count it, never print a traceback into the stderr the tests read."""

    disconnects = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        type(self).disconnects += 1


class FaultProxy:
    def __init__(self, upstream: str, *, aws_mode: bool = False) -> None:
        u = urllib.parse.urlparse(upstream)
        self.upstream = (u.hostname or "127.0.0.1", u.port or 80)
        self.aws_mode = aws_mode  # what reset() starts each test with
        self.faults = Faults(aws_mode=aws_mode)
        self.clock = FakeClock()
        self.lag = ListingLag(self.clock)
        self.calls = Calls()  # every request, by "service.Operation"
        self.pager = Pager(self.calls.padding)
        # requests AWS would refuse (its server-side limits), by "Operation:reason"; counted in
        # every mode, refused only in AWS mode. conftest fails a test that sent one.
        self.refused: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()  # faults answered, by kind
        self.bodies: list[tuple[str, bytes]] = []  # request bodies, when record_bodies is on
        self.record_bodies = False
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.active = 0  # requests being handled (a stalled one may outlive its test)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_DELETE = do_HEAD = do_POST

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.faults = Faults(aws_mode=self.aws_mode)
            self.refused.clear()
            self.lag.records.clear()
            self.calls.clear()
            self.pager = Pager(self.calls.padding)
            self.injected.clear()
            self.bodies.clear()
            self.record_bodies = False

    def set_quotas(self, **rates: float) -> None:
        """e.g. set_quotas(write=50, list=100, batch=100): AWS's per-second quotas, burst = rate."""
        self.faults.quotas = {k: Bucket(v, v, tokens=v) for k, v in rates.items()}

    def count(self, prefix: str = "secretsmanager.") -> int:
        return sum(v for k, v in self.calls.items() if k.startswith(prefix))

    def honest(self, name: str) -> int:
        """Calls of ``name`` ("ssm.DescribeParameters") less the empty and short pages AWS mode
        added: what the tool's own choices cost with full pages (its call-count bounds)."""
        return self.calls[name] - self.calls.padding[name]

    # --- request handling -----------------------------------------------------------------------

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until no request is in flight, so a stalled one cannot land in the next test."""
        end = time.monotonic() + timeout
        while self.active and time.monotonic() < end:
            time.sleep(0.01)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.active += 1
        try:
            self._handle_one(h)
        finally:
            with self._lock:
                self.active -= 1

    def _handle_one(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        service, op = _operation(h, body)
        name = f"{service}.{op}"
        with self._lock:
            self.calls[name] += 1
            if self.record_bodies:
                self.bodies.append((name, body))
            f = self.faults
            roll = self._rng.random()
        if f.latency:
            time.sleep(f.latency)
        refused = self._refusal(service, op, body)
        if refused is not None:
            with self._lock:
                self.refused[f"{op}:{refused[0]}"] += 1
            if f.aws_mode:
                return _error(h, service, 400, "ValidationException", refused[1])
        denied = f.deny.get(op) or (f.deny_in.get((op, _region(h))) if f.deny_in else None)
        if denied is None and f.deny_when:
            denied = next((a for o, pick, a in f.deny_when if o == op and pick(body)), None)
        if denied is not None:
            status, code, message = denied
            self.injected["deny"] += 1
            return _error(h, service, status, code, message)
        with self._lock:
            queued = f.fail_next.get(op)
            answer = queued.pop(0) if queued else None
        if answer is not None:
            self.injected["fail_next"] += 1
            return _error(h, service, *answer)
        before: dict[str, Any] | None = None  # the secret as it was, for the listing lag
        refused_ops = _REFUSED_WHEN_DELETED_AWS if f.aws_mode else _REFUSED_WHEN_DELETED
        wants_state = (f.aws_mode and op in WRITE_OPS) or (f.aws_semantics and op in refused_ops)
        if service == "secretsmanager" and wants_state:
            req = json.loads(body or b"{}")
            secret_id = req.get("SecretId") or (req.get("Name") if op == "CreateSecret" else None)
            before = self._describe_secret(h, secret_id) if secret_id else None
            if before is not None and op in refused_ops and before.get("DeletedDate") is not None:
                self.injected["aws_semantics"] += 1
                return _error(h, service, 400, "InvalidRequestException", _MARKED_FOR_DELETION.get(
                    op, "You can't perform this operation on the secret because it was marked for deletion."))
            if (f.aws_mode and before is not None and op in _REFUSED_ON_REPLICA
                    and before.get("PrimaryRegion") not in (None, _arn_region(before))):
                self.injected["aws_mode"] += 1
                return _error(h, service, 400, "InvalidParameterException",
                              "Operation not permitted on a replica secret. Call must be made in primary secret's "
                              "region.")
        if service == "ssm" and op in SSM_QUOTA_CLASS and SSM_QUOTA_CLASS[op] in f.quotas:
            with self._lock:
                ok = f.quotas[SSM_QUOTA_CLASS[op]].take()
            if not ok:  # AWS's answer beyond an SSM quota: 400 ThrottlingException "Rate exceeded"
                self.injected["quota"] += 1
                self.injected[f"quota:{SSM_QUOTA_CLASS[op]}"] += 1
                return _error(h, service, 400, "ThrottlingException", "Rate exceeded")
        eligible = service == "secretsmanager" and (f.only_ops is None or op in f.only_ops)
        if eligible:
            cls = "write" if op in WRITE_OPS else QUOTA_CLASS.get(op)
            bucket = f.quotas.get(cls) if cls else None
            if bucket is not None:
                with self._lock:
                    ok = bucket.take()
                if not ok:
                    self.injected["quota"] += 1
                    return _error(h, service, 400, "ThrottlingException", "Rate exceeded")
            if roll < f.throttle:
                self.injected["throttle"] += 1
                return _error(h, service, 400, "ThrottlingException", "Rate exceeded")
            roll -= f.throttle
            if roll < f.error_5xx:
                self.injected["5xx"] += 1
                return _error(h, service, 500, "InternalServiceError", "An internal error occurred")
            roll -= f.error_5xx
            if roll < f.reset:
                self.injected["reset"] += 1
                s = h.connection
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                h.close_connection = True
                s.close()
                return None
            roll -= f.reset
            if roll < f.stall:
                self.injected["stall"] += 1
                time.sleep(f.stall_seconds)
        if op == "ListSecrets" and f.aws_mode:
            return self._list_secrets_aws(h, body, f)
        if op == "ListSecrets":
            return self._forward(h, body, hide=f.hide_from_list, stale=f.stale_versions, primaries=f.primaries)
        if op == "DescribeSecret" and (f.primaries or f.aws_mode):
            return self._forward(h, body, primaries=f.primaries, aws_mode=f.aws_mode)
        if (f.aws_semantics or f.aws_mode) and service == "ssm" and op == "DescribeParameters":
            return self._describe_parameters(h, body, aws_mode=f.aws_mode)
        if service == "organizations" and (f.aws_mode or f.account_states):
            return self._organizations(h, body, op, f)
        with self._lock:
            lose = f.lose_answer.get(op, 0) > 0
            if lose:
                f.lose_answer[op] -= 1
                self.injected["lost_answer"] += 1
        wrote = None
        if f.aws_mode and service == "secretsmanager" and op in WRITE_OPS:
            def wrote(status: int, data: bytes) -> None:
                if status == 200:
                    arn = str(json.loads(data or b"{}").get("ARN") or (before or {}).get("ARN") or "")
                    key = arn_key(arn)
                    if key is not None:
                        self.lag.wrote(key, list_entry(before) if before is not None else None, f.list_lag)
        return self._forward(h, body, answer=not lose, on_answer=wrote,
                             aws_status=f.aws_mode and service == "secretsmanager")

    def _refusal(self, service: str, op: str, body: bytes) -> tuple[str, str] | None:
        if service not in _JSON_SERVICES:
            return None
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return None
        return refusal(service, op, req) if isinstance(req, dict) else None

    def _upstream(self, h: BaseHTTPRequestHandler, body: bytes, target: str | None = None
                  ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send a request to moto with the caller's headers (moto reads account and region from them)."""
        # http.client sets Content-Length from the body sent (which may not be the caller's)
        drop = ("connection", "keep-alive", "content-length") + (("x-amz-target",) if target else ())
        headers = {k: v for k, v in h.headers.items() if k.lower() not in drop}
        if target:
            headers["X-Amz-Target"] = target
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.request(h.command if not target else "POST", h.path if not target else "/", body=body,
                         headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _describe_secret(self, h: BaseHTTPRequestHandler, secret_id: str) -> dict[str, Any] | None:
        """moto's DescribeSecret of ``secret_id`` as the caller sees it; None if there is none."""
        status, _, data = self._upstream(h, json.dumps({"SecretId": secret_id}).encode(),
                                         target="secretsmanager.DescribeSecret")
        return json.loads(data or b"{}") if status == 200 else None

    def _all_pages(self, h: BaseHTTPRequestHandler, req: dict[str, Any], key: str, page_size: int
                   ) -> list[Any] | tuple[int, bytes]:
        """Every entry moto answers for ``req``, its pages joined; (status, body) if moto fails."""
        items: list[Any] = []
        token: str | None = None
        while True:
            ask = {k: v for k, v in req.items() if k != "NextToken"} | {"MaxResults": page_size}
            if token:
                ask["NextToken"] = token
            status, _, data = self._upstream(h, json.dumps(ask).encode())
            if status != 200:
                return status, data
            doc = json.loads(data)
            items += doc.get(key) or []
            token = doc.get("NextToken")
            if not token:
                return items

    def _paged(self, h: BaseHTTPRequestHandler, op: str, req: dict[str, Any], key: str, page_size: int,
               shape: Callable[[list[Any]], list[Any]]) -> None:
        """A list call in AWS mode: empty first page, short pages after (Pager), each with a NextToken."""
        want = int(req.get("MaxResults") or page_size)
        token = req.get("NextToken")
        if token is not None and not self.pager.known(token):
            return _error(h, _service_of(key), 400, "InvalidNextTokenException", "The NextToken value is invalid.")
        if token is None:
            got = self._all_pages(h, req, key, page_size)
            if isinstance(got, tuple):
                return _send(h, got[0], got[1])
            first = self.pager.start(op, shape(got), want)
            return _send(h, 200, json.dumps({key: [], "NextToken": first}).encode())
        chunk, nxt = self.pager.page(token, want)
        out: dict[str, Any] = {key: chunk}
        if nxt is not None:
            out["NextToken"] = nxt
        return _send(h, 200, json.dumps(out).encode())

    def _list_secrets_aws(self, h: BaseHTTPRequestHandler, body: bytes, f: Faults) -> None:
        def shape(entries: list[Any]) -> list[Any]:
            doc = _shape_listing({"SecretList": entries}, f.hide_from_list, f.stale_versions, f.primaries,
                                 aws_mode=True)
            return self.lag.apply(doc["SecretList"], f.list_lag)

        return self._paged(h, "secretsmanager.ListSecrets", json.loads(body or b"{}"), "SecretList", 100, shape)

    def _organizations(self, h: BaseHTTPRequestHandler, body: bytes, op: str, f: Faults) -> None:
        def shape(entries: list[Any]) -> list[Any]:
            for e in entries:
                if isinstance(e, dict) and e.get("Id") in f.account_states:
                    e["State"] = f.account_states[e["Id"]]
                if f.aws_mode and isinstance(e, dict):
                    e.pop("Status", None)  # retired on 2026-09-09: AWS answers State only
            return entries

        if f.aws_mode and op in ORG_LIST_KEYS:
            return self._paged(h, f"organizations.{op}", json.loads(body or b"{}"), ORG_LIST_KEYS[op], 20, shape)
        status, _, data = self._upstream(h, body)
        if status == 200 and op == "DescribeAccount":
            doc = json.loads(data)
            shape([doc.get("Account") or {}])
            data = json.dumps(doc).encode()
        elif status == 200 and op in ORG_LIST_KEYS:
            doc = json.loads(data)
            shape(doc.get(ORG_LIST_KEYS[op]) or [])
            data = json.dumps(doc).encode()
        return _send(h, status, data)

    def _describe_parameters(self, h: BaseHTTPRequestHandler, body: bytes, *, aws_mode: bool = False) -> None:
        """DescribeParameters as AWS pages it: up to MaxResults (50) a page; moto pages by 10.

        moto's NextToken is an offset, so pages are joined and cut at MaxResults. In AWS mode the
        first page is empty and the others short (half of MaxResults), each with a NextToken."""
        req = json.loads(body or b"{}")
        want = int(req.get("MaxResults") or 10)
        if aws_mode and "NextToken" not in req:
            return _send(h, 200, json.dumps({"Parameters": [], "NextToken": "0"}).encode())
        asked = want
        if aws_mode:
            want = short_page(want)
        start = int(req.get("NextToken") or 0)
        params: list[Any] = []
        token: str | None = str(start)
        while token is not None and len(params) < want:
            status, _, data = self._upstream(h, json.dumps({**req, "NextToken": token}).encode())
            if status != 200:
                return _error(h, "ssm", status, "InternalServerError", "upstream failed")
            doc = json.loads(data)
            params += doc.get("Parameters", [])
            token = doc.get("NextToken") or None
        out: dict[str, Any] = {"Parameters": params[:want]}
        if len(params) > want or token is not None:
            out["NextToken"] = str(start + want)
        elif aws_mode:  # the last page: count the pages served beyond full ones
            n = start + len(params)
            served = 1 + max(1, -(-n // want))
            with self._lock:
                self.pager.padding["ssm.DescribeParameters"] += served - honest_pages(n, asked)
        return _send(h, 200, json.dumps(out).encode())

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes, hide: frozenset[str] = frozenset(),
                 stale: dict[str, dict[str, list[str]]] | None = None, *, answer: bool = True,
                 primaries: dict[str, list[str]] | None = None, aws_mode: bool = False,
                 on_answer: Callable[[int, bytes], None] | None = None, aws_status: bool = False) -> None:
        status, resp_headers, data = self._upstream(h, body)
        if on_answer is not None:
            on_answer(status, data)
        if not answer:  # AWS acted; the caller never hears of it
            s = h.connection
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            s.close()
            return
        if (aws_mode or aws_status) and status == 404 and b"ResourceNotFoundException" in data:
            status = 400  # moto answers a missing secret with 404; AWS with 400 (recorded)
        if (hide or stale or primaries or aws_mode) and status == 200:
            data = json.dumps(_shape_listing(json.loads(data), hide, stale or {}, primaries or {},
                                             aws_mode=aws_mode)).encode()
        h.send_response(status)
        for k, v in resp_headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "keep-alive", "server",
                                 "date"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)


def _shape_listing(doc: dict[str, Any], hide: frozenset[str], stale: dict[str, dict[str, list[str]]],
                   primaries: dict[str, list[str]], *, aws_mode: bool) -> dict[str, Any]:
    """ListSecrets (or DescribeSecret) as the faults say: hidden names, stale versions, and a
    primary with replicas naming its own region as PrimaryRegion (AWS does; moto leaves it out)."""
    listing = "SecretList" in doc
    if listing and hide:
        doc["SecretList"] = [e for e in doc["SecretList"] if e.get("Name") not in hide]
    for entry in doc.get("SecretList", []) if listing else [doc]:
        if listing and entry.get("Name") in stale:
            entry["SecretVersionsToStages"] = stale[entry["Name"]]
        if entry.get("Name") in primaries:
            entry["PrimaryRegion"] = _arn_region(entry)  # AWS: a primary names itself
            entry["ReplicationStatus"] = [{"Region": r, "Status": "InSync"} for r in primaries[entry["Name"]]]
        elif aws_mode and entry.get("ReplicationStatus") and not entry.get("PrimaryRegion"):
            entry["PrimaryRegion"] = _arn_region(entry)
    return doc


def _arn_region(entry: dict[str, Any]) -> str:
    return str(entry.get("ARN", "")).split(":")[3] if str(entry.get("ARN", "")).count(":") >= 3 else ""


def _service_of(list_key: str) -> str:
    return "secretsmanager" if list_key == "SecretList" else "organizations"


def _send(h: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "application/x-amz-json-1.1")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _operation(h: BaseHTTPRequestHandler, body: bytes) -> tuple[str, str]:
    target = h.headers.get("X-Amz-Target")
    if target:
        prefix, _, op = target.rpartition(".")
        service = {"secretsmanager": "secretsmanager", "GraniteServiceVersion20100801": "cloudwatch",
                   "AmazonSSM": "ssm", "AWSOrganizationsV20161128": "organizations"}.get(prefix, prefix.lower())
        return service, op
    if "/operation/" in h.path:  # smithy rpc-v2 (CloudWatch in new botocore)
        parts = h.path.rstrip("/").split("/")
        return ("cloudwatch" if "Granite" in h.path else parts[-3].lower()), parts[-1]
    auth = h.headers.get("Authorization", "")
    service = auth.split("Credential=")[1].split("/")[3] if "Credential=" in auth else "unknown"
    service = {"monitoring": "cloudwatch"}.get(service, service)  # CloudWatch signs as "monitoring"
    if body and b"Action=" in body:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return service, form.get("Action", ["?"])[0]
    return service, f"{h.command} {urllib.parse.urlparse(h.path).path}"


def _region(h: BaseHTTPRequestHandler) -> str:
    """The region a request is signed for: SigV4's credential scope is KEY/DATE/REGION/SERVICE/aws4_request."""
    auth = h.headers.get("Authorization", "")
    if "Credential=" not in auth:
        return ""
    parts = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    return parts[2] if len(parts) > 2 else ""


def _error(h: BaseHTTPRequestHandler, service: str, status: int, code: str, message: str) -> None:
    if service in ("sts", "iam"):  # query protocol: XML errors
        body = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId>"
                "</ErrorResponse>").encode()
        ctype = "text/xml"
    else:  # JSON protocol, as Secrets Manager answers
        body = json.dumps({"__type": code, "message": message}).encode()
        ctype = "application/x-amz-json-1.1"
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("x-amzn-RequestId", "fault-proxy")
    h.send_header("x-amzn-ErrorType", code)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)
