"""Command line for data protection: ``purge``, ``rotate-data-key`` and ``abuse ...``."""

from __future__ import annotations

import getpass
from datetime import datetime, timedelta

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from . import abuse, bursts, clock, keyrotation, retention
from .clock import LOCAL_TZ
from .extensions import db
from .models import Initiative

# A row number as the database holds it (PostgreSQL's integer): a typo beyond it is
# refused as an option, not by a traceback from the query.
ROW_ID = click.IntRange(1, 2**31 - 1)


@click.command("purge")
@with_appcontext
def purge_command() -> None:
    """Apply the retention rules now (idempotent; run daily from cron or the worker)."""
    report = retention.purge(actor="cli")
    db.session.commit()
    for key, value in report.as_dict().items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{key.replace('_', ' ')}: {shown or 0}")


@click.command("rotate-data-key")
@click.option(
    "--batch-size", default=keyrotation.BATCH_SIZE, show_default=True, type=click.IntRange(min=1)
)
@with_appcontext
def rotate_data_key_command(batch_size: int) -> None:
    """Re-encrypt personal data under the first DATA_KEY and recompute blind indexes."""
    report = keyrotation.rotate(batch_size=batch_size, progress=click.echo)
    for column, count in sorted(report.reencrypted.items()):
        click.echo(f"re-encrypted {column}: {count}")
    click.echo(f"already under the current key: {report.already_current}")
    click.echo(f"blind indexes recomputed: {report.indexes_updated}")
    if report.index_conflicts:
        click.echo(
            f"{len(report.index_conflicts)} blind index(es) another signature of the same "
            "initiative already has under the first key (one address signed twice while the "
            "new key was being deployed?): left under the old key, so keep it in DATA_KEY "
            "and have an organiser look at these signatures",
            err=True,
        )
        for label in report.index_conflicts[:20]:
            click.echo(f"  {label}", err=True)
    if report.undecryptable:
        click.echo(
            f"{len(report.undecryptable)} value(s) no configured key can decrypt (left as "
            "they are): is an old key missing from DATA_KEY?",
            err=True,
        )
        for label in report.undecryptable[:20]:
            click.echo(f"  {label}", err=True)
    if report.index_conflicts or report.undecryptable:
        raise SystemExit(1)
    click.echo("done: every value is under the first key; older keys may now be removed")


abuse_cli = AppGroup("abuse", help="Review bursts of signatures; invalidate and restore.")


def _initiative(slug: str) -> Initiative:
    initiative = db.session.scalars(sa.select(Initiative).where(Initiative.slug == slug)).first()
    if initiative is None:
        raise click.BadParameter(f"no initiative {slug!r}", param_hint="SLUG")
    return initiative


def _local(value: datetime, up: bool = False) -> str:
    """Malmö time to the second; ``up`` rounds up, so a range taken from a burst still
    holds its last signature (as the admin's burst links do)."""
    local = value.astimezone(LOCAL_TZ)
    if up and local.microsecond:
        local += timedelta(seconds=1)
    return local.isoformat(timespec="seconds")


