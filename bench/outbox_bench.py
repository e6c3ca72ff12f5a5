"""Outbox throughput: how fast ``flask outbox send`` drains confirmation mails.

A real SMTP server (aiosmtpd) listens on loopback in a process of its own; the worker
is the app's own CLI in a subprocess, exactly as an operator runs it.  The mails are queued
by signing through the domain code, so each is a real confirmation mail with a token.
Then the same queue is drained by two workers at once, and every mail must arrive
exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from initiatives import signatures
from initiatives.extensions import db
from initiatives.models import Initiative, OutboxMessage, OutboxStatus

from .appside import build_app
from .flows import SLUG
from .servers import BIN, app_root, free_port, postgres_target, sqlite_target

OUTBOX_ID_RE = re.compile(rb"^X-Outbox-Id: (\d+)\r?$", re.MULTILINE)


@dataclass
class Sink:
    """What the SMTP server received: outbox ids, arrival times, connections."""

    ids: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:  # noqa: N802,E501
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        match = OUTBOX_ID_RE.search(envelope.content)
        with self.lock:
            self.ids.append(int(match.group(1)) if match else -1)
            self.times.append(time.monotonic())
        return "250 OK"

    def reset(self) -> None:
        with self.lock:
            self.ids.clear()
            self.times.clear()
            self.connections = 0


def _sink_main(port: int, pipe: Any) -> None:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    while True:
        command = pipe.recv()
        if command == "stop":
            break
        with sink.lock:
            pipe.send((list(sink.ids), list(sink.times), sink.connections))
        if command == "reset":
            sink.reset()
    controller.stop()


class SinkProcess:
    """The SMTP server in its own process, so that it takes no CPU from this one."""

    def __init__(self) -> None:
        self.port = free_port()
        self._pipe, child = mp.get_context("fork").Pipe()
        self._process = mp.get_context("fork").Process(
            target=_sink_main, args=(self.port, child), daemon=True
        )
        self._process.start()
        if self._pipe.recv() != "ready":
            raise RuntimeError("SMTP sink did not start")

    def take(self) -> tuple[list[int], list[float], int]:
        """What arrived since the last call: outbox ids, arrival times, connections."""
        self._pipe.send("reset")
        return self._pipe.recv()

    def stop(self) -> None:
        self._pipe.send("stop")
        self._process.join(timeout=10)


def queue_mails(env: dict[str, str], count: int, tag: str) -> None:
    """Sign ``count`` times through the domain code: one confirmation mail each."""
    app = build_app(env)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative).where(Initiative.slug == SLUG)).one()
        for n in range(count):
            signatures.sign(
                initiative, name="Bänk Testsson", email=f"mail-{tag}-{n}@example.org", locale="sv"
            )
            if n % 500 == 499:
                db.session.commit()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def sent_rows(env: dict[str, str]) -> int:
    app = build_app(env)
    with app.app_context():
        sent = db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(
                OutboxMessage.status == OutboxStatus.SENT
            )
        )
        db.session.remove()
        db.engine.dispose()
    return sent or 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drain(env: dict[str, str], workers: int) -> tuple[float, float]:
    """Run ``workers`` ``flask outbox send`` processes at once.

    Returns (wall seconds until all are done, CPU seconds they used).
    """
    cpu = _children_cpu()
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [str(BIN / "flask"), "--app", "initiatives", "outbox", "send"],
            cwd=app_root(),
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for process in processes:
        if process.wait(timeout=600) != 0:
            raise RuntimeError("flask outbox send failed")
    return time.monotonic() - started, _children_cpu() - cpu


def steady_rate(times: list[float]) -> float:
    """Mails per second between the first and the last arrival (startup excluded)."""
    if len(times) < 2:
        return 0.0
    ordered = sorted(times)
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def run_outbox_benchmarks(tmp: Path, mails: int, backends: list[str]) -> str:
    sink = SinkProcess()
    lines = [
        "#### Outbox throughput",
        "",
        f"{mails} confirmation mails queued, drained by `flask --app initiatives outbox send` "
        "to a local aiosmtpd server in its own process; rate measured between the first "
        "and the last mail received (the wall time includes the CLI's start-up).",
        "",
        "| backend | workers | mails/s (steady) | wall s | worker CPU ms/mail "
        "| SMTP connections | received | distinct | rows marked sent | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    try:
        for backend in backends:
            make_target = sqlite_target if backend == "sqlite" else postgres_target
            with make_target(tmp / f"outbox-{backend}", free_port()) as target:
                env = {**target.env, "SMTP_URL": f"smtp://127.0.0.1:{sink.port}"}
                for workers in (1, 2):
                    before = sent_rows(env)
                    queue_mails(env, mails, f"{backend}-{workers}")
                    sink.take()
                    wall, cpu = drain(env, workers)
                    ids, times, connections = sink.take()
                    rate = steady_rate(times)
                    marked = sent_rows(env) - before
                    verdict = "≥ 200/s: " + ("met" if rate >= 200 else "NOT met")
                    if not len(ids) == len(set(ids)) == marked == mails:
                        verdict = "DUPLICATES OR LOSS"
                    lines.append(
                        f"| {backend} | {workers} | {rate:,.0f} | {wall:.1f} "
                        f"| {1000 * cpu / mails:.2f} | {connections} "
                        f"| {len(ids)} | {len(set(ids))} | {marked} | {verdict} |"
                    )
                    print(lines[-1], flush=True)
    finally:
        sink.stop()
    return "\n".join(lines) + "\n"
