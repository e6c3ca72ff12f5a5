"""Confirmation mails are rendered once per language and text, then filled in per signer.

What each signer receives must be exactly what rendering her own mail would give, for
any name: markup, quotes, right-to-left script, template and format syntax included.
"""

from __future__ import annotations

import re
from email.message import Message

import pytest
import sqlalchemy as sa
from markupsafe import escape

from initiatives import mail
from initiatives.extensions import db
from initiatives.models import InitiativeText, OutboxMessage

NAMES = [
    "Amira Hassan",
    "<b>Ali & \"Sara\"</b> 'x'",
    "أمينة حسن",
    "%(title)s %s {{ title }} {% raw %}",
    "back\\slash & &amp;",
    mail.NAME_STAND_IN[:6],
]


def bodies(message: Message) -> tuple[str, str, str]:
    text, html = (part.get_payload(decode=True).decode("utf-8") for part in message.get_payload())
    return str(message["Subject"]), text, html


def queued() -> list[OutboxMessage]:
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def fresh(monkeypatch: pytest.MonkeyPatch, message: OutboxMessage) -> tuple[str, str, str]:
    """The mail rendered for this signer alone, with no stand-ins involved."""
    with monkeypatch.context() as patch:
        patch.setattr(mail, "SKELETON_KINDS", frozenset())
        return bodies(mail.compose(message))


@pytest.mark.parametrize("locale", ["sv", "ar"])
def test_every_signer_gets_what_her_own_rendering_would_give(
    app, client, make_initiative, sign, locale, monkeypatch
):
    make_initiative()
    client.set_cookie("lang", locale)
    for number, name in enumerate(NAMES):
        sign(name=name, email=f"s{number}@example.org")
    with app.app_context():
        messages = queued()
        assert [m.kind for m in messages] == ["confirm"] * len(NAMES)
        expected = [fresh(monkeypatch, m) for m in messages]
        app.extensions["mail_skeletons"] = mail._Skeletons()
        got = [bodies(mail.compose(m)) for m in messages]
        assert len(app.extensions["mail_skeletons"]._bodies) == 1  # rendered once
    for (_subject, text, html), name in zip(got, NAMES, strict=True):
        assert mail.NAME_STAND_IN not in text + html and mail.TOKEN_STAND_IN not in text + html
        assert name in text
    assert got == expected


def test_an_edited_title_and_each_language_get_their_own_rendering(
    app, client, make_initiative, sign
):
    initiative = make_initiative()
    sign(email="one@example.org")
    client.set_cookie("lang", "en")
    sign(email="two@example.org")
    with app.app_context():
        first, english = queued()
        swedish_subject = bodies(mail.compose(first))[0]
        assert bodies(mail.compose(english))[0] != swedish_subject
        text = db.session.scalars(
            sa.select(InitiativeText).where(
                InitiativeText.initiative_id == initiative.id, InitiativeText.locale == "sv"
            )
        ).one()
        text.title = "Ny rubrik för Amiralsgatan"
        db.session.commit()
        subject, plain, html = bodies(mail.compose(db.session.get(OutboxMessage, first.id)))
    assert "Ny rubrik för Amiralsgatan" in subject and "Ny rubrik för Amiralsgatan" in plain


HREF = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
MARKUP_NAME = '<a href="evil">Klicka här</a><img src=x onerror=alert(1)>'


@pytest.mark.parametrize("skeleton", [True, False], ids=["skeleton", "rendered"])
def test_a_name_cannot_add_markup_or_a_link_to_the_confirmation_mail(
    app, client, make_initiative, sign, skeleton, monkeypatch
):
    """A name that passes the form (no web address in it) but is markup: the HTML part
    shows it as text, escaped, whether filled into the skeleton or rendered alone; the
    mail has the same links as any other signer's."""
    make_initiative()
    client.set_cookie("lang", "ar")
    assert sign(name="Amira Hassan", email="plain@example.org").status_code == 303
    assert sign(name=MARKUP_NAME, email="markup@example.org").status_code == 303
    if not skeleton:
        monkeypatch.setattr(mail, "SKELETON_KINDS", frozenset())
    with app.app_context():
        plain, markup = (bodies(mail.compose(m)) for m in queued())
    html = markup[2]
    assert MARKUP_NAME not in html and "<img" not in html
    assert str(escape(MARKUP_NAME)) in html
    links = [tag for tag in HREF.findall(html) if "/confirm/" not in tag]
    assert links == [tag for tag in HREF.findall(plain[2]) if "/confirm/" not in tag]
    assert len(HREF.findall(html)) == len(HREF.findall(plain[2]))
    assert MARKUP_NAME in markup[1]  # the text part has no markup: the name as typed
