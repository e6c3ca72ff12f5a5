"""``python -m bench.queue_state``: how long the outbox health check takes on a large outbox.

``flask outbox status`` and the admin start page read the queue (``outbox_status.
queue_state``) every time.  Sent mails stay in the table (their bodies are cleared after
``OUTBOX_RETENTION_DAYS``), so after a few campaigns it holds hundreds of thousands of
rows, of which a handful are waiting.  This fills a fresh database (SQLite, or with
``--backend postgres`` PostgreSQL on 127.0.0.1) with ``--rows`` mails, nearly all sent
long ago, some sent in the last hour, some waiting and some given up, and prints the
best of ``--rounds`` wall times of one ``queue_state()`` (wall time: on PostgreSQL the
work is the server's).  ``--app-root DIR`` measures another checkout.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

BATCH = 10_000


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_state", description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--app-root", type=Path, help="measure the app in another checkout")
    return parser.parse_args(argv)


def fill(rows: int) -> None:
    """``rows`` mails: 0.2 % waiting, 0.1 % given up, 1 % sent in the last hour."""
    import sqlalchemy as sa

    from initiatives import clock
    from initiatives.extensions import db
    from initiatives.models import OutboxMessage, OutboxStatus

    now = clock.utcnow()
    table = OutboxMessage.__table__

    def row(i: int) -> dict[str, Any]:
        created = now - timedelta(days=400) + timedelta(seconds=i * 60)
        status, sent, error = OutboxStatus.SENT, created + timedelta(seconds=5), None
        if i % 500 == 0:
            status, sent, error = OutboxStatus.PENDING, None, "SMTPServerDisconnected"
            created = now - timedelta(minutes=i % 7)
        elif i % 1000 == 1:
            status, sent, error = OutboxStatus.FAILED, None, "SMTPRecipientsRefused 550"
            created = now - timedelta(hours=i % 30)
        elif i % 100 == 2:
            sent = now - timedelta(minutes=i % 60)
        return {
            "kind": "confirm",
            "locale": "sv",
            "status": status.value,
            "attempts": 1 if error else 0,
            "created_at": created,
            "due_at": created,
            "sent_at": sent,
            "last_error": error,
        }

    for start in range(0, rows, BATCH):
        db.session.execute(
            sa.insert(table), [row(i) for i in range(start, min(rows, start + BATCH))]
        )
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE outbox_messages"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from . import servers

    servers.use_app_root(args.app_root)
    with servers.scratch_target(args.backend, "queue-state-") as database:
        run(database.env, args)


def run(env: dict[str, str], args: argparse.Namespace) -> None:
    import initiatives
    from initiatives.extensions import db
    from initiatives.outbox_status import queue_state

    from .appside import build_app

    print(f"app: {Path(initiatives.__file__).parent.parent}")
    app = build_app(env)
    with app.app_context():
        started = time.perf_counter()
        fill(args.rows)
        print(f"{args.rows:,} mails written in {time.perf_counter() - started:.1f} s")
        state = queue_state()
        print(
            f"waiting {state.waiting:,}, retrying {state.retrying:,}, "
            f"given up in the last day {state.failed_last_day:,}, "
            f"sent in the last hour {state.sent_last_hour:,}"
        )
        timings = []
        for _ in range(args.rounds):
            db.session.rollback()
            started = time.perf_counter()
            queue_state()
            timings.append(time.perf_counter() - started)
        db.session.rollback()
    print(
        f"queue_state() on {args.backend}, {args.rows:,} mails: "
        f"best {min(timings) * 1000:,.1f} ms, worst {max(timings) * 1000:,.1f} ms "
        f"of {args.rounds}"
    )


if __name__ == "__main__":
    main()
