"""Stand tablets in the admin: create one with an enrolment code, list, new code, revoke.

The rules live in ``initiatives.kiosks`` (which also writes the audit log).  The one thing
this module adds is showing a new enrolment code after the redirect that follows the
POST: the database keeps only the code's hash, so the code itself rides in the
organiser's session, encrypted, until it is used or expires.  It is shown again only
while it is still the kiosk's current, unexpired code.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from wtforms import SelectChoice

from .. import accounts, clock, kiosk_signatures, kiosks
from ..extensions import db
from ..forms import ButtonForm
from ..models import AuditEvent, Initiative, InitiativeState
from ..tokens import signing_keys
from . import actor, bp
from .forms import KioskForm
from .initiatives import admin_title

CODES_KEY = "admin_kiosk_codes"
KIOSK_CODE_KEY = b"initiatives.admin.kiosk-code"
# Initiatives a stand can be set up for: collecting now, or drafts being prepared.
ASSIGNABLE = (InitiativeState.COLLECTING, InitiativeState.DRAFT)


def _box() -> MultiFernet:
    """Encrypts under SECRET_KEY; also opens what a SECRET_KEY_FALLBACKS key encrypted."""
    return MultiFernet(
        [
            Fernet(urlsafe_b64encode(hmac.new(k.encode(), KIOSK_CODE_KEY, hashlib.sha256).digest()))
            for k in reversed(signing_keys())
        ]
    )


def _remember(kiosk: kiosks.Kiosk, code: str) -> None:
    """Keep the new code (encrypted) in the session, to show it after the redirect."""
    codes = session.get(CODES_KEY)
    codes = dict(codes) if isinstance(codes, dict) else {}
    codes[str(kiosk.id)] = _box().encrypt(code.encode()).decode("ascii")
    # A handful at most: older entries are of kiosks set up earlier in the session.
    session[CODES_KEY] = dict(list(codes.items())[-5:])


def _shown_code(kiosk: kiosks.Kiosk) -> str | None:
    """The code to show for this kiosk, if this session created it and it still works."""
    codes = session.get(CODES_KEY)
    if not isinstance(codes, dict) or str(kiosk.id) not in codes:
        return None
    try:
        code = (
            _box()
            .decrypt(str(codes[str(kiosk.id)]).encode(), ttl=kiosks.CODE_MINUTES * 60)
            .decode()
        )
    except InvalidToken:
        code = None
    if code is None or not kiosks.code_is_current(kiosk, code):
        codes = {k: v for k, v in codes.items() if k != str(kiosk.id)}
        session[CODES_KEY] = codes
        return None
    return code


def _kiosk_or_404(kiosk_id: int) -> kiosks.Kiosk:
    kiosk = db.session.get(kiosks.Kiosk, kiosk_id)
    if kiosk is None:
        abort(404)
    return kiosk


def _assignable() -> list[Initiative]:
    return list(
        db.session.scalars(
            sa.select(Initiative)
            .where(Initiative.state.in_([s.value for s in ASSIGNABLE]))
            .order_by(Initiative.created_at.desc(), Initiative.id.desc())
        )
    )


@bp.get("/kiosks")
def kiosks_list() -> str:
    show_all = request.args.get("all") == "1"
    rows = kiosks.all_kiosks(include_revoked=show_all)
    return render_template(
        "admin/kiosks.html",
        kiosks=rows,
        last=kiosk_signatures.last_signatures([k.id for k in rows]),
        today={k.id: kiosk_signatures.today_count(k) for k in rows},
        show_all=show_all,
        now=clock.utcnow(),
    )


@bp.route("/kiosks/new", methods=["GET", "POST"])
def kiosk_new() -> Any:
    choices = {i.slug: i for i in _assignable()}
    form = KioskForm()
    form.initiatives.choices = [SelectChoice(slug, admin_title(i)) for slug, i in choices.items()]
    if request.method == "GET" and request.args.get("initiative") in choices:
        form.initiatives.data = [request.args["initiative"]]
    if form.validate_on_submit():
        chosen = [choices[slug] for slug in dict.fromkeys(form.initiatives.data)]
        taken = _("Det finns redan en surfplatta med det namnet. Välj ett annat namn.")
        if kiosks.by_name(form.name.data) is not None:
            form.name.errors = [taken]
        else:
            try:
                kiosk, code = kiosks.create(form.name.data, chosen, actor=actor())
            except IntegrityError as exc:
                if not kiosks.name_taken(exc):
                    raise  # not the name: an error, logged (errors.database_error)
                db.session.rollback()  # the same name, created at the same moment
                form.name.errors = [taken]
            else:
                db.session.commit()
                _remember(kiosk, code)
                flash(_("Surfplattan är skapad. Koppla den med koden nedan."), "success")
                return redirect(url_for("admin.kiosk_detail", kiosk_id=kiosk.id))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/kiosk_form.html", form=form, has_choices=bool(choices)), status


def _history(kiosk: kiosks.Kiosk) -> list[AuditEvent]:
    """The kiosk's audit events (its number is in the details, read here)."""
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action.startswith("kiosk."))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(1000)
    )
    return [e for e in events if (e.details or {}).get("kiosk") == kiosk.id][:100]


