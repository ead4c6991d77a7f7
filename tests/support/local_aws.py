"""The local AWS every test and benchmark talks to: moto's server, and the fault proxy before it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from faultproxy import FaultProxy

from reconciler._local import LOCAL_ACCOUNT, LocalAws, start_local_aws, use_local_environment

__all__ = ["LOCAL_ACCOUNT", "LocalAws", "LocalStack", "start_local_aws", "start_local_stack", "use_local_environment"]


@dataclass
class LocalStack:
    """moto (``aws.url``: seed and inspect here, uncounted) behind ``proxy`` (the code under test)."""

    aws: LocalAws
    proxy: FaultProxy

    @property
    def url(self) -> str:
        return self.aws.url

    def stop(self) -> None:
        self.proxy.stop()
        self.aws.stop()


def start_local_stack(credentials: Mapping[str, str] | None = None) -> LocalStack:
    """Fake credentials in this process's environment, a moto server, and a fault proxy in front."""
    use_local_environment(credentials=credentials)
    aws = start_local_aws()
    return LocalStack(aws, FaultProxy(aws.url).start())
