"""Composing emails from outbox rows: text and HTML, in the signer's language."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from email.charset import BASE64, QP, Charset
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from flask import Flask, current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import escape

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


# --- the confirmation mail of a surge, rendered once --------------------------------------

# Confirmation mails differ between signers only by the name and the link's token.  The
# worker renders such a mail once per language and initiative text, with stand-ins for
# both (letters and digits only: no escaping or URL quoting changes them), and fills in
# each signer's own: rendering was a third of the CPU a mail cost.
SKELETON_KINDS = frozenset({"confirm"})
SKELETON_FIELDS = frozenset({"name", "token", "confirm_days"})
NAME_STAND_IN = "Nm" + secrets.token_hex(12)
TOKEN_STAND_IN = "Tk" + secrets.token_hex(12)
MAX_SKELETONS = 256


class _Skeletons:
    """Rendered bodies by everything they show apart from the name and token."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[Any, ...], tuple[str, str, str]] = {}

    def get(self, key: tuple[Any, ...]) -> tuple[str, str, str] | None:
        """(subject, text, html) with the stand-ins, or None."""
        return self._bodies.get(key)

    def put(self, key: tuple[Any, ...], bodies: tuple[str, str, str]) -> None:
        if len(self._bodies) >= MAX_SKELETONS:
            self._bodies.clear()
        self._bodies[key] = bodies


def _skeletons(app: Flask) -> _Skeletons:
    return app.extensions.setdefault("mail_skeletons", _Skeletons())


def _skeleton_key(
    app: Flask,
    message: OutboxMessage,
    context: dict[str, Any],
    initiative: Initiative | None,
    title: str,
) -> tuple[Any, ...] | None:
    """What the mail shows besides name and token, or None when it is not cacheable."""
    if message.kind not in SKELETON_KINDS or initiative is None:
        return None
    if set(context) != SKELETON_FIELDS or not all(isinstance(v, str) for v in context.values()):
        return None
    if NAME_STAND_IN in context["name"] or TOKEN_STAND_IN in context["token"]:
        return None
    return (
        message.kind,
        message.locale,
        initiative.id,
        initiative.slug,
        title,
        context["confirm_days"],
        app.config["BASE_URL"],
        app.config["ORGANISATION_NAME"],
        app.config["ORGANISATION_EMAIL"],
    )


def _fill(text: str, html: str, context: dict[str, Any]) -> tuple[str, str]:
    name, token = context["name"], context["token"]
    return (
        text.replace(NAME_STAND_IN, name).replace(TOKEN_STAND_IN, token),
        html.replace(NAME_STAND_IN, str(escape(name))).replace(TOKEN_STAND_IN, str(escape(token))),
    )


def _render(
    app: Flask,
    message: OutboxMessage,
    context: dict[str, Any],
    initiative: Initiative | None,
    title: str,
) -> tuple[str, str, str]:
    """Subject, text and HTML of a mail, in its language."""
    direction = text_direction(message.locale)
    # The HTML part sets the title and the signer's name apart with <bdi>; the subject
    # and the text part have no markup.  In a right-to-left sentence a title or a name in
    # Latin letters would have its end punctuation laid out at its start ("!Rädda
    # badet", ".Amira H"): first-strong isolate marks keep it in one piece (invisible,
    # like all such marks, where a program lacks them).
    plain_title = _isolated(title, direction)
    plain = {"title": plain_title}
    if context.get("name"):
        plain["name"] = _isolated(context["name"], direction)
    with (
        app.test_request_context(base_url=app.config["BASE_URL"]),
        force_locale(message.locale),
    ):
        subject = subject_for(message.kind, plain_title)
        context = {
            **context,
            "initiative": initiative,
            "title": title,
            "lang": message.locale,
            "dir": direction,
            "organisation": app.config["ORGANISATION_NAME"],
            "organisation_email": app.config["ORGANISATION_EMAIL"],
        }
        text = render_template(f"email/{message.kind}.txt", **{**context, **plain})
        html = render_template(f"email/{message.kind}.html", subject=subject, **context)
    return subject, text, html


