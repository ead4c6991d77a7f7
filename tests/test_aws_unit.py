"""The AWS layer's pure parts, without a server or a wall clock: pacing, breakers, error
translation, ARNs, identities, retries bounded by the deadline, per-key memoisation.

Every clock here is a ``FakeClock``: sleeping advances it, so a test of "10 calls a second" runs
in microseconds and cannot flake on a loaded machine.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import anyio
import pytest
from botocore.exceptions import (
    ClientError,
    ConfigParseError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProfileNotFound,
    ReadTimeoutError,
)

from reconciler._exceptions import (
    AccessDeniedError,
    AlreadyExistsError,
    BackendError,
    CircuitOpenError,
    DeadlineExceeded,
    NotFoundError,
    PermanentError,
    ProfileNotFoundError,
    ThrottlingError,
    TransientError,
)
from reconciler.aws._once import Once
from reconciler.aws.arn import Arn, partition_of
from reconciler.aws.breaker import Breaker
from reconciler.aws.call import QUOTAS, Caller, CallSpec, CallStats, ItemStats, backoff_delay, current_item, method_name
from reconciler.aws.errors import ErrorKind, classify, map_exceptions, translate
from reconciler.aws.identity import Identity
from reconciler.aws.ratelimit import DECREASE_COOLDOWN, INCREASE_PER_SECOND, MIN_RATE, AdaptiveRate

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """A clock that moves only when someone sleeps on it (or a test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


class Retry:
    def __init__(self, max_attempts: int = 6, base_delay: float = 0.2, max_delay: float = 20.0) -> None:
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay


class Ceiling:
    def __init__(self, *, region: str | None = None, account: str | None = None,
                 writes_per_second: float | None = None, reads_per_second: float | None = None) -> None:
        self.region, self.account = region, account
        self.writes_per_second, self.reads_per_second = writes_per_second, reads_per_second


def client_error(code: str, status: int = 400, op: str = "CreateSecret", message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       op)


def spec(op: str = "CreateSecret", service: str = "secretsmanager", account: str = "111111111111",
         region: str = "us-east-1") -> CallSpec:
    return CallSpec(service=service, operation=op, account=account, region=region)


# --- AdaptiveRate on a fake clock ---------------------------------------------------------------


async def test_rate_paces_callers_at_the_ceiling() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(10.0, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(21):
        await rate.acquire()
    # 21 slots at 10/s: the first at once, the last 2 s later
    assert clock.now - start == pytest.approx(2.0)


async def test_waiting_callers_leave_one_slot_apart() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(4.0, clock=clock, sleep=clock.sleep)
    times: list[float] = []

    async def one() -> None:
        await rate.acquire()
        times.append(clock.now)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(one)
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert all(g == pytest.approx(0.25) for g in gaps), gaps


def test_throttle_cuts_to_what_was_accepted_but_at_most_half() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(50.0, clock=clock)
    for _ in range(30):  # 30 successes in the last second: the endpoint accepts ~30/s
        clock.now += 1 / 30
        rate.on_success()
    rate.on_throttle()
    assert rate.rate == pytest.approx(0.9 * 30)
    # a second throttle inside the cool-down answers for the old rate: no second cut
    clock.now += DECREASE_COOLDOWN / 2
    rate.on_throttle()
    assert rate.rate == pytest.approx(0.9 * 30)
    # after the cool-down it cuts again; with nothing accepted lately, by half at most
    clock.now += DECREASE_COOLDOWN + 1.0
    rate.on_throttle()
    assert rate.rate == pytest.approx(0.9 * 30 * 0.5)


def test_throttles_never_push_below_the_floor() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(3.0, clock=clock)
    for _ in range(20):
        clock.now += DECREASE_COOLDOWN
        rate.on_throttle()
    assert rate.rate == MIN_RATE


def test_successes_climb_back_to_the_ceiling_by_a_share_per_second() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(10.0, clock=clock)
    rate.on_success()
    clock.now += 1.0
    rate.on_throttle()
    low = rate.rate
    clock.now += 1.0
    rate.on_success()  # one second of success regains 20% of the ceiling
    assert rate.rate == pytest.approx(low + 10.0 * INCREASE_PER_SECOND)
    for _ in range(20):
        clock.now += 1.0
        rate.on_success()
    assert rate.rate == 10.0


async def test_a_throttle_voids_reservations_made_at_the_old_rate() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(100.0, clock=clock, sleep=clock.sleep)
    await rate.acquire()
    rate.on_throttle()  # nothing accepted yet: half the rate, 50/s
    before = clock.now
    await rate.acquire()
    assert clock.now - before == pytest.approx(1 / 50)


# --- the quota table: per service and API class -------------------------------------------------


@pytest.mark.parametrize(("service", "op", "quota"), [
    ("secretsmanager", "CreateSecret", 50.0), ("secretsmanager", "PutSecretValue", 50.0),
    ("secretsmanager", "ListSecrets", 100.0), ("secretsmanager", "BatchGetSecretValue", 100.0),
    ("secretsmanager", "DescribeSecret", 10_000.0), ("ssm", "PutParameter", 3.0),
    ("ssm", "GetParameters", 40.0), ("ssm", "DescribeParameters", 10.0),
])
def test_each_api_class_is_paced_at_its_quota(service: str, op: str, quota: float) -> None:
    caller = Caller(retry=Retry(), clock=FakeClock())
    rate = caller.rate(spec(op, service))
    assert rate is not None and rate.ceiling == quota


def test_unpaced_services_and_shared_buckets() -> None:
    caller = Caller(retry=Retry(), clock=FakeClock())
    assert caller.rate(spec("AssumeRole", "sts")) is None
    assert caller.rate(spec("ListChildren", "organizations")) is None
    # one bucket per (account, region, service, class): two writes share, a listing does not
    assert caller.rate(spec("CreateSecret")) is caller.rate(spec("TagResource"))
    assert caller.rate(spec("CreateSecret")) is not caller.rate(spec("ListSecrets"))
    assert caller.rate(spec("CreateSecret")) is not caller.rate(spec("CreateSecret", region="eu-west-1"))
    assert caller.rate(spec("CreateSecret")) is not caller.rate(spec("CreateSecret", account="222222222222"))
    assert caller.rate(spec("PutParameter", "ssm")) is not caller.rate(spec("CreateSecret"))
    assert {s for s, _ in QUOTAS} == {"secretsmanager", "ssm"}


def test_an_operator_ceiling_lowers_only_what_it_names() -> None:
    caller = Caller(retry=Retry(), clock=FakeClock(), rate_limits=[
        Ceiling(region="us-east-1", writes_per_second=5, reads_per_second=20)])
    assert caller.rate(spec("CreateSecret")).ceiling == 5  # type: ignore[union-attr]
    assert caller.rate(spec("ListSecrets")).ceiling == 20  # type: ignore[union-attr]
    assert caller.rate(spec("DescribeSecret")).ceiling == 10_000  # type: ignore[union-attr]
    assert caller.rate(spec("CreateSecret", region="eu-west-1")).ceiling == 50  # type: ignore[union-attr]
    assert caller.rate(spec("PutParameter", "ssm")).ceiling == 3  # type: ignore[union-attr]


async def test_ssm_writes_are_paced_at_three_a_second() -> None:
    clock = FakeClock()
    caller = Caller(retry=Retry(), clock=clock, sleep=clock.sleep)
    start = clock.now

    async def ok() -> dict[str, Any]:
        return {}

    for _ in range(7):
        await caller.call(spec("PutParameter", "ssm"), ok)
    assert clock.now - start == pytest.approx(2.0)  # 7 calls at 3/s


# --- retries: transient only, bounded by attempts and by the deadline ---------------------------


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    r = Retry(base_delay=0.2, max_delay=1.0)
    assert [backoff_delay(r, n, Top()) for n in range(1, 6)] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])
    rng = random.Random(3)
    assert all(0 <= backoff_delay(r, 3, rng) <= 0.8 for _ in range(200))


