"""Optional sampling profile of the gunicorn workers while a scenario runs (py-spy).

``python -m bench --profile DIR`` writes, per scenario, py-spy's collapsed stacks and a
short text summary: where the workers spent their time, by function, inclusive and self.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY_HINT = "py-spy is not installed: pip install -e '.[bench]' (it pins py-spy)."


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit(PY_SPY_HINT)
    return found


def start(master_pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Sample the master and its workers for ``seconds``; stacks go to ``output``."""
    return subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(master_pid),
            "--subprocesses",
            "--duration",
            str(max(int(seconds), 1)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _frame(frame: str) -> str:
    # "function (path/to/module.py:123)" → "function (module.py)"
    name, _, where = frame.partition(" (")
    module = where.rsplit("/", 1)[-1].split(":", 1)[0]
    return f"{name} ({module})"


def summarise(stacks: Path, top: int = 25) -> str:
    """The functions with the largest inclusive and self share of worker samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")[1:]]  # drop the process frame
        if not frames or any("gunicorn/arbiter" in f for f in stack.split(";")[1:2]):
            continue
        if frames[-1].startswith(("wait (", "select (", "sleep (", "accept (")):
            continue  # idle workers
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    lines = [f"{total} busy samples"]
    lines.append("inclusive:")
    lines += [f"  {100 * c / total:5.1f}%  {n}" for n, c in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {100 * c / total:5.1f}%  {n}" for n, c in own.most_common(top)]
    return "\n".join(lines)