def _parse_time(value: str | None, *, latest: bool = False) -> datetime | None:
    """An ISO time; without an offset, Malmö's (``clock.local_moment``: in the hour that
    repeats when summer time ends, the first, or with ``latest`` the second)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO date and time") from exc
    # As the admin's form: no signature is from another millennium, and year 1 in
    # Malmö time does not even convert to UTC for the query.
    if not 2000 <= parsed.year <= 2999:
        raise click.BadParameter(f"{value!r} is not between the years 2000 and 2999")
    return parsed if parsed.tzinfo is not None else clock.local_moment(parsed, latest=latest)


def _selection_options(command: click.Command) -> click.Command:
    options = [
        click.option("--client", "client_hash", help="Client hash (at least 8 characters)."),
        click.option("--domain", help="Email domain, e.g. example.org."),
        click.option("--kiosk", "kiosk_id", type=ROW_ID, help="Kiosk number (as shown by bursts)."),
        click.option("--since", help="From this time (ISO; local time if no offset)."),
        click.option("--until", help="Up to this time (ISO; local time if no offset)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _selection(initiative: Initiative, **criteria: str | None) -> abuse.Selection:
    return abuse.Selection(
        initiative.id,
        client_hash=criteria.get("client_hash"),
        domain=criteria.get("domain"),
        kiosk_id=criteria.get("kiosk_id"),
        since=_parse_time(criteria.get("since")),
        until=_parse_time(criteria.get("until"), latest=True),
    )


@abuse_cli.command("bursts")
@click.argument("slug")
# The admin's form has the same bounds: a window of 0 or less finds nothing and would
# say "no bursts" however many there are.
@click.option(
    "--window",
    "window_minutes",
    default=10,
    show_default=True,
    type=click.IntRange(1, 7 * 24 * 60),
    help="Minutes.",
)
@click.option(
    "--threshold", default=bursts.DEFAULT_THRESHOLD, show_default=True, type=click.IntRange(min=2)
)
@click.option("--by", "by", multiple=True, type=click.Choice([s.value for s in bursts.Signal]))
def bursts_command(slug: str, window_minutes: int, threshold: int, by: tuple[str, ...]) -> None:
    """List bursts: THRESHOLD or more signatures sharing a signal within WINDOW minutes."""
    initiative = _initiative(slug)
    wanted = [bursts.Signal(b) for b in by] or None
    if wanted and bursts.Signal.KIOSK in wanted and bursts.Signal.KIOSK not in bursts.signals():
        raise click.BadParameter(
            "signatures have no kiosk column in this version", param_hint="--by"
        )
    found = bursts.find(
        initiative, window=timedelta(minutes=window_minutes), threshold=threshold, by=wanted
    )
    if not found:
        click.echo("no bursts")
        return
    for burst in found:
        option = {"client": "--client", "domain": "--domain", "kiosk": "--kiosk"}[burst.signal]
        key = burst.key[:16] if burst.signal == bursts.Signal.CLIENT else burst.key
        click.echo(
            f"{burst.count:5d} ({burst.confirmed} confirmed, {burst.pending} pending)  "
            f"{option} {key} --since {_local(burst.start)} --until {_local(burst.end, up=True)}"
        )


@abuse_cli.command("invalidate")
@click.argument("slug")
@_selection_options
@click.option("--reason", required=True, type=click.Choice([r.value for r in abuse.Reason]))
@click.option("--note", help="Free text for the organisers (removed with personal data).")
@click.option("--actor", default=getpass.getuser, show_default="your user name")
@click.option("--dry-run", is_flag=True, help="Only show how many signatures match.")
def invalidate_command(
    slug: str, reason: str, note: str | None, actor: str, dry_run: bool, **criteria: str | None
) -> None:
    """Take the matching signatures out of the count, with a reason (reversible)."""
    initiative = _initiative(slug)
    selection = _selection(initiative, **criteria)
    try:
        if dry_run:
            matched = abuse.preview(selection)
            click.echo(
                f"would invalidate {matched.total}: {matched.count(abuse.SignatureState.CONFIRMED)}"
                f" confirmed, {matched.count(abuse.SignatureState.PENDING)} pending"
            )
            return
        change = abuse.invalidate(selection, reason=reason, actor=f"cli:{actor}", note=note)
    except (abuse.SelectionError, abuse.ReviewClosedError) as exc:
        raise click.ClickException(_explain(exc)) from exc
    if not change.total:
        # Nothing to undo: no event on the record for it.
        db.session.rollback()
        raise click.ClickException("no signature matches: nothing was invalidated")
    db.session.commit()
    click.echo(
        f"invalidated {change.total} ({change.confirmed} confirmed, {change.pending} pending); "
        f"undo with: abuse restore {slug} --event {change.event_id}"
    )


@abuse_cli.command("restore")
@click.argument("slug")
@click.option("--event", "event_id", type=ROW_ID, help="Undo exactly this invalidation.")
@_selection_options
@click.option("--actor", default=getpass.getuser, show_default="your user name")
@click.option("--dry-run", is_flag=True, help="Only show how many signatures match.")
def restore_command(
    slug: str, event_id: int | None, actor: str, dry_run: bool, **criteria: str | None
) -> None:
    """Count invalidated signatures again (by invalidation event, or by criteria)."""
    initiative = _initiative(slug)
    try:
        if event_id is not None:
            selection = abuse.selection_of_event(initiative, event_id)
        else:
            selection = _selection(initiative, **criteria)
        if dry_run:
            click.echo(f"would restore {abuse.preview_restore(selection).total}")
            return
        change = abuse.restore(selection, actor=f"cli:{actor}", event_id=event_id)
    except (abuse.SelectionError, abuse.ReviewClosedError) as exc:
        raise click.ClickException(_explain(exc)) from exc
    if not (change.total or change.withdrawn):
        # Run again, or nothing held matches: the log must not show an empty restore.
        db.session.rollback()
        raise click.ClickException("nothing to restore: no held signature matches")
    db.session.commit()
    expired = f", {change.expired} expired: their link ran out while held" if change.expired else ""
    click.echo(
        f"restored {change.total} ({change.confirmed} confirmed, {change.pending} pending{expired})"
    )


@abuse_cli.command("history")
@click.argument("slug")
def history_command(slug: str) -> None:
    """Invalidations and restores of an initiative, newest first."""
    for event in abuse.history(_initiative(slug)):
        details = event.details
        click.echo(
            f"#{event.id} {_local(event.at)} {event.action} by {event.actor}: "
            f"{details.get('confirmed', 0)} confirmed, {details.get('pending', 0)} pending"
            + (f", reason {details['reason']}" if details.get("reason") else "")
        )


def _explain(exc: Exception) -> str:
    if isinstance(exc, abuse.ReviewClosedError):
        return f"the initiative is {exc}: its list can no longer change"
    return str(exc)


def register(app: Flask) -> None:
    """Add these commands to ``flask --app initiatives``."""
    app.cli.add_command(purge_command)
    app.cli.add_command(rotate_data_key_command)
    app.cli.add_command(abuse_cli)