async def test_retries_stop_before_a_wait_would_cross_the_deadline() -> None:
    clock = FakeClock()
    calls = 0

    async def throttled() -> None:
        nonlocal calls
        calls += 1
        raise ThrottlingError("x: ThrottlingException", code="ThrottlingException", operation="CreateSecret")

    deadline = clock.now + 1.0
    caller = Caller(retry=Retry(max_attempts=50, base_delay=0.2, max_delay=20), deadline=deadline, clock=clock,
                    sleep=clock.sleep, rng=random.Random(1))
    with pytest.raises(ThrottlingError):
        await caller.call(spec("ListSecrets"), throttled)
    assert clock.now < deadline  # never slept past it
    assert 1 < calls < 50


async def test_no_attempt_once_the_deadline_has_passed() -> None:
    clock = FakeClock()
    caller = Caller(retry=Retry(), deadline=clock.now - 1, clock=clock, sleep=clock.sleep)

    async def never() -> None:
        raise AssertionError("called")

    with pytest.raises(DeadlineExceeded):
        await caller.call(spec(), never)


async def test_transient_errors_retry_up_to_max_attempts_and_are_counted() -> None:
    clock = FakeClock()
    stats = CallStats()
    caller = Caller(retry=Retry(max_attempts=4), observer=stats, clock=clock, sleep=clock.sleep,
                    rng=random.Random(0))
    answers: list[BaseException | None] = [client_error("ThrottlingException"), client_error("Oops", 503),
                                           ReadTimeoutError(endpoint_url="http://x"), None]

    async def flaky() -> str:
        a = answers.pop(0)
        if a is not None:
            raise a
        return "ok"

    item = ItemStats()
    token = current_item.set(item)
    try:
        assert await caller.call(spec(), flaky) == "ok"
    finally:
        current_item.reset(token)
    assert stats.calls["secretsmanager.CreateSecret"] == 4
    assert stats.retries["CreateSecret"] == 3 and stats.throttles["CreateSecret"] == 1
    assert (item.attempts, item.retries, item.throttles) == (4, 3, 1)
    # three backoff waits, plus any wait for a pacing slot after the throttle halved the rate
    assert len(clock.sleeps) >= 3


