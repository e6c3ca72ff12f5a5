"""``python -m bench.admin_reads``: what the organisers' pages read, on a large site.

- The outbox health check (``outbox_status.queue_state``), read by ``flask outbox
  status`` and on every load of the admin start page.  Sent mails stay in the table
  (their bodies are cleared after ``OUTBOX_RETENTION_DAYS``), so after a few campaigns
  it holds hundreds of thousands of rows, of which a handful are waiting: ``--mails``
  of them, nearly all sent long ago, some sent in the last hour, some waiting and some
  given up.
- The initiative's dashboard (``stats.dashboard``: counts by state, channel, source tag
  and area, and the confirmed signatures per day), on every load of its page:
  ``--signatures`` of them on one initiative, over four months, most confirmed.
- A search of its signatures by a name nobody has (``moderation.search``), which has to
  decrypt and compare every signer's name.
- The burst review (``bursts.find``), which reads each address's domain by decrypting
  it: once with the signatures spread over four months (a quiet campaign), once with the
  same signatures a second apart (a surge, every stretch dense); each as a worker's
  first load and as a reload (a worker remembers the domains it read).

Each is filled into a fresh database (SQLite, or with ``--backend postgres`` PostgreSQL
on 127.0.0.1), and the best of ``--rounds`` wall times is printed (wall time: on
PostgreSQL the work is the server's).  ``--app-root DIR`` measures another checkout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app

BATCH = 10_000
SLUG = "amiralsgatan"
TAGS = ["poster", "flyer", "stand", "whatsapp", "news"]
DOMAINS = ["gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "malmo.se", "telia.com"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_reads", description=__doc__)
    parser.add_argument("--mails", type=int, default=500_000)
    parser.add_argument("--signatures", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--app-root", type=Path, help="measure the app in another checkout")
    return parser.parse_args(argv)


def fill_outbox(rows: int) -> None:
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


def fill_signatures(rows: int) -> Any:
    """``rows`` signatures on the demo initiative: 90 % confirmed, over four months, by
    web, kiosk and paper, from five tags and four areas; returns the initiative."""
    import random

    import sqlalchemy as sa

    from initiatives import clock
    from initiatives.extensions import db
    from initiatives.models import Initiative, Signature

    rng = random.Random(8)
    now = clock.utcnow()
    initiative = db.session.scalars(sa.select(Initiative).where(Initiative.slug == SLUG)).one()
    initiative.campaign_tags = TAGS
    db.session.commit()
    box = current_app.extensions["data_crypto"]
    # One ciphertext for every name (the search has to decrypt each anyway); an address
    # of its own for each, in one of six domains (the burst review reads the domains).
    name = box.encrypt("Bänk Testsson")

    def row(i: int) -> dict[str, Any]:
        signed = now - timedelta(days=120) + timedelta(seconds=i * 120 * 86_400 // rows)
        confirmed = rng.random() < 0.9
        return {
            "public_id": f"{i:032x}",
            "initiative_id": initiative.id,
            "state": "confirmed" if confirmed else rng.choice(["pending", "withdrawn"]),
            "channel": rng.choices(["web", "kiosk", "paper"], [70, 20, 10])[0],
            "source_tag": rng.choice([*TAGS, None]),
            "locale": "sv",
            "text_hash": initiative.text_hash,
            "name_enc": name,
            "email_enc": box.encrypt(f"signer{i}@{DOMAINS[i % len(DOMAINS)]}"),
            "client_hash": f"{i % 3000:064x}",
            "postcode_area": rng.choice(["212", "213", "214", None]),
            "created_at": signed,
            "confirmed_at": signed + timedelta(minutes=20) if confirmed else None,
        }

    for start in range(0, rows, BATCH):
        db.session.execute(
            sa.insert(Signature), [row(i) for i in range(start, min(rows, start + BATCH))]
        )
        db.session.commit()
    return initiative


def analyse() -> None:
    """Statistics for the planner, as a site that has run a while has them."""
    import sqlalchemy as sa

    from initiatives.extensions import db

    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def best_of(rounds: int, read: Callable[[], object]) -> tuple[float, float]:
    """The best and the worst of ``rounds`` wall times of ``read``, in ms."""
    from initiatives.extensions import db

    timings = []
    for _ in range(rounds):
        db.session.rollback()
        started = time.perf_counter()
        read()
        timings.append(time.perf_counter() - started)
    db.session.rollback()
    return min(timings) * 1000, max(timings) * 1000


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from . import servers

    with servers.scratch_target(args.backend, "admin-reads-", args.app_root) as database:
        run(database.env, args)


def run(env: dict[str, str], args: argparse.Namespace) -> None:
    import initiatives
    from initiatives import moderation, stats
    from initiatives.outbox_status import queue_state

    from .appside import build_app

    print(f"app: {Path(initiatives.__file__).parent.parent}")
    app = build_app(env)
    with app.app_context():
        started = time.perf_counter()
        fill_outbox(args.mails)
        initiative = fill_signatures(args.signatures)
        analyse()
        print(
            f"{args.mails:,} mails and {args.signatures:,} signatures written "
            f"in {time.perf_counter() - started:.1f} s"
        )
        state = queue_state()
        print(
            f"outbox: waiting {state.waiting:,}, retrying {state.retrying:,}, "
            f"given up in the last day {state.failed_last_day:,}, "
            f"sent in the last hour {state.sent_last_hour:,}"
        )
        numbers = stats.dashboard(initiative)
        print(f"dashboard: {numbers.confirmed:,} confirmed over {len(numbers.per_day)} days")
        reads = {
            f"queue_state(), {args.mails:,} mails": queue_state,
            f"stats.dashboard(), {args.signatures:,} signatures": lambda: stats.dashboard(
                initiative
            ),
            # A name nobody has: every signature is looked at.
            f"moderation.search(), {args.signatures:,} signatures": lambda: moderation.search(
                initiative, "Zainab"
            ),
        }
        for label, read in reads.items():
            report(args, label, read)
        # The burst review: over four months no stretch is dense (a quiet campaign) ...
        review_bursts(args, initiative, "quiet")
        # ... and then the same signatures squeezed into a surge, a second apart.
        squeeze(initiative)
        review_bursts(args, initiative, "a surge")


def review_bursts(args: argparse.Namespace, initiative: Any, campaign: str) -> None:
    """The burst review, as a worker's first load (nothing remembered: every load, before
    the seventh round) and as a reload (the domains it read remembered)."""
    from initiatives import bursts

    def first() -> object:
        current_app.extensions.pop("burst_domains", None)
        return bursts.find(initiative)

    report(args, f"bursts.find(), {args.signatures:,}, {campaign}, first", first)
    bursts.find(initiative)
    report(
        args,
        f"bursts.find(), {args.signatures:,}, {campaign}, reload",
        lambda: bursts.find(initiative),
    )


def squeeze(initiative: Any) -> None:
    """Move the initiative's signatures one second apart, ending now."""
    import sqlalchemy as sa

    from initiatives import clock
    from initiatives.extensions import db
    from initiatives.models import Signature

    now = clock.utcnow()
    ids = list(
        db.session.scalars(sa.select(Signature.id).where(Signature.initiative_id == initiative.id))
    )
    for start in range(0, len(ids), BATCH):
        db.session.execute(
            sa.update(Signature),
            [
                {"id": i, "created_at": now - timedelta(seconds=n)}
                for n, i in enumerate(ids[start : start + BATCH], start)
            ],
        )
        db.session.commit()


def report(args: argparse.Namespace, label: str, read: Callable[[], object]) -> None:
    fastest, slowest = best_of(args.rounds, read)
    print(
        f"{args.backend:<8} {label:<44} best {fastest:8,.1f} ms, "
        f"worst {slowest:8,.1f} ms of {args.rounds}"
    )


if __name__ == "__main__":
    main()