@bp.get("/kiosks/<id:kiosk_id>")
def kiosk_detail(kiosk_id: int) -> str:
    kiosk = _kiosk_or_404(kiosk_id)
    code = _shown_code(kiosk)
    enrolment = None
    if code is not None:
        url = kiosks.enrol_url(code)
        enrolment = {
            "code": kiosks.format_code(code),
            "url": url,
            "start_url": url.rsplit("/enrol/", 1)[0],
            "expires_at": kiosk.code_expires_at,
            "qr": accounts.qr_svg(kiosks.enrol_qr(code), label=_("QR-kod till %(url)s", url=url)),
        }
    return render_template(
        "admin/kiosk.html",
        kiosk=kiosk,
        enrolment=enrolment,
        today=kiosk_signatures.today_count(kiosk),
        last=kiosk_signatures.last_signatures([kiosk.id]).get(kiosk.id),
        history=_history(kiosk),
        now=clock.utcnow(),
        code_minutes=kiosks.CODE_MINUTES,
    )


def _button_or_400() -> None:
    if not ButtonForm().validate_on_submit():
        abort(400)


@bp.post("/kiosks/<id:kiosk_id>/code")
def kiosk_code(kiosk_id: int) -> Any:
    kiosk = _kiosk_or_404(kiosk_id)
    _button_or_400()
    if kiosk.revoked_at is not None:
        flash(_("Surfplattan är återkallad och kan inte kopplas igen. Skapa en ny."), "error")
        return redirect(url_for("admin.kiosk_detail", kiosk_id=kiosk.id))
    code = kiosks.issue_code(kiosk, actor=actor())
    db.session.commit()
    _remember(kiosk, code)
    flash(_("En ny kod är skapad. Den gamla koden fungerar inte längre."), "success")
    return redirect(url_for("admin.kiosk_detail", kiosk_id=kiosk.id))


@bp.post("/kiosks/<id:kiosk_id>/unenrol")
def kiosk_unenrol(kiosk_id: int) -> Any:
    """Unbind the tablet (lost, or handed back) but keep the kiosk for a new one."""
    kiosk = _kiosk_or_404(kiosk_id)
    _button_or_400()
    if kiosk.status == "enrolled":
        kiosks.unenrol(kiosk, actor=actor())
        db.session.commit()
        flash(_("Surfplattan är bortkopplad. Den kan kopplas igen med en ny kod."), "success")
    return redirect(url_for("admin.kiosk_detail", kiosk_id=kiosk.id))


@bp.post("/kiosks/<id:kiosk_id>/revoke")
def kiosk_revoke(kiosk_id: int) -> Any:
    kiosk = _kiosk_or_404(kiosk_id)
    _button_or_400()
    if kiosk.revoked_at is None:
        kiosks.revoke(kiosk, actor=actor())
        db.session.commit()
        flash(
            _(
                "%(name)s är återkallad: surfplattan är utelåst från nästa sida den öppnar.",
                name=kiosk.name,
            ),
            "success",
        )
    return redirect(url_for("admin.kiosks_list"))