async def test_permanent_errors_are_not_retried() -> None:
    clock = FakeClock()
    caller = Caller(retry=Retry(max_attempts=5), clock=clock, sleep=clock.sleep)
    calls = 0

    async def denied() -> None:
        nonlocal calls
        calls += 1
        raise client_error("InvalidRequestException")

    with pytest.raises(PermanentError) as info:
        await caller.call(spec(), denied)
    assert calls == 1 and info.value.type == "InvalidRequestException"


async def test_the_endpoint_breaker_opens_after_a_run_of_denials() -> None:
    clock = FakeClock()
    caller = Caller(retry=Retry(), clock=clock, sleep=clock.sleep)
    breaker = Breaker("endpoint default credentials in us-east-1", threshold=3)
    calls = 0

    async def denied() -> None:
        nonlocal calls
        calls += 1
        raise client_error("AccessDeniedException")

    for _ in range(3):
        with pytest.raises(AccessDeniedError):
            await caller.call(spec(), denied, breaker=breaker)
    with pytest.raises(CircuitOpenError, match="AccessDeniedException"):
        await caller.call(spec(), denied, breaker=breaker)
    assert calls == 3


# --- breakers -----------------------------------------------------------------------------------


def test_breaker_counts_consecutive_failures_only() -> None:
    b = Breaker("endpoint x", threshold=2)
    err = AccessDeniedError("CreateSecret: AccessDeniedException: no", code="AccessDeniedException")
    assert not b.failure(err)
    b.success()
    assert not b.failure(err)
    b.check()  # still closed
    assert b.failure(err)  # this one opened it
    assert not b.failure(err)  # already open: not reported twice
    with pytest.raises(CircuitOpenError) as info:
        b.check()
    assert info.value.type == "CircuitOpen" and "AccessDeniedException: no" in info.value.message


