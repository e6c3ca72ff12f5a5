"""``python -m bench.inproc``: CPU per request and per flow, in-process, one thread.

The Flask test client against a fresh SQLite file, or with ``--backend postgres`` a fresh
PostgreSQL database on 127.0.0.1 (either migrated and loaded with the demo, as the load
benchmark does), production settings, rate limits off.  No network, no other
threads: what is left is the app's own CPU, the steadiest figure on a shared machine.
Each figure is the best of ``--rounds`` rounds of ``--n`` repetitions, in µs of this
process's CPU time (not wall time: on a shared machine, time spent waiting for a core
would otherwise count).  On PostgreSQL the database backend's own CPU is not counted.
Beside each figure: what a flow sends to the database (statements, BEGIN, COMMIT or
ROLLBACK, and the pool's pings), each a round trip on PostgreSQL.

After the app's flows, the same sign and confirm flows against ``bench/floor.py`` (the
least app the project's stack allows, on the same database): the app's figures over the
floor's are what the app does beyond it.  The sign flow is also given request by request.

``--app-root DIR`` measures the app of another checkout (an older revision) with this
script, as ``python -m bench --app-root`` does.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SLUG = "amiralsgatan"
CSRF_RE = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')
FORM = {
    "name": "Bänk Testsson",
    "postcode": "212 14",
    "resident": "y",
    "consent": "y",
    "src": "bench",
    "website": "",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.inproc", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=200, help="repetitions per round")
    parser.add_argument("--app-root", type=Path, help="measure the app in another checkout")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of each flow here")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    return parser.parse_args(argv)


def csrf_token(body: bytes) -> str:
    match = CSRF_RE.search(body)
    if match is None:
        raise AssertionError("no CSRF token on the page")
    return match.group(1).decode()


def expect(response: Any, status: int) -> Any:
    if response.status_code != status:
        raise AssertionError(f"{response.request.path}: {response.status_code}, not {status}")
    return response


STATEMENTS = [0]


def _in_transaction(dbapi_connection: Any) -> bool:
    info = getattr(dbapi_connection, "info", None)
    if info is not None:  # psycopg: IDLE is 0
        return bool(info.transaction_status)
    return bool(dbapi_connection.in_transaction)


def count_statements(engine: Any, pre_ping: bool) -> None:
    """Count the round trips to the database: statements, the pool's pings, and the
    BEGIN psycopg sends by itself before a statement outside a transaction (unless in
    autocommit), and COMMIT and ROLLBACK when a transaction is open."""
    from sqlalchemy import event

    def statement(conn: Any, *_args: Any) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        implicit_begin = hasattr(dbapi_connection, "info") and not (
            dbapi_connection.autocommit or _in_transaction(dbapi_connection)
        )
        STATEMENTS[0] += 1 + implicit_begin

    def end(conn: Any) -> None:
        STATEMENTS[0] += _in_transaction(conn.connection.dbapi_connection)

    def checkout(*_args: Any) -> None:
        STATEMENTS[0] += pre_ping

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", end)
    event.listen(engine, "rollback", end)
    event.listen(engine.pool, "checkout", checkout)


def best(label: str, rounds: int, n: int, step: Callable[[int], None]) -> float:
    """The fastest round's CPU µs per repetition (after a few unmeasured ones)."""
    counter = iter(range(10**9))
    for _ in range(min(n, 20)):
        step(next(counter))
    STATEMENTS[0] = 0
    step(next(counter))
    statements = STATEMENTS[0]
    timings = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(n):
            step(next(counter))
        timings.append((time.process_time() - start) / n * 1e6)
    figure = min(timings)
    print(f"{label:<38} {figure:>9,.0f} µs {statements:>4} to the database", flush=True)
    return figure


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from . import servers

    with servers.scratch_target(args.backend, "inproc-", args.app_root) as database:
        run(database.env, args)


