"""Run one scenario: N client processes doing one flow for a fixed time.

Clients are separate processes, so the client side is not throttled by one interpreter
lock.  Each plays one visitor after another: a visitor is a browser with a keep-alive
connection and a cookie jar of its own.  Signers and people opening their confirmation
link are a new visitor each time (no cookie yet, a new connection); a reader reloads the
page or polls the count READER_VISITS times and then makes way for the next.  New
connections also keep the load spread over gunicorn's workers: each worker accepts
connections for itself, and eight connections kept for a whole scenario could all land
on one worker and leave the other core idle (one run measured a page rate half its
usual with the server using one core).  All clients start together; requests made in a
warm-up period before the measured window are not counted.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .client import Browser, FlowError, Recorder
from .cpu import CpuSnapshot, used
from .flows import FLOWS, FlowState, OutOfWork

HOST = "127.0.0.1"
# How many flows one visitor does before the next takes over (see above).
READER_VISITS = 20
VISITS = {"sign": 1, "confirm": 1}


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _client_main(
    pipe: mp.connection.Connection,
    flow_name: str,
    port: int,
    client: int,
    run_id: str,
    tokens: list[str],
    start: float,
    warmup: float,
    duration: float,
) -> None:
    flow = FLOWS[flow_name]
    recorder = Recorder(start + warmup, start + warmup + duration)
    state = FlowState(client=client, run_id=run_id, tokens=iter(tokens))
    browser, visits = Browser(HOST, port, recorder), 0
    ran_out = False
    cpu_start: float | None = None
    while time.monotonic() < start:
        time.sleep(0.001)
    while True:
        began = time.monotonic()
        if began >= recorder.window_end:
            break
        if cpu_start is None and began >= recorder.window_start:
            cpu_start = _own_cpu()
        if visits >= VISITS.get(flow_name, READER_VISITS):
            browser.close()
            browser, visits = Browser(HOST, port, recorder), 0
        visits += 1
        try:
            flow(browser, state)
        except OutOfWork:
            ran_out = True
            break
        except (FlowError, OSError, ValueError) as exc:
            recorder.error(began, f"{type(exc).__name__}: {exc}"[:200])
            browser.close()
            browser, visits = Browser(HOST, port, recorder), 0
            continue
        if recorder.in_window(began):
            recorder.flows += 1
    cpu = _own_cpu() - (cpu_start if cpu_start is not None else _own_cpu())
    browser.close()
    pipe.send(
        {
            "latencies": recorder.latencies,
            "flows": recorder.flows,
            "errors": recorder.errors,
            "error_samples": recorder.error_samples,
            "reconnects": recorder.reconnects,
            "ran_out": ran_out,
            "cpu": cpu,
        }
    )
    pipe.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class ScenarioResult:
    name: str
    target: str
    clients: int
    duration: float
    flows: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    reconnects: int = 0
    ran_out: bool = False
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    machine_cpu: float = 0.0
    ceiling: float | None = None  # hello requests/s measured in the same run
    checks: list[str] = field(default_factory=list)

    @property
    def all_latencies(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]

    @property
    def requests(self) -> int:
        return len(self.all_latencies)

    @property
    def flows_per_s(self) -> float:
        return self.flows / self.duration

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration

    @property
    def ratio(self) -> float | None:
        return self.flows_per_s / self.ceiling if self.ceiling else None

    def p(self, q: float, kind: str | None = None) -> float:
        values = self.latencies.get(kind, []) if kind else self.all_latencies
        return percentile(values, q)

    @property
    def server_cpu_per_flow(self) -> float:
        """Server CPU seconds per flow: steadier than throughput on a shared machine."""
        return self.server_cpu / self.flows if self.flows else float("nan")

    @property
    def other_cpu(self) -> float:
        """CPU seconds used by everything but this benchmark, per second of the run."""
        ours = self.client_cpu + self.server_cpu
        return max(self.machine_cpu - ours, 0.0) / self.duration


def run(
    name: str,
    target: str,
    flow_name: str,
    port: int,
    *,
    clients: int,
    duration: float,
    warmup: float,
    server_pids: Callable[[], list[int]],
    run_id: str,
    tokens: list[str] | None = None,
) -> ScenarioResult:
    """Run ``flow_name`` with ``clients`` processes; returns the merged result."""
    context = mp.get_context("fork")
    token_lists = [tokens[i::clients] if tokens else [] for i in range(clients)]
    start = time.monotonic() + 0.5
    processes = []
    pipes = []
    for client in range(clients):
        parent, child = context.Pipe(duplex=False)
        process = context.Process(
            target=_client_main,
            args=(
                child,
                flow_name,
                port,
                client,
                run_id,
                token_lists[client],
                start,
                warmup,
                duration,
            ),
            daemon=True,
        )
        process.start()
        child.close()
        processes.append(process)
        pipes.append(parent)

    result = ScenarioResult(name=name, target=target, clients=clients, duration=duration)
    time.sleep(max(start + warmup - time.monotonic(), 0))
    pids = server_pids()
    before = CpuSnapshot.take(pids)
    time.sleep(max(start + warmup + duration - time.monotonic(), 0))
    after = CpuSnapshot.take(pids)
    result.server_cpu, result.machine_cpu = used(before, after)

    for pipe, process in zip(pipes, processes, strict=True):
        data = pipe.recv()
        process.join(timeout=60)
        result.flows += data["flows"]
        result.errors += data["errors"]
        result.error_samples.extend(data["error_samples"])
        result.reconnects += data["reconnects"]
        result.ran_out = result.ran_out or data["ran_out"]
        result.client_cpu += data["cpu"]
        for kind, values in data["latencies"].items():
            result.latencies.setdefault(kind, []).extend(values)
    return result
