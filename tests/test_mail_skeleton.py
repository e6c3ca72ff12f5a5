"""Confirmation mails are rendered once per language and text, then filled in per signer.

What each signer receives must be exactly what rendering her own mail would give, for
any name: markup, quotes, right-to-left script, template and format syntax included.
"""

from __future__ import annotations

from email.message import Message

import pytest
import sqlalchemy as sa

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
