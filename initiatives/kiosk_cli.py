"""``flask --app initiatives kiosk create|code|list|revoke``: stand tablets from a terminal."""

from __future__ import annotations

import io
import os
from pathlib import Path

import click
import qrcode.image.svg
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from . import clock, kiosk_signatures, kiosks
from .extensions import db
from .models import Initiative

kiosk_cli = AppGroup("kiosk", help="Stand tablets: create, enrol, list, revoke.")

ACTOR = "cli"


def _print_code(kiosk: kiosks.Kiosk, code: str, qr: bool, svg: Path | None) -> None:
    url = kiosks.enrol_url(code)
    expires = kiosk.code_expires_at.astimezone(clock.LOCAL_TZ) if kiosk.code_expires_at else None
    click.echo(f"Enrolment code: {kiosks.format_code(code)}")
    if expires is not None:
        click.echo(
            f"Valid once, until {expires:%H:%M} ({kiosks.CODE_MINUTES} minutes, Malmö time)."
        )
    click.echo(f"On the tablet open {current_app.config['BASE_URL'].rstrip('/')}/kiosk")
    click.echo(f"and type the code, or scan this address: {url}")
    code_image = kiosks.enrol_qr(code)
    if qr:
        out = io.StringIO()
        code_image.print_ascii(out=out, invert=True)
        click.echo(out.getvalue())
    if svg is not None:
        image = code_image.make_image(image_factory=qrcode.image.svg.SvgPathImage)
        image.save(str(svg))
        click.echo(f"QR code written to {svg}")


def _kiosk_named(name: str) -> kiosks.Kiosk:
    kiosk = kiosks.by_name(name)
    if kiosk is None:
        raise click.ClickException(f"No active kiosk is called {name!r} (see `kiosk list`).")
    return kiosk


qr_option = click.option(
    "--qr/--no-qr", default=True, help="Print the enrolment address as a QR code."
)


def _writable_folder(
    _ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    # Checked before the kiosk is created: a failed write afterwards would leave a kiosk
    # whose name is taken and whose code only went to the terminal.
    if value is not None and not os.access(value.parent, os.W_OK):
        raise click.BadParameter(f"cannot write into the folder {str(value.parent)!r}.")
    return value


svg_option = click.option(
    "--svg",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    callback=_writable_folder,
    help="Also write the QR code to this SVG file.",
)


@kiosk_cli.command("create")
@click.option("--name", required=True, help='What volunteers call it, e.g. "Stand 1".')
@click.option(
    "--initiative",
    "slugs",
    multiple=True,
    required=True,
    help="Slug of an initiative it collects for; repeat for several.",
)
@qr_option
@svg_option
def create_command(name: str, slugs: tuple[str, ...], qr: bool, svg: Path | None) -> None:
    """Create a kiosk and print its one-time enrolment code."""
    name = name.strip()
    if not name or len(name) > 80:
        raise click.ClickException("The name must be 1 to 80 characters.")
    taken = f"A kiosk called {name!r} exists; revoke it or pick a name."
    if kiosks.by_name(name) is not None:
        raise click.ClickException(taken)
    found = {
        i.slug: i
        for i in db.session.scalars(sa.select(Initiative).where(Initiative.slug.in_(slugs)))
    }
    missing = [s for s in slugs if s not in found]
    if missing:
        raise click.ClickException(f"No initiative with slug: {', '.join(missing)}")
    chosen = [found[s] for s in dict.fromkeys(slugs)]
    try:
        kiosk, code = kiosks.create(name, chosen, actor=ACTOR)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if kiosks.name_taken(exc):  # the same name, created at the same moment
            raise click.ClickException(taken) from None
        # Another refusal by the database: say which (its first line names the
        # constraint; the rest would show the values), not that the name is taken.
        reason = str(exc.orig).splitlines()[0]
        raise click.ClickException(f"The kiosk could not be created: {reason}") from None
    click.echo(f"Kiosk {kiosk.name!r} created for: {', '.join(i.slug for i in chosen)}")
    for initiative in chosen:
        if not initiative.accepts_signatures():
            click.echo(
                f"Note: {initiative.slug} does not take signatures now ({initiative.state})."
            )
    _print_code(kiosk, code, qr, svg)


@kiosk_cli.command("code")
@click.argument("name")
@qr_option
@svg_option
def code_command(name: str, qr: bool, svg: Path | None) -> None:
    """Print a new enrolment code for a kiosk (a new tablet replaces the old one)."""
    kiosk = _kiosk_named(name)
    code = kiosks.issue_code(kiosk, actor=ACTOR)
    db.session.commit()
    _print_code(kiosk, code, qr, svg)


@kiosk_cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked kiosks.")
def list_command(show_all: bool) -> None:
    """Kiosks, their initiatives, state, and signatures taken today."""
    rows = kiosks.all_kiosks(include_revoked=show_all)
    if not rows:
        click.echo("No kiosks.")
        return
    for kiosk in rows:
        today = kiosk_signatures.today_count(kiosk)
        slugs = ", ".join(i.slug for i in kiosk.initiatives) or "-"
        click.echo(
            f"{kiosk.name}\t{kiosk.status}\t{slugs}\t"
            f"today: {today.received} signed, {today.confirmed} confirmed"
        )


@kiosk_cli.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Lock a kiosk out: its tablet is refused from its next request on."""
    kiosk = _kiosk_named(name)
    kiosks.revoke(kiosk, actor=ACTOR)
    db.session.commit()
    click.echo(f"Kiosk {name!r} revoked.")
