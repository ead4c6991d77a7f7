"""Metrics: placeholder until the metrics issue lands."""

from __future__ import annotations

from typing import Any


async def publish(report: Any, settings: Any, *, sink: str, stats: Any) -> None:
    return None
