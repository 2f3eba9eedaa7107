"""What the benchmarks measure with: CPU time, memory, percentiles, and a count of logged problems."""

from __future__ import annotations

import logging
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Usage:
    """Wall time and this process's CPU time (all threads) at one instant."""

    wall: float
    user: float
    sys: float


def usage(who: int = resource.RUSAGE_SELF) -> Usage:
    r = resource.getrusage(who)
    return Usage(time.monotonic(), r.ru_utime, r.ru_stime)


def rss_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None  # not Linux


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # gone, or not Linux
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14 and 15 of stat(5)


def percentile_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.array(values) * 1000, q)), 1)


class LogCounter(logging.Handler):
    """Counts warnings and errors anywhere in this process (aiortc, aiohttp, the sampler)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.levels: Counter[str] = Counter()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        if len(self.messages) < 5:
            self.messages.append(f"{record.name}: {record.getMessage()}"[:300])
