"""Print results and write them into bench/RESULTS.md (our section only)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .runner import ScenarioResult

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN = "<!-- load-benchmark:begin (written by `python -m bench`; edit outside this block) -->"
END = "<!-- load-benchmark:end -->"


@dataclass(frozen=True)
class Target:
    ratio: float
    p99_ms: float | None = None
    zero_errors: bool = False

    def describe(self) -> str:
        parts = [f"≥ {self.ratio:g} × hello"]
        if self.p99_ms is not None:
            parts.append(f"p99 < {self.p99_ms:g} ms")
        if self.zero_errors:
            parts.append("0 errors")
        return ", ".join(parts)


TARGETS = {
    "sign": Target(0.12, p99_ms=50, zero_errors=True),
    "confirm": Target(0.12),
    "page": Target(0.4),
    "count": Target(0.6),
}

WHAT = {
    "hello": "bare Flask hello (ceiling: before the app)",
    "hello_after": "bare Flask hello (ceiling: after the app)",
    "page": "initiative page",
    "count": "JSON count",
    "sign": "sign: page + POST + thanks",
    "confirm": "confirm: GET + POST + result",
    "floor_sign": "sign floor: the same flow on the stack alone (bench/floor.py)",
    "floor_confirm": "confirm floor: the same flow on the stack alone (bench/floor.py)",
}


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def verdict(result: ScenarioResult) -> str:
    target = TARGETS.get(result.name)
    if target is None or result.ratio is None:
        return ""
    met = result.ratio >= target.ratio
    if target.p99_ms is not None:
        met = met and result.p(0.99) * 1000 < target.p99_ms
    # Every scenario must run without errors, not only the one whose target says so.
    met = met and result.errors == 0
    met = met and all(check.startswith("ok") for check in result.checks)
    return "met" if met else "NOT met"


HEADER = (
    "| backend | scenario | flows/s | requests/s | × hello | p50 ms | p99 ms | errors "
    "| target | | server CPU ms/flow | CPU cores: server / clients / others |"
)
RULE = "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|"


def _target_text(name: str) -> str:
    target = TARGETS.get(name)
    if target is not None:
        return target.describe()
    return "reference" if name.startswith("floor") else "ceiling"


def row(result: ScenarioResult) -> str:
    ratio = f"{result.ratio:.3f}" if result.ratio is not None else "1"
    per = result.duration
    cpu = f"{result.server_cpu / per:.2f} / {result.client_cpu / per:.2f} / {result.other_cpu:.2f}"
    return (
        f"| {result.target} | {WHAT.get(result.name, result.name)} | {result.flows_per_s:,.0f} "
        f"| {result.requests_per_s:,.0f} | {ratio} | {_ms(result.p(0.5))} | {_ms(result.p(0.99))} "
        f"| {result.errors} | {_target_text(result.name)} | {verdict(result)} "
        f"| {result.server_cpu_per_flow * 1000:.2f} | {cpu} |"
    )


def detail_lines(result: ScenarioResult) -> list[str]:
    lines = []
    kinds = sorted(result.latencies)
    if len(kinds) > 1:
        per_kind = ", ".join(
            f"{k} p50 {_ms(result.p(0.5, k))} / p99 {_ms(result.p(0.99, k))} ms" for k in kinds
        )
        lines.append(f"- {result.target} {result.name}: {per_kind}")
    for check in result.checks:
        lines.append(f"- {result.target} {result.name}: count check {check}")
    if result.errors:
        lines.append(f"- {result.target} {result.name}: errors {result.error_samples}")
    if result.ran_out:
        lines.append(f"- {result.target} {result.name}: clients ran out of tokens early")
    return lines


def table(results: list[ScenarioResult]) -> str:
    lines = [HEADER, RULE, *(row(r) for r in results), ""]
    for result in results:
        lines.extend(detail_lines(result))
    return "\n".join(lines)


def other_load(results: list[ScenarioResult]) -> str:
    """A sentence on how busy the machine was with other work during the run."""
    if not results:
        return ""
    shares = [r.other_cpu for r in results]
    mean, worst = sum(shares) / len(shares), max(shares)
    quiet = "the machine was quiet" if worst < 0.1 else "other work was running"
    return (
        f"During the measured windows {quiet}: other processes used {mean:.2f} of the "
        f"cores on average (at most {worst:.2f}); see the last column per scenario."
    )


def section(
    machine: dict[str, str], settings: dict[str, str], body: str, load_note: str = ""
) -> str:
    described = "\n".join(f"| {k} | {v} |" for k, v in machine.items())
    configured = ", ".join(f"{k} {v}" for k, v in settings.items())
    return (
        f"{BEGIN}\n### Latest run\n\n"
        f"Run with `python -m bench` ({configured}). {load_note}\n\n"
        f"| machine | |\n|---|---|\n{described}\n\n{body}\n{END}\n"
    )


def write(text: str) -> None:
    """Replace our block in RESULTS.md (or add it), leaving other sections alone."""
    current = RESULTS.read_text("utf-8") if RESULTS.exists() else "# Benchmark results\n\n"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        current = head + text + ("\n" + tail if tail else "")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(current, "utf-8")
