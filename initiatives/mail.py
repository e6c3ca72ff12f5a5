"""Composing emails from outbox rows: text and HTML, in the signer's language."""

from __future__ import annotations

from email.charset import BASE64, QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

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


# Bodies in quoted-printable UTF-8: readable in the raw, safe through 7-bit relays.
# Headers in base64 encoded-words: the default ("shortest") measures the
# quoted-printable length of every possible split, and cost a millisecond per subject.
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP
UTF8.header_encoding = BASE64


def compose(message: OutboxMessage) -> Message:
    """Render an outbox row into a MIME message (``multipart/alternative``).

    Built with the ``email.mime`` classes: the ``EmailMessage`` API parses and re-folds
    every header through the header registry, which made composing and sending a mail
    cost about three times as much (the outbox benchmark's profile).
    """
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

    to = payload["to"]
    # Parsing refuses malformed addresses; a non-ASCII one would need SMTPUTF8, which we
    # do not negotiate: either way this mail can never go out, and only it fails.
    Address(addr_spec=to)
    if not to.isascii():
        raise ValueError("the recipient's address needs SMTPUTF8")
    sender_name, sender_address = parseaddr(app.config["MAIL_FROM"])
    domain = sender_address.rpartition("@")[2] or "localhost"
    email = MIMEMultipart("alternative")
    email["Subject"] = Header(subject, UTF8)
    email["From"] = formataddr((sender_name, sender_address), charset=UTF8)
    email["To"] = to
    email["Date"] = format_datetime(clock.utcnow())
    email["Message-ID"] = make_msgid(domain=domain)
    email["Auto-Submitted"] = "auto-generated"
    email["X-Outbox-Id"] = str(message.id)
    email["Content-Language"] = message.locale
    email.attach(MIMEText(text, "plain", UTF8))
    email.attach(MIMEText(html, "html", UTF8))
    return email
