"""Logging in and out, one's own account and two-factor, and (admins only) all accounts."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from .. import accounts, audit
from ..extensions import db
from ..forms import ButtonForm
from ..pages import safe_next
from . import SEEN_KEY, SINCE_KEY, actor, admin_only, bp, page_for
from .forms import (
    AccountForm,
    CodeForm,
    LoginForm,
    PasswordForm,
    RoleForm,
    TotpDisableForm,
    TotpEnableForm,
)

PENDING_KEY = "admin_2fa"
# Set when this session typed the password to turn two-factor on (see ``totp_enrol``).
ENROL_KEY = "admin_2fa_enrol"
# How long the second step may follow the first.
CODE_STEP_SECONDS = 300


def _attempt(email: str) -> accounts.Attempt:
    return accounts.Attempt.of(
        email, request.remote_addr or "unknown", request.cookies.get(accounts.DEVICE_COOKIE)
    )


def _throttled_message() -> str:
    return _(
        "För många misslyckade försök. Vänta %(minutes)s minuter och försök igen.",
        minutes=current_app.config["ADMIN_LOGIN_WINDOW_MINUTES"],
    )


def _throttled_page(form: Any, template: str) -> tuple[str, int]:
    return render_template(template, form=form, problem=_throttled_message()), 429


def _finish_login(user: accounts.AdminUser, attempt: accounts.Attempt) -> Response:
    # A page, never a POST-only action (an old link, or one made before ``page_for``).
    next_url = page_for(safe_next(request.args.get("next")))
    accounts.mark_logged_in(user, attempt)
    audit.record("admin.login", actor=user.label, two_factor=user.has_totp)
    db.session.commit()
    # A fresh session at the privilege boundary: nothing from before the login survives.
    session.clear()
    login_user(user)
    session[SEEN_KEY] = session[SINCE_KEY] = int(time.time())
    response = redirect(next_url)
    # This browser is now known to the account: strangers' guesses cannot lock it out.
    response.set_cookie(
        accounts.DEVICE_COOKIE,
        accounts.device_cookie(attempt),
        max_age=accounts.DEVICE_DAYS * 86400,
        path=f"{request.script_root}/admin",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("admin/login.html", form=form), 400 if form.errors else 200
    attempt = _attempt(form.email.data)
    outcome, user = accounts.check_password_login(form.email.data, form.password.data, attempt)
    if outcome == accounts.LoginOutcome.THROTTLED:
        db.session.commit()
        return _throttled_page(form, "admin/login.html")
    if outcome == accounts.LoginOutcome.WRONG or user is None:
        db.session.commit()
        problem = _("E-postadressen eller lösenordet stämmer inte.")
        return render_template("admin/login.html", form=form, problem=problem), 401
    if outcome == accounts.LoginOutcome.NEEDS_CODE:
        db.session.commit()
        # The nonce ties the second step to the account as it is now: a password set or
        # changed before the code is typed ends this half-login like any session.
        session[PENDING_KEY] = {
            "id": user.id,
            "at": int(time.time()),
            "email": user.email,
            "nonce": user.session_nonce,
        }
        return redirect(url_for("admin.login_code", next=request.args.get("next")))
    return _finish_login(user, attempt)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Response | str | tuple[str, int]:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > CODE_STEP_SECONDS:
        session.pop(PENDING_KEY, None)
        flash(_("Logga in med lösenordet först."), "info")
        return redirect(url_for("admin.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("admin/login_code.html", form=form), 400 if form.errors else 200
    attempt = _attempt(pending["email"])
    accounts.lock_for_login(pending["id"])
    if accounts.is_throttled(attempt):
        return _throttled_page(form, "admin/login_code.html")
    user = db.session.get(accounts.AdminUser, pending["id"])
    if user is not None and user.active and user.session_nonce != pending.get("nonce"):
        # The password changed since the first step (or the account was reset).
        session.pop(PENDING_KEY, None)
        flash(_("Logga in med lösenordet först."), "info")
        return redirect(url_for("admin.login"))
    if user is None or not user.active or not accounts.verify_totp(user, form.code.data):
        accounts.record_failure(attempt)
        db.session.commit()
        problem = _("Koden stämmer inte. Vänta på nästa kod i appen och försök igen.")
        return render_template("admin/login_code.html", form=form, problem=problem), 401
    return _finish_login(user, attempt)


@bp.post("/logout")
def logout() -> Response:
    """POST only: a link or an image elsewhere can never log an organiser out."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    # Clearing this browser's cookie alone would leave any copy of it logged in.
    accounts.end_sessions(current_user)
    audit.record("admin.logout", actor=actor())
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("Du är utloggad, i alla webbläsare där du var inloggad."), "info")
    return redirect(url_for("admin.login"))


