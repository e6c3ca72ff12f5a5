"""``python -m bench``: the load benchmark on SQLite and PostgreSQL, and the outbox one.

Every figure is also given as a ratio to a bare Flask "hello" served by the same gunicorn
settings in the same run, so that results from a busy or a different machine compare.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

from . import report
from .appside import build_app, confirmation_tokens, count_check
from .machine import describe
from .runner import ScenarioResult, run
from .servers import (
    PG_ADMIN_URL,
    Gunicorn,
    Target,
    app_root,
    free_port,
    gunicorn,
    postgres_backends,
    postgres_target,
    sqlite_target,
)

SCENARIOS = ("page", "count", "sign", "confirm")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--outbox-mails", type=int, default=3000, help="0 skips it")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles here")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--app-root",
        type=Path,
        help="measure the app in another checkout (e.g. an older revision from git "
        "worktree or git archive) with this driver",
    )
    return parser.parse_args(argv)


def measure(
    server: Gunicorn,
    name: str,
    target: str,
    args: argparse.Namespace,
    run_id: str,
    pg_database: str | None = None,
    tokens: list[str] | None = None,
    label: str | None = None,
) -> ScenarioResult:
    def pids() -> list[int]:
        found = server.workers()
        if pg_database:
            found += postgres_backends(pg_database)
        return found

    profiler = None
    if args.profile:
        from . import profiling

        args.profile.mkdir(parents=True, exist_ok=True)
        stacks = args.profile / f"{target}-{label or name}.txt"
        profiler = profiling.start(server.process.pid, args.warmup + args.duration, stacks)
    result = run(
        name,
        target,
        name,
        server.port,
        clients=args.clients,
        duration=args.duration,
        warmup=args.warmup,
        server_pids=pids,
        run_id=run_id,
        tokens=tokens,
    )
    if profiler is not None:
        from . import profiling

        profiler.wait(timeout=60)
        summary = profiling.summarise(stacks)
        (args.profile / f"{target}-{label or name}.summary.txt").write_text(summary + "\n")
    return result


def run_target(
    backend: str, tmp: Path, args: argparse.Namespace, run_id: str
) -> list[ScenarioResult]:
    """hello (the ceiling), each app scenario, then hello again, on one database engine.

    The ceiling is the mean of the two hello runs, so that a machine that speeds up or
    slows down during the app's scenarios does not bias every ratio one way; both hello
    rows are printed, each as a ratio to that mean.
    """
    before = hello(backend, args, run_id, "hello")
    results = [before]
    port = free_port()
    make_target = sqlite_target if backend == "sqlite" else postgres_target
    scenarios = args.scenarios.split(",")
    with make_target(tmp, port) as target:
        with gunicorn("wsgi:app", port, target.env, args.workers, "/healthz", app_root()) as server:
            app = build_app(target.env)
            settle = float(app.config.get("PUBLIC_CACHE_SECONDS", 0)) + 0.5
            sign_rate = 300.0
            for name in scenarios:
                tokens = None
                if name == "confirm":
                    wanted = int(max(sign_rate, 300) * (args.warmup + args.duration) * 3)
                    tokens = confirmation_tokens(app, wanted, run_id)
                result = measure(
                    server,
                    name,
                    backend,
                    args,
                    run_id,
                    pg_database=target.pg_database,
                    tokens=tokens,
                )
                if name == "sign":
                    sign_rate = result.flows_per_s
                ok, detail = count_check(app, port, settle)
                result.checks.append(("ok: " if ok else "MISMATCH: ") + detail)
                results.append(result)
        results += floors(target, scenarios, args, run_id)
    after = hello(backend, args, run_id, "hello_after")
    results.append(after)
    ceiling = (before.requests_per_s + after.requests_per_s) / 2
    for result in results:
        result.ceiling = ceiling
    for result in results:
        print(report.row(result), flush=True)
    return results


def floors(
    target: Target, scenarios: list[str], args: argparse.Namespace, run_id: str
) -> list[ScenarioResult]:
    """The sign and confirm flows against ``bench/floor.py``: the stack alone, on the
    target's database, with the app stopped (see that module)."""
    from . import floor

    wanted = [name for name in ("sign", "confirm") if name in scenarios]
    if not wanted:
        return []
    database_url, secret = target.database_url, target.env["SECRET_KEY"]
    floor.create_tables(database_url)
    env = {"FLOOR_DATABASE_URL": database_url, "SECRET_KEY": secret}
    results = []
    with gunicorn("bench.floor:wsgi()", free_port(), env, args.workers, "/floor-health") as server:
        for name in wanted:
            tokens = None
            if name == "confirm":
                # The sign floor's rows, topped up: more than the floor confirms in the
                # time (about 250 a second on a 2-core machine), so no client runs out.
                stored, _ = floor.counts(database_url)
                wanted = max(stored, int(1000 * (args.warmup + args.duration)))
                tokens = floor.confirmation_tokens(database_url, secret, wanted)
            result = measure(
                server,
                name,
                target.name,
                args,
                run_id,
                pg_database=target.pg_database,
                tokens=tokens,
                label=f"floor_{name}",
            )
            result.name = f"floor_{name}"
            stored, confirmed = floor.counts(database_url)
            # Every accepted POST stored its row (the warm-up's and the measured window's).
            done = stored if name == "sign" else confirmed
            fine = done >= result.flows and result.errors == 0
            what = "rows stored" if name == "sign" else "rows confirmed"
            result.checks.append(("ok: " if fine else "MISMATCH: ") + f"{done} {what}")
            results.append(result)
    return results


def hello(backend: str, args: argparse.Namespace, run_id: str, name: str) -> ScenarioResult:
    with gunicorn("bench.hello:app", free_port(), {}, args.workers, "/hello") as server:
        result = measure(server, "hello", backend, args, run_id, label=name)
    result.name = name
    return result


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.app_root:
        os.environ["BENCH_APP_ROOT"] = str(args.app_root.resolve())
    run_id = uuid.uuid4().hex[:8]
    machine = describe(PG_ADMIN_URL)
    for key, value in machine.items():
        print(f"{key}: {value}")
    print(report.HEADER)
    print(report.RULE, flush=True)
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="initiatives-bench-") as tmp:
        for backend in args.backends.split(","):
            results += run_target(backend, Path(tmp), args, run_id)
        body = report.table(results)
        outbox_text = ""
        if args.outbox_mails:
            from .outbox_bench import run_outbox_benchmarks

            outbox_text = run_outbox_benchmarks(
                Path(tmp), args.outbox_mails, args.backends.split(",")
            )
            print(outbox_text)
    print()
    print(body)
    print(report.other_load(results))
    if not args.no_write:
        settings = {
            "clients": str(args.clients),
            "gunicorn workers": str(args.workers),
            "threads per worker": os.environ.get("BENCH_THREADS", "2"),
            "measured seconds per scenario": f"{args.duration:g}",
            "warm-up seconds": f"{args.warmup:g}",
        }
        note = report.other_load(results)
        report.write(report.section(machine, settings, body + "\n" + outbox_text, note))
        print(f"\nwritten to {report.RESULTS}")
    # Errors and wrong counts are failures; a target missed on a busy machine is reported.
    broken = [r for r in results if r.errors or not all(c.startswith("ok") for c in r.checks)]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
