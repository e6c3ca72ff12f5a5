"""Composing emails from outbox rows: text and HTML, in the signer's language."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from . import clock
from .extensions import db
from .i18n import text_direction
from .models import Initiative, OutboxMessage
from .outbox import read_payload

SUBJECTS = {
    "confirm": _l("Bekräfta din underskrift: %(title)s"),
    "already_signed": _l("Du har redan skrivit under: %(title)s"),
    "confirmed": _l("Tack, din underskrift räknas: %(title)s"),
    "withdrawn": _l("Din underskrift är återkallad: %(title)s"),
    "data_report": _l("Det här sparar vi om din e-postadress"),
}


def subject_for(kind: str, title: str) -> str:
    template = SUBJECTS.get(kind)
    return str(template) % {"title": title} if template is not None else title


def compose(message: OutboxMessage) -> EmailMessage:
    """Render an outbox row into a MIME message (``multipart/alternative``)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    payload = read_payload(message)
    context = dict(payload.get("context", {}))
    initiative = (
        db.session.get(Initiative, message.initiative_id) if message.initiative_id else None
    )
    with app.test_request_context(base_url=app.config["BASE_URL"]), force_locale(message.locale):
        text_obj = initiative.text(message.locale) if initiative is not None else None
        title = text_obj.title if text_obj is not None else ""
        context.update(
            initiative=initiative,
            title=title,
            lang=message.locale,
            dir=text_direction(message.locale),
            organisation=app.config["ORGANISATION_NAME"],
            organisation_email=app.config["ORGANISATION_EMAIL"],
        )
        subject = subject_for(message.kind, title)
        text = render_template(f"email/{message.kind}.txt", **context)
        html = render_template(f"email/{message.kind}.html", subject=subject, **context)

    sender = app.config["MAIL_FROM"]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    email = EmailMessage()
    email["Subject"] = subject
    email["From"] = sender
    email["To"] = Address(addr_spec=payload["to"])
    email["Date"] = format_datetime(clock.utcnow())
    email["Message-ID"] = make_msgid(domain=domain)
    email["Auto-Submitted"] = "auto-generated"
    email["X-Outbox-Id"] = str(message.id)
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    # After set_content, which replaces every Content-* header.
    email["Content-Language"] = message.locale
    return email
