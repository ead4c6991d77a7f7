"""Slow tests, outside the default env: `tox -e slow` (or `pytest -m slow`)."""

from __future__ import annotations

import random
import signal
import time

import pytest
from hypothesis import HealthCheck, given, settings
from test_resilience import assert_converged, many, seed, spawn, wait_for_writes
from test_sed_differential import TEXT, assert_same, rules

pytestmark = pytest.mark.slow


@settings(max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(), text=TEXT)
def test_generated_rules_match_gnu_sed_at_length(rule, text):
    from reconciler._transform import SedSyntaxError, parse_script

    try:
        parse_script(rule)
    except SedSyntaxError:
        return
    assert_same(rule, text)


def test_large_storm_converges(aws, proxy, write_manifest, run_cli):
    seed(aws, 300)
    path = write_manifest(many(300, concurrency=32))
    proxy.faults.throttle, proxy.faults.error_5xx, proxy.faults.reset = 0.3, 0.05, 0.02
    code, report, _ = run_cli("run", str(path))
    assert code == 0, report["totals"]
    proxy.faults.throttle = proxy.faults.error_5xx = proxy.faults.reset = 0
    assert_converged(aws, 300)


def test_repeated_kill_9_at_random_points(aws, proxy, write_manifest, run_cli):
    rng = random.Random(3)
    n = 60
    seed(aws, n)
    path = write_manifest(many(n, concurrency=8))
    proxy.faults.latency = 0.03
    for _ in range(5):
        proc = spawn(path, proxy)
        wait_for_writes(proxy, 1)
        time.sleep(rng.uniform(0, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    proxy.faults.latency = 0
    code, _, _ = run_cli("run", str(path))
    assert code == 0
    assert_converged(aws, n)
    for i in range(n):
        assert len(aws.describe(f"dr/s{i:03d}", "us-west-2")["VersionIdsToStages"]) == 1
