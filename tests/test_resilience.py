"""Resilience through the fault proxy: throttling, 5xx, resets, stalls, breakers, deadlines, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ACCOUNT_B, ROLE_B


def many(n: int, *, retry: str = "{max_attempts: 10, base_delay: 0.01, max_delay: 0.2}", concurrency: int = 8,
         extra_settings: str = "", dest_region: str = "us-west-2") -> str:
    lines = ["version: 1", f"settings: {{concurrency: {concurrency}, retry: {retry}{extra_settings}}}",
             f"defaults: {{source: {{region: us-east-1}}, destination: {{region: {dest_region}}}}}", "mappings:"]
    lines += [f"  - {{id: m{i:03d}, source: app/s{i:03d}, destination: dr/s{i:03d}}}" for i in range(n)]
    return "\n".join(lines) + "\n"


def seed(aws, n: int) -> None:
    for i in range(n):
        aws.create(f"app/s{i:03d}", f"value-{i}")


def assert_converged(aws, n: int, region: str = "us-west-2") -> None:
    for i in range(n):
        assert aws.value(f"dr/s{i:03d}", region) == f"value-{i}"


def test_throttle_storm_and_5xx_still_converge(aws, proxy, write_manifest, run_cli):
    # GIVEN 30% of Secrets Manager calls throttled and 5% answered with 500
    seed(aws, 40)
    path = write_manifest(many(40))
    proxy.faults.throttle = 0.30
    proxy.faults.error_5xx = 0.05
    proxy.faults.seed = 7
    code, report, _ = run_cli("run", str(path))
    # THEN every item converges, and the retries are counted per item
    assert code == 0, report["totals"]
    assert report["totals"]["create"] == 40
    assert proxy.injected["throttle"] > 0  # 30% of well over 40 calls: never zero in practice
    assert sum(i["attempts"] for i in report["items"]) > 40
    proxy.faults.throttle = proxy.faults.error_5xx = 0
    assert_converged(aws, 40)


def test_each_transient_answer_is_retried(aws, proxy, write_manifest, run_cli):
    # GIVEN the next CreateSecret calls answered with every kind of transient error in turn
    seed(aws, 1)
    path = write_manifest(many(1))
    proxy.faults.fail_next["CreateSecret"] = [
        (500, "InternalServiceError", "boom"), (503, "ServiceUnavailable", ""), (400, "ThrottlingException", "Rate"),
        (400, "TooManyRequestsException", "slow down"), (400, "RequestLimitExceeded", "limit"),
    ]
    code, report, _ = run_cli("run", str(path))
    # THEN the sixth attempt succeeds and the item says how many it took
    assert code == 0, report
    assert proxy.calls["secretsmanager.CreateSecret"] == 6
    assert report["items"][0]["attempts"] >= 6


def test_connection_resets_and_stalls_are_retried(aws, proxy, write_manifest, run_cli):
    seed(aws, 10)
    # A read timeout well above a loaded machine's answer time (a stall is longer still), and
    # enough attempts that a run of random faults cannot exhaust them (0.4**12 per item): seen
    # failing with 0.5 s and 6 attempts when two tox ran side by side.
    path = write_manifest(many(10, retry="{max_attempts: 12, base_delay: 0.05, max_delay: 0.5}",
                               extra_settings=", timeouts: {connect: 2, read: 2}"))
    proxy.faults.only_ops = frozenset({"CreateSecret", "BatchGetSecretValue", "GetSecretValue"})
    proxy.faults.reset = 0.3
    proxy.faults.stall = 0.1
    proxy.faults.stall_seconds = 4.0
    code, report, _ = run_cli("run", str(path))
    assert code == 0, [i["error"] for i in report["items"] if i["error"]]
    assert proxy.injected["reset"] + proxy.injected["stall"] > 0
    proxy.faults.reset = proxy.faults.stall = 0
    assert_converged(aws, 10)


def test_permanent_errors_are_not_retried(aws, proxy, write_manifest, run_cli):
    seed(aws, 1)
    path = write_manifest(many(1))
    proxy.faults.deny["CreateSecret"] = (400, "InvalidRequestException", "You can't create this secret")
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    item = report["items"][0]
    assert item["action"] == "failed"
    assert item["error"]["type"] == "InvalidRequestException" and item["error"]["retryable"] is False
    assert proxy.calls["secretsmanager.CreateSecret"] == 1


def test_retries_are_bounded_by_settings(aws, proxy, write_manifest, run_cli):
    seed(aws, 1)
    path = write_manifest(many(1, retry="{max_attempts: 3, base_delay: 0.01, max_delay: 0.02}"))
    proxy.faults.deny["CreateSecret"] = (400, "ThrottlingException", "Rate exceeded")
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    item = report["items"][0]
    assert item["error"]["type"] == "ThrottlingException" and item["error"]["retryable"] is True
    assert proxy.calls["secretsmanager.CreateSecret"] == 3


def test_quota_throttling_slows_the_whole_endpoint(aws, proxy, write_manifest, run_cli):
    # GIVEN an endpoint that allows only 10 writes a second (burst 10), and a ceiling we were not told
    seed(aws, 60)
    path = write_manifest(many(60, concurrency=16))
    proxy.faults.quotas = {}
    proxy.set_quotas(write=10)
    t0 = time.monotonic()
    code, _, _ = run_cli("run", str(path))
    # THEN everything converges with few throttled calls: the fan-out slowed down together
    assert code == 0
    assert proxy.injected["quota"] <= 0.5 * 60, proxy.injected
    assert time.monotonic() - t0 >= 4  # (60 - burst 10) writes at 10/s


def test_assume_role_denied_trips_the_breaker_once(aws, proxy, write_manifest, run_cli):
    # GIVEN a role that cannot be assumed, used by six destinations in two regions
    seed(aws, 6)
    text = many(0)
    for i in range(6):
        region = "us-west-2" if i % 2 else "eu-west-1"
        text += (f"  - {{id: m{i}, source: app/s00{i}, destination: "
                 f"{{name: dr/s{i}, region: {region}, role_arn: \"{ROLE_B}\"}}}}\n")
    text += "".join(f"  - {{id: w{i}, source: app/s00{i}, destination: {{name: west/s{i}, region: eu-west-1}}}}\n"
                    for i in range(3))
    proxy.faults.deny["AssumeRole"] = (403, "AccessDenied", "not authorized to perform sts:AssumeRole")
    path = write_manifest(text)
    code, report, err = run_cli("run", str(path))
    assert code == 1
    # THEN one AssumeRole attempt for the identity, its items fail with one clear error ...
    assert proxy.calls["sts.AssumeRole"] == 1
    failed = [i for i in report["items"] if i["action"] == "failed"]
    assert len(failed) == 6
    assert {i["error"]["type"] for i in failed} <= {"AccessDenied", "CircuitOpen"}
    assert all("AssumeRole" in i["error"]["message"] for i in failed)
    assert err.count("identity unusable") == 1
    # ... and the other identity carries on
    assert {i["action"] for i in report["items"] if i["mapping"] in ("w0", "w1", "w2")} == {"create"}


def test_endpoint_breaker_opens_after_a_run_of_access_denied(aws, proxy, write_manifest, run_cli):
    seed(aws, 20)
    path = write_manifest(many(20, concurrency=2))
    proxy.faults.deny["CreateSecret"] = (400, "AccessDeniedException", "not authorized")
    code, report, err = run_cli("run", str(path))
    assert code == 1
    assert {i["action"] for i in report["items"]} == {"failed"}
    assert proxy.calls["secretsmanager.CreateSecret"] <= 5 + 2
    assert sum(1 for i in report["items"] if i["error"]["type"] == "CircuitOpen") >= 13
    assert err.count("endpoint given up on") == 1


def run_with_clock(path: Path, clock, deadline: float, **kw) -> dict:
    """Run in-process with a fake clock: deadlines measured in operations, never a wall-clock race."""
    import anyio

    from reconciler.engine import Options, reconcile
    from reconciler.manifest import load_manifest

    options = Options(deadline=deadline, clock=clock, **kw)
    report = anyio.run(reconcile, load_manifest(str(path)), options)
    return {**report.to_dict(), "exit_code": int(report.exit_code)}


def test_deadline_defers_and_the_next_run_picks_up(aws, proxy, write_manifest, run_cli):
    # GIVEN a clock that ticks once per CreateSecret, and a deadline 5 ticks after the start
    seed(aws, 30)
    path = write_manifest(many(30, concurrency=2))
    report = run_with_clock(path, lambda: float(proxy.calls["secretsmanager.CreateSecret"]), 5)
    # THEN no unit starts after the 5th write: the rest are deferred, untouched, nothing failed
    assert report["exit_code"] == 1
    totals = report["totals"]
    assert totals["failed"] == 0 and totals["create"] >= 5 and totals["deferred"] > 0
    assert totals["create"] + totals["deferred"] == 30
    assert proxy.calls["secretsmanager.CreateSecret"] <= 5 + 2  # at most the workers' units in flight
    deferred = [i for i in report["items"] if i["action"] == "deferred"]
    assert all(not aws.exists(i["destination"]["name"], "us-west-2") for i in deferred)
    # WHEN the next run has time, it picks the deferred items up
    code, report, _ = run_cli("run", str(path))
    assert code == 0
    assert_converged(aws, 30)


def test_deadline_during_observation_defers_everything(aws, proxy, write_manifest):
    # GIVEN a deadline that has passed by the time the first listing would start
    seed(aws, 3)
    aws.create("app/p/one", "v")
    path = write_manifest(many(3) + '  - {id: pre, source: "app/p/*", destination: "dr/p/*"}\n')
    ticks = iter([0.0])
    report = run_with_clock(path, lambda: next(ticks, 1000.0), 1)
    # THEN nothing fails and nothing is listed, read or written: every item (and the unlisted prefix
    # mapping, with no destination) is deferred to the next run; a deadline is no run-level error
    assert report["exit_code"] == 1
    assert report["totals"]["deferred"] == 4 and report["totals"]["failed"] == 0
    assert [i["destination"] for i in report["items"] if i["mapping"] == "pre"] == [None]
    assert report["errors"] == []
    assert proxy.count("secretsmanager.") == 0


def test_retry_failed_reruns_only_the_failed_items(aws, proxy, write_manifest, run_cli, tmp_path):
    seed(aws, 4)
    aws.create("dr/s002", "theirs", "us-west-2")  # a conflict: not retried
    path = write_manifest(many(4, retry="{max_attempts: 1, base_delay: 0.01, max_delay: 0.02}"))
    proxy.faults.deny["BatchGetSecretValue"] = (500, "InternalServiceError", "boom")
    proxy.faults.deny["GetSecretValue"] = (500, "InternalServiceError", "boom")
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    failed = [i for i in report["items"] if i["action"] == "failed"]
    assert len(failed) == 3 and all(i["error"]["retryable"] for i in failed)
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report))
    proxy.faults.deny.clear()
    code, report2, _ = run_cli("run", str(path), "--retry-failed", str(saved))
    assert code == 0
    assert sorted(i["mapping"] for i in report2["items"]) == sorted(i["mapping"] for i in failed)
    code, _, err = run_cli("run", str(path), "--retry-failed", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json" in err


# --- processes: signals and kill -9 ---------------------------------------------------------------


def spawn(path: Path, proxy, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
    return subprocess.Popen([sys.executable, "-m", "reconciler", "run", str(path), "--format", "json",
                             "--metrics-sink", "none", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def wait_for_writes(proxy, n: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while proxy.calls["secretsmanager.CreateSecret"] < n:
        assert time.monotonic() < end, "no progress"
        time.sleep(0.02)


def test_sigint_stops_new_work_and_reports(aws, proxy, write_manifest):
    seed(aws, 30)
    path = write_manifest(many(30, concurrency=2))
    proxy.faults.latency = 0.1
    proc = spawn(path, proxy)
    wait_for_writes(proxy, 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    report = json.loads(out)
    assert report["totals"]["deferred"] > 0 and report["totals"]["failed"] == 0
    assert "stopping" in err


def test_second_signal_exits_at_once(aws, proxy, write_manifest):
    seed(aws, 10)
    path = write_manifest(many(10, concurrency=1))
    proxy.faults.latency = 0.5
    proc = spawn(path, proxy)
    wait_for_writes(proxy, 1)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    # THEN it exits at once (143) instead of finishing: with 0.5 s a call, one write at a time,
    # finishing would take all 10 writes; no wall-clock bound, which a loaded machine would break
    assert proc.returncode == 143  # 128 + SIGTERM, as a shell reports death by that signal
    assert proxy.calls["secretsmanager.CreateSecret"] < 10


@pytest.mark.parametrize("kill_after", [1, 7])
def test_kill_9_mid_run_then_rerun_converges(aws, proxy, write_manifest, run_cli, kill_after):
    # GIVEN a migration with a transform and an unrelated secret at the destination
    n = 25
    seed(aws, n)
    aws.create("unrelated/secret", "leave me", "us-west-2")
    text = many(n, concurrency=4).replace("destination: dr/s", "transform: [{sed: \"s/value/v/\"}], destination: dr/s")
    path = write_manifest(text)
    proxy.faults.latency = 0.05
    proc = spawn(path, proxy)
    wait_for_writes(proxy, kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # WHEN we run again
    proxy.faults.latency = 0
    code, report, _ = run_cli("run", str(path))
    # THEN every destination converges to its transformed source, with one version each
    assert code == 0, report["totals"]
    for i in range(n):
        assert aws.value(f"dr/s{i:03d}", "us-west-2") == f"v-{i}"
        versions = aws.describe(f"dr/s{i:03d}", "us-west-2")["VersionIdsToStages"]
        assert len(versions) == 1
    assert aws.value("unrelated/secret", "us-west-2") == "leave me"
    assert aws.names("us-west-2") == sorted([f"dr/s{i:03d}" for i in range(n)] + ["unrelated/secret"])
    assert aws.names("us-east-1") == [f"app/s{i:03d}" for i in range(n)]
    assert run_cli("plan", str(path))[0] == 0


def test_write_to_a_destination_scheduled_for_deletion_is_restored_first(aws, proxy, write_manifest, run_cli):
    # AWS refuses PutSecretValue on a secret scheduled for deletion (moto does not): the proxy says
    # what AWS would, and the reconciler must have restored before writing.
    seed(aws, 1)
    path = write_manifest(many(1))
    assert run_cli("run", str(path))[0] == 0
    aws.put("app/s000", "value-0b")
    aws.sm("us-west-2").delete_secret(SecretId="dr/s000", RecoveryWindowInDays=7)
    proxy.record_bodies = True
    code, _, _ = run_cli("run", str(path))
    assert code == 0
    ops = [name for name, _ in proxy.bodies if name.startswith("secretsmanager.") and "List" not in name
           and "Get" not in name and "Describe" not in name]
    assert ops.index("secretsmanager.RestoreSecret") < ops.index("secretsmanager.PutSecretValue")
    assert aws.value("dr/s000", "us-west-2") == "value-0b"


def test_account_b_is_used_for_role_destinations(aws, proxy, write_manifest, run_cli):
    seed(aws, 2)
    text = many(2).replace("destination: {region: us-west-2}",
                           f"destination: {{region: us-west-2, role_arn: \"{ROLE_B}\"}}")
    path = write_manifest(text)
    code, _, _ = run_cli("run", str(path))
    assert code == 0
    assert aws.value("dr/s001", "us-west-2", ACCOUNT_B) == "value-1"


def test_operator_rate_ceiling_paces_writes_without_throttles(aws, proxy, write_manifest, run_cli):
    # GIVEN an account whose write quota is shared: the operator caps us at 5 writes a second
    seed(aws, 12)
    path = write_manifest(many(12, concurrency=16,
                               extra_settings=", rate_limits: [{region: us-west-2, writes_per_second: 5}]"))
    proxy.set_quotas(write=5)
    t0 = time.monotonic()
    code, report, _ = run_cli("run", str(path))
    # THEN the writes are paced at the ceiling from the first one: no throttle at all
    assert code == 0 and report["totals"]["create"] == 12
    assert proxy.injected["quota"] == 0
    assert time.monotonic() - t0 >= 11 / 5 * 0.9


def test_proxy_refuses_writes_to_deleted_secrets_as_aws_does(aws, proxy):
    # The proxy's AWS semantics, checked directly: moto alone would accept this write.
    import boto3

    aws.create("x/deleted", "v")
    aws.sm().delete_secret(SecretId="x/deleted", RecoveryWindowInDays=7)
    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=proxy.url)
    with pytest.raises(client.exceptions.InvalidRequestException):
        client.put_secret_value(SecretId="x/deleted", SecretString="w")
    assert len(aws.describe("x/deleted")["VersionIdsToStages"]) == 1