# --- one's own account ---------------------------------------------------------------------


def _refuse_own_password(field: Any, wrong: str) -> int | None:
    """Check the current user's password in ``field``, counted and throttled like a login.

    Else someone at an unlocked laptop could try passwords here without limit.  Returns
    the status to answer with (the message is on the field), or None when it is right.
    """
    attempt = _attempt(current_user.email)
    accounts.lock_for_login(current_user.id)
    if accounts.is_throttled(attempt):
        field.errors = [_throttled_message()]
        return 429
    if not accounts.verify_password(current_user, field.data):
        accounts.record_failure(attempt)
        db.session.commit()
        field.errors = [wrong]
        return 400
    return None


def _account_page(
    password_form: PasswordForm | None = None,
    status: int = 200,
    *,
    enable_form: TotpEnableForm | None = None,
    disable_form: TotpDisableForm | None = None,
) -> Any:
    return (
        render_template(
            "admin/account.html",
            password_form=password_form or PasswordForm(formdata=None),
            enable_form=enable_form or TotpEnableForm(formdata=None),
            disable_form=disable_form or TotpDisableForm(formdata=None),
        ),
        status,
    )


@bp.get("/account")
def account() -> Any:
    return _account_page()


@bp.post("/account/password")
def change_password() -> Any:
    form = PasswordForm()
    if not form.validate_on_submit():
        return _account_page(form, 400)
    refused = _refuse_own_password(form.current, _("Det nuvarande lösenordet stämmer inte."))
    if refused:
        return _account_page(form, refused)
    try:
        accounts.set_password(current_user, form.password.data)
    except accounts.PasswordError as exc:
        form.password.errors = [str(exc)]
        return _account_page(form, 400)
    audit.record("admin.password_changed", actor=actor())
    db.session.commit()
    # The new nonce ended every session, this one too: log in again with the new password.
    login_user(current_user)
    flash(_("Lösenordet är bytt. Andra inloggningar med kontot har avslutats."), "success")
    return redirect(url_for("admin.account"))


def _password_refused(form: TotpEnableForm | TotpDisableForm, shown_as: str) -> Any:
    """The account page again, with ``form`` (as ``shown_as``) saying what is wrong,
    unless it carries the account's own password (a wrong one counts as a failed
    login); None when it does."""
    if not form.validate_on_submit():
        return _account_page(**{shown_as: form}, status=400)
    refused = _refuse_own_password(form.totp_password, _("Lösenordet stämmer inte."))
    if refused:
        return _account_page(**{shown_as: form}, status=refused)
    return None


@bp.post("/account/2fa/start")
def totp_start() -> Any:
    """Takes the password, as turning it off does: else someone at an unlocked laptop
    could put the second factor on their own phone, and the owner is locked out until
    an admin resets it."""
    if current_user.has_totp:
        # A second factor in place is replaced only by turning it off, which takes the
        # password: a session alone must not be enough to move it to another phone.
        return redirect(url_for("admin.account"))
    form = TotpEnableForm()
    refused = _password_refused(form, "enable_form")
    if refused is not None:
        return refused
    accounts.start_totp_enrolment(current_user)
    db.session.commit()
    session[ENROL_KEY] = True
    return redirect(url_for("admin.totp_enrol"))