def test_identity_breaker_repeats_the_original_error_not_circuit_open() -> None:
    b = Breaker("identity arn:aws:iam::2:role/r", threshold=1, repeat_cause=True)
    cause = AccessDeniedError("AssumeRole arn:aws:iam::2:role/r: AccessDenied: not authorized",
                              code="AccessDenied", operation="AssumeRole")
    assert b.failure(cause, immediate=True)
    raised = []
    for _ in range(2):
        with pytest.raises(AccessDeniedError) as info:
            b.check()
        raised.append(info.value)
    assert all(e.type == "AccessDenied" and e.message == cause.message and e.operation == "AssumeRole"
               for e in raised)
    assert raised[0] is not raised[1] and raised[0] is not cause  # fresh instances: no shared traceback


# --- error translation (SPEC: Resilience) --------------------------------------------------------


@pytest.mark.parametrize(("code", "status", "kind"), [
    ("ThrottlingException", 400, ErrorKind.THROTTLING), ("Throttling", 400, ErrorKind.THROTTLING),
    ("TooManyRequestsException", 400, ErrorKind.THROTTLING), ("RequestLimitExceeded", 400, ErrorKind.THROTTLING),
    ("TooManyUpdates", 400, ErrorKind.THROTTLING), ("Anything", 429, ErrorKind.THROTTLING),
    ("InternalServiceError", 500, ErrorKind.TRANSIENT), ("InternalFailure", 500, ErrorKind.TRANSIENT),
    ("ServiceUnavailable", 503, ErrorKind.TRANSIENT), ("Whatever", 502, ErrorKind.TRANSIENT),
    ("ResourceNotFoundException", 400, ErrorKind.PERMANENT), ("AccessDenied", 403, ErrorKind.PERMANENT),
    ("AccessDeniedException", 400, ErrorKind.PERMANENT), ("InvalidRequestException", 400, ErrorKind.PERMANENT),
    ("InvalidParameterException", 400, ErrorKind.PERMANENT), ("DecryptionFailure", 400, ErrorKind.PERMANENT),
    ("EncryptionFailure", 400, ErrorKind.PERMANENT), ("LimitExceededException", 400, ErrorKind.PERMANENT),
    ("ParameterNotFound", 400, ErrorKind.PERMANENT),
])
def test_each_spec_code_has_its_kind(code: str, status: int, kind: ErrorKind) -> None:
    assert classify(code, status) is kind
    err = translate(client_error(code, status), "CreateSecret")
    assert err.type == code
    assert isinstance(err, ThrottlingError if kind is ErrorKind.THROTTLING else
                      TransientError if kind is ErrorKind.TRANSIENT else PermanentError)
    assert err.retryable is (kind is not ErrorKind.PERMANENT)


@pytest.mark.parametrize(("code", "cls"), [
    ("ResourceNotFoundException", NotFoundError), ("ParameterNotFound", NotFoundError),
    ("ResourceExistsException", AlreadyExistsError), ("AccessDenied", AccessDeniedError),
    ("ExpiredTokenException", AccessDeniedError),
])
def test_codes_with_a_meaning_of_their_own(code: str, cls: type[BackendError]) -> None:
    assert type(translate(client_error(code), "DescribeSecret")) is cls


@pytest.mark.parametrize("exc", [
    ConnectTimeoutError(endpoint_url="http://x"), ReadTimeoutError(endpoint_url="http://x"),
    EndpointConnectionError(endpoint_url="http://x"), ConnectionResetError(), TimeoutError(),
])
def test_connection_failures_are_transient(exc: BaseException) -> None:
    err = translate(exc, "GetSecretValue")
    assert isinstance(err, TransientError) and err.type == exc.__class__.__name__


def test_sdk_configuration_errors_are_named_and_keep_passwords_out() -> None:
    # GIVEN botocore's errors for an unparsable config file and for an endpoint URL with no scheme
    bad_file = translate(ConfigParseError(path="/etc/passwd"), "Session", subject="default credentials")
    bad_url = translate(ValueError("Invalid endpoint: user:hunter2@vpce.example"), "CreateClient")
    # THEN each is a permanent error of its own type, naming the file or the URL, never the password
    assert bad_file.type == "ConfigParseError" and "/etc/passwd" in bad_file.message and not bad_file.retryable
    assert bad_url.type == "InvalidEndpoint" and "***@vpce.example" in bad_url.message
    assert "hunter2" not in bad_url.message
    # and any other ValueError stays a plain, unnamed failure (its text may quote data)
    other = translate(ValueError("secret-ish text"), "GetSecretValue")
    assert other.type == "ValueError" and "secret-ish" not in other.message


