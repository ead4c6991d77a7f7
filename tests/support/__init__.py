"""Test and benchmark support: the local AWS (moto over HTTP) with the fault proxy in front.

Import as ``support`` with ``tests/`` on ``sys.path`` (pytest puts it there; the benchmarks add it).
The local AWS itself is ``reconciler._local``, shared with ``reconciler demo``.
"""

from .local_aws import LOCAL_ACCOUNT, LocalAws, LocalStack, start_local_aws, start_local_stack, use_local_environment

__all__ = ["LOCAL_ACCOUNT", "LocalAws", "LocalStack", "start_local_aws", "start_local_stack", "use_local_environment"]
