"""The AWS layer: everything that talks to AWS, one job per module.

- ``identity``: whose credentials (default chain, profile, assumed role)
- ``arn``: ARNs parsed once
- ``errors``: AWS errors -> this package's exceptions, in one place
- ``credentials``: sessions per identity, AssumeRole with aiobotocore's refreshable fetcher
- ``clients``: one client per (service, identity, region), SDK retries off
- ``ratelimit`` / ``breaker``: adaptive pacing per quota; giving up on an endpoint or identity
- ``call``: the one ``Caller`` (pacing + retry + breaker + counting) every call goes through
- ``store``: the ``Store`` protocol the engine sees; ``secretsmanager`` and ``ssm`` implement it
- ``organizations``: accounts under OUs
- ``backend``: the per-run composition root the engine holds

Nothing is imported here, so ``import reconciler.aws.arn`` stays cheap (a Lambda cold start).
"""
