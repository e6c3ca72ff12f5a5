"""Organisers' commands for campaign material: ``tags``, ``stats`` and ``print``.

flask --app initiatives tags list|add|remove <slug> [<tag>]
flask --app initiatives stats <slug>
flask --app initiatives print <slug> --out DIR [--src TAG]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from flask_babel import force_locale

from . import campaign, paper_sheet, printing, qr
from .extensions import db
from .models import Initiative
from .printing_layout import SHEETS

tags_cli = AppGroup("tags", help="Campaign tags: where signers came from (?src=).")


def _refused(exc: campaign.TagError) -> click.ClickException:
    # The message is translatable (admin pages show it too); a terminal has no request
    # to choose a language from, so it gets the source language.
    with force_locale("sv"):
        return click.ClickException(str(exc))


def _initiative(slug: str) -> Initiative:
    initiative = campaign.by_slug(slug)
    if initiative is None:
        raise click.ClickException(f"no initiative with the slug {slug!r}")
    return initiative


def _change_tags(slug: str, tag: str, change: Callable[..., str]) -> tuple[Initiative, str]:
    """Add or remove a tag, on the record, and print the tags it leaves."""
    initiative = _initiative(slug)
    try:
        changed = change(initiative, tag, actor="cli")
    except campaign.TagError as exc:
        raise _refused(exc) from exc
    db.session.commit()
    click.echo(f"{slug}: {', '.join(campaign.tags(initiative))}")
    return initiative, changed


@tags_cli.command("list")
@click.argument("slug")
def tags_list(slug: str) -> None:
    """Print the initiative's tags and the link each QR code carries."""
    initiative = _initiative(slug)
    for tag in campaign.tags(initiative):
        click.echo(f"{tag:<32}  {campaign.sign_url(initiative, tag)}")


@tags_cli.command("add")
@click.argument("slug")
@click.argument("tag")
def tags_add(slug: str, tag: str) -> None:
    """Add a tag, for example one per place a poster hangs: ``bibliotek``."""
    initiative, added = _change_tags(slug, tag, campaign.add_tag)
    click.echo(f"QR code: {campaign.sign_url(initiative, added)}")


@tags_cli.command("remove")
@click.argument("slug")
@click.argument("tag")
def tags_remove(slug: str, tag: str) -> None:
    """Remove a tag.  Signatures already counted under it keep it."""
    _change_tags(slug, tag, campaign.remove_tag)


@click.command("stats")
@click.argument("slug")
@with_appcontext
def stats_command(slug: str) -> None:
    """Confirmed signatures per campaign tag and per channel (counts only)."""
    initiative = _initiative(slug)
    result = campaign.stats(initiative)
    click.echo(f"{slug}: {result.confirmed} confirmed signatures")
    click.echo("by source tag:")
    for tag, count in result.by_tag:
        label = tag if tag is not None else "(no tag: link passed on or typed)"
        if tag is not None and tag not in campaign.tags(initiative):
            label += " (removed)"
        click.echo(f"  {label:<40} {count:>7}")
    click.echo("by channel:")
    for channel, count in result.by_channel:
        click.echo(f"  {channel:<40} {count:>7}")


@click.command("print")
@click.argument("slug")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the PDFs to (created if missing).",
)
@click.option("--src", "tag", help="Campaign tag for every QR code (default: poster, flyer).")
@with_appcontext
def print_command(slug: str, out: Path, tag: str | None) -> None:
    """Write the A4 poster, the A6 flyer, four flyers on an A4 sheet and the blank A4
    paper signature sheet as PDF."""
    initiative = _initiative(slug)
    known = campaign.tags(initiative)
    if tag is not None and campaign.known_tag(initiative, tag) is None:
        raise click.ClickException(f"{tag!r} is not one of the tags of {slug}: {', '.join(known)}")
    if not initiative.texts:
        raise click.ClickException(f"{slug} has no text yet: nothing to print")
    if not qr.printable(initiative):
        # Organisers print ahead of the launch (a draft) and may reprint later: say so,
        # but do it; the page the code leads to tells visitors the state.
        click.echo(f"note: {slug} is not collecting signatures ({initiative.state})", err=True)
    out.mkdir(parents=True, exist_ok=True)
    for sheet in SHEETS.values():
        chosen = campaign.known_tag(initiative, tag) or sheet.tag
        if chosen not in known:
            raise click.ClickException(f"{slug} has no tag {chosen!r}: add it with `tags add`")
        path = out / qr.file_name(initiative, sheet, chosen)
        path.write_bytes(printing.render(printing.material(initiative, chosen), sheet))
        click.echo(str(path))
    # The paper sheet's code leads to the page as the screen's does (the admin's default).
    chosen = campaign.known_tag(initiative, tag) or campaign.SCREEN_TAG
    if chosen not in known:
        raise click.ClickException(f"{slug} has no tag {chosen!r}: add it with `tags add`")
    path = out / paper_sheet.file_name(initiative, chosen)
    path.write_bytes(paper_sheet.render(paper_sheet.content(initiative, chosen)))
    click.echo(str(path))


def register(app: Flask) -> None:
    app.cli.add_command(tags_cli)
    app.cli.add_command(stats_command)
    app.cli.add_command(print_command)