def run(env: dict[str, str], args: argparse.Namespace) -> None:
    import initiatives
    from initiatives.tokens import Purpose, make_token

    from .appside import build_app

    print(f"app: {Path(initiatives.__file__).parent.parent}")
    app = build_app(env)
    with app.app_context():
        from initiatives.extensions import db as database

        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        count_statements(database.engine, bool(options.get("pool_pre_ping")))
    client = app.test_client()
    page = f"/i/{SLUG}"
    rounds, n = args.rounds, args.n
    results: dict[str, float] = {}

    def step_page(_i: int) -> None:
        expect(client.get(page), 200)

    def step_count(_i: int) -> None:
        expect(client.get(f"/api/initiatives/{SLUG}"), 200)

    parts: dict[str, list[float]] = {"page": [], "POST": [], "thanks": []}
    step_sign = sign_step(client, parts)

    # Tokens for pending signatures, signed through the web form as a visitor would.
    tokens: list[str] = []

    def step_confirm(_i: int) -> None:
        path = f"/confirm/{tokens.pop()}"
        csrf = csrf_token(expect(client.get(path), 200).data)
        redirect = expect(client.post(path, data={"csrf_token": csrf}), 303)
        done = expect(client.get(redirect.headers["Location"]), 200)
        if b"panel-success" not in done.data:
            raise AssertionError("the confirmation page does not say the signature counts")

    flows: list[tuple[str, str, Callable[[int], None]]] = [
        ("page", "initiative page (GET)", step_page),
        ("count", "JSON count (GET)", step_count),
        ("sign", "sign flow (page + POST + thanks)", step_sign),
        ("confirm", "confirm flow (GET + POST + result)", step_confirm),
    ]
    for key, label, step in flows:
        if key == "confirm":
            import sqlalchemy as sa

            from initiatives.extensions import db
            from initiatives.models import Signature, SignatureState

            with app.app_context():
                tokens[:] = [
                    make_token(Purpose.CONFIRM, public_id)
                    for public_id in db.session.scalars(
                        sa.select(Signature.public_id).where(
                            Signature.state == SignatureState.PENDING
                        )
                    )
                ]
            if len(tokens) < (rounds + bool(args.profile)) * n + min(n, 20) + 1:
                raise SystemExit("not enough pending signatures for the confirm rounds")
        if args.profile:
            profile(args.profile, key, step, n)
        for times in parts.values():
            times.clear()
        results[key] = best(label, rounds, n, step)
        if key == "sign":
            results.update(print_parts(parts, rounds, n))
    floor_flows(env, args)


def sign_step(client: Any, parts: dict[str, list[float]]) -> Callable[[int], None]:
    """One sign flow (page, POST, thanks) with the CPU time of each request kept."""
    page = f"/i/{SLUG}"

    def step(i: int) -> None:
        start = time.process_time()
        token = csrf_token(expect(client.get(page), 200).data)
        parts["page"].append(time.process_time() - start)
        data = {**FORM, "csrf_token": token, "email": f"inproc-{i}@example.org"}
        start = time.process_time()
        redirect = expect(client.post(f"{page}/sign", data=data), 303)
        parts["POST"].append(time.process_time() - start)
        start = time.process_time()
        expect(client.get(redirect.headers["Location"]), 200)
        parts["thanks"].append(time.process_time() - start)

    return step


def print_parts(parts: dict[str, list[float]], rounds: int, n: int) -> dict[str, float]:
    """Each request of the sign flow alone: the best round's mean, rounds split as
    ``best`` ran them (after its warm-up and the one step whose statements it counts)."""
    skip = min(n, 20) + 1
    figures = {}
    for part, times in parts.items():
        per_round = [times[skip + r * n : skip + (r + 1) * n] for r in range(rounds)]
        figures[f"sign_{part}"] = min(sum(r) / len(r) for r in per_round) * 1e6
        print(f"{'  of which the ' + part:<38} {figures[f'sign_{part}']:>9,.0f} µs")
    return figures


def floor_flows(env: dict[str, str], args: argparse.Namespace) -> None:
    """The same flows against ``bench/floor.py`` (the least app the stack allows), on the
    same database, so that the app's figures read against what no app avoids."""
    import os

    from . import floor

    os.environ.setdefault("SECRET_KEY", env["SECRET_KEY"])
    database_url = env["DATABASE_URL"]
    floor.create_tables(database_url)
    floor_app = floor.create_app(database_url)
    with floor_app.app_context():
        count_statements(floor.db.engine, pre_ping=False)
    client = floor_app.test_client()
    rounds, n = args.rounds, args.n
    parts: dict[str, list[float]] = {"page": [], "POST": [], "thanks": []}
    best("floor: sign flow (page + POST + thanks)", rounds, n, sign_step(client, parts))
    print_parts(parts, rounds, n)
    tokens = floor.confirmation_tokens(
        database_url, os.environ["SECRET_KEY"], rounds * n + min(n, 20) + 1
    )

    def step_confirm(_i: int) -> None:
        path = f"/confirm/{tokens.pop()}"
        csrf = csrf_token(expect(client.get(path), 200).data)
        redirect = expect(client.post(path, data={"csrf_token": csrf}), 303)
        expect(client.get(redirect.headers["Location"]), 200)

    best("floor: confirm flow (GET + POST + result)", rounds, n, step_confirm)


def profile(directory: Path, key: str, step: Callable[[int], None], n: int) -> None:
    import cProfile

    directory.mkdir(parents=True, exist_ok=True)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        step(10**8 + i)
    profiler.disable()
    profiler.dump_stats(str(directory / f"{key}.prof"))


if __name__ == "__main__":
    main()