def _isolated(value: str, direction: str) -> str:
    """``value`` between first-strong isolate marks in a right-to-left mail's text."""
    return f"\u2068{value}\u2069" if direction == "rtl" and value else value


def _subject_header(subject: str) -> str | Header:
    """The subject as it is when plain ASCII, else in encoded-words.

    Spam filters count an ASCII subject sent encoded against the mail (rspamd's
    SUBJ_EXCESS_BASE64).  Encoded it stays when it holds a line break or a tab (an
    organiser's title), which must never start a header of its own, or "=?", which a
    mail program would take for an encoded-word.
    """
    if subject.isascii() and subject.isprintable() and "=?" not in subject:
        return subject
    return Header(subject, UTF8)


def message_id(app: Flask, message: OutboxMessage, domain: str) -> str:
    """The same Message-ID every time this outbox row is composed.

    Delivery is at least once: a worker that dies after the server took a mail, before
    recording it, leaves it to be sent again.  The same Message-ID lets mail programs
    tell the copy (Gmail drops it).  Keyed with SECRET_KEY, so that another site's mail
    (a copy of the database in staging, say) never takes one of ours.
    """
    secret = app.config["SECRET_KEY"]
    key = secret.encode() if isinstance(secret, str) else secret
    row = f"message-id:{message.id}:{message.created_at.isoformat()}".encode()
    return f"<{hmac.new(key, row, hashlib.sha256).hexdigest()[:40]}@{domain}>"


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
    text_obj = initiative.text(message.locale) if initiative is not None else None
    title = text_obj.title if text_obj is not None else ""
    key = _skeleton_key(app, message, context, initiative, title)
    cached = _skeletons(app).get(key) if key is not None else None
    if cached is None and key is not None:
        # Rendered once with stand-ins for what differs between recipients; kept only if
        # both came through unchanged in both bodies (no filter or condition touched them).
        stand_ins = {**context, "name": NAME_STAND_IN, "token": TOKEN_STAND_IN}
        rendered = _render(app, message, stand_ins, initiative, title)
        if all(s in body for s in (NAME_STAND_IN, TOKEN_STAND_IN) for body in rendered[1:]):
            _skeletons(app).put(key, rendered)
            cached = rendered
    if cached is not None:
        subject, text, html = cached
        text, html = _fill(text, html, context)
    else:
        subject, text, html = _render(app, message, context, initiative, title)

    to = payload["to"]
    # Parsing refuses malformed addresses; a non-ASCII one would need SMTPUTF8, which we
    # do not negotiate: either way this mail can never go out, and only it fails.  The
    # parser's message quotes the address, and the worker logs the error: not that one.
    try:
        Address(addr_spec=to)
    except (ValueError, HeaderParseError):
        raise ValueError("the recipient's address does not parse") from None
    if not to.isascii():
        raise ValueError("the recipient's address needs SMTPUTF8")
    sender_name, sender_address = parseaddr(app.config["MAIL_FROM"])
    domain = sender_address.rpartition("@")[2] or "localhost"
    email = MIMEMultipart("alternative")
    email["Subject"] = _subject_header(subject)
    email["From"] = formataddr((sender_name, sender_address), charset=UTF8)
    email["To"] = to
    # A signer who answers the mail with a question reaches the organisers, not noreply@.
    email["Reply-To"] = formataddr(
        (app.config["ORGANISATION_NAME"], app.config["ORGANISATION_EMAIL"].strip()), charset=UTF8
    )
    email["Date"] = format_datetime(clock.utcnow())
    email["Message-ID"] = message_id(app, message, domain)
    email["Auto-Submitted"] = "auto-generated"
    email["X-Outbox-Id"] = str(message.id)
    email["Content-Language"] = message.locale
    email.attach(MIMEText(text, "plain", UTF8))
    email.attach(MIMEText(html, "html", UTF8))
    return email
