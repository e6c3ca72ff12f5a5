"""Initiatives in the admin: list, drafts, preview, lifecycle, dashboard (texts: ``texts``)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _

from .. import (
    campaign,
    charts,
    clock,
    lifecycle,
    outbox_status,
    paper_review,
    retention,
    sendlimit,
    stats,
)
from ..extensions import db
from ..forms import ButtonForm, SignForm
from ..i18n import available_locales, text_direction
from ..models import AuditEvent, Initiative
from ..signing import PUBLIC_STATES
from . import actor, bp
from .forms import AnswerForm, InitiativeForm, ReasonForm, SubmitForm

# The longest slug the column holds (lifecycle.SLUG_RE allows as many).
SLUG_LENGTH: int = Initiative.__table__.c.slug.type.length


def initiative_or_404(slug: str) -> Initiative:
    # PostgreSQL refuses NUL in a text value; a longer address than a slug can be is
    # no initiative's (not the one whose slug is its start).
    if "\x00" in slug or len(slug) > SLUG_LENGTH:
        abort(404)
    initiative = db.session.scalars(
        sa.select(Initiative).where(Initiative.slug == slug)
    ).one_or_none()
    if initiative is None:
        abort(404)
    return initiative


def _title(initiative: Initiative) -> str:
    text = initiative.text("sv")
    return text.title if text is not None else initiative.slug


@bp.app_template_global("admin_title")
def admin_title(initiative: Initiative) -> str:
    return _title(initiative)


@bp.get("/")
def index() -> str:
    rows = db.session.scalars(
        sa.select(Initiative).order_by(Initiative.created_at.desc(), Initiative.id.desc())
    ).all()
    # Mail that waits or fails is signatures that never get confirmed: say so up front.
    mail = outbox_status.queue_state()
    alert_after = timedelta(minutes=current_app.config["OUTBOX_ALERT_MINUTES"])
    send_limit = sendlimit.for_app(current_app)
    return render_template(
        "admin/index.html",
        initiatives=rows,
        # Lists not handed in whose signers' names retention removes within two weeks.
        names_due=retention.names_due_soon(),
        mail=mail,
        mail_behind=mail.behind(alert_after),
        mail_minutes=int(mail.waited.total_seconds() // 60),
        send_limit_full=send_limit is not None
        and send_limit.shared
        and send_limit.headroom().mails == 0,
    )


@bp.route("/initiatives/new", methods=["GET", "POST"])
def initiative_new() -> Any:
    form = InitiativeForm()
    if form.validate_on_submit():
        try:
            initiative = lifecycle.create_draft(
                actor(), **{k: v for k, v in form.data.items() if k != "csrf_token"}
            )
        except lifecycle.TransitionError as exc:
            form.slug.errors = [str(exc)]
        else:
            db.session.commit()
            flash(_("Utkastet är skapat. Skriv texten på svenska."), "success")
            return redirect(url_for("admin.text_edit", slug=initiative.slug, locale="sv"))
    return render_template("admin/initiative_form.html", form=form, initiative=None), (
        400 if form.errors else 200
    )


@bp.route("/initiatives/<slug>/settings", methods=["GET", "POST"])
def initiative_settings(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    form = InitiativeForm(obj=initiative)
    if form.validate_on_submit():
        try:
            lifecycle.update_settings(
                initiative, actor(), **{k: v for k, v in form.data.items() if k != "csrf_token"}
            )
        except lifecycle.TransitionError as exc:
            db.session.rollback()
            return render_template(
                "admin/initiative_form.html", form=form, initiative=initiative, problem=str(exc)
            ), 409
        db.session.commit()
        flash(_("Inställningarna är sparade."), "success")
        return redirect(url_for("admin.dashboard", slug=initiative.slug))
    return render_template("admin/initiative_form.html", form=form, initiative=initiative), (
        400 if form.errors else 200
    )


class _Preview:
    """The initiative as the public will see it once published: open, no signatures yet."""

    def __init__(self, initiative: Initiative):
        self._initiative = initiative
        now = clock.utcnow()
        self.opens_at = initiative.opens_at or now
        self.closes_at = initiative.closes_at or clock.add_months(now, initiative.period_months)
        self.collection_ends_at = self.closes_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._initiative, name)

    def accepts_signatures(self) -> bool:
        return True

    def days_left(self) -> int:
        return max(0, (self.closes_at - clock.utcnow() + timedelta(hours=23)).days)


@bp.get("/initiatives/<slug>/preview")
def preview(slug: str) -> str:
    initiative = initiative_or_404(slug)
    locale = request.args.get("lang", "sv")
    if locale not in available_locales():
        locale = "sv"
    with force_locale(locale):
        text = initiative.text(locale)
        if text is None:
            abort(404)
        return render_template(
            "admin/preview.html",
            initiative=_Preview(initiative),
            real=initiative,
            text=text,
            fallback=text.locale != locale,
            form=SignForm(formdata=None),
            current_locale=locale,
            text_dir=text_direction(locale),
            preview_locale=locale,
            # Its QR code, poster and flyers are served once it is published (as its
            # public page: ``signing.public_initiative_or_404``).
            unpublished=initiative.state not in PUBLIC_STATES or initiative.opens_at is None,
        )


# --- lifecycle -----------------------------------------------------------------------------


def _lifecycle_page(initiative: Initiative, status: int = 200, **forms: Any) -> Any:
    today = lifecycle.local_date(clock.utcnow())
    context = {
        "submit_form": forms.get("submit_form") or SubmitForm(formdata=None, submitted_on=today),
        "answer_form": forms.get("answer_form") or AnswerForm(formdata=None, answered_on=today),
        "withdraw_form": forms.get("withdraw_form") or ReasonForm(formdata=None),
        "button": ButtonForm(),
        "problem": forms.get("problem"),
    }
    names = retention.names_deadline(initiative)
    return render_template(
        "admin/lifecycle.html",
        initiative=initiative,
        can=lifecycle.can,
        below_threshold=lifecycle.below_threshold(initiative),
        names=names,
        # The confirmation lifecycle.submit asks for when names have gone before it.
        ask_without_names=bool(names.removed) and initiative.state in lifecycle.NOT_HANDED_IN,
        **context,
    ), status


@bp.get("/initiatives/<slug>/lifecycle")
def lifecycle_page(slug: str) -> Any:
    return _lifecycle_page(initiative_or_404(slug))


def _transition(initiative: Initiative, form: Any, key: str, action: Any) -> Any:
    if not form.validate_on_submit():
        return _lifecycle_page(initiative, 400, **{key: form})
    try:
        action()
    except lifecycle.NamesGone as exc:
        # Only the hand-in asks this: its form is incomplete (400) until the box is ticked.
        db.session.rollback()
        form.without_names.errors = [str(exc)]
        return _lifecycle_page(initiative, 400, **{key: form})
    except lifecycle.TransitionError as exc:
        db.session.rollback()
        return _lifecycle_page(initiative, 409, problem=str(exc), **{key: form})
    db.session.commit()
    flash(_("Klart: initiativet är nu %(state)s.", state=state_label(initiative.state)), "success")
    return redirect(url_for("admin.dashboard", slug=initiative.slug))


@bp.post("/initiatives/<slug>/publish")
def publish(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    return _transition(
        initiative, ButtonForm(), "button", lambda: lifecycle.publish(initiative, actor())
    )


@bp.post("/initiatives/<slug>/close")
def close(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    return _transition(
        initiative, ButtonForm(), "button", lambda: lifecycle.close(initiative, actor())
    )


@bp.post("/initiatives/<slug>/submit")
def submit(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    form = SubmitForm()
    return _transition(
        initiative,
        form,
        "submit_form",
        lambda: lifecycle.submit(
            initiative,
            actor(),
            submitted_on=form.submitted_on.data,
            reference=form.reference.data,
            without_names=form.without_names.data,
        ),
    )


@bp.post("/initiatives/<slug>/answer")
def answer(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    form = AnswerForm()

    def act() -> None:
        upload = form.document.data
        content = upload.read() if upload else None
        lifecycle.answer(
            initiative,
            actor(),
            answered_on=form.answered_on.data,
            text=form.text.data,
            document=content,
            filename=upload.filename if upload else None,
            max_bytes=current_app.config["ADMIN_UPLOAD_MAX_BYTES"],
        )

    return _transition(initiative, form, "answer_form", act)


@bp.post("/initiatives/<slug>/withdraw")
def withdraw(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    form = ReasonForm()
    return _transition(
        initiative,
        form,
        "withdraw_form",
        lambda: lifecycle.withdraw(initiative, actor(), reason=form.reason.data),
    )


@bp.get("/initiatives/<slug>/answer.pdf")
def answer_pdf(slug: str) -> Response:
    document = lifecycle.answer_document(initiative_or_404(slug))
    if document is None:
        abort(404)
    # send_file writes a name beyond Latin-1 ("Odpowiedź.pdf", "قرار.pdf") as RFC 6266's
    # filename*, with an ASCII fallback: a raw header value would be refused by gunicorn.
    return send_file(
        io.BytesIO(document.content),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=document.filename,
    )


# --- dashboard -----------------------------------------------------------------------------


@bp.app_template_filter("state_label")
def state_label(state: str) -> str:
    labels = {
        "draft": _("utkast"),
        "collecting": _("under insamling"),
        "closed": _("stängt"),
        "submitted": _("inlämnat"),
        "answered": _("besvarat"),
        "withdrawn": _("tillbakadraget"),
    }
    return labels.get(state, state)


# What each audit event is, as an organiser reads the log (the code stays beside it, for
# whoever searches the database or asks for support).  tests/test_audit_labels.py finds
# every code the app writes and fails on one without a label here.
AUDIT_ACTIONS = {
    "abuse.invalidate": "Ogiltigförklarade underskrifter (granskning)",
    "abuse.restore": "Återställde underskrifter (granskning)",
    "admin.account_created": "Konto skapat",
    "admin.account_deactivated": "Konto avstängt",
    "admin.account_reactivated": "Konto återaktiverat",
    "admin.login": "Loggade in",
    "admin.logout": "Loggade ut",
    "admin.password_changed": "Bytte lösenord",
    "admin.password_set": "Lösenord satt från kommandoraden",
    "admin.role_changed": "Roll ändrad",
    "admin.two_factor_disabled": "Tvåstegsverifiering avstängd",
    "admin.two_factor_enabled": "Tvåstegsverifiering påslagen",
    "admin.two_factor_reset": "Tvåstegsverifiering nollställd",
    "campaign.tag_added": "Kampanjkod tillagd",
    "campaign.tag_removed": "Kampanjkod borttagen",
    "initiative.amended": "Texten rättad efter publicering",
    "initiative.answered": "Svar från nämnden registrerat",
    "initiative.closed": "Insamlingen stängd",
    "initiative.created": "Initiativ skapat",
    "initiative.example_loaded": "Exempelinitiativ inläst",
    "initiative.published": "Publicerat, insamlingen öppen",
    "initiative.settings_changed": "Inställningar ändrade",
    "initiative.submitted": "Inlämnat till nämnden",
    "initiative.text_removed": "Översättning borttagen",
    "initiative.text_saved": "Text sparad",
    "initiative.withdrawn": "Tillbakadraget",
    "kiosk.code_issued": "Kopplingskod utfärdad",
    "kiosk.created": "Surfplatta skapad",
    "kiosk.enrolled": "Surfplatta kopplad",
    "kiosk.left": "Surfplatta frånkopplad av volontär",
    "kiosk.revoked": "Surfplatta spärrad",
    "kiosk.signature_late": "Underskrift från surfplattan togs emot efter stängning",
    "kiosk.switched": "Surfplattan bytte initiativ",
    "outbox.requeued": "E-post köades igen",
    "pack.generated": "Underlag till nämnden skapat",
    "paper.rescanned": "Papperslistor kontrollerade igen",
    "paper.review_kept": "Flaggad pappersrad behölls",
    "paper.row_added": "Pappersrad inskriven",
    "paper.row_corrected": "Pappersrad rättad",
    "paper.sheet_added": "Papperslista registrerad",
    "paper.sheet_corrected": "Papperslista rättad",
    "privacy.data_request": "Begäran om registerutdrag",
    "retention.anonymise": "Namn och adresser raderade (gallring)",
    "retention.purge": "Gallring körd",
    "signature.confirmation_resent": "Bekräftelselänk skickad igen",
    "signature.details_corrected": "Namn eller postnummer ändrat när någon skrev under igen",
    "signature.erased_on_request": "Underskrift raderad på begäran",
    "signature.invalidated": "Underskrift ogiltigförklarad",
    "signature.restored": "Underskrift återställd",
    "signature.withdrawn_on_request": "Underskrift återkallad på begäran",
}


@bp.app_template_filter("audit_action")
def audit_action(action: str) -> str:
    """What an audit event is, in Swedish; its code when a label is missing."""
    return AUDIT_ACTIONS.get(action, action)


@bp.app_template_filter("audit_value")
def audit_value(value: Any) -> str:
    """A detail of an audit event as an organiser reads it: "ja"/"nej", not Python's
    True/False; "–" for nothing; a list or a mapping written out."""
    if isinstance(value, bool):
        return _("ja") if value else _("nej")
    if value is None or value == "":
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(audit_value(item) for item in value) or "–"
    if isinstance(value, dict):
        return ", ".join(f"{key} {audit_value(item)}" for key, item in value.items()) or "–"
    return str(value)


@bp.get("/initiatives/<slug>")
def dashboard(slug: str) -> str:
    initiative = initiative_or_404(slug)
    numbers = stats.dashboard(initiative)
    chart = charts.daily_chart(
        numbers.per_day, initiative.threshold, _("Bekräftade underskrifter per dag")
    )
    return render_template(
        "admin/dashboard.html",
        initiative=initiative,
        stats=numbers,
        chart=chart,
        locales=available_locales(),
        to_review=paper_review.review_count(initiative.id),
        document=lifecycle.answer_document(initiative),
        tags=campaign.tags(initiative),
        names=retention.names_deadline(initiative),
    )


@bp.get("/initiatives/<slug>/audit")
def audit_log(slug: str) -> str:
    initiative = initiative_or_404(slug)
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.initiative_id == initiative.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(500)
    ).all()
    return render_template("admin/audit.html", initiative=initiative, events=events)
