"""Wall-clock timing of repeated calls, shared by the benchmark and the trainer's mesh choice."""

from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["time_calls"]


def time_calls(fn: Callable[[], Any], calls: int) -> list[float]:
    """Seconds each of ``calls`` calls of ``fn`` took (``fn`` must wait for its own result)."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times