def test_an_unknown_profile_is_its_own_error() -> None:
    err = translate(ProfileNotFound(profile="nope"), "Session", subject="profile nope")
    assert isinstance(err, ProfileNotFoundError) and err.type == "ProfileNotFound"
    assert "profile nope" in err.message and not err.retryable


def test_map_exceptions_translates_names_the_subject_and_lets_cancellation_through() -> None:
    role = "arn:aws:iam::222222222222:role/writer"
    with pytest.raises(AccessDeniedError) as info, map_exceptions("AssumeRole", subject=role):
        raise client_error("AccessDenied", 403, op="AssumeRole", message="not authorized")
    assert info.value.message.startswith(f"AssumeRole {role}: AccessDenied: not authorized")
    original = NotFoundError("x", code="ResourceNotFoundException")
    with pytest.raises(NotFoundError) as info2, map_exceptions("DescribeSecret"):
        raise original
    assert info2.value is original
    with pytest.raises(KeyboardInterrupt), map_exceptions("DescribeSecret"):
        raise KeyboardInterrupt


def test_a_refresh_inside_another_call_names_the_sts_operation() -> None:
    err = translate(client_error("AccessDenied", 403, op="AssumeRole"), "CreateSecret")
    assert err.message.startswith("CreateSecret: AssumeRole: AccessDenied")


def test_aws_messages_are_cut_short() -> None:
    err = translate(client_error("InvalidRequestException", message="m" * 5000), "CreateSecret")
    assert len(err.message) < 400


# --- ARNs and identities ------------------------------------------------------------------------


def test_a_secret_arn_is_parsed_once() -> None:
    arn = Arn.parse("arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db/pass-AbC123")
    assert (arn.partition, arn.service, arn.region, arn.account) == ("aws", "secretsmanager", "eu-west-1",
                                                                     "123456789012")
    assert arn.resource == "secret:app/db/pass-AbC123"
    assert arn.resource_id == "app/db/pass-AbC123"
    assert arn.name == "app/db/pass"
    assert str(arn) == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db/pass-AbC123"


@pytest.mark.parametrize(("text", "partition", "account", "resource_id", "name"), [
    ("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-Ab12Cd", "aws-cn", "123456789012", "x-Ab12Cd", "x"),
    ("arn:aws-us-gov:iam::222222222222:role/path/writer", "aws-us-gov", "222222222222", "path/writer",
     "path/writer"),
    ("arn:aws:ssm:us-east-1:123456789012:parameter/a/b", "aws", "123456789012", "a/b", "a/b"),
    ("arn:aws:secretsmanager:us-east-1:1:secret:name:with:colons-Ab12Cd", "aws", "1", "name:with:colons-Ab12Cd",
     "name:with:colons"),
])
def test_arns_of_every_shape(text: str, partition: str, account: str, resource_id: str, name: str) -> None:
    arn = Arn.parse(text)
    assert (arn.partition, arn.account, arn.resource_id, arn.name) == (partition, account, resource_id, name)
    assert str(arn) == text


@pytest.mark.parametrize("text", ["app/db", "arn:aws:secretsmanager", "arn::secretsmanager:r:a:secret:x",
                                  "arn:aws:secretsmanager:r:a:", "urn:aws:s:r:a:x"])
def test_what_is_not_an_arn(text: str) -> None:
    with pytest.raises(ValueError):
        Arn.parse(text)
    assert Arn.maybe(text) is None


