"""Command-line interface: ``flask --app initiatives <command>``."""

from __future__ import annotations

import functools
import signal
import sys
from datetime import timedelta
from typing import Any

import click
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from . import (
    audit,
    clock,
    keycheck,
    outbox,
    outbox_status,
    privacy_cli,
    retention,
    sendlimit,
    signature_states,
)
from .demo import load_examples
from .extensions import db
from .mail import compose

outbox_cli = AppGroup("outbox", help="Deliver queued email.")


def _require_readable_keys() -> None:
    try:
        keycheck.require()
    except sa.exc.OperationalError:
        # The database is not there yet: the worker waits for it, and checks the key on
        # the first mail it cannot decrypt.
        db.session.rollback()


@outbox_cli.command("send")
def outbox_send() -> None:
    """Deliver every message that is due, once, and report."""
    from flask import current_app

    try:
        _require_readable_keys()
        report = outbox.deliver_due(current_app._get_current_object(), compose)  # type: ignore[attr-defined]
    except keycheck.DataKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sent {report.sent}, retrying later {report.retried}, failed {report.failed}")
    if report.limited_by:
        click.echo(f"the rest waits for the send limit (OUTBOX_SEND_LIMIT: {report.limited_by})")
    for err in report.errors:
        click.echo(f"  error: {err}", err=True)


