"""CPU accounting from /proc: who used the machine while a scenario ran.

The machine may be shared, so every result says how much CPU went to the server, to the
load clients, and to everything else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw.rsplit(")", 1)[1].split()
    # Fields after the command name: state is [0], utime [11], stime [12].
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        if int(raw.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    line = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in line[:8]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values)
    return (total - idle) / TICK, total / TICK


@dataclass
class CpuSnapshot:
    processes: dict[int, float]
    busy: float
    total: float

    @classmethod
    def take(cls, pids: list[int]) -> CpuSnapshot:
        busy, total = machine_cpu()
        return cls({pid: process_cpu(pid) for pid in pids}, busy, total)


def used(before: CpuSnapshot, after: CpuSnapshot) -> tuple[float, float]:
    """(CPU seconds of the watched processes, CPU seconds of the whole machine)."""
    ours = sum(after.processes.get(pid, 0.0) - t for pid, t in before.processes.items())
    return max(ours, 0.0), max(after.busy - before.busy, 0.0)