def test_identity_keys_hints_and_one_rendering() -> None:
    role = "arn:aws:iam::222222222222:role/writer"
    assert Identity().key == "default" and str(Identity()) == "default credentials"
    assert Identity(profile="ops").key == "profile:ops" and str(Identity(profile="ops")) == "profile ops"
    assert Identity(role).key == f"role:{role}" and str(Identity(role)) == role
    assert Identity(role).account_hint == "222222222222" and Identity(profile="ops").account_hint is None
    # one role reached two ways is two identities
    keys = {Identity(role).key, Identity(role, profile="ops").key, Identity(role, external_id="e1").key}
    assert len(keys) == 3


def test_client_method_names() -> None:
    assert method_name("PutSecretValue") == "put_secret_value"
    assert method_name("BatchGetSecretValue") == "batch_get_secret_value"
    assert method_name("ListAccountsForParent") == "list_accounts_for_parent"


# --- one computation per key, no global lock ---------------------------------------------------


async def test_once_computes_each_key_once_for_concurrent_callers() -> None:
    once: Once[str, int] = Once()
    made = 0
    gate = anyio.Event()

    async def make() -> int:
        nonlocal made
        made += 1
        await gate.wait()
        return 42

    results: list[int] = []

    async def get() -> None:
        results.append(await once.get("k", make))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(get)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert results == [42] * 5 and made == 1


async def test_two_keys_are_made_at_the_same_time() -> None:
    # B's computation waits for A's to have started: with one lock for all keys this deadlocks.
    once: Once[str, str] = Once()
    a_started = anyio.Event()
    b_done = anyio.Event()

    async def make_a() -> str:
        a_started.set()
        await b_done.wait()
        return "a"

    async def make_b() -> str:
        await a_started.wait()
        b_done.set()
        return "b"

    out: dict[str, str] = {}

    async def get(key: str, make: Any) -> None:
        out[key] = await once.get(key, make)

    with anyio.fail_after(5):  # a safety net against a deadlock, not a timing assertion
        async with anyio.create_task_group() as tg:
            tg.start_soon(get, "a", make_a)
            tg.start_soon(get, "b", make_b)
    assert out == {"a": "a", "b": "b"}


async def test_once_remembers_a_backend_error_but_not_a_cancellation() -> None:
    once: Once[str, int] = Once()
    calls = 0

    async def denied() -> int:
        nonlocal calls
        calls += 1
        raise AccessDeniedError("AssumeRole r: AccessDenied: no", code="AccessDenied", operation="AssumeRole")

    errors = []
    for _ in range(2):
        with pytest.raises(AccessDeniedError) as info:
            await once.get("denied", denied)
        errors.append(info.value)
    assert calls == 1 and errors[0].message == errors[1].message

    async def slow() -> int:
        await anyio.sleep_forever()
        return 0

    with anyio.move_on_after(0):
        await once.get("slow", slow)

    async def fast() -> int:
        return 7

    assert await once.get("slow", fast) == 7  # the interrupted computation was forgotten


@pytest.mark.parametrize(("region", "partition"), [
    ("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso"),
    ("us-isob-east-1", "aws-iso-b"), (None, "aws"),
])
def test_the_partition_of_a_region(region: str | None, partition: str) -> None:
    assert partition_of(region) == partition


def test_listing_entries_say_replica_and_rotation() -> None:
    from reconciler.aws.secretsmanager import _meta

    entry = {"ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:a-AbCdEf", "Name": "a", "PrimaryRegion": "us-east-1",
             "RotationEnabled": True, "SecretVersionsToStages": {"v1": ["AWSCURRENT"]}, "Tags": [],
             "DeletedDate": None}
    meta = _meta(entry, "SecretVersionsToStages")
    assert meta.primary_region == "us-east-1" and meta.rotation_enabled and meta.current_version == "v1"
    plain = _meta({"ARN": entry["ARN"], "Name": "a"}, "VersionIdsToStages")
    assert plain.primary_region is None and plain.rotation_enabled is False and not plain.deleted
    # a primary that has replicas names its own region (issue 16): not a replica
    primary = _meta({**entry, "ARN": entry["ARN"].replace("eu-west-1", "us-east-1"),
                     "ReplicationStatus": [{"Region": "eu-west-1", "Status": "InSync"}]}, "SecretVersionsToStages")
    assert primary.primary_region is None
