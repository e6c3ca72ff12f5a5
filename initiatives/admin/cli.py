"""Admin commands: ``flask --app initiatives admin create|set-password|list`` and
``export <slug>``."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from .. import accounts, audit, pack
from ..extensions import db
from ..lifecycle import NamesGone, TransitionError
from ..models import Initiative

admin_cli = AppGroup("admin", help="Organiser accounts.")


def _checked(check: Callable[[str], str]) -> Callable[[click.Context, click.Parameter, str], str]:
    """An option callback applying one of the account form's rules: a value it refuses
    is a usage error (exit status 2), said before the password is asked for."""

    def callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
        try:
            return check(value)
        except accounts.AccountError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None

    return callback


@admin_cli.command("create")
@click.option(
    "--email",
    required=True,
    callback=_checked(accounts.check_address),
    help="The organiser's email address (their login): a–z before the @, as on the accounts page.",
)
@click.option(
    "--role",
    type=click.Choice([r.value for r in accounts.Role]),
    default=accounts.Role.ORGANISER.value,
    show_default=True,
)
@click.option(
    "--name",
    default="",
    callback=_checked(accounts.check_name),
    help=f"Display name (at most {accounts.MAX_NAME_LENGTH} characters).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
def admin_create(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create an account; the password is asked for (or read from stdin), never an option."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_account(email, password, role=role, name=name)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    audit.record("admin.account_created", actor=_cli_actor(), account=user.email, role=user.role)
    db.session.commit()
    click.echo(f"created {user.role} {user.email}")


@admin_cli.command("set-password")
@click.option("--email", required=True, help="The account's email address.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@click.option(
    "--reset-2fa",
    "reset_totp",
    is_flag=True,
    help="Also remove two-factor login (a lost phone): they enrol again after logging in.",
)
def admin_set_password(email: str, password_stdin: bool, reset_totp: bool) -> None:
    """Set a new password for an account (forgotten, or handed over); its sessions end."""
    user = accounts.by_email(email)
    if user is None:
        raise click.ClickException(f"no account with the address {email}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        accounts.set_password(user, password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    if reset_totp:
        accounts.disable_totp(user)
    audit.record(
        "admin.password_set", actor=_cli_actor(), account=user.email, two_factor_reset=reset_totp
    )
    db.session.commit()
    click.echo(
        f"new password set for {user.email}" + (", two-factor removed" if reset_totp else "")
    )


@admin_cli.command("list")
def admin_list() -> None:
    """List the accounts (email, role, active, two-factor)."""
    users = db.session.scalars(sa.select(accounts.AdminUser).order_by(accounts.AdminUser.email))
    for user in users:
        flags = ("active" if user.active else "inactive") + (", 2fa" if user.has_totp else "")
        click.echo(f"{user.email}\t{user.role}\t{flags}")


def _cli_actor() -> str:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = os.environ.get("USER", "unknown")
    return f"cli:{who}"


@click.command("export")
@click.argument("slug")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the ZIP into.",
)
@click.option(
    "--names",
    type=click.Choice(pack.NAMES),
    default="full",
    show_default=True,
    help="Full names, or shortened for publication (Amira H.).",
)
@click.option(
    "--without-names",
    is_flag=True,
    help="Make the pack of a list not yet handed in even though retention removed "
    "some of its names (the committee gets counts only for those signers).",
)
@with_appcontext
def export_command(slug: str, out_dir: Path, names: str, without_names: bool) -> None:
    """Write the submission pack of an initiative as a ZIP."""
    initiative = db.session.scalars(
        sa.select(Initiative).where(Initiative.slug == slug)
    ).one_or_none()
    if initiative is None:
        raise click.ClickException(f"no initiative {slug!r}")
    try:
        result = pack.build(
            initiative,
            out_dir,
            names=names,
            generated_by=_cli_actor(),
            organisation=current_app.config["ORGANISATION_NAME"],
            contact=current_app.config["ORGANISATION_EMAIL"],
            without_names=without_names,
        )
    except NamesGone as exc:
        db.session.rollback()
        raise click.ClickException(
            f"{exc.removed} of {exc.total} listed signers have no name any more: retention "
            f"(or an erasure on a signer's request) removed them before the list was handed "
            f"in, so the committee would get only "
            f"their count (the list shows {pack.ANONYMISED!r}). Run again with "
            f"--without-names to make the pack anyway."
        ) from exc
    except TransitionError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        # A folder that cannot be made or written (under a file, no permission, disk full).
        db.session.rollback()
        raise click.ClickException(
            f"cannot write the pack to {out_dir}: {exc.strerror or exc}"
        ) from exc
    db.session.commit()
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    click.echo(f"{result.path}\n{result.total} confirmed signatures ({counts})")
    click.echo(f"manifest sha256 {result.manifest_sha256}")
    if result.anonymised:
        # Said before the organiser hands the list in: the clerk cannot check these rows.
        click.echo(
            f"warning: {result.anonymised} of {result.total} listed signers have no name: "
            f"retention removed their personal data, the list shows {pack.ANONYMISED!r}",
            err=True,
        )