@bp.route("/account/2fa", methods=["GET", "POST"])
def totp_enrol() -> Any:
    secret = accounts.pending_secret(current_user)
    # A secret left pending in the database by an enrolment not finished is not for a
    # later session (a login clears the session): that one types the password again.
    if secret is None or not session.get(ENROL_KEY):
        return redirect(url_for("admin.account"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        if accounts.confirm_totp_enrolment(current_user, form.code.data):
            audit.record("admin.two_factor_enabled", actor=actor())
            db.session.commit()
            session.pop(ENROL_KEY, None)
            login_user(current_user)  # the nonce changed: keep this session
            flash(_("Tvåstegsverifiering är på."), "success")
            return redirect(url_for("admin.account"))
        form.code.errors = [_("Koden stämmer inte. Kontrollera klockan i telefonen.")]
        status = 400
    elif form.errors:
        status = 400
    uri = accounts.provisioning_uri(current_user, secret)
    return (
        render_template("admin/totp_enrol.html", form=form, qr=accounts.qr_svg(uri), secret=secret),
        status,
    )


@bp.post("/account/2fa/disable")
def totp_disable() -> Any:
    form = TotpDisableForm()
    refused = _password_refused(form, "disable_form")
    if refused is not None:
        return refused
    accounts.disable_totp(current_user)
    audit.record("admin.two_factor_disabled", actor=actor())
    db.session.commit()
    login_user(current_user)  # the nonce changed: keep this session, end the others
    flash(_("Tvåstegsverifiering är avstängd."), "success")
    return redirect(url_for("admin.account"))


# --- all accounts (admins only) ------------------------------------------------------------


def _accounts_page(form: AccountForm | None = None, status: int = 200) -> Any:
    users = db.session.scalars(
        sa.select(accounts.AdminUser).order_by(accounts.AdminUser.email)
    ).all()
    return (
        render_template(
            "admin/accounts.html",
            users=users,
            form=form or AccountForm(formdata=None),
            role_form=RoleForm,
        ),
        status,
    )


@bp.get("/accounts")
@admin_only
def accounts_list() -> Any:
    return _accounts_page()


@bp.post("/accounts")
@admin_only
def accounts_create() -> Any:
    form = AccountForm()
    if not form.validate_on_submit():
        return _accounts_page(form, 400)
    try:
        user = accounts.create_account(
            form.email.data, form.password.data, role=form.role.data, name=form.name.data or ""
        )
    except accounts.PasswordError as exc:
        form.password.errors = [str(exc)]
        return _accounts_page(form, 400)
    except accounts.AccountError as exc:
        form.email.errors = [str(exc)]
        return _accounts_page(form, 400)
    audit.record("admin.account_created", actor=actor(), account=user.email, role=user.role)
    db.session.commit()
    flash(_("Kontot %(email)s är skapat.", email=user.email), "success")
    return redirect(url_for("admin.accounts_list"))


def _other_account(user_id: int) -> accounts.AdminUser:
    user = db.session.get(accounts.AdminUser, user_id)
    if user is None:
        abort(404)
    return user


def _keeps_an_admin(user: accounts.AdminUser) -> bool:
    admins = accounts.lock_active_admins()
    db.session.refresh(user)  # as it is once the others' changes have committed
    return not (user.is_admin and user.active and admins <= 1)


@bp.post("/accounts/<id:user_id>/role")
@admin_only
def accounts_role(user_id: int) -> Response:
    user = _other_account(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    if form.role.data == user.role:
        # "Spara" on a row left as it was: nothing changes, nobody is logged out.
        flash(_("Rollen för %(email)s är oförändrad.", email=user.email), "info")
        return redirect(url_for("admin.accounts_list"))
    if form.role.data != accounts.Role.ADMIN and not _keeps_an_admin(user):
        flash(_("Det måste finnas minst en aktiv administratör."), "error")
        return redirect(url_for("admin.accounts_list"))
    user.role = form.role.data
    accounts.end_sessions(user)
    audit.record("admin.role_changed", actor=actor(), account=user.email, role=user.role)
    db.session.commit()
    flash(_("Rollen för %(email)s är ändrad.", email=user.email), "success")
    return redirect(url_for("admin.accounts_list"))


@bp.post("/accounts/<id:user_id>/active")
@admin_only
def accounts_toggle(user_id: int) -> Response:
    user = _other_account(user_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    if user.active:
        if user.id == current_user.id or not _keeps_an_admin(user):
            flash(_("Du kan inte stänga ditt eget konto eller den sista administratören."), "error")
            return redirect(url_for("admin.accounts_list"))
        accounts.deactivate(user)
        audit.record("admin.account_deactivated", actor=actor(), account=user.email)
        flash(_("Kontot %(email)s är avstängt.", email=user.email), "success")
    else:
        user.active = True
        audit.record("admin.account_reactivated", actor=actor(), account=user.email)
        flash(_("Kontot %(email)s är aktivt igen.", email=user.email), "success")
    db.session.commit()
    return redirect(url_for("admin.accounts_list"))


@bp.post("/accounts/<id:user_id>/reset-2fa")
@admin_only
def accounts_reset_totp(user_id: int) -> Response:
    """For an organiser who lost their phone: they log in with the password and enrol again.

    Never one's own: turning that off takes the password (*Mitt konto*), or a session
    alone would be enough to strip the second factor.
    """
    user = _other_account(user_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash(
            _("Din egen tvåstegsverifiering stänger du av under Mitt konto, med ditt lösenord."),
            "error",
        )
        return redirect(url_for("admin.accounts_list"))
    accounts.disable_totp(user)
    audit.record("admin.two_factor_reset", actor=actor(), account=user.email)
    db.session.commit()
    flash(_("Tvåstegsverifieringen för %(email)s är nollställd.", email=user.email), "success")
    return redirect(url_for("admin.accounts_list"))
