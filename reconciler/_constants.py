"""Defaults and AWS service limits, named once so every module agrees on them."""

from __future__ import annotations

import uuid

# --- manifest defaults -------------------------------------------------------------------------
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 512
DEFAULT_OWNER = "secrets-reconciler"
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_BASE_DELAY = 0.2
DEFAULT_MAX_DELAY = 20.0
DEFAULT_NAMESPACE = "SecretsReplicator"

# --- ownership tags (SPEC: Ownership) ----------------------------------------------------------
TAG_OWNER = "reconciler:owner"
TAG_SOURCE = "reconciler:source"
TAG_MAPPING = "reconciler:mapping"

# --- Secrets Manager limits --------------------------------------------------------------------
MAX_SECRET_SIZE = 65_536  # bytes, SecretString or SecretBinary
LIST_SECRETS_PAGE_SIZE = 100  # MaxResults ceiling of ListSecrets
LIST_FILTER_MAX_VALUES = 10  # Values per ListSecrets filter
BATCH_GET_MAX_IDS = 20  # SecretIdList ceiling of BatchGetSecretValue
MAX_TAGS_PER_SECRET = 50
# Request quotas per account and region (requests per second).
QUOTA_WRITE_RPS = 50.0  # PutSecretValue, UpdateSecret, UpdateSecretVersionStage, CreateSecret, ...
QUOTA_LIST_RPS = 100.0  # ListSecrets
QUOTA_BATCH_GET_RPS = 100.0  # BatchGetSecretValue
QUOTA_READ_RPS = 10_000.0  # DescribeSecret + GetSecretValue
# Parameter Store quotas per account and region (requests per second; standard throughput).
QUOTA_SSM_PUT_RPS = 3.0  # PutParameter (and the other writes)
QUOTA_SSM_GET_RPS = 40.0  # GetParameters, GetParameter
QUOTA_SSM_DESCRIBE_RPS = 10.0  # DescribeParameters (and the other listings)
STAGE_CURRENT = "AWSCURRENT"

# --- CloudWatch PutMetricData limits -----------------------------------------------------------
MAX_METRICS_PER_REQUEST = 1000
MAX_VALUES_PER_METRIC = 150
MAX_REQUEST_BYTES = 1_000_000
MAX_DIMENSIONS_PER_METRIC = 30

# --- transforms --------------------------------------------------------------------------------
TRANSFORM_ENGINE_VERSION = "2"  # bump when any transform's output for the same input may change; 2: json kept text
# CPU time of the transforming thread allowed for one item's whole transform chain. CPU, not wall
# time: transforms run in worker threads side by side and wait for the GIL (and, on a busy host,
# for a core); that waiting must not fail an item whose rules are cheap.
TRANSFORM_TIMEOUT_SECONDS = 2.0

# --- tokens ------------------------------------------------------------------------------------
# Namespace of the deterministic ClientRequestTokens (uuid5). Never change it: every
# destination written by an earlier release would look drifted and be written again.
TOKEN_NAMESPACE = uuid.UUID("6f1c2a4e-9a53-4d1e-8f0b-2c7d5e3a9b10")

# --- networking --------------------------------------------------------------------------------
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
# Lambda: stop starting work this long before the invocation would be killed.
LAMBDA_SAFETY_MARGIN_SECONDS = 20.0