@outbox_cli.command("status")
@click.option(
    "--max-delay",
    type=click.IntRange(min=1),
    default=None,
    help="Minutes the oldest mail may wait before this counts as behind "
    "(default: OUTBOX_ALERT_MINUTES).",
)
def outbox_status_command(max_delay: int | None) -> None:
    """How the outbox keeps up; exit status 1 when it is behind or mail failed today.

    For an operator in a surge, and for monitoring (cron, a health check): counts and
    error classes only, never an address.
    """
    from flask import current_app

    state = outbox_status.queue_state()
    limit = max_delay or current_app.config["OUTBOX_ALERT_MINUTES"]
    alert_after = timedelta(minutes=limit)
    minutes = int(state.waited.total_seconds() // 60)
    click.echo(
        f"waiting {state.waiting} (oldest {minutes} min), of which retrying after an error "
        f"{state.retrying}; given up in the last 24 hours {state.failed_last_day}"
    )
    last = state.last_sent.strftime("%Y-%m-%d %H:%M:%S UTC") if state.last_sent else "never"
    click.echo(f"sent in the last hour {state.sent_last_hour}; last sent {last}")
    for error, count in state.errors:
        click.echo(f"  error in the last 24 hours: {error} ×{count}")
    send_limit = sendlimit.for_app(current_app)
    room = send_limit.headroom() if send_limit is not None and send_limit.shared else None
    if send_limit is not None and room is None:
        click.echo(
            f"send limit {send_limit.spec}: each worker counts in its own memory "
            "(set REDIS_URL to share the count and see it here)"
        )
    elif send_limit is not None and room is not None:
        later = f", the next in {room.free_in:.0f} s ({room.limit})" if not room.mails else ""
        click.echo(f"send limit {send_limit.spec}: room for {room.mails} now{later}")
    if state.behind(alert_after):
        why = "is `flask outbox work` running, and does SMTP_URL accept mail?"
        if room is not None and not room.mails:
            why = "the send limit (OUTBOX_SEND_LIMIT) is full: mail goes out as it frees up."
        click.echo(f"BEHIND: mail has waited {minutes} min (more than {limit}): {why}", err=True)
    if state.failed_last_day:
        click.echo(
            f"FAILING: {state.failed_last_day} mail(s) given up in the last 24 hours; once "
            "mail goes out again, `flask outbox retry` sends them",
            err=True,
        )
    if state.problems(alert_after):
        sys.exit(1)


@outbox_cli.command("retry")
@click.option(
    "--hours",
    type=click.IntRange(1, 24 * 400),  # more would not fit a date
    default=24,
    show_default=True,
    help="Mail given up within this many hours.",
)
def outbox_retry(hours: int) -> None:
    """Send mail that was given up once more (after an SMTP outage, say).

    Only mail that can still do its job: a confirmation link only while its signature
    waits for it, none to an address the server said does not exist, and no mail whose
    body retention has cleared.
    """
    since = clock.utcnow() - timedelta(hours=hours)
    result = outbox.requeue_failed(since)
    audit.record("outbox.requeued", actor="cli", hours=hours, mails=result.requeued)
    db.session.commit()
    click.echo(f"queued again {result.requeued}; left as given up {result.left}")
    if result.left:
        click.echo(
            "  (confirmation links whose signature has expired or been withdrawn, mail "
            "to addresses the server said do not exist, and mail whose body was cleared)"
        )


@outbox_cli.command("work")
def outbox_work() -> None:
    """Keep delivering (run as its own process next to the web server)."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stopping = {"now": False}

    def stop(_signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def housekeeping() -> None:
        if signature_states.expire_unconfirmed():
            db.session.commit()
        # Retention once a day (cron running `purge` as well is harmless).
        if retention.purge_if_due(actor="worker") is not None:
            db.session.commit()

    try:
        # Before anything is sent: a worker with the wrong DATA_KEY would give up every
        # queued mail (see keycheck).  It stops, and says so, when that shows later.
        _require_readable_keys()
        click.echo("outbox worker started", err=True)
        outbox.work(app, compose, should_stop=lambda: stopping["now"], housekeeping=housekeeping)
    except keycheck.DataKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("outbox worker stopped", err=True)


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the example initiatives (idempotent)."""
    created = load_examples()
    db.session.commit()
    click.echo(f"created: {', '.join(created)}" if created else "examples already loaded")


@click.command("generate-data-key")
def generate_data_key() -> None:
    """Print a fresh DATA_KEY (32 random bytes, URL-safe base64)."""
    sys.stdout.write(Fernet.generate_key().decode() + "\n")


@click.command("check-keys")
@with_appcontext
def check_keys() -> None:
    """Check that DATA_KEY decrypts the data stored in the database (after a restore)."""
    result = keycheck.check()
    if not result.ok:
        raise click.ClickException(str(keycheck.DataKeyError(result)))
    if result.checked == 0:
        click.echo("nothing encrypted is stored yet: any DATA_KEY reads this database")
    else:
        click.echo(f"DATA_KEY reads the stored data ({result.checked} values checked)")


# PostgreSQL's "relation does not exist": a database nobody has run `db upgrade` on.
UNDEFINED_TABLE = "42P01"


def _database_unusable(exc: sa.exc.DBAPIError) -> bool:
    if isinstance(exc, sa.exc.OperationalError):  # unreachable; SQLite's "no such table"
        return True
    return getattr(exc.orig, "sqlstate", None) == UNDEFINED_TABLE


def explain_database_errors(command: click.Command) -> None:
    """Make ``command`` (and a group's subcommands) say what to check, with exit status 1,
    when the database cannot be reached or has no tables, instead of a traceback."""
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            explain_database_errors(subcommand)
        return
    callback = command.callback
    # Commands are module-level objects: every app made in this process shares them.
    if callback is None or getattr(callback, "explains_database_errors", False):
        return

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            if not _database_unusable(exc):
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise click.ClickException(
                f"the database cannot be used ({reason}). Is DATABASE_URL right and the "
                "server running? A new database needs `flask --app initiatives db upgrade`."
            ) from exc

    run.explains_database_errors = True  # type: ignore[attr-defined]
    command.callback = run


def register_cli(app: Flask) -> None:
    from . import campaign_cli
    from .admin.cli import admin_cli, export_command
    from .kiosk_cli import kiosk_cli

    app.cli.add_command(admin_cli)
    app.cli.add_command(export_command)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(kiosk_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(generate_data_key)
    app.cli.add_command(check_keys)
    campaign_cli.register(app)
    privacy_cli.register(app)
    for command in app.cli.commands.values():
        explain_database_errors(command)
